"""Tracks on a page: the upload-to-store loop (one file or several) and the stored-track picker."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.audio.load import AUDIO_TYPES
from core.errors import StudioError
from core.store.store import Store
from pages.ui.text import message, plain


def _keep(upload, store: Store) -> str | None:
    try:
        return store.keep(upload.getvalue(), name=Path(upload.name).stem, suffix=Path(upload.name).suffix)
    except StudioError as exc:
        st.error(f"{plain(upload.name)}: {message(exc)}")
        return None


def upload_tracks(label: str, *, store: Store, key: str, into: list, where=st) -> None:
    """Audio uploads (several files) kept in the store; each new one's content hash is added to
    ``into`` (a list in session state). A bad file gets its message on the page."""
    for upload in where.file_uploader(label, type=list(AUDIO_TYPES), accept_multiple_files=True, key=key) or []:
        digest = _keep(upload, store)
        if digest is not None and digest not in into:
            into.append(digest)


def upload_track(label: str, *, store: Store, key: str, pick_key: str, where=st) -> None:
    """One audio upload kept in the store and made the choice of the track picker ``pick_key``
    (a keyed selectbox follows its state, not a new index). Once per upload, so later picks are
    the user's."""
    upload = where.file_uploader(label, type=list(AUDIO_TYPES), key=key)
    if upload is None or st.session_state.get(f"{pick_key}_upload_id") == upload.file_id:
        return
    st.session_state[f"{pick_key}_upload_id"] = upload.file_id
    digest = _keep(upload, store)
    if digest is not None:
        st.session_state[pick_key] = digest


def track_label(row: dict) -> str:
    return f"{row['name']} ({row['duration_s']:.0f} s)"


def pick_track(store: Store, *, key: str, empty: str, label: str = "Track", library=None, format_func=track_label,
               follow_url: bool = False) -> str:
    """The stored-track picker (a keyed selectbox); its content hash. With no track, ``empty``
    is shown and the run ends. ``follow_url``: the ``?track=`` of the address is the first
    choice and follows the pick (a refresh keeps it)."""
    library = store.list_tracks() if library is None else library
    if not library:
        st.info(empty)
        st.stop()
    names = {t["content_hash"]: format_func(t) for t in library}
    state, url = st.session_state, st.query_params.get("track")
    if state.get(key) not in names:
        state[key] = url if follow_url and url in names else next(iter(names))
    content_hash = st.selectbox(label, list(names), format_func=names.get, key=key)
    if follow_url:
        st.query_params["track"] = content_hash
    return content_hash

