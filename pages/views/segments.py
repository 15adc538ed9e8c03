"""Segments: correct the form the machine heard (descriptor, tempo, tonic, band, boundaries), then render it."""

from __future__ import annotations


import pandas as pd
import streamlit as st

from core import StudioError
from core.generate.catalog import load_catalog
from core.workflow.edits import (EditError, current_segments, edits_key, machine_segments, merge_segments, reconcile_edit,
                        save_edit, segment_from_mapping, segments_from_json, segments_table, segments_to_csv,
                        segments_to_json, split_segment, timeline_from_segments)
from core.analysis.key import PITCH_CLASSES
from core.generate.render import render_key
from core.generate.timeline import MAX_DURATION_S, TEMPO_RANGE_BPM
from pages.ui import (cached_model, get_store, keep_upload_as_pick, page_progress, render_media,
                      require_stored_track, waveform_player)

AUDIO_TYPES = ["wav", "flac", "ogg", "mp3", "aiff", "aif"]
MODEL = "mlp"
BY_SEED = "(by seed)"  # the band cell of a segment whose band the render's seed chooses
#: Pixel widths of the table's columns, in order.
COLUMN_WIDTHS = {"segment": 40, "start_s": 80, "end_s": 80, "duration_s": 80, "label": 65, "descriptor": 290,
                 "tempo_bpm": 115, "tonic": 70, "band": 180}

st.title("Segments")
st.caption("Correct the form the machine heard: each segment's descriptor, tempo, tonic and band, its boundaries "
           "(split a segment, merge two neighbours), then render the edited form. Every edit is saved as you make "
           "it; undo, redo, or go back to the machine's version at any time.")
store = get_store()
catalog = load_catalog()
state = st.session_state

flash = state.pop("segments_flash", None)
if flash:
    st.success(flash)

up = st.file_uploader("Upload a track", type=AUDIO_TYPES, key="segments_upload")
keep_upload_as_pick(up, store=store, pick_key="segments_pick")

library = store.list_tracks()
if not library:
    st.info("Upload a track (or analyse one on the Analyze page) to edit its segments.")
    st.stop()
names = {t["content_hash"]: f"{t['name']} ({t['duration_s']:.0f} s)" for t in library}
choices = list(names)
if state.get("segments_pick") not in choices and st.query_params.get("track") in choices:
    state["segments_pick"] = st.query_params["track"]  # the track of the address (a refresh keeps it)
content_hash = st.selectbox("Track", choices, format_func=names.get, key="segments_pick")
st.query_params["track"] = content_hash
track = require_stored_track(content_hash)


@st.cache_resource(show_spinner=False)
def _machine_versions() -> dict:
    """The machine's version per (track, analysis options, model), once per server process."""
    return {}


options_key = edits_key()
machine_cache = _machine_versions()
if (content_hash, options_key, MODEL) not in machine_cache:
    while len(machine_cache) >= 64:  # oldest first (dicts keep insertion order)
        machine_cache.pop(next(iter(machine_cache)))
    bar, progress = page_progress(f"Analysing and classifying {track.name}")
    try:
        machine_cache[(content_hash, options_key, MODEL)] = tuple(
            machine_segments(track, store=store, model=cached_model(MODEL), progress=progress))
    except StudioError as exc:
        st.error(f"{track.name}: {exc}")
        st.stop()
    finally:
        bar.empty()
machine = list(machine_cache[(content_hash, options_key, MODEL)])
history = store.edits(content_hash, options_key)
duration_s = track.duration_s
try:
    segments = current_segments(history, machine, duration_s=duration_s, catalog=catalog)
except EditError as exc:
    st.error(f"The saved edit could not be read back ({exc}); showing the machine's version. Undo, redo or reset "
             "to choose another version.")
    segments = machine
nonce = state.setdefault("segments_nonce", 0)
cursor, count = history.cursor(), history.count()


def saved(after, *, note: str = "") -> None:
    """Save a new version (refused versions raise EditError), then show it."""
    if save_edit(history, segments, after, note=note, duration_s=duration_s, catalog=catalog) is not None:
        state["segments_flash"] = f"Saved: {note or history.notes()[history.cursor() - 1]}"
    state["segments_nonce"] = nonce + 1
    st.rerun()


# ------------------------------------------------------------------ history
waveform_player(track, pd.DataFrame({"start_s": [s.start_s for s in segments], "end_s": [s.end_s for s in segments],
                                     "label": [s.descriptor for s in segments]}))
h1, h2, h3, h4 = st.columns([1, 1, 2, 4])
if h1.button("Undo", key="segments_undo", disabled=not history.can_undo(), icon=":material/undo:"):
    history.undo()
    state["segments_nonce"] = nonce + 1
    st.rerun()
