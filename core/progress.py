"""Progress reporting: every long stage takes ``progress(fraction, message)``.

The CLI adapts it to a terminal bar (tqdm), the pages to ``st.progress``.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def terminal_bar(label: str, *, enabled: bool = True):
    """A tqdm bar on stderr; yields a ``progress(fraction, message)`` callable."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc=label, unit="%", leave=True, disable=not enabled,
               bar_format="{desc}{percentage:3.0f}%|{bar}| {elapsed}")
    state = {"n": 0}

    def progress(fraction: float, message: str = "") -> None:
        n = int(round(max(0.0, min(1.0, fraction)) * 100))
        if n > state["n"]:
            bar.update(n - state["n"])
            state["n"] = n
        if message:
            bar.set_description(f"{label} ({message})", refresh=True)

    try:
        yield progress
    finally:
        bar.close()


def scaled(progress, start: float, end: float):
    """A progress callback covering ``start..end`` of a parent callback (or None)."""
    if progress is None:
        return None
    return lambda f, m="": progress(start + (end - start) * f, m)
