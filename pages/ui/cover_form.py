"""The Covers page's recipe form: the genre (or the library's taste suggestion), how the melody is
carried, the instrument and the seed."""

from __future__ import annotations

import pretty_midi
import streamlit as st

from core.covers.arrange import load_cover_rules
from core.covers.cover import CoverOptions
from core.covers.timbre import instruments
from core.workflow.taste import cover_target, profile_library
from core.workflow.taste_library import library_from_store
from pages.ui.progress import with_progress
from pages.ui.text import plain

BAND_LEAD = -1  # the instrument picker's "the band's own lead"
MELODY_WAYS = ("played by an instrument", "the original vocals", "the vocal line re-played")
MELODY_HELP = ("An instrument plays the melody the lead sheet wrote down; or the original vocals are separated "
               "and warped beat by beat onto the new tempo; or that vocal line is re-played by an instrument "
               "that follows its pitch and loudness (a timbre transfer).")


def _instrument(program: int) -> str:
    return "the band's own lead" if program == BAND_LEAD else f"{program}: {pretty_midi.program_to_instrument_name(program)}"


def cover_form() -> CoverOptions:
    """Genre, melody (an instrument or the original vocals), instrument and seed."""
    genres = sorted(load_cover_rules())
    c1, c2, c3, c4 = st.columns([1.2, 1.6, 1.6, 0.8])
    genre = c1.selectbox("Cover in", genres, index=genres.index("jazz"), key="covers_genre")
    sung = c2.radio("Melody", list(MELODY_WAYS), key="covers_melody", help=MELODY_HELP)
    keep = sung != "played by an instrument"
    if sung == "the vocal line re-played":
        line = c3.selectbox("Re-played on", instruments(), key="covers_timbre",
                            format_func=lambda n: n.replace("_", " "))
        program = BAND_LEAD
    else:
        line = None
        program = c3.selectbox("Instrument", [BAND_LEAD, *range(128)], format_func=_instrument, key="covers_program",
                               disabled=keep)
    seed = c4.number_input("Seed", min_value=0, max_value=2**31, value=0, step=1, key="covers_seed")
    return CoverOptions(genre=genre, keep_vocals=keep and line is None, timbre=line, seed=int(seed),
                        melody_program=None if keep or program == BAND_LEAD else program)


def taste_button(store, track) -> None:
    """On request: the library's taste profile (Taste page) picks this track's cover genre."""
    if not st.button("Suggest a genre from my library's taste", key="covers_taste",
                     help="Hears every track in the studio (stored results are reused) and picks the genre near "
                          "your taste that this song is not."):
        return
    profile = with_progress("Reading your library's taste", lambda progress: profile_library(
        library_from_store(store.list_tracks()), store=store, progress=progress), stop=False)
    mine = [t for t in (profile.tracks if profile else ()) if t.content_hash == track.content_hash]
    target = cover_target(mine[0], profile.weights) if mine else ""
    if target in load_cover_rules():
        st.session_state["covers_genre"] = target
        st.caption(f"Your library leans toward {plain(', '.join(profile.cover_targets))}: suggested {plain(target)}.")
    elif profile is not None:
        st.caption("No suggestion: the library's taste points at no genre this song is not already "
                   "(profile more tracks on the Taste page), or this song could not be heard.")
