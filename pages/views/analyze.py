"""Analyze: upload tracks, see chroma, tempo and tonic per window, and the form."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from core import AnalysisOptions, SegmentOptions, StudioError
from core.analysis.analyze import BASE_COLUMNS
from core.describe.models import list_models
from core.plots import chroma_figure, prediction_lanes_figure, tempo_key_figure
from core.describe.predict import VOCAL_MODES, classify, majority_table
from core.errors import SeparationError
from core.separation import SeparationOptions, default_weights_dir, separation_key
from core.analysis.segment import BOUNDARY_METHODS
from pages.ui import cached_model, get_store, page_progress, stored_track, waveform_player

AUDIO_TYPES = ["wav", "flac", "ogg", "mp3", "aiff", "aif"]

st.title("Analyze")
st.caption(
    "Drop in reference tracks to see what the machine hears: CQT chroma, tempo and tonic per "
    "10 s window, and the form of the piece (Laplacian segmentation)."
)
store = get_store()

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
    options = AnalysisOptions(
        window_s=window_s,
        hop_s=hop_s,
        segmentation=SegmentOptions(
            k_min=None if auto_k else k_lo,
            k_max=None if auto_k else k_hi,
            boundary_method=boundary,
            min_segment_s=min_seg,
        ),
    )
except StudioError as exc:
    st.error(str(exc))
    st.stop()

models = list_models()
m1, m2 = st.columns([2, 1])
model_name = m1.selectbox("Descriptor model (per-window genre, mood... predictions)", ["(none)"] + models,
                          index=(models.index("mlp") + 1) if "mlp" in models else 0, key="model_pick")
VOCAL_LABELS = {"auto": "when the track has a voice", "on": "always", "off": "never"}
vocal_mode = m2.selectbox("Remove vocals before classifying", VOCAL_MODES, format_func=VOCAL_LABELS.get,
                          key="vocal_mode", disabled=model_name == "(none)",
                          help="The models learnt from instrumental renders, so a voice confuses them. The "
                               "2-stem separation (see the Stems page) takes the vocals out first.")

uploads = st.file_uploader("Upload tracks (WAV, FLAC, OGG, MP3, AIFF)", type=AUDIO_TYPES,
                           accept_multiple_files=True, key="uploader")
shown: list[str] = st.session_state.setdefault("analyze_shown", [])
for up in uploads or []:
    try:
        digest = store.keep(up.getvalue(), name=Path(up.name).stem, suffix=Path(up.name).suffix)
    except StudioError as exc:
        st.error(f"{up.name}: {exc}")
        continue
    if digest not in shown:
        shown.append(digest)

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "assets" / "examples").glob("example_*.ogg"))
example = st.selectbox("Or try an example render (one per genre)", ["-"] + [p.stem for p in EXAMPLES],
                       key="example_pick")
if example != "-":
    path = next(p for p in EXAMPLES if p.stem == example)
    digest = store.keep(path.read_bytes(), name=path.stem, suffix=path.suffix)
    if digest not in shown:
        shown.append(digest)

library = store.list_tracks()
if library:
    names = {t["content_hash"]: f"{t['name']} ({t['duration_s']:.0f} s)" for t in library}
    picked = st.multiselect("Or open tracks analysed before", list(names), format_func=names.get,
                            key="library_pick")
    for h in picked:
        if h not in shown:
            shown.append(h)

if not shown:
    st.info("Upload a track to begin. Everything you analyse is kept, so coming back is instant.")
    st.stop()


@st.cache_data(max_entries=16, show_spinner=False)
def predictions(content_hash: str, options_key: str, _analysis, model_name: str, vocal_mode: str):
    """The per-window table with a model's predictions (cached per track, options, model and vocal mode)."""
    return classify(_analysis, cached_model(model_name), track=stored_track(content_hash), remove_vocals=vocal_mode,
                    store=get_store())


