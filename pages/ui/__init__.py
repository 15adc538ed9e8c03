"""Shared page helpers (Streamlit): ``widgets`` (the store, tracks, models, progress bars,
uploads, the track picker, downloads), ``media`` (stored renders: player, figure, downloads) and
``players`` (the waveform player and the synchronised multi-version player)."""
