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
from core.workflow.variations import variation_timelines
from pages.ui.entry import through_navigation
from pages.ui.media import render_card
from pages.ui.text import message, plain
from pages.ui.widgets import get_store, page_progress

through_navigation()

EACH_BAND = "(a different band per variation)"

st.title("Render")
st.caption("Generate music in the style of a descriptor: pick genre, subgenre and mood, shape the form, "
           "and audition variations side by side. Every render is kept, with its WAV, MIDI and timeline.")
store = get_store()
catalog = load_catalog()
tree = catalog.tree()

left, right = st.columns([1, 1])
with left:
    st.subheader("Descriptor")
    how = st.radio("Choose by", ["Browse", "Search"], horizontal=True, key="pick_mode", label_visibility="collapsed")
    if how == "Browse":
        genre = st.selectbox("Genre", sorted(tree), key="genre")
        subgenre = st.selectbox("Subgenre", sorted(tree[genre]), key="subgenre")
        mood = st.selectbox("Mood", tree[genre][subgenre], key="mood")
        name = f"{genre}_{subgenre}_{mood}"
    else:
        query = st.text_input("Search descriptors", "", key="search", placeholder="e.g. synthwave driving")
        matches = catalog.search(query) if query else catalog.names()
        if not matches:
            near = catalog.suggest(query.replace(" ", "_"))
            st.warning("No descriptor matches." + (f" Near: {', '.join(near)}" if near else ""))
            st.stop()
        name = st.selectbox(f"{len(matches)} descriptors", matches, key="search_pick")
    d = catalog.get(name)
    st.markdown(f"**{d.name}** · sentiment *{d.sentiment}* · valence {d.valence}/2 · momentum {d.momentum}/4 · "
                f"{d.mode} · {d.tempo_bpm[0]:.0f}-{d.tempo_bpm[1]:.0f} BPM · groove *{d.groove}*")

with right:
    st.subheader("Shape")
    c1, c2 = st.columns(2)
    duration_s = c1.number_input("Length (s)", 5.0, MAX_DURATION_S, 30.0, 5.0, key="duration_s")
    length_file = c2.file_uploader("...or the length of a file", type=list(AUDIO_TYPES), key="length_upload")
    if length_file is not None:
        try:
            duration_s = round(load_track(length_file.getvalue(), name=Path(length_file.name).stem,
                                          max_duration_s=max_duration_s()).duration_s, 2)
            c2.caption(f"Length taken from {plain(length_file.name)}: {duration_s:.1f} s")
        except StudioError as exc:
            c2.error(message(exc))
    c3, c4 = st.columns(2)
    tempo = c3.number_input("Tempo (BPM)", TEMPO_MIN_BPM, TEMPO_MAX_BPM, float(d.default_tempo_bpm), 1.0,
                            key=f"tempo-{d.name}")
    tonic = c4.selectbox("Key (tonic)", PITCH_CLASSES, index=2, key="tonic")
    band = st.selectbox("Band", [EACH_BAND] + sorted(d.bands), key=f"band-{d.name}")
    c5, c6, c7 = st.columns(3)
    intro_s = c5.number_input("Intro (s)", 0.0, 120.0, min(8.0, duration_s / 4), 1.0, key="intro_s")
    ending_s = c6.number_input("Ending (s)", 0.0, 120.0, min(4.0, duration_s / 4), 1.0, key="ending_s")
    climax = c7.slider("Climax at", 0.0, 1.0, 0.7, 0.05, key="climax_at")
    c8, c9 = st.columns(2)
    n_var = int(c8.number_input("Variations", 1, 8, 3, 1, key="variations"))
    seed = int(c9.number_input("Seed", 0, 10_000_000, 0, 1, key="seed"))

with st.expander("...or render a timeline file (multi-region)"):
    tl_file = st.file_uploader("Timeline JSON (see docs/timeline.md)", type=["json"], key="timeline_upload",
                               max_upload_size=json_upload_mb())

if st.button("Generate", type="primary", key="generate"):
    try:
        options = ComposeOptions(intro_s=intro_s, ending_s=ending_s, climax_at=climax)
        timelines = ([Timeline.from_json(tl_file.getvalue())] * n_var if tl_file is not None else
                     variation_timelines(d.name, duration_s=duration_s, tempo_bpm=tempo, tonic=tonic,
                                         band=None if band == EACH_BAND else band, variations=n_var, seed=seed,
                                         catalog=catalog))
        keys = []
        for i, timeline in enumerate(timelines):
            bar, progress = page_progress(f"Rendering variation {i + 1} of {len(timelines)}")
            render(timeline, seed=seed + i, options=options, progress=progress, store=store)
            bar.empty()
            keys.append(render_key(timeline, seed=seed + i, options=options))
        st.session_state["render_keys"] = keys
    except StudioError as exc:
        st.error(message(exc))

recent = store.list_renders(limit=30)
if recent and not st.session_state.get("render_keys"):
    st.info("Earlier renders are kept: open them below, or generate new ones.")
with st.expander(f"Earlier renders ({len(recent)})"):
    titles = {r["render_key"]: r["title"] for r in recent}
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
