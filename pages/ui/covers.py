"""The Covers page's parts: the cover's players and figure, its score, its downloads."""

from __future__ import annotations

from dataclasses import asdict

import streamlit as st

from core.plots import leadsheet_figure
from core.workflow.audition import Version, original_version, render_version
from core.workflow.covers import Candidate, candidates_key, cover_score, library_candidates, melody_audio
from pages.ui.media import JSON, download_buttons, render_media
from pages.ui.players import multi_player
from pages.ui.progress import with_progress
from pages.ui.text import plain


@st.cache_data(show_spinner=False, max_entries=8)
def _melody(cover_key: str, _sheet):
    """The lead sheet's melody alone, synthesised once per cover (not on every rerun)."""
    return melody_audio(_sheet)


def _stems(store, track) -> list[Version]:
    for row in store.list_separations(track.content_hash)[:1]:
        stems = store.get_separation(row["separation_key"])
        if stems is not None:
            return [Version(f"stem:{name}", f"{row['separation_key']}-{name}", f"stem · {name}", stems[name],
                            stems.sample_rate) for name in stems.names]
    return []


def show_cover(track, cover, *, store) -> None:
    """The players (original, cover, stems, the melody alone), the lead sheet over the waveform, the recipe."""
    r = cover.recipe
    st.success(f"Cover as **{plain(r['descriptor'].replace('_', ' '))}** ({plain(r['band'].replace('_', ' '))}) "
               f"at {r['tempo_bpm']:g} BPM (the song: {r['source_tempo_bpm']:.0f} BPM), {r['bars']} bars, "
               f"melody: {plain(r['melody'])}.")
    for warning in r.get("warnings", []):
        st.caption(plain(warning))
    melody = Version("melody", f"{cover.key}-melody", "melody (MIDI)", _melody(cover.key, cover.sheet), 22050)
    versions = [original_version(track), render_version(cover.key, cover.render, label=f"cover · {r['genre']}"),
                *_stems(store, track)]
    multi_player(versions + ([melody] if cover.sheet.melody else []))
    st.plotly_chart(leadsheet_figure(cover.sheet, track.samples, track.sample_rate), key=f"covers_sheet_{cover.key}")
    base = f"{track.name}_{r['genre']}_cover"
    media = render_media(cover.key) or {"wav": cover.render.wav_bytes(), "midi": cover.render.midi_bytes()}
    download_buttons([
        ("Cover (WAV)", media["wav"], f"{base}.wav", "audio/wav", f"covers_wav_{cover.key}"),
        ("Cover (MIDI)", media["midi"], f"{base}.mid", "audio/midi", f"covers_mid_{cover.key}"),
        ("Lead sheet (JSON)", cover.sheet.to_json(), f"{track.name}_leadsheet.json", JSON, f"covers_ls_{cover.key}"),
        ("Melody, chords, bass (MIDI)", cover.sheet.midi_bytes(), f"{track.name}_leadsheet.mid", "audio/midi",
         f"covers_lsmid_{cover.key}"),
        ("Recipe (JSON)", cover.recipe_json(), f"{base}.json", JSON, f"covers_recipe_{cover.key}"),
    ])


def score_panel(track, cover, *, store) -> None:
    """On request: the rank of the original among the library and the examples, and the genre check."""
    st.subheader("Is it still the song, and is it the genre?")
    others = library_candidates(store, exclude=track.content_hash)  # names and loaders: nothing decoded yet
    original = Candidate(track.name, track.samples, track.sample_rate, track.content_hash)
    stored_key = f"{cover.key}-{candidates_key(original, others)}"
    score = store.get_json("cover_scores", stored_key)
    if score is None:
        st.caption(f"The cover detector ranks the original among the {len(others)} other tracks in the studio and "
                   "the shipped examples; the genre models listen to the cover's windows.")
        if not st.button("Judge the cover", key=f"covers_judge_{cover.key}"):
            return
        result = with_progress("Judging the cover", lambda progress: cover_score(
            cover, original=original, others=others, store=store, progress=progress),
            error="The cover could not be judged: ", stop=False)
        if result is None:
            return
        score = asdict(result)
        store.put_json("cover_scores", stored_key, score)
    c1, c2 = st.columns(2)
    rank = score["rank"]
    c1.metric("The original ranks", "-" if rank is None else f"#{rank} of {score['candidates']}",
              help="1 = of all the songs, the original is the one most like the cover (Qmax cover detector). "
                   + (f"Closest other song: {score['nearest_other']}." if score["nearest_other"] else ""))
    c2.metric(f"Windows heard as {score['genre']}", f"{100 * score['genre_share']:.0f} %",
              help=f"By the {score['genre_model']}; most windows: {score['majority_genre']}.")
    if score.get("note"):
        st.caption(plain(score["note"]))

