"""Audio in: decoding and checking files (`load`), the shared frame features (`frames`) and
the ONE window grid every per-window table uses (`grid`)."""
