"""Listen: the original and its renders in one synchronised player, loudness matched, and a
blind A/B test whose votes are kept in the store."""

from __future__ import annotations

import hashlib
import uuid

import pandas as pd
import streamlit as st

from core import StudioError
from core.workflow.edits import edits_key, segments_from_json
from core.workflow.listen import (ORIGINAL, SAME, TARGET_LUFS, blind_order, blind_pairs, loudness_lufs, matched_gains_db,
                         overlay_figure, peak_dbfs, render_key_of, version_id, vote_figure, vote_summary)
from pages.ui import get_store, multi_player, page_progress, require_stored_track

MAX_RENDERS = 8  # with the original, nine versions: keys 1-9 in the player

st.title("Listen")
st.caption("The original and its renders side by side in one player: one transport, switch versions at the "
           f"same position (keys 1-9), every version played at {TARGET_LUFS:.0f} LUFS so that louder never "
           "wins by accident, loop a segment. Or take the blind A/B test.")
store = get_store()


@st.cache_resource(max_entries=16, show_spinner=False)
def _stored_render(render_key: str):
    """A stored render, read once per server process (renders are immutable by key). A missing
    one raises, so it is not remembered as missing once it is made again."""
    result = store.get_render(render_key)
    if result is None:
        raise LookupError(render_key)
    return result


def stored_render(render_key: str):
    try:
        return _stored_render(render_key)
    except LookupError:
        return None


@st.cache_data(max_entries=64, show_spinner=False)
def levels(key: str, _samples, sample_rate: int) -> tuple[float, float]:
    """(integrated loudness LUFS, sample peak dBFS) of a version, measured once per version."""
    return loudness_lufs(_samples, sample_rate), peak_dbfs(_samples)


def new_round() -> None:
    st.session_state["listen_round"] = uuid.uuid4().hex
    st.session_state["listen_reveal"] = False


def record_vote(track_hash: str, a: str, b: str, preferred: str, session: str) -> None:
    store.add_vote(track_hash, version_a=a, version_b=b, preferred=preferred, session=session)


library = store.list_tracks()
if not library:
    st.info("No tracks yet. Analyse a track on the Analyze page, render from its segments (Segments page) or "
            "run the loop (Loop page), then compare the versions here.")
    st.stop()
linked_count = {t["content_hash"]: len(store.renders_of(t["content_hash"])) for t in library}
library.sort(key=lambda t: linked_count[t["content_hash"]] == 0)  # tracks with renders first (stable)
names = {t["content_hash"]: f"{t['name']} ({t['duration_s']:.0f} s, {linked_count[t['content_hash']]} renders)"
         for t in library}
content_hash = st.selectbox("Reference track", list(names), format_func=names.get, key="listen_track")
track = require_stored_track(content_hash, hint="upload it again on the Analyze page")

bar, progress = page_progress(f"Finding the segments of {track.name}")
try:
    analysis = store.analysis_for(track, progress=progress)
except StudioError as exc:
    st.error(f"{track.name} could not be analysed: {exc}")
    st.stop()
finally:
    bar.empty()
segments = analysis.segments
edited = store.edits(content_hash, edits_key()).current()
if edited is not None:  # the listener's own form from the Segments page wins over the machine's
    try:
        mine = segments_from_json(edited, duration_s=analysis.duration_s)
    except StudioError as exc:
        st.warning(f"The edited segments could not be read ({exc}); showing the analysis' segments.")
    else:
        segments = pd.DataFrame({"start_s": [s.start_s for s in mine], "end_s": [s.end_s for s in mine],
                                 "label": [s.label or s.descriptor for s in mine]})

# ------------------------------------------------------------------------------ versions
linked = store.renders_of(content_hash)
titles = {r["render_key"]: r["title"] for r in store.list_renders(limit=200)}


def _label(row: dict) -> str:
    name = row["label"] or titles.get(row["render_key"], row["render_key"][:10])
    if name.startswith(row["kind"] + "_"):  # "single: rock_..." rather than "single: single_rock_..."
        name = name[len(row["kind"]) + 1:]
    return f"{row['kind']}: {name}"


labels = {r["render_key"]: _label(r) for r in linked}
choices = list(labels) + [k for k in titles if k not in labels]
# by default the edited and stitched renders (the study's comparison), then single-region ones: 3 at first
priority = {"edit": 0, "multi": 1, "cover": 2, "single": 3}
preferred = [r["render_key"] for r in sorted(linked, key=lambda r: priority.get(r["kind"], 4))]
chosen = st.multiselect(
    "Versions besides the original (renders linked to this track, or any other stored render)", choices,
    default=preferred[:min(3, MAX_RENDERS)], format_func=lambda k: labels.get(k) or f"other: {titles.get(k, k[:10])}",
    max_selections=MAX_RENDERS, key=f"listen_versions_{content_hash[:16]}")
if not linked:
    st.caption("No render is linked to this track yet: the Segments and Loop pages link theirs. "
               "Any stored render can be added above.")

versions = [{"id": ORIGINAL, "key": content_hash, "label": f"original · {track.name}", "samples": track.samples,
             "sample_rate": track.sample_rate, "render": None}]
