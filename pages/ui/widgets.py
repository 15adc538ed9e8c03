"""What every page shares: the store, stored tracks and models (loaded once per process), and
progress bars. Uploads and the track picker are in :mod:`pages.ui.tracks`."""

from __future__ import annotations

import logging

import streamlit as st

from core.describe.models import load_model
from core.errors import StudioError
from core.store.store import Store, default_data_dir
from pages.ui.text import UNEXPECTED, message, plain

LOG = logging.getLogger("studio.pages")


def get_store() -> Store:
    """The Store of the data directory in STUDIO_DATA_DIR (one per directory and process)."""
    return _store_at(str(default_data_dir()))


@st.cache_resource
def _store_at(root: str) -> Store:
    return Store(root)


@st.cache_resource(max_entries=8, show_spinner=False)
def stored_track(content_hash: str):
    """A stored track, decoded once per server process (tracks are immutable by content hash)."""
    return get_store().get_track(content_hash)


@st.cache_resource(max_entries=6, show_spinner=False)
def cached_model(name: str):
    """A descriptor model, loaded once per server process."""
    return load_model(name)


@st.cache_resource(show_spinner=False)
def process_memo(name: str) -> dict:
    """A dict kept for the server process's life (the caller bounds its size)."""
    return {}


def track_or_message(content_hash: str, *, prefix: str = "", hint: str = "upload it again"):
    """The stored track, or None and a message on the page (after ``prefix``)."""
    try:
        track = stored_track(content_hash)
    except StudioError as exc:
        st.error(f"{plain(prefix)}This track could not be read back from the store: {message(exc)}")
        return None
    except Exception:  # not the user's doing: a plain message here, the details in the server log
        LOG.exception("stored track %s could not be read", content_hash)
        st.error(f"{plain(prefix)}{UNEXPECTED}")
        return None
    if track is None:
        st.error(f"{plain(prefix)}This track's audio is no longer in the store; {hint}.")
    return track


def require_stored_track(content_hash: str, *, hint: str = "upload it again"):
    """The stored track, or a message on the page and the end of this run."""
    track = track_or_message(content_hash, hint=hint)
    if track is None:
        st.stop()
    return track


def remembered(name: str, key, compute, *, limit: int = 64):
    """``compute()`` once per ``key`` and server process (the oldest of ``limit`` entries goes first)."""
    memo = process_memo(name)
    if key not in memo:
        while len(memo) >= limit:  # dicts keep insertion order
            memo.pop(next(iter(memo)))
        memo[key] = compute()
    return memo[key]
