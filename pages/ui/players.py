"""The two players, as iframes: the waveform player (one track, coloured segment regions, a
playhead) and the synchronised multi-version player (one transport over several versions)."""

from __future__ import annotations

import base64
from pathlib import Path

import streamlit as st

from core.workflow.audition import Version, embed_config, player_config, player_height, waveform_config
from pages.ui.media import preview_ogg

COMPONENTS = Path(__file__).resolve().parent


def _b64(key: str, samples, sample_rate: int) -> str:
    return base64.b64encode(preview_ogg(key, samples, sample_rate)).decode()


def waveform_player(track, segments, *, height: int = 205) -> None:
    """The waveform player of ``track`` with ``segments`` (start_s, end_s, label) as regions."""
    config = waveform_config(track, segments, _b64(track.content_hash, track.samples, track.sample_rate))
    st.iframe(embed_config((COMPONENTS / "waveform_player.html").read_text(), config), height=height)


def multi_player(versions: list[Version], *, segments=None, blind: bool = False, height: int | None = None) -> dict:
    """The synchronised player: one transport, switch versions at the same position, each at
    its loudness-matching gain, loop a segment (``segments``: the reference's, as regions).
    ``blind``: no waveforms. Returns the config the player was given, without the audio."""
    config = player_config(versions, [_b64(v.key, v.samples, v.sample_rate) for v in versions], segments=segments,
                           blind=blind)
    html = embed_config((COMPONENTS / "multi_player.html").read_text(), config)
    st.iframe(html, height=height or player_height(config))
    return {**config, "versions": [{k: e[k] for k in ("label", "gain_db", "duration_s")} for e in config["versions"]]}
