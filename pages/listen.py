"""Listen: the original and its renders in one synchronised player, loudness matched, and a
blind A/B test whose votes are kept in the store."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pandas as pd
import streamlit as st

from core.analysis.analyze import analyze
from core.plots import overlay_figure
from core.workflow.audition import (
    default_renders,
    levels_table,
    original_version,
    overlay_candidates,
    page_names,
    pairs_to_vote,
    reference_segments,
    render_name,
    render_version,
    round_seed,
)
from core.workflow.edits import edits_key
from core.workflow.listen import TARGET_LUFS, blind_order, render_key_of
from pages.ui.entry import through_navigation
from pages.ui.listening import matched, rename_panel, vote_buttons, votes_section
from pages.ui.media import plain, stored_render
from pages.ui.players import multi_player
from pages.ui.progress import with_progress
from pages.ui.tracks import pick_track
from pages.ui.widgets import get_store, require_stored_track

through_navigation()

MAX_RENDERS = 8  # with the original, nine versions: keys 1-9 in the player

st.title("Listen")
st.caption("The original and its renders side by side in one player: one transport, switch versions at the "
           f"same position (keys 1-9), every version played at {TARGET_LUFS:.0f} LUFS so that louder never "
           "wins by accident, loop a segment. Or take the blind A/B test.")
store, state = get_store(), st.session_state


def new_round() -> None:
    state["listen_round"], state["listen_reveal"] = uuid.uuid4().hex, False


library = store.list_tracks()
linked_count = {t["content_hash"]: len(store.renders_of(t["content_hash"])) for t in library}
library.sort(key=lambda t: linked_count[t["content_hash"]] == 0)  # tracks with renders first (stable)
content_hash = pick_track(store, key="listen_track", label="Reference track", library=library,
                          format_func=lambda t: f"{t['name']} ({t['duration_s']:.0f} s, "
                                                f"{linked_count[t['content_hash']]} renders)",
                          empty="No tracks yet. Analyse a track on the Analyze page, render from its segments "
                                "(Segments page) or run the loop (Loop page), then compare the versions here.")
track = require_stored_track(content_hash, hint="upload it again on the Analyze page")
analysis = with_progress(f"Finding the segments of {track.name}", lambda progress: analyze(
    track, progress=progress, store=store), error=f"{track.name} could not be analysed: ")
segments, warning = reference_segments(analysis, store.edits(content_hash, edits_key()).current())
if warning:  # the listener's own form from the Segments page wins over the machine's
    st.warning(plain(warning))

linked = store.renders_of(content_hash)
titles, labels, names = page_names(linked, store.list_renders(limit=200))  # in words, or as the user named them
chosen = st.multiselect(
    "Versions besides the original (renders linked to this track, or any other stored render)",
    list(labels) + [k for k in titles if k not in labels], default=default_renders(linked, limit=min(3, MAX_RENDERS)),
    format_func=lambda k: render_name(k, labels, titles, other="other: "), max_selections=MAX_RENDERS,
    key=f"listen_versions_{content_hash[:16]}")
if not linked:
    st.caption("No render is linked to this track yet: renders made on the Segments and Loop pages appear "
               "here. Any stored render can be added above.")
versions = [original_version(track)]
for key in chosen:
    if (result := stored_render(key)) is None:
        st.warning(f"'{plain(render_name(key, labels, titles))}' could not be read back from the store.")
    else:
        versions.append(render_version(key, result, label=labels.get(key) or titles.get(key, key)))
versions, measured = matched(versions)
mode = st.radio("Mode", ["Side by side", "Blind A/B"], horizontal=True, key="listen_mode",
                help="Blind A/B: the versions play under neutral letters in a shuffled order; vote on each pair, "
                     "the names are revealed after the last vote.")
if mode == "Side by side":
    multi_player(versions, segments=segments)
    table = levels_table(versions, measured)
    st.dataframe(table, hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.1f") for c in table.columns if c not in ("key", "version")})
    if candidates := overlay_candidates(versions):
        pick = st.selectbox("Overlay on the reference", [v.id for v in candidates],
                            format_func=lambda i: names.get(i, i), key="listen_overlay")
        render = next(v.render for v in candidates if v.id == pick)
        st.plotly_chart(overlay_figure(track, render, segments=segments, reference_name=track.name,
                                       render_name=names.get(pick, "render")), key=f"listen_overlay_{render_key_of(pick)}")
    rename_panel(store, content_hash, linked=linked, labels=labels)
    votes_section(store, content_hash, names=names, heading="Blind A/B votes so far")
    st.stop()
if len(versions) < 2:
    st.info("A blind test needs at least two versions: add a render above.")
    st.stop()
round_id = state.setdefault("listen_round", uuid.uuid4().hex)
letters = blind_order([v.id for v in versions], seed=round_seed(round_id, content_hash))
by_id = {v.id: v for v in versions}
multi_player([replace(by_id[vid], label=letter) for letter, vid in letters.items()], segments=segments, blind=True)
pairs, todo = pairs_to_vote(letters, store.votes(content_hash), round_id=round_id)
if todo:
    x, y = todo[0]
    st.markdown(f"**Pair {len(pairs) - len(todo) + 1} of {len(pairs)}:** listen to **{x}** and **{y}** "
                "(switch with their number keys in the player). Which do you prefer?")
    vote_buttons(store, content_hash, letters=letters, pair=todo[0], round_id=round_id)
else:
    st.success(f"All {len(pairs)} pairs voted: here is who was who.")
if not todo or st.toggle("Reveal the identities now", key="listen_reveal"):
    st.dataframe(pd.DataFrame({"letter": list(letters), "version": [by_id[v].label for v in letters.values()]}),
                 hide_index=True)
    votes_section(store, content_hash, names=names, heading="Votes per version (all listeners)")
st.button("New blind round (shuffle again)", key="listen_new_round", on_click=new_round)
