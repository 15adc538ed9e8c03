"""'Render in this track's style' (issue 17 item 8): Analyze hands the Render page the track's
most frequent descriptor, its tempo (folded by octaves into the render range, said so), key and length."""

from __future__ import annotations

import dataclasses

import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.analyze import Analysis
from core.bounds import MAX_DURATION_S
from core.workflow.overview import render_style
from tests.conftest import ROOT, wav_bytes


def _analysis(**changes):
    fields = {f.name: None for f in dataclasses.fields(Analysis)}
    fields.update(track_hash="h", duration_s=180.0, tempo_bpm=96.0, tonic="D", mode="minor", warnings=())
    fields.update(changes)
    return Analysis(**fields)


def test_the_style_keeps_tempo_key_and_length_when_they_fit():
    style = render_style(_analysis(), descriptor="rock_indie_driving")
    assert (style.descriptor, style.tempo_bpm, style.tonic, style.duration_s, style.notes) == (
        "rock_indie_driving", 96.0, "D", 180.0, ())


@pytest.mark.parametrize("tempo, folded, word", [(250.0, 125.0, "half as fast"), (12.0, 24.0, "twice as fast")])
def test_a_tempo_outside_the_render_range_moves_by_octaves_and_says_so(tempo, folded, word):
    style = render_style(_analysis(tempo_bpm=tempo), descriptor="rock_indie_driving")
    assert style.tempo_bpm == folded and word in style.notes[0]


def test_an_unreadable_tempo_or_key_and_a_very_long_track_are_said():
    style = render_style(_analysis(tempo_bpm=float("nan"), tonic="", duration_s=MAX_DURATION_S * 2),
                         descriptor="rock_indie_driving")
    assert (style.tempo_bpm, style.tonic, style.duration_s) == (120.0, "C", MAX_DURATION_S)
    assert len(style.notes) == 3


def test_the_style_button_opens_the_render_page_filled_in(abac_piece):
    audio, sr, _ = abac_piece
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.file_uploader(key="uploader").set_value(("clip.wav", wav_bytes(audio[: 20 * sr], sr), "audio/wav"))
    at.run()
    button = next(b for b in at.button if b.key and b.key.startswith("style-"))
    button.click()
    at.run()
    assert not at.exception
    assert at.title[0].value == "Render"
    genre, subgenre, mood = (at.selectbox(key=k).value for k in ("genre", "subgenre", "mood"))
    assert f"({genre}, {subgenre}, {mood})" in button.label
    assert at.selectbox(key="tonic").value == "D"
    assert at.number_input(key="duration_s").value == 20.0
    tempo = next(n for n in at.number_input if n.key and n.key.startswith("tempo-"))
    assert 90.0 <= tempo.value <= 100.0  # the piece is at 96 BPM
