"""The Analyze page's widgets: the analysis options, the queue of tracks still to analyse, and
one track's analysis, predictions and tables (a tab each)."""

from __future__ import annotations

import json

import streamlit as st

from core import AnalysisOptions, SegmentOptions, StudioError
from core.analysis.analyze import BASE_COLUMNS, analyze
from core.analysis.segment import BOUNDARY_METHODS
from core.describe.describe import describe
from core.errors import SeparationError
from core.plots import chroma_figure, levels_in_words, prediction_lanes_figure, tempo_key_figure
from core.workflow.overview import headline
from pages.ui.media import CSV, JSON, download, download_buttons
from pages.ui.players import waveform_player
from pages.ui.progress import progress_bar, with_progress
from pages.ui.queue import ANALYZE_STAGE, classify_stage
from pages.ui.realmusic import real_music_lane
from pages.ui.style import style_button
from pages.ui.text import message, plain
from pages.ui.widgets import cached_model, track_or_message


def analysis_options() -> AnalysisOptions:
    """The analysis options (an expander); a refused combination ends the run with its message."""
    with st.expander("Analysis options"):
        c1, c2, c3 = st.columns(3)
        window_s = c1.number_input("Window length (s)", 2.0, 60.0, 10.0, 1.0, key="window_s")
        hop_s = c2.number_input("Window hop (s)", 0.5, 30.0, 2.0, 0.5, key="hop_s")
        boundary = c3.selectbox("Boundary method", BOUNDARY_METHODS, key="boundary_method",
                                help="novelty: peaks of a novelty curve on the Laplacian embedding (default). "
                                     "labels: wherever the section-type label changes.")
        c4, c5, c6 = st.columns(3)
        auto_k = c4.checkbox("Section types by duration rule", True, key="auto_k",
                             help="k is chosen by silhouette within a range set by the track's length.")
        k_lo, k_hi = c5.slider("Section types (k range)", 1, 12, (2, 6), key="k_range", disabled=auto_k)
        min_seg = c6.number_input("Shortest segment (s)", 0.0, 60.0, 6.0, 1.0, key="min_segment_s")
    try:
        return AnalysisOptions(window_s=window_s, hop_s=hop_s, segmentation=SegmentOptions(
            k_min=None if auto_k else k_lo, k_max=None if auto_k else k_hi, boundary_method=boundary,
            min_segment_s=min_seg))
    except StudioError as exc:
        st.error(message(exc))
        st.stop()


def _predictions(track, analysis, *, store, options, model_name: str, vocal_mode: str) -> None:
    key = track.content_hash
    try:  # stored by the store: a second visit is a lookup
        with progress_bar(f"Classifying {track.name}", store=store, stage=classify_stage(model_name, vocal_mode),
                          audio_s=track.duration_s) as progress:
            description = describe(track, model=cached_model(model_name), options=options,
                                   remove_vocals=vocal_mode, store=store, progress=progress)
    except SeparationError as exc:
        st.error(f"Removing the vocals failed: {message(exc)}")
        return
    except StudioError as exc:
        st.error(f"Model {plain(model_name)}: {message(exc)}")
        return
    if description.vocals.note:
        (st.caption if description.vocals.checked else st.warning)(plain(description.vocals.note))
    st.plotly_chart(prediction_lanes_figure(description.windows, duration_s=analysis.duration_s), key=f"lanes-{key}")
    style_button(analysis, descriptor=description.fallback_descriptor)
    st.subheader("Segments: the majority of their windows")
    st.dataframe(levels_in_words(description.majority), hide_index=True, key=f"majority-{key}")
    download_buttons([
        ("Majority table CSV", description.majority.to_csv(index=False), f"{track.name}_majority.csv", CSV,
         f"dlmaj-{key}"),
        ("Windows + predictions CSV", description.windows.to_csv(index=False, float_format="%.6g"),
         f"{track.name}_predictions.csv", CSV, f"dlpred-{key}")])


def _tables(track, analysis) -> None:
    key = track.content_hash
    left, right = st.columns([1, 2])
    with left:
        st.subheader("Segments")
        st.dataframe(analysis.segments, hide_index=True, key=f"segtable-{key}")
        download("Segments CSV", analysis.segments.to_csv(index=False), f"{track.name}_segments.csv", CSV,
                 key=f"dlseg-{key}")
        download("Summary JSON", json.dumps(analysis.summary(), indent=2), f"{track.name}_summary.json", JSON,
                 key=f"dlsum-{key}")
    with right:
        st.subheader("Windows")
        show_features = st.toggle("Show the measured sound features (brightness, loudness, rhythm)", False, key=f"feat-{key}")
        table = analysis.windows if show_features else analysis.windows[list(BASE_COLUMNS)]
        st.dataframe(table, hide_index=True, height=300, key=f"wintable-{key}")
        download("Windows CSV", analysis.windows.to_csv(index=False, float_format="%.6g"), f"{track.name}_windows.csv",
                 CSV, key=f"dlwin-{key}")


def show_track(content_hash: str, *, store, options, model_name: str | None, vocal_mode: str) -> None:
    """One track's analysis (computed once and stored), its player and figures, the model's
    predictions (``model_name`` None: none) and the tables with their downloads."""
    track = track_or_message(content_hash)
    if track is None:
        return
    analysis = store.get_analysis(content_hash, options) or with_progress(
        f"Analysing {track.name}", lambda progress: analyze(track, options=options, progress=progress, store=store),
        error=f"{track.name}: ", stop=False, store=store, stage=ANALYZE_STAGE, audio_s=track.duration_s)
    if analysis is None:
        return
    for w in analysis.warnings:
        st.warning(plain(w))
    for column, (label, value, help_text) in zip(st.columns(5), headline(analysis)):
        column.metric(label, value, help=help_text)
    waveform_player(track, analysis.segments)
    st.plotly_chart(chroma_figure(analysis), key=f"chroma-{content_hash}")
    st.plotly_chart(tempo_key_figure(analysis), key=f"tempo-{content_hash}")
    if model_name is not None:
        _predictions(track, analysis, store=store, options=options, model_name=model_name, vocal_mode=vocal_mode)
    real_music_lane(track, analysis, store=store)
    _tables(track, analysis)
