"""Taste: profile a library (uploads, a zip, tracks already in the store): the genres it holds,
the descriptors it leans towards, cover targets near its taste and a map of it in embedding space."""

from __future__ import annotations

import streamlit as st

from core.audio.load import AUDIO_TYPES
from core.embed.genre import EMBED_MODEL
from core.embed.weights import weights_present
from core.workflow.taste_library import Library, library_from_store, library_from_uploads
from pages.ui.entry import through_navigation
from pages.ui.taste import profile_with_progress, show_profile
from pages.ui.tracks import track_label
from pages.ui.widgets import get_store

through_navigation()

st.title("Taste")
st.caption(
    "What a library of tracks leans towards: each track's genre heard by a model trained on real recordings "
    "(GTZAN's 10 genres, from musicnn's embedding), its catalog genre and the descriptor the studio's own model "
    "hears, then the catalog genres near the library's taste as cover targets. Tracks profiled before are a lookup."
)
store = get_store()
if not weights_present(EMBED_MODEL):
    st.info("The musicnn weights are not installed, so tracks cannot be profiled. `make run` fetches them (see the "
            "README, Real-music tags).")
    st.stop()

c1, c2 = st.columns([3, 2])
uploads = c1.file_uploader("Upload tracks or a zip of them", type=[*AUDIO_TYPES, "zip"], accept_multiple_files=True,
                           key="taste_upload")
rows = store.list_tracks()
names = {r["content_hash"]: track_label(r) for r in rows}
every = c2.checkbox(f"All {len(rows)} tracks in the store", key="taste_all", disabled=not rows)
picked = list(names) if every else c2.multiselect("Or pick tracks already in the store", list(names),
                                                  format_func=names.get, key="taste_pick")
count = len(uploads or []) + len(picked)
if st.button(f"Profile {count} file{'s' if count != 1 else ''}" if count else "Profile the library", type="primary",
             disabled=not count, key="taste_go"):
    uploaded = library_from_uploads((u.name, u.getvalue()) for u in uploads or [])
    stored = library_from_store([r for r in rows if r["content_hash"] in set(picked)])
    profile = profile_with_progress(Library(items=uploaded.items + stored.items, ignored=uploaded.ignored),
                                    store=store)
    if profile is not None:
        st.session_state["taste_profile"] = profile

profile = st.session_state.get("taste_profile")
if profile is None:
    st.info("Upload some tracks (or a zip of them), or pick tracks from the store, then press Profile.")
    st.stop()
show_profile(profile)