def show(content_hash: str) -> None:
    try:
        track = stored_track(content_hash)
    except StudioError as exc:
        st.error(f"This track could not be read back from the store: {exc}")
        return
    if track is None:
        st.error("This track's audio is no longer in the store; upload it again.")
        return
    analysis = store.get_analysis(content_hash, options)
    if analysis is None:
        bar, progress = page_progress(f"Analysing {track.name}")
        try:
            analysis = store.analysis_for(track, options=options, progress=progress)
        except StudioError as exc:
            st.error(f"{track.name}: {exc}")
            return
        finally:
            bar.empty()
    for w in analysis.warnings:
        st.warning(w)
    m = st.columns(5)
    m[0].metric("Duration", f"{analysis.duration_s:.1f} s")
    m[1].metric("Tempo", f"{analysis.tempo_bpm:.1f} BPM" if analysis.tempo_bpm == analysis.tempo_bpm else "-")
    m[2].metric("Key", analysis.key or "-")
    m[3].metric("Section types (k)", analysis.k)
    m[4].metric("Segments", len(analysis.segments))
    waveform_player(track, analysis.segments)
    st.plotly_chart(chroma_figure(analysis), key=f"chroma-{content_hash}")
    st.plotly_chart(tempo_key_figure(analysis), key=f"tempo-{content_hash}")
    if model_name != "(none)":
        try:
            if vocal_mode != "off" and not track.is_silent and store.get_separation(
                    separation_key(content_hash, SeparationOptions(), weights_dir=default_weights_dir())) is None:
                bar, progress = page_progress(f"Looking for vocals in {track.name}")
                try:
                    store.separation_for(track, progress=progress)
                except SeparationError as exc:
                    if vocal_mode == "on":
                        raise
                    st.warning(f"Vocals were not checked: {exc}")  # "auto": classify the full mix
                finally:
                    bar.empty()
            windows = predictions(content_hash, options.cache_key(), analysis, model_name, vocal_mode)
        except SeparationError as exc:
            st.error(f"Removing the vocals failed: {exc}")
        except StudioError as exc:
            st.error(f"Model {model_name}: {exc}")
        else:
            if windows.attrs.get("vocals_note"):
                st.caption(windows.attrs["vocals_note"])
            share = windows["voice_share"].iloc[0] if len(windows) else float("nan")
            if bool(windows["vocals_removed"].iloc[0]) if len(windows) else False:
                st.caption(f"Vocals removed before classifying (a voice in {share:.0%} of the track's seconds).")
            elif share == share:
                st.caption(f"Classified with the vocals in: a voice in {share:.0%} of the track's seconds.")
            st.plotly_chart(prediction_lanes_figure(windows, duration_s=analysis.duration_s),
                            key=f"lanes-{content_hash}")
            st.subheader("Segments: the majority of their windows")
            majority = majority_table(windows, analysis.segments)
            st.dataframe(majority, hide_index=True, key=f"majority-{content_hash}")
            d1, d2 = st.columns(2)
            d1.download_button("Majority table CSV", majority.to_csv(index=False), f"{track.name}_majority.csv",
                               "text/csv", key=f"dlmaj-{content_hash}")
            d2.download_button("Windows + predictions CSV", windows.to_csv(index=False, float_format="%.6g"),
                               f"{track.name}_predictions.csv", "text/csv", key=f"dlpred-{content_hash}")
    left, right = st.columns([1, 2])
    with left:
        st.subheader("Segments")
        st.dataframe(analysis.segments, hide_index=True, key=f"segtable-{content_hash}")
        st.download_button("Segments CSV", analysis.segments.to_csv(index=False), f"{track.name}_segments.csv",
                           "text/csv", key=f"dlseg-{content_hash}")
        st.download_button("Summary JSON", json.dumps(analysis.summary(), indent=2), f"{track.name}_summary.json",
                           "application/json", key=f"dlsum-{content_hash}")
    with right:
        st.subheader("Windows")
        show_features = st.toggle("Show the feature columns (amper21, gtzan)", False, key=f"feat-{content_hash}")
        table = analysis.windows if show_features else analysis.windows[list(BASE_COLUMNS)]
        st.dataframe(table, hide_index=True, height=300, key=f"wintable-{content_hash}")
        st.download_button("Windows CSV", analysis.windows.to_csv(index=False, float_format="%.6g"),
                           f"{track.name}_windows.csv", "text/csv", key=f"dlwin-{content_hash}")


labels = []
for h in shown:
    row = next((t for t in library if t["content_hash"] == h), None)
    labels.append(row["name"] if row else h[:8])
for tab, h in zip(st.tabs(labels), shown):
    with tab:
        show(h)
