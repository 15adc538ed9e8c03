"""Segments: correct the form the machine heard (descriptor, tempo, tonic, band, boundaries), then render it."""

from __future__ import annotations

import streamlit as st

from core.describe.models import default_model_name
from core.generate.catalog import load_catalog
from core.generate.render import render, render_key
from core.workflow.editor import bands_caption, edit_render_label, open_edits, segments_frame, segments_from_table
from core.workflow.edits import EditError, edits_key, machine_segments, save_edit, timeline_from_segments
from pages.ui.editor import history_bar, segment_files, segments_editor, split_and_merge
from pages.ui.entry import through_navigation
from pages.ui.media import pick_render
from pages.ui.players import waveform_player
from pages.ui.progress import with_progress
from pages.ui.render_card import render_card
from pages.ui.text import message, plain, status_line
from pages.ui.tracks import pick_track, upload_track
from pages.ui.widgets import cached_model, get_store, remembered, require_stored_track

through_navigation()

MODEL = default_model_name()
#: Pixel widths of the table's columns, in order.
COLUMN_WIDTHS = {"segment": 40, "start_s": 80, "end_s": 80, "duration_s": 80, "label": 65, "descriptor": 290,
                 "tempo_bpm": 115, "tonic": 70, "band": 180}

st.title("Segments")
st.caption("Correct the form the machine heard: each segment's descriptor, tempo, tonic and band, its boundaries "
           "(split a segment, merge two neighbours), then render the edited form. Every edit is saved as you make "
           "it; undo, redo, or go back to the machine's version at any time.")
store, catalog, state = get_store(), load_catalog(), st.session_state
if flash := state.pop("segments_flash", None):
    st.success(plain(flash))
upload_track("Upload a track", store=store, key="segments_upload", pick_key="segments_pick")
content_hash = pick_track(store, key="segments_pick", follow_url=True,
                          empty="Upload a track (or analyse one on the Analyze page) to edit its segments.")
track = require_stored_track(content_hash)


def machine_version(progress) -> tuple:
    return tuple(machine_segments(track, store=store, model=cached_model(MODEL), progress=progress))


machine = remembered("segments_machine", (content_hash, edits_key(), MODEL),  # once per track and process
                     lambda: with_progress(f"Analysing and classifying {track.name}", machine_version,
                                           error=f"{track.name}: "))
history = store.edits(content_hash, edits_key())
view = open_edits(history, machine, duration_s=track.duration_s, catalog=catalog)
if view.error:
    st.error(plain(view.error))
segments, nonce = view.segments, state.setdefault("segments_nonce", 0)


def show_new_version(flash: str | None = None) -> None:
    state["segments_nonce"] = nonce + 1
    if flash:
        state["segments_flash"] = flash
    st.rerun()


def saved(after, *, note: str = "") -> None:
    """Save a new version (refused versions raise EditError), then show it."""
    changed = save_edit(history, segments, after, note=note, duration_s=track.duration_s, catalog=catalog)
    show_new_version(None if changed is None else f"Saved: {note or history.notes()[history.cursor() - 1]}")


waveform_player(track, segments_frame(segments))
if (step := history_bar(history, status=status_line(view.status, history))) is not None:
    show_new_version(step or None)

st.subheader("Segments")
revision = f"{content_hash[:12]}-{view.cursor}-{nonce}"  # the track and its segments' version: widgets keyed by it
notice = st.container()  # a refused edit's message, above the tall table (in view)
rows = segments_editor(segments, catalog=catalog, key=f"segtable-{revision}", widths=COLUMN_WIDTHS)
if rows is not None:
    try:
        saved(segments_from_table(rows, segments, catalog=catalog))
    except EditError as exc:
        notice.error(f"Not saved: {message(exc)} The last saved version is kept.")
        if notice.button("Discard this change", key="segments_discard"):
            show_new_version()
st.caption(bands_caption(segments, catalog=catalog))
asked = split_and_merge(segments, catalog=catalog, revision=revision, machine=machine)
asked = segment_files(segments, name=track.name, duration_s=track.duration_s, catalog=catalog,
                      upload_key=content_hash) or asked
if asked is not None:
    try:
        saved(asked[0], note=asked[1])
    except EditError as exc:
        st.error(message(exc))

st.subheader("Render the edited form")
r1, r2 = st.columns([1, 3])
seed = int(r1.number_input("Seed", 0, 10_000_000, 0, 1, key="segments_seed"))
try:
    timeline = timeline_from_segments(segments, catalog=catalog)
except EditError as exc:
    st.error(message(exc))
    st.stop()
r2.caption(f"{len(timeline.regions)} sections, {timeline.duration_s:.1f} s, every boundary on a beat of the section "
           "before it; a band left empty is chosen by the seed.")
wanted, renders = render_key(timeline, seed=seed), state.setdefault("segments_renders", {})
if st.button("Render", type="primary", key="segments_render", icon=":material/music_note:"):
    title = f"{track.name}: edited form (seed {seed})"
    if with_progress("Rendering the edited form", lambda progress: render(
            timeline, seed=seed, title=title, progress=progress, store=store), stop=False):
        store.link_render(content_hash, wanted, kind="edit", label=edit_render_label(view.cursor, seed))
        renders[content_hash] = wanted
earlier = {r["render_key"]: r["label"] for r in reversed(store.renders_of(content_hash)) if r["kind"] == "edit"}
shown = renders.get(content_hash) or next(iter(earlier), None)
shown = renders[content_hash] = pick_render(earlier, shown=shown, label="Renders of edited forms",
                                           key=f"segments_open-{content_hash[:12]}-{renders.get(content_hash)}-"
                                               f"{len(earlier)}")
if shown:
    if shown != wanted:
        st.caption("The segments or the seed changed since this render: press Render to hear them.")
    render_card(shown, prefix="segments_", stem=f"{track.name}_edited_{shown[:8]}")
