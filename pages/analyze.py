"""Analyze: upload tracks, see chroma, tempo and tonic per window, and the form."""

from __future__ import annotations

import streamlit as st

from core.describe.models import default_model_name, list_models
from core.describe.predict import VOCAL_MODES
from core.workflow.overview import example_files, track_names
from pages.ui.analysis import analysis_options, show_track
from pages.ui.entry import through_navigation
from pages.ui.queue import analysis_queue
from pages.ui.text import plain
from pages.ui.tracks import track_label, upload_tracks
from pages.ui.widgets import get_store

through_navigation()

NO_MODEL = "(none)"
VOCAL_LABELS = {"auto": "when the track has a voice", "on": "always", "off": "never"}

st.title("Analyze")
st.caption(
    "Drop in reference tracks to see what the machine hears: the harmony, tempo and key of every "
    "10 s stretch, and the form of the piece (its sections and which ones repeat)."
)
store = get_store()
options = analysis_options()

models = list_models()
m1, m2 = st.columns([2, 1])
model_name = m1.selectbox("Style model (genre, mood... every 10 s)", [NO_MODEL] + models,
                          index=models.index(default_model_name(models)) + 1 if models else 0, key="model_pick")
vocal_mode = m2.selectbox("Remove vocals before classifying", VOCAL_MODES, format_func=VOCAL_LABELS.get,
                          key="vocal_mode", disabled=model_name == NO_MODEL,
                          help="The models learnt from instrumental renders, so a voice confuses them. The "
                               "2-stem separation (see the Stems page) takes the vocals out first.")

shown: list[str] = st.session_state.setdefault("analyze_shown", [])
upload_tracks("Upload tracks (WAV, FLAC, OGG, MP3, AIFF)", store=store, key="uploader", into=shown)
examples = example_files()
example = st.selectbox("Or try an example render (one per genre)", ["-", *examples], key="example_pick")
if example != "-":
    path = examples[example]
    digest = store.keep(path.read_bytes(), name=path.stem, suffix=path.suffix)
    shown.extend([digest] if digest not in shown else [])

library = store.list_tracks()
if library:
    names = {t["content_hash"]: track_label(t) for t in library}
    picked = st.multiselect("Or open tracks analysed before", list(names), format_func=names.get, key="library_pick")
    shown.extend(h for h in picked if h not in shown)
if not shown:
    st.info("Upload a track to begin. Everything you analyse is kept, so coming back is instant.")
    st.stop()

chosen_model = None if model_name == NO_MODEL else model_name
analysis_queue(shown, store=store, options=options, model_name=chosen_model, vocal_mode=vocal_mode)
for tab, h in zip(st.tabs([plain(n) for n in track_names(shown, library)]), shown):  # tab labels are Markdown
    with tab:
        show_track(h, store=store, options=options, model_name=chosen_model, vocal_mode=vocal_mode)
