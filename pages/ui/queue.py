"""The Analyze page's queue: the shown tracks not stored yet are analysed (and classified) one
after another under a panel above the tabs that shows every track's state."""

from __future__ import annotations

import logging
import time

import streamlit as st

from core import StudioError
from core.analysis.analyze import analyze
from core.describe.describe import describe, description_key
from pages.ui.progress import progress_bar
from pages.ui.text import UNEXPECTED, message, plain
from pages.ui.widgets import cached_model, stored_track

LOG = logging.getLogger("studio.pages")

#: The timing stages of the Analyze page (core.store.timings): analysing, and classifying with
#: one model and vocal mode (removing the vocals is most of its time).
ANALYZE_STAGE = "analyze"


def classify_stage(model_name: str, vocal_mode: str) -> str:
    return f"classify {model_name} vocals {vocal_mode}"


def _to_do(content_hash: str, *, store, options, model_name: str | None, vocal_mode: str) -> list[str]:
    """What a shown track still needs: "analyse" and/or "classify" (nothing: both stored)."""
    steps = [] if store.get_analysis(content_hash, options) is not None else ["analyse"]
    if model_name is not None:
        key = description_key(content_hash, options=options, model=cached_model(model_name), remove_vocals=vocal_mode)
        steps += [] if store.get_description(content_hash, key) is not None else ["classify"]
    return steps


def _queue_estimate(tracks, *, store, stages) -> str:
    """'about 1 min 10 s on this machine in all' from the stages' measured rates, or ''."""
    total_s = 0.0
    for track, steps in tracks:
        for step in steps:
            estimate = store.estimate(stages[step], audio_s=track.duration_s)
            if estimate is None:
                return ""
            total_s += estimate.seconds
    return f" (about {round(total_s)} s on this machine in all, from the times measured here)"


def analysis_queue(hashes: list[str], *, store, options, model_name: str | None, vocal_mode: str) -> None:
    """Analyse (and classify) the shown tracks not stored yet, one after another, under a queue
    panel above the tabs: every track's state (waiting, its progress bar, ready in N s, failed)
    shows whichever tab is open. Tracks already stored are not in the queue."""
    queue = []
    for h in hashes:
        try:
            track = stored_track(h) if store.has_track(h) else None
            steps = _to_do(h, store=store, options=options, model_name=model_name, vocal_mode=vocal_mode) if track \
                else []
        except StudioError:  # an unreadable track or model: its tab says why
            track, steps = None, []
        if steps:
            queue.append((track, steps))
    if not queue:
        return
    stages = {"analyse": ANALYZE_STAGE, "classify": classify_stage(model_name or "", vocal_mode)}
    panel = st.container(border=True)
    panel.markdown(f"**{len(queue)} track{'s' if len(queue) > 1 else ''} to analyse**"
                   f"{_queue_estimate(queue, store=store, stages=stages)}")
    rows = [panel.empty() for _ in queue]
    for n, (row, (track, _)) in enumerate(zip(rows, queue)):
        row.caption(f"{plain(track.name)}: waiting ({n} ahead of it)" if n else f"{plain(track.name)}: next")
    for row, (track, steps) in zip(rows, queue):
        _run_queued(row, track, steps, store=store, options=options, model_name=model_name, vocal_mode=vocal_mode,
                    stages=stages)


def _run_queued(row, track, steps, *, store, options, model_name, vocal_mode, stages) -> None:
    started = time.monotonic()
    try:
        with row.container():
            for step in steps:
                verb = "Analysing" if step == "analyse" else "Classifying"
                with progress_bar(f"{verb} {track.name}", store=store, stage=stages[step],
                                  audio_s=track.duration_s) as progress:
                    if step == "analyse":
                        analyze(track, options=options, progress=progress, store=store)
                    else:
                        describe(track, model=cached_model(model_name), options=options, remove_vocals=vocal_mode,
                                 store=store, progress=progress)
    except StudioError as exc:  # its tab says it again, with the details
        row.caption(f"{plain(track.name)}: could not be analysed: {message(exc)}")
        return
    except Exception:  # a bug: this track's row says so, the other tracks still go through the queue
        LOG.exception("queued analysis of %s failed", track.content_hash)
        row.caption(f"{plain(track.name)}: {UNEXPECTED}")
        return
    row.caption(f"{plain(track.name)}: ready, in {time.monotonic() - started:.0f} s")