if h2.button("Redo", key="segments_redo", disabled=not history.can_redo(), icon=":material/redo:"):
    history.redo()
    state["segments_nonce"] = nonce + 1
    st.rerun()
if h3.button("Reset to the analysis", key="segments_reset", disabled=history.current() is None,
             help="Back to the machine's version, as one more step in the history: Undo brings your edits back."):
    history.reset()
    state["segments_nonce"] = nonce + 1
    state["segments_flash"] = "Back to the machine's version (Undo brings your edits back)."
    st.rerun()
if cursor == 0:
    redo = f" · {count} edit{'s' if count > 1 else ''} to redo" if count else ""
    h4.markdown(f"**The machine's version** (from the analysis){redo}")
else:
    h4.markdown(f"**Edit {cursor} of {count}**: {history.notes()[cursor - 1]}")

# ------------------------------------------------------------------ the table
st.subheader("Segments")
all_bands = sorted({b for d in catalog.descriptors.values() for b in d.bands})
lo, hi = TEMPO_RANGE_BPM
editor_key = f"segtable-{content_hash[:12]}-{cursor}-{nonce}"
table = segments_table(segments)
table["band"] = table["band"].replace("", BY_SEED)
edited = st.data_editor(
    table, key=editor_key, hide_index=True, num_rows="fixed", width="content",
    disabled=["segment", "duration_s", "label"],
    column_config={  # fixed pixel widths: the table reads the same on every screen
        "segment": st.column_config.NumberColumn("#", width=COLUMN_WIDTHS["segment"]),
        "start_s": st.column_config.NumberColumn("Start (s)", min_value=0.0, max_value=MAX_DURATION_S, step=0.01,
                                                 format="%.2f", width=COLUMN_WIDTHS["start_s"],
                                                 help="Moving a start moves the previous end too."),
        "end_s": st.column_config.NumberColumn("End (s)", min_value=0.0, max_value=MAX_DURATION_S, step=0.01,
                                               format="%.2f", width=COLUMN_WIDTHS["end_s"],
                                               help="Moving an end moves the next start too."),
        "duration_s": st.column_config.NumberColumn("Length (s)", format="%.2f", width=COLUMN_WIDTHS["duration_s"]),
        "label": st.column_config.TextColumn("Section", width=COLUMN_WIDTHS["label"],
                                             help="The section type the analysis found"),
        "descriptor": st.column_config.SelectboxColumn("Descriptor", options=catalog.names(), required=True,
                                                       width=COLUMN_WIDTHS["descriptor"],
                                                       help="Type to search the catalog"),
        "tempo_bpm": st.column_config.NumberColumn("Tempo (BPM)", min_value=lo, max_value=hi, step=0.1,
                                                   format="%.1f", width=COLUMN_WIDTHS["tempo_bpm"]),
        "tonic": st.column_config.SelectboxColumn("Tonic", options=list(PITCH_CLASSES), required=True,
                                                  width=COLUMN_WIDTHS["tonic"]),
        "band": st.column_config.SelectboxColumn("Band", options=[BY_SEED, *all_bands], width=COLUMN_WIDTHS["band"],
                                                 help=f"One of the descriptor's bands, or {BY_SEED}: the render's "
                                                      "seed chooses"),
    },
)
if state.get(editor_key, {}).get("edited_rows"):
    try:
        rows = [{**r, "band": None if r["band"] == BY_SEED else r["band"]} for r in edited.to_dict(orient="records")]
        after = reconcile_edit(segments, [segment_from_mapping(r, number=i) for i, r in enumerate(rows, 1)],
                               catalog=catalog)
        saved(after)
    except EditError as exc:
        st.error(f"Not saved: {exc} The last saved version is kept.")
        if st.button("Discard this change", key="segments_discard"):
            state["segments_nonce"] = nonce + 1
            st.rerun()
in_use = list(dict.fromkeys(s.descriptor for s in segments))
st.caption("Bands: " + " · ".join(f"*{name}*: {', '.join(sorted(catalog.get(name).bands))}" for name in in_use)
           + f". With {BY_SEED}, the render's seed chooses the band.")

# ------------------------------------------------------------------ split and merge
c1, c2 = st.columns(2)
with c1.container(border=True):
    st.markdown("**Split a segment**")
    which = st.selectbox("Segment", range(len(segments)), key="split_pick",
                         format_func=lambda i: f"{i + 1}: {segments[i].start_s:.2f}-{segments[i].end_s:.2f} s "
                                               f"({segments[i].descriptor})")
    seg = segments[min(which, len(segments) - 1)]
    at_s = st.number_input("at (s)", min_value=float(seg.start_s), max_value=float(seg.end_s),
                           value=round((seg.start_s + seg.end_s) / 2, 2), step=0.5,
                           key=f"split_at-{seg.start_s}-{seg.end_s}")
    if st.button("Split", key="split_go", icon=":material/content_cut:"):
        try:
            saved(split_segment(segments, index=which, at_s=at_s, catalog=catalog),
                  note=f"Split segment {which + 1} at {at_s:g} s")
        except EditError as exc:
            st.error(str(exc))
