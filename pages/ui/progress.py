"""Progress bars on the pages: the time so far, the time left at the pace so far, and the
estimate measured on this machine (core.store.timings) before the first step."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

import streamlit as st

from core.errors import StudioError
from pages.ui.text import UNEXPECTED, message, plain

LOG = logging.getLogger("studio.pages")


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def page_progress(label: str, *, estimate=None):
    """A Streamlit progress bar and a ``progress(fraction, message)`` callback feeding it. The
    bar says the time so far and, once a tenth is done, the time left at the pace so far;
    before that, ``estimate`` (a :class:`core.store.timings.Estimate`) or that none exists."""
    label = plain(label)  # progress texts are Markdown; a label names a track
    first = f"{label}: {estimate.words()}" if estimate else f"{label}: the first run of this kind here is being timed"
    bar = st.progress(0.0, text=first)
    start = time.monotonic()

    def progress(fraction: float, note: str = "") -> None:
        fraction = float(min(max(fraction, 0.0), 1.0))
        elapsed_s = time.monotonic() - start
        if fraction >= 0.1 and elapsed_s >= 1.0:
            clock = f" ({_clock(elapsed_s)} so far, about {_clock(elapsed_s * (1 - fraction) / fraction)} left)"
        elif estimate is not None:
            clock = f" ({_clock(elapsed_s)} so far of {estimate.words()})"
        else:
            clock = f" ({_clock(elapsed_s)} so far)"
        bar.progress(fraction, text=f"{label}: {plain(note)}{clock}" if note else f"{label}{clock}")

    return bar, progress


@contextmanager
def progress_bar(label: str, *, store=None, stage: str = "", audio_s: float = 0.0):
    """``with progress_bar(...) as progress:`` a bar (see :func:`page_progress`) that quotes the
    ``stage``'s estimate for ``audio_s`` seconds of audio measured on this machine, and records
    this run's time in ``store`` when the block ends without an error; the bar goes at the end."""
    timed = store is not None and bool(stage)
    bar, progress = page_progress(label, estimate=store.estimate(stage, audio_s=audio_s) if timed else None)
    start = time.monotonic()
    try:
        yield progress
        if timed:
            store.record_timing(stage, audio_s=audio_s, elapsed_s=time.monotonic() - start)
    finally:
        bar.empty()


def with_progress(label: str, compute, *, error: str = "", stop: bool = True, store=None, stage: str = "",
                  audio_s: float = 0.0):
    """``compute(progress)`` under a :func:`progress_bar` (timed as ``stage`` in ``store``). A
    StudioError's message is shown (after ``error``, both as plain text); any other exception
    shows :data:`UNEXPECTED` and goes to the server log. Either ends the run (``stop``) or gives None."""
    try:
        with progress_bar(label, store=store, stage=stage, audio_s=audio_s) as progress:
            return compute(progress)
    except StudioError as exc:
        st.error(f"{plain(error)}{message(exc)}")
    except Exception:  # a bug, not the user's doing: never its traceback or paths on the page
        LOG.exception("%s failed", label)
        st.error(f"{plain(error)}{UNEXPECTED}")
    if stop:
        st.stop()
    return None
