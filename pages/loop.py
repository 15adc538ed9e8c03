"""Loop: reference tracks become renders, and the same classifiers judge the renders."""

from __future__ import annotations

import time

import streamlit as st

from core import StudioError
from core.describe.models import default_model_name, list_models
from core.describe.study import amper_study
from core.plots import loop_summary_figure, loop_titles_figure
from core.workflow.loop import TARGETS_MULTI, TARGETS_SINGLE, cached_loop, loop_key
from core.workflow.loop_report import loop_done, loop_report, loop_todo, unique_titles
from pages.ui.entry import through_navigation
from pages.ui.media import CSV, download_buttons
from pages.ui.progress import progress_bar
from pages.ui.text import message, plain
from pages.ui.tracks import upload_tracks
from pages.ui.widgets import cached_model, get_store, track_or_message

through_navigation()

st.title("Loop")
st.caption(
    "Check renders by ear and by model. Each reference track becomes renders in its main style (at its most "
    "used tempi and keys) and a stitched render that follows its sections, in a few variations (other seeds "
    "and bands). The same model then listens to every render: does each one sound like the style it was asked "
    "for, and how well does the stitched render keep each section's style?"
)
store = get_store()
state = st.session_state

added = state.setdefault("loop_added", [])
upload_tracks("Add reference tracks", store=store, key="loop_upload", into=added)
library = store.list_tracks()
if not library:
    st.info("Upload reference tracks (or analyse some on the Analyze page) to run the loop.")
    st.stop()
names = unique_titles(library)  # titles are unique: two tracks with the same name are told apart
fresh = state.setdefault("loop_seen_uploads", [])
new_uploads = [h for h in added if h not in fresh]
if new_uploads:  # a new upload joins the chosen tracks (a keyed multiselect ignores a new default),
    fresh.extend(new_uploads)  # and replaces the library track picked only because nothing was chosen
    auto = state.get("loop_tracks") == state.get("loop_tracks_auto")
    state["loop_tracks"] = list(dict.fromkeys(([] if auto else state.get("loop_tracks", [])) + new_uploads))
if "loop_tracks" not in state:
    state["loop_tracks"] = state["loop_tracks_auto"] = [h for h in added if h in names] or list(names)[:1]
state["loop_tracks"] = [h for h in state["loop_tracks"] if h in names]
c1, c2, c3 = st.columns([3, 1, 1])
chosen = c1.multiselect("Reference tracks", list(names), format_func=names.get, key="loop_tracks")
models = list_models()
model_name = c2.selectbox("Model", models, index=models.index(default_model_name(models)) if models else 0,
                          key="loop_model")
variations = int(c3.number_input("Variations", 1, 10, 3, key="loop_variations"))
if not chosen:
    st.stop()

model = cached_model(model_name)
missing = [h for h in chosen if store.get_json(
    "loops", loop_key(h, model=model, variations=variations, seed=0, remove_vocals="auto")) is None]
run_now, status = False, st.empty()  # what a run will do, then what it did
if missing:
    with status.container():
        st.write(loop_todo(len(missing), variations=variations))
        run_now = st.button("Run the loop", type="primary", key="loop_run")
results, ran, started = [], [], time.monotonic()
for h in [h for h in chosen if run_now or h not in missing]:
    track = track_or_message(h, prefix=f"{names[h]}: ")
    if track is None:
        continue
    try:
        with progress_bar(f"Loop: {names[h]}", store=store, stage=f"loop {variations}", audio_s=track.duration_s) as p:
            results.append(cached_loop(names[h], track, store=store, model=model, variations=variations, progress=p))
        if h in missing:  # kept at once for the reruns that follow (a download, a chart, an interruption)
            ran.append(results[-1])
            st.session_state["loop_last_run"] = loop_done(ran, elapsed_s=time.monotonic() - started)
    except StudioError as exc:
        st.error(f"{plain(names[h])}: {message(exc)}")
if st.session_state.get("loop_last_run") and (ran or not missing):
    status.success(st.session_state["loop_last_run"])
if not results:
    st.stop()

report, study = loop_report(results), amper_study()
st.plotly_chart(loop_summary_figure(report.mean_single, report.mean_multi, targets_single=TARGETS_SINGLE,
                                    targets_multi=TARGETS_MULTI, amper_single=study.single_region,
                                    amper_multi=study.multi_region), key="loop_summary")
left, right = st.columns(2)
with left:
    st.plotly_chart(loop_titles_figure(report.single_summary, title="Sounds like the style asked for, per track"),
                    key="loop_single")
    st.dataframe(report.single_summary, hide_index=True, key="loop_single_table")
with right:
    st.plotly_chart(loop_titles_figure(report.multi_summary, title="Stitched render keeps each section's style, per track"),
                    key="loop_multi")
    st.dataframe(report.multi_summary, hide_index=True, key="loop_multi_table")
with st.expander("Every render in one style, and every section of the stitched renders"):
    st.dataframe(report.single, hide_index=True, key="loop_single_all")
    st.dataframe(report.multi, hide_index=True, key="loop_multi_all")
download_buttons([
    ("One-style renders CSV", report.single.to_csv(index=False), "single_region.csv", CSV, "dl_single"),
    ("Stitched renders CSV", report.multi.to_csv(index=False), "multi_region.csv", CSV, "dl_multi"),
    ("One-style summary CSV", report.single_summary.to_csv(index=False), "single_region_summary.csv", CSV,
     "dl_single_sum"),
    ("Stitched summary CSV", report.multi_summary.to_csv(index=False), "multi_region_summary.csv", CSV,
     "dl_multi_sum")])
st.caption("The renders are on the Listen page, next to their reference, and on the Render page under "
           "'Earlier renders'.")