for key in chosen:
    result = stored_render(key)
    if result is None:
        st.warning(f"'{labels.get(key) or titles.get(key, key[:10])}' could not be read back from the store.")
        continue
    versions.append({"id": version_id(key), "key": version_id(key), "label": labels.get(key) or titles.get(key, key),
                     "samples": result.audio, "sample_rate": result.sample_rate, "render": result})
version_names = {ORIGINAL: "original"} | {version_id(k): labels.get(k) or titles.get(k, k[:10])
                                           for k in [*titles, *labels]}

try:
    measured = {v["id"]: levels(v["key"], v["samples"], v["sample_rate"]) for v in versions}
except StudioError as exc:
    st.error(f"The loudness of a version could not be measured: {exc}")
    st.stop()
gains = matched_gains_db({v: m[0] for v, m in measured.items()}, peaks_dbfs={v: m[1] for v, m in measured.items()})
for v in versions:
    v["gain_db"] = gains[v["id"]]


def summary_section(heading: str) -> None:
    votes = store.votes(content_hash)
    if not votes:
        return
    try:
        summary = vote_summary(votes)
    except StudioError as exc:
        st.warning(f"The stored votes of this track could not be summarised: {exc}")
        return
    st.subheader(heading)
    left, right = st.columns([1, 1])
    shown = summary.assign(version=[version_names.get(v, v) for v in summary["version_id"]])
    left.dataframe(shown[["version", "wins", "losses", "ties", "comparisons", "score"]], hide_index=True,
                   column_config={"score": st.column_config.NumberColumn(
                       format="%.2f", help="wins plus half the ties, over the comparisons")})
    right.plotly_chart(vote_figure(summary, names=version_names), key="listen_votes_figure")


mode = st.radio("Mode", ["Side by side", "Blind A/B"], horizontal=True, key="listen_mode",
                help="Blind A/B: the versions play under neutral letters in a shuffled order; vote on each pair, "
                     "the names are revealed after the last vote.")

if mode == "Side by side":
    multi_player(versions, segments=segments)
    table = pd.DataFrame({
        "key": [str(i + 1) for i in range(len(versions))],
        "version": [v["label"] for v in versions],
        "length (s)": [round(v["samples"].shape[0] / v["sample_rate"], 1) for v in versions],
        "loudness (LUFS)": [round(measured[v["id"]][0], 1) for v in versions],
        "peak (dBFS)": [round(measured[v["id"]][1], 1) for v in versions],
        "gain in the player (dB)": [v["gain_db"] for v in versions],
    })
    st.dataframe(table, hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.1f") for c in table.columns if c not in ("key", "version")})
    renders = [v for v in versions if v["render"] is not None]
    if renders:
        multi = [v for v in renders if len(v["render"].regions) > 1] or renders
        pick = st.selectbox("Overlay on the reference", [v["id"] for v in multi],
                            format_func=lambda i: version_names.get(i, i), key="listen_overlay")
        render = next(v["render"] for v in multi if v["id"] == pick)
        st.plotly_chart(overlay_figure(track, render, segments=segments, reference_name=track.name,
                                       render_name=version_names.get(pick, "render")),
                        key=f"listen_overlay_{render_key_of(pick)}")
    summary_section("Blind A/B votes so far")
else:
    if len(versions) < 2:
        st.info("A blind test needs at least two versions: add a render above.")
        st.stop()
    st.session_state.setdefault("listen_round", uuid.uuid4().hex)
    round_id = st.session_state["listen_round"]
    seed = int(hashlib.sha256(f"{round_id}:{content_hash}".encode()).hexdigest()[:8], 16)
    letters = blind_order([v["id"] for v in versions], seed=seed)
    by_id = {v["id"]: v for v in versions}
    letter_of = {vid: letter for letter, vid in letters.items()}
    multi_player([{**by_id[vid], "label": letter} for letter, vid in letters.items()], segments=segments, blind=True)

    pairs = blind_pairs(letters)
    done = {frozenset((letter_of.get(v["version_a"]), letter_of.get(v["version_b"])))
            for v in store.votes(content_hash) if v["session"] == round_id}
    todo = [p for p in pairs if frozenset(p) not in done]
    if todo:
        x, y = todo[0]
        st.markdown(f"**Pair {len(pairs) - len(todo) + 1} of {len(pairs)}:** listen to **{x}** and **{y}** "
                    "(switch with their number keys in the player). Which do you prefer?")
        c1, c2, c3 = st.columns(3)
        args = (content_hash, letters[x], letters[y])
        c1.button(f"{x} is better", key="listen_vote_a", on_click=record_vote, args=(*args, letters[x], round_id),
                  width="stretch")
        c2.button("About the same", key="listen_vote_same", on_click=record_vote, args=(*args, SAME, round_id),
                  width="stretch")
        c3.button(f"{y} is better", key="listen_vote_b", on_click=record_vote, args=(*args, letters[y], round_id),
                  width="stretch")
    else:
        st.success(f"All {len(pairs)} pairs voted: here is who was who.")
    reveal = not todo or st.toggle("Reveal the identities now", key="listen_reveal")
    if reveal:
        st.dataframe(pd.DataFrame({"letter": list(letters), "version": [by_id[v]["label"] for v in letters.values()]}),
                     hide_index=True)
        summary_section("Votes per version (all listeners)")
    st.button("New blind round (shuffle again)", key="listen_new_round", on_click=new_round)
