"""Render: stock music in the style of a descriptor, N variations side by side."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import StudioError
from core.analysis.key import PITCH_CLASSES
from core.audio.load import AUDIO_TYPES, load_track
from core.bounds import MAX_DURATION_S, TEMPO_MAX_BPM, TEMPO_MIN_BPM
from core.generate.catalog import load_catalog
from core.generate.compose import ComposeOptions
from core.generate.render import render, render_key
from core.generate.timeline import Timeline, json_upload_mb
from core.store.store import max_duration_s
from core.workflow.variations import display_titles, variation_timelines
from pages.ui.entry import through_navigation
from pages.ui.progress import progress_bar
from pages.ui.render_card import render_card
from pages.ui.render_form import pick_descriptor
from pages.ui.style import style_notes
from pages.ui.text import message, plain
from pages.ui.widgets import get_store

through_navigation()

EACH_BAND = "(a different band per variation)"
KEEP = {"persist_state": "session"}  # the form keeps its values when the page is left and re-entered

st.title("Render")
st.caption("Generate music in the style of a descriptor: pick genre, subgenre and mood, shape the form, "
           "and audition variations side by side. Every render is kept, with its WAV, MIDI and timeline.")
style_notes()
store = get_store()
catalog = load_catalog()
# A timeline file sets the descriptors, tempi, keys and length: the fields it overrides are disabled.
by_file = {"disabled": st.session_state.get("timeline_upload") is not None}

left, right = st.columns([1, 1])
with left:
    st.subheader("Descriptor")
    d = catalog.get(pick_descriptor(catalog, keep=KEEP, disabled=by_file["disabled"], store=store))

with right:
    st.subheader("Shape")
    c1, c2 = st.columns(2)
    duration_s = c1.number_input("Length (s)", 5.0, MAX_DURATION_S, 30.0, 5.0, key="duration_s", **KEEP, **by_file)
    length_file = c2.file_uploader("...or the length of a file", type=list(AUDIO_TYPES), key="length_upload",
                                   **by_file)
    if length_file is not None and not by_file["disabled"]:
        try:
            duration_s = round(load_track(length_file.getvalue(), name=Path(length_file.name).stem,
                                          max_duration_s=max_duration_s()).duration_s, 2)
            c2.caption(f"Length taken from {plain(length_file.name)}: {duration_s:.1f} s")
        except StudioError as exc:
            c2.error(message(exc))
    c3, c4 = st.columns(2)
    tempo = c3.number_input("Tempo (BPM)", TEMPO_MIN_BPM, TEMPO_MAX_BPM, float(d.default_tempo_bpm), 1.0,
                            key=f"tempo-{d.name}", **KEEP, **by_file)
    tonic = c4.selectbox("Key (tonic)", PITCH_CLASSES, index=2, key="tonic", **KEEP, **by_file)
    band = st.selectbox("Band", [EACH_BAND] + sorted(d.bands), key=f"band-{d.name}", **KEEP, **by_file)
    c5, c6, c7 = st.columns(3)
    intro_s = c5.number_input("Intro (s)", 0.0, 120.0, min(8.0, duration_s / 4), 1.0, key="intro_s", **KEEP)
    ending_s = c6.number_input("Ending (s)", 0.0, 120.0, min(4.0, duration_s / 4), 1.0, key="ending_s", **KEEP)
    climax = c7.slider("Climax at", 0.0, 1.0, 0.7, 0.05, key="climax_at", **KEEP)
    c8, c9 = st.columns(2)
    n_var = int(c8.number_input("Variations", 1, 8, 3, 1, key="variations", **KEEP))
    seed = int(c9.number_input("Seed", 0, 10_000_000, 0, 1, key="seed", **KEEP))

with st.expander("...or render a timeline file (several sections, each in its own style)"):
    tl_file = st.file_uploader("Timeline JSON (see docs/timeline.md)", type=["json"], key="timeline_upload",
                               max_upload_size=json_upload_mb())
    if by_file["disabled"]:
        st.caption("The timeline file sets the descriptors, tempi, keys and length: those fields are off. "
                   "Remove the file to use them again.")

if st.button("Generate", type="primary", key="generate"):
    try:
        options = ComposeOptions(intro_s=intro_s, ending_s=ending_s, climax_at=climax)
        timelines = ([Timeline.from_json(tl_file.getvalue())] * n_var if tl_file is not None else
                     variation_timelines(d.name, duration_s=duration_s, tempo_bpm=tempo, tonic=tonic,
                                         band=None if band == EACH_BAND else band, variations=n_var, seed=seed,
                                         catalog=catalog))
        keys = []
        for i, timeline in enumerate(timelines):
            with progress_bar(f"Rendering variation {i + 1} of {len(timelines)}", store=store, stage="render",
                              audio_s=timeline.duration_s) as progress:
                render(timeline, seed=seed + i, options=options, progress=progress, store=store)
            keys.append(render_key(timeline, seed=seed + i, options=options))
        st.session_state["render_keys"] = keys
    except StudioError as exc:
        st.error(message(exc))

recent = store.list_renders(limit=30)
if recent and not st.session_state.get("render_keys"):
    st.info("Earlier renders are kept: open them below, or generate new ones.")
with st.expander(f"Earlier renders ({len(recent)})"):
    titles = display_titles(recent)
    reopen = st.multiselect("Open", list(titles), format_func=titles.get, key="reopen")
    if reopen:
        st.session_state["render_keys"] = reopen

keys = st.session_state.get("render_keys", [])
if keys:
    st.subheader("Variations")
    cols = st.columns(min(len(keys), 3))
    for i, key in enumerate(keys):
        with cols[i % len(cols)]:
            render_card(key, prefix="render", title=f"**{chr(ord('A') + i)}.** ")
