"""'Render in this track's style' on Analyze: the Render page opens with the track's most
frequent descriptor, tempo, key and length filled in (core.workflow.overview.render_style)."""

from __future__ import annotations

import streamlit as st

from core.generate.catalog import load_catalog
from core.workflow.overview import render_style

#: Where the Render page finds what the style button could not carry over as it was.
NOTES_KEY = "render_notes"


def style_button(analysis, *, descriptor: str) -> None:
    """The button; pressed, it fills the Render form's fields and opens the Render page."""
    if not descriptor:
        return
    d = load_catalog().get(descriptor)
    if not st.button(f"Render in this track's style ({d.genre}, {d.subgenre}, {d.mood})",
                     key=f"style-{analysis.track_hash}", icon=":material/music_note:"):
        return
    style = render_style(analysis, descriptor=descriptor)
    st.session_state.update({"pick_mode": "Browse", "genre": d.genre, "subgenre": d.subgenre, "mood": d.mood,
                             f"tempo-{descriptor}": style.tempo_bpm, "tonic": style.tonic,
                             "duration_s": style.duration_s, NOTES_KEY: list(style.notes)})
    st.switch_page("pages/render.py")


def style_notes() -> None:
    """On the Render page: what the style button had to change, once."""
    for note in st.session_state.pop(NOTES_KEY, []):
        st.info(note)
