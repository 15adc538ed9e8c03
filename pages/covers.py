"""Covers: a track re-made in another genre (lead sheet, re-arrangement, the genre's band and mix),
heard beside the original, and judged: is it still the song, and is it the genre?"""

from __future__ import annotations

import streamlit as st

from core.covers.cover import STORE_KIND, Cover, CoverOptions, cover_key, make_cover
from core.covers.leadsheet import LeadSheetOptions, lead_sheet
from pages.ui.cover_form import cover_form, taste_button
from pages.ui.covers import score_panel, show_cover
from pages.ui.entry import through_navigation
from pages.ui.media import stored_render
from pages.ui.progress import with_progress
from pages.ui.tracks import pick_track, upload_track
from pages.ui.widgets import get_store, require_stored_track

through_navigation()

st.title("Covers")
st.caption("Re-make a song in another genre: the studio writes down its lead sheet (beats, chords, melody, bass and "
           "form), then the target genre's band plays the song's form, chords and melody in its own grooves and "
           "voicings, at a tempo moved toward the genre, mixed and mastered to -14 LUFS. Keep the original vocals "
           "or let an instrument sing. Every cover is kept and also shows on the Listen page.")
store = get_store()
upload_track("Upload a song (10 s or longer, with a pulse)", store=store, key="covers_upload", pick_key="covers_pick")
content_hash = pick_track(store, key="covers_pick", empty="Upload a song (or analyse one on the Analyze page) to "
                                                        "make a cover of it.")
track = require_stored_track(content_hash)
taste_button(store, track)
options: CoverOptions = cover_form()
sheet_options = LeadSheetOptions()
key = cover_key(track.content_hash, options, sheet_options)
render, recipe = stored_render(key), store.get_json(STORE_KIND, key)
if render is None or recipe is None:
    estimate = store.estimate("cover", audio_s=track.duration_s)
    st.write(f"**{track.name}** ({track.duration_s:.0f} s) as **{options.genre}**. The stages: separation, lead "
             "sheet, arrangement, synthesis and mix; it takes "
             f"{estimate.words() if estimate else 'a time measured on the first run here (the bar says the time left)'}.")
    if not st.button("Make the cover", type="primary", key="covers_go"):
        st.stop()
    cover = with_progress(f"Covering {track.name} as {options.genre}",
                          lambda progress: make_cover(track, options=options, sheet_options=sheet_options, store=store,
                                                      progress=progress),
                          error=f"No cover of {track.name}: ", store=store, stage="cover", audio_s=track.duration_s)
else:
    sheet = lead_sheet(track, options=sheet_options, store=store)
    cover = Cover(render=render, sheet=sheet, recipe=recipe, key=key)
show_cover(track, cover, store=store)
score_panel(track, cover, store=store)
