"""Audio and downloads on a page: encoded previews, stored renders' media, rows of download
buttons. A stored render's card (and its deliverables) is in :mod:`pages.ui.render_card`."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.audio.load import to_ogg_bytes
from core.plots import render_figure
from core.workflow.variations import render_caption, render_stem
from pages.ui.text import message, plain  # noqa: F401 - also for pages.ui.editor (its lines are counted)
from pages.ui.widgets import get_store

CSV, JSON = "text/csv", "application/json"


@st.cache_data(show_spinner=False, max_entries=16)
def preview_ogg(content_hash: str, _samples: np.ndarray, sample_rate: int) -> bytes:
    """Compact OGG Vorbis of a track for in-browser players (cached by content hash)."""
    return to_ogg_bytes(_samples, sample_rate)


@st.cache_resource(max_entries=16, show_spinner=False)
def _stored_render(render_key: str):
    result = get_store().get_render(render_key)
    if result is None:  # raised, so a missing render is not remembered once it is made again
        raise LookupError(render_key)
    return result


def stored_render(render_key: str):
    """A stored render, read once per server process (renders are immutable by key), or None."""
    try:
        return _stored_render(render_key)
    except LookupError:
        return None


@st.cache_data(max_entries=12, show_spinner=False)
def render_media(render_key: str) -> dict | None:
    """Everything a page shows of a stored render, encoded once per render."""
    result = stored_render(render_key)
    if result is None:
        return None
    return {"caption": render_caption(result), "ogg": to_ogg_bytes(result.audio, result.sample_rate),
            "wav": result.wav_bytes(), "midi": result.midi_bytes(), "timeline": result.timeline.to_json(),
            "figure": render_figure(result), "stem": render_stem(result)}


def download(label: str, data, name: str, mime: str, *, key: str, where=st) -> None:
    """One download button that does not rerun the page when clicked (``on_click="ignore"``): a
    rerun would replace every download link on the page, and the next click would get a stale one."""
    where.download_button(label, data, name, mime, key=key, on_click="ignore")


def download_buttons(files, *, spec=None) -> list:
    """A row of download buttons (:func:`download`); ``files``: (label, data, file name, mime type,
    key) each; ``spec``: the row's column widths (one column per file by default). Returns the columns."""
    columns = st.columns(spec or len(files))
    for column, (label, data, name, mime, key) in zip(columns, files):
        download(label, data, name, mime, key=key, where=column)
    return columns


def pick_render(choices: dict[str, str], *, shown: str | None, label: str, key: str) -> str | None:
    """A picker over ``choices`` (render key -> label, newest first) when there are two or
    more, starting at ``shown``; the render to show."""
    if len(choices) < 2:
        return shown
    keys = list(choices)
    return st.selectbox(f"{label} ({len(keys)})", keys, format_func=choices.get,
                        index=keys.index(shown) if shown in keys else 0, key=key)
