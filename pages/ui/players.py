"""The two players, as iframes: the waveform player (one track, coloured segment regions, a
playhead) and the synchronised multi-version player (one transport over several versions).

The multi-version player's audio is never inside the page: each version's OGG goes to Streamlit's media file manager
(what ``st.audio`` uses), which serves it at ``/media/<hash>.ogg`` with range requests, and the
players load it by that URL. A file stays served while the session's latest run registered it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit import runtime

from core.workflow.audition import Version, embed_config, player_config, player_height, waveform_config
from pages.ui.media import preview_ogg

COMPONENTS = Path(__file__).resolve().parent
OGG = "audio/ogg"


def media_url(data: bytes, mimetype: str, *, name: str) -> str:
    """A URL on this server for ``data`` (served with range requests) that stays valid while the
    session's latest run asked for it; ``name`` tells this file apart from the page's others."""
    if not runtime.exists():  # a bare script: there is no server to serve the file
        return ""
    # coordinates that no element of the page has (theirs are dotted numbers), so no element replaces it
    url = runtime.get_instance().media_file_mgr.add(data, mimetype, f"studio-player:{name}")
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}{url}" if base and url.startswith("/") else url


def _url(key: str, samples, sample_rate: int) -> str:
    return media_url(preview_ogg(key, samples, sample_rate), OGG, name=key)


def waveform_player(track, segments, *, height: int = 205) -> None:
    """The waveform player of ``track`` with ``segments`` (start_s, end_s, label) as regions.
    Its one track is still inside the page (a data URL); ``_url`` would serve it like the
    multi-version player's (tests/test_browser.py's waveform test expects the data URL)."""
    config = waveform_config(track, segments, _url(track.content_hash, track.samples, track.sample_rate))
    st.iframe(embed_config((COMPONENTS / "waveform_player.html").read_text(), config), height=height)


def multi_player(versions: list[Version], *, segments=None, blind: bool = False, height: int | None = None) -> dict:
    """The synchronised player: one transport, switch versions at the same position, each at
    its loudness-matching gain, loop a segment (``segments``: the reference's, as regions).
    ``blind``: no waveforms. Returns the config the player was given, without the audio links."""
    config = player_config(versions, [_url(v.key, v.samples, v.sample_rate) for v in versions], segments=segments,
                           blind=blind)
    html = embed_config((COMPONENTS / "multi_player.html").read_text(), config)
    st.iframe(html, height=height or player_height(config))
    return {**config, "versions": [{k: e[k] for k in ("label", "gain_db", "duration_s")} for e in config["versions"]]}