with c2.container(border=True):
    st.markdown("**Merge two neighbours**")
    if len(segments) < 2:
        st.caption("There is one segment: nothing to merge.")
    else:
        pair = st.selectbox("Segments", range(len(segments) - 1), key="merge_pick",
                            format_func=lambda i: f"{i + 1} + {i + 2} ({segments[i].start_s:.2f}-"
                                                  f"{segments[i + 1].end_s:.2f} s)")
        keep = st.radio("Keep the descriptor, tempo, tonic and band of", ["first", "second"], horizontal=True,
                        key="merge_keep")
        if st.button("Merge", key="merge_go", icon=":material/merge:"):
            try:
                saved(merge_segments(segments, index=pair, keep=keep, catalog=catalog),
                      note=f"Merged segments {pair + 1} and {pair + 2}")
            except EditError as exc:
                st.error(str(exc))

# ------------------------------------------------------------------ files
f1, f2, f3 = st.columns([1, 1, 2])
f1.download_button("Segments JSON", segments_to_json(segments), f"{track.name}_segments.json", "application/json",
                   key="segments_dl_json")
f2.download_button("Segments CSV", segments_to_csv(segments), f"{track.name}_segments.csv", "text/csv",
                   key="segments_dl_csv")
upload = f3.file_uploader("Upload segments JSON", type=["json"], key="segments_json_upload")
applied: set = state.setdefault("segments_applied_uploads", set())
if upload is not None and (content_hash, upload.file_id) not in applied:
    try:
        loaded = segments_from_json(upload.getvalue(), duration_s=duration_s, catalog=catalog)
    except EditError as exc:
        st.error(f"{upload.name}: {exc}")
    else:
        applied.add((content_hash, upload.file_id))
        saved(loaded, note=f"Uploaded {upload.name}")

# ------------------------------------------------------------------ render
st.subheader("Render the edited form")
r1, r2 = st.columns([1, 3])
seed = int(r1.number_input("Seed", 0, 10_000_000, 0, 1, key="segments_seed"))
try:
    timeline = timeline_from_segments(segments, catalog=catalog)
except EditError as exc:
    st.error(str(exc))
    st.stop()
r2.caption(f"{len(timeline.regions)} regions, {timeline.duration_s:.1f} s, every boundary on a beat of the region "
           "before it; a band left empty is chosen by the seed.")
wanted = render_key(timeline, seed=seed)
renders = state.setdefault("segments_renders", {})
if st.button("Render", type="primary", key="segments_render", icon=":material/music_note:"):
    bar, progress = page_progress("Rendering the edited form")
    try:
        store.render_for(timeline, seed=seed, title=f"{track.name}: edited form (seed {seed})", progress=progress)
        label = f"edit {cursor} · seed {seed}" if cursor else f"machine's version · seed {seed}"
        store.link_render(content_hash, wanted, kind="edit", label=label)
        renders[content_hash] = wanted
    except StudioError as exc:
        st.error(str(exc))
    finally:
        bar.empty()

earlier = [r for r in store.renders_of(content_hash) if r["kind"] == "edit"]
shown = renders.get(content_hash) or (earlier[-1]["render_key"] if earlier else None)
if len(earlier) > 1:
    labels = {r["render_key"]: r["label"] for r in earlier}
    keys = list(reversed(list(labels)))
    shown = st.selectbox(f"Renders of edited forms ({len(keys)})", keys, format_func=labels.get,
                         index=keys.index(shown) if shown in keys else 0,
                         key=f"segments_open-{content_hash[:12]}-{renders.get(content_hash)}-{len(keys)}")
    renders[content_hash] = shown
if shown:
    media = render_media(shown)
    if media is None:
        st.warning("This render could not be read back from the store; render it again.")
    else:
        if shown != wanted:
            st.caption("The segments or the seed changed since this render: press Render to hear them.")
        st.markdown(media["caption"])
        st.audio(media["ogg"], format="audio/ogg")
        st.plotly_chart(media["figure"], key=f"segments_fig-{shown}")
        stem = f"{track.name}_edited_{shown[:8]}"
        d1, d2, d3 = st.columns(3)
        d1.download_button("WAV", media["wav"], f"{stem}.wav", "audio/wav", key=f"segments_wav-{shown}")
        d2.download_button("MIDI", media["midi"], f"{stem}.mid", "audio/midi", key=f"segments_mid-{shown}")
        d3.download_button("Timeline", media["timeline"], f"{stem}.json", "application/json",
                           key=f"segments_tl-{shown}")
