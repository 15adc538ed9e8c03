"""Loop: reference tracks become renders, and the same classifiers judge the renders."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core import StudioError
from core.workflow.loop import (AMPER_MULTI, AMPER_SINGLE, TARGETS_MULTI, TARGETS_SINGLE, cached_loop, loop_key,
                       summary_by_title)
from core.describe.models import TARGETS, list_models
from core.plots import loop_summary_figure, loop_titles_figure
from pages.ui import cached_model, get_store, page_progress, stored_track

AUDIO_TYPES = ["wav", "flac", "ogg", "mp3", "aiff", "aif"]

st.title("Loop")
st.caption(
    "The Amper study's discrimination-generation loop. Each reference track becomes single-region renders "
    "(its most frequent descriptor at its top tempi and tonics) and a multi-region render that follows its "
    "form; N variations of each (other seeds and bands). The same model then classifies every render: "
    "single-region accuracy against the requested descriptor, and multi-region consistency with the "
    "reference's own segment classification."
)
store = get_store()

up = st.file_uploader("Add reference tracks", type=AUDIO_TYPES, accept_multiple_files=True, key="loop_upload")
added = st.session_state.setdefault("loop_added", [])
for f in up or []:
    try:
        digest = store.keep(f.getvalue(), name=Path(f.name).stem, suffix=Path(f.name).suffix)
    except StudioError as exc:
        st.error(f"{f.name}: {exc}")
        continue
    if digest not in added:
        added.append(digest)

library = store.list_tracks()
if not library:
    st.info("Upload reference tracks (or analyse some on the Analyze page) to run the loop.")
    st.stop()
counts = {}
for row in library:
    counts[row["name"]] = counts.get(row["name"], 0) + 1
# titles are unique: two tracks with the same name are told apart by their content
names = {t["content_hash"]: t["name"] if counts[t["name"]] == 1 else f"{t['name']} ({t['content_hash'][:6]})"
         for t in library}
fresh = st.session_state.setdefault("loop_seen_uploads", [])
new_uploads = [h for h in added if h not in fresh]
if new_uploads:  # a new upload joins the chosen tracks (a keyed multiselect ignores a new default)
    fresh.extend(new_uploads)
    st.session_state["loop_tracks"] = list(dict.fromkeys(st.session_state.get("loop_tracks", []) + new_uploads))
c1, c2, c3 = st.columns([3, 1, 1])
if "loop_tracks" not in st.session_state:
    st.session_state["loop_tracks"] = [h for h in added if h in names] or list(names)[:1]
st.session_state["loop_tracks"] = [h for h in st.session_state["loop_tracks"] if h in names]
chosen = c1.multiselect("Reference tracks", list(names), format_func=names.get, key="loop_tracks")
models = list_models()
model_name = c2.selectbox("Model", models, index=models.index("mlp") if "mlp" in models else 0, key="loop_model")
variations = int(c3.number_input("Variations", 1, 10, 3, key="loop_variations"))
if not chosen:
    st.stop()

model = cached_model(model_name)
results = {}
missing = [h for h in chosen if store.get_json(
    "loops", loop_key(h, model=model, variations=variations, seed=0, remove_vocals="auto")) is None]
run_now = False
if missing:
    st.write(f"{len(missing)} of the chosen tracks have no loop with these settings yet. Each takes about "
             f"{variations * 5} renders plus their analysis (roughly a minute per minute of music, 2 cores).")
    run_now = st.button("Run the loop", type="primary", key="loop_run")
for h in chosen:
    if h in missing and not run_now:
        continue
    try:
        track = stored_track(h)
    except StudioError as exc:
        st.error(f"{names[h]}: this track could not be read back from the store: {exc}")
        continue
    if track is None:
        st.error(f"{names[h]}: the audio is no longer in the store.")
        continue
    bar, progress = page_progress(f"Loop: {names[h]}")
    try:
        results[h] = cached_loop(names[h], track, store=store, model=model, variations=variations, progress=progress)
    except StudioError as exc:
        st.error(f"{names[h]}: {exc}")
        results.pop(h, None)
    finally:
        bar.empty()
done = {h: r for h, r in results.items() if r is not None}
if not done:
    st.stop()

single = pd.concat([r.single for r in done.values()], ignore_index=True)
multi = pd.concat([r.multi for r in done.values()], ignore_index=True)
single_summary, multi_summary = summary_by_title(single), summary_by_title(multi)
mean_single = single_summary.iloc[-1][list(TARGETS)].to_dict() if len(single_summary) else {}
mean_multi = multi_summary.iloc[-1][list(TARGETS)].to_dict() if len(multi_summary) else {}
st.plotly_chart(loop_summary_figure(mean_single, mean_multi, targets_single=TARGETS_SINGLE,
                                    targets_multi=TARGETS_MULTI, amper_single=AMPER_SINGLE, amper_multi=AMPER_MULTI),
                key="loop_summary")
left, right = st.columns(2)
with left:
    st.plotly_chart(loop_titles_figure(single_summary, title="Single-region accuracy per title"), key="loop_single")
    st.dataframe(single_summary, hide_index=True, key="loop_single_table")
with right:
    st.plotly_chart(loop_titles_figure(multi_summary, title="Multi-region consistency per title"), key="loop_multi")
    st.dataframe(multi_summary, hide_index=True, key="loop_multi_table")
with st.expander("Every render (single-region) and every segment (multi-region)"):
    st.dataframe(single, hide_index=True, key="loop_single_all")
    st.dataframe(multi, hide_index=True, key="loop_multi_all")
d = st.columns(4)
d[0].download_button("Single-region CSV", single.to_csv(index=False), "single_region.csv", "text/csv", key="dl_single")
d[1].download_button("Multi-region CSV", multi.to_csv(index=False), "multi_region.csv", "text/csv", key="dl_multi")
d[2].download_button("Single-region summary CSV", single_summary.to_csv(index=False), "single_region_summary.csv",
                     "text/csv", key="dl_single_sum")
d[3].download_button("Multi-region summary CSV", multi_summary.to_csv(index=False), "multi_region_summary.csv",
                     "text/csv", key="dl_multi_sum")
st.caption("The renders are on the Listen page, next to their reference, and on the Render page under "
           "'Earlier renders'.")
