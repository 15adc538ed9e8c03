"""The Segments page's editing widgets: the history bar, the segment table, the split, merge and tempo panels."""

from __future__ import annotations

import streamlit as st

from core.analysis.key import PITCH_CLASSES
from core.bounds import MAX_DURATION_S, TEMPO_RANGE_BPM
from core.generate.timeline import json_upload_mb
from core.workflow import edits
from core.workflow.editor import BY_SEED, band_options, editor_table, pair_label, segment_downloads, segment_label
from pages.ui.media import download_buttons, message, plain


def history_bar(history, *, status: str) -> str | None:
    """Undo, redo and reset beside the history's ``status`` (Markdown): None, else the step's message ("" for none)."""
    h1, h2, h3, h4 = st.columns([1, 1, 2, 4])
    h4.markdown(status)
    for column, step, can in ((h1, "undo", history.can_undo()), (h2, "redo", history.can_redo())):
        if column.button(step.title(), key=f"segments_{step}", disabled=not can, icon=f":material/{step}:"):
            getattr(history, step)()
            return ""
    if h3.button("Reset to the analysis", key="segments_reset", disabled=history.current() is None,
                 help="Back to the machine's version, as one more step in the history: Undo brings your edits back."):
        history.reset()
        return "Back to the machine's version (Undo brings your edits back)."


def _columns(catalog, widths: dict) -> dict:
    lo, hi = TEMPO_RANGE_BPM
    number, select = st.column_config.NumberColumn, st.column_config.SelectboxColumn
    return {  # fixed pixel widths: the table reads the same on every screen
        "segment": number("#", width=widths["segment"]),
        "start_s": number("Start (s)", min_value=0.0, max_value=MAX_DURATION_S, step=0.01, format="%.2f",
                          width=widths["start_s"], help="Moving a start moves the previous end too."),
        "end_s": number("End (s)", min_value=0.0, max_value=MAX_DURATION_S, step=0.01, format="%.2f",
                        width=widths["end_s"], help="Moving an end moves the next start too."),
        "duration_s": number("Length (s)", format="%.2f", width=widths["duration_s"]),
        "label": st.column_config.TextColumn("Section", width=widths["label"], help="The section type the analysis found"),
        "descriptor": select("Descriptor", options=catalog.names(), required=True, width=widths["descriptor"],
                             help="Type to search the catalog"),
        # no min/max: the table would clamp 250 to 200 silently; the edit is refused with the range instead
        "tempo_bpm": number("Tempo (BPM)", step=0.1, format="%.1f", width=widths["tempo_bpm"], help=f"{lo:g}-{hi:g} BPM"),
        "tonic": select("Tonic", options=list(PITCH_CLASSES), required=True, width=widths["tonic"]),
        "band": select("Band", options=band_options(catalog), width=widths["band"],
                       help=f"One of the descriptor's bands, or {BY_SEED}: the render's seed chooses"),
    }


def segments_editor(segments, *, catalog, key: str, widths: dict) -> list[dict] | None:
    """The editable segment table; its rows (records) when the user changed a cell, else None."""
    edited = st.data_editor(editor_table(segments), key=key, hide_index=True, num_rows="fixed", width="content",
                            disabled=["segment", "duration_s", "label"], column_config=_columns(catalog, widths))
    return edited.to_dict(orient="records") if st.session_state.get(key, {}).get("edited_rows") else None


def _split(segments, catalog, revision):
    st.markdown("**Split a segment**")
    which = st.selectbox("Segment", range(len(segments)), key=f"split_pick-{revision}",
                         format_func=lambda i: segment_label(segments, i))
    seg = segments[min(which, len(segments) - 1)]
    at_s = st.number_input("at (s)", min_value=float(seg.start_s), max_value=float(seg.end_s),
                           value=round((seg.start_s + seg.end_s) / 2, 2), step=0.5,
                           key=f"split_at-{revision}-{seg.start_s}-{seg.end_s}")
    if st.button("Split", key="split_go", icon=":material/content_cut:"):
        note = f"Split segment {which + 1} at {at_s:g} s"
        return edits.split_segment(segments, index=which, at_s=at_s, catalog=catalog), note
    return None


def _merge(segments, catalog, revision):
    st.markdown("**Merge two neighbours**")
    if len(segments) < 2:
        st.caption("There is one segment: nothing to merge.")
        return None
    pair = st.selectbox("Segments", range(len(segments) - 1), key=f"merge_pick-{revision}",
                        format_func=lambda i: pair_label(segments, i))
    keep = st.radio("Keep the descriptor, tempo, tonic and band of", ["first", "second"], horizontal=True,
                    key="merge_keep")
    if st.button("Merge", key="merge_go", icon=":material/merge:"):
        note = f"Merged segments {pair + 1} and {pair + 2}"
        return edits.merge_segments(segments, index=pair, keep=keep, catalog=catalog), note
    return None


def _tempo(segments, catalog, machine):
    st.markdown("**Tempo reads as**", help="Every segment at half or double the analysed tempo, or as analysed")
    for level in edits.TEMPO_LEVELS:  # the level the segments are at now is the one not to press
        if st.button(level, key=f"tempo_{level.split()[-1]}", disabled=level == edits.tempo_level(segments, machine)):
            return edits.at_tempo_level(segments, machine, level=level, catalog=catalog)


def split_and_merge(segments, *, catalog, revision: str, machine):
    """The split, merge and tempo panels side by side: the edit asked, as (segments, note), or None (a refusal is
    said in its panel). ``revision``: the track and its segments' version; ``machine``: the analysed segments."""
    asked, tempo = None, lambda s, c, _: _tempo(s, c, machine)
    for column, panel in zip(st.columns([2, 2, 1]), (_split, _merge, tempo)):
        with column.container(border=True):
            try:
                asked = panel(segments, catalog, revision) or asked
            except edits.EditError as exc:
                st.error(message(exc))
    return asked


def segment_files(segments, *, name: str, duration_s: float, catalog, upload_key: str):
    """Segments JSON and CSV downloads, and a JSON upload: (segments, note) once per upload and track, else None."""
    files = [(*f, k) for f, k in zip(segment_downloads(segments, name=name), ("segments_dl_json", "segments_dl_csv"))]
    upload = download_buttons(files, spec=[1, 1, 2])[2].file_uploader(
        "Upload segments JSON", type=["json"], key="segments_json_upload", max_upload_size=json_upload_mb())
    applied: set = st.session_state.setdefault("segments_applied_uploads", set())
    if upload is None or (upload_key, upload.file_id) in applied:
        return None
    try:
        loaded = edits.segments_from_json(upload.getvalue(), duration_s=duration_s, catalog=catalog)
    except edits.EditError as exc:
        st.error(f"{plain(upload.name)}: {message(exc)}")
        return None
    applied.add((upload_key, upload.file_id))
    return loaded, f"Uploaded {upload.name}"
