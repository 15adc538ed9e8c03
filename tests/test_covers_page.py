"""The Covers page under AppTest (the real script, the real pipeline, a real store): make a cover,
see it stored for the next session, judge it."""

from __future__ import annotations

import pytest

from core.covers.songs import known_song
from tests.conftest import wav_bytes
from tests.test_pages import fresh_app


@pytest.fixture(scope="module")
def song_wav():
    song = known_song(progression="minor", bars=8, tempo_bpm=104.0, seed=21)  # unique audio: its own cache entries
    return wav_bytes(song.audio, song.sample_rate)


def _covers_page():
    at = fresh_app()
    at.switch_page("pages/covers.py")
    at.run()
    assert not at.exception
    return at


def test_covers_page_makes_keeps_and_judges_a_cover(song_wav):
    at = _covers_page()
    assert "Upload a song" in at.info[0].value
    at.file_uploader(key="covers_upload").set_value(("minor song.wav", song_wav, "audio/wav"))
    at.run()
    assert not at.exception
    at.selectbox(key="covers_genre").set_value("rock")
    at.run()
    at.button(key="covers_go").click()
    at.run()
    assert not at.exception and not at.error
    assert "rock" in at.success[0].value
    assert len(at.get("iframe")) == 1  # the synchronised player: original, cover, stems, melody
    assert any("melody" in c.proto.spec and "chords" in c.proto.spec for c in at.get("plotly_chart"))
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Cover (WAV)", "Cover (MIDI)", "Lead sheet (JSON)", "Melody, chords, bass (MIDI)", "Recipe (JSON)"]
    # a new session (a refresh) finds the cover in the store: no button to press
    again = _covers_page()
    again.selectbox(key="covers_genre").set_value("rock")
    again.run()
    assert not again.exception and not any(b.key == "covers_go" for b in again.button)
    judge = next(b for b in again.button if b.key.startswith("covers_judge_"))
    judge.click()
    again.run()
    assert not again.exception and not again.error
    metrics = {m.label: m.value for m in again.metric}
    assert metrics["The original ranks"] == "#1 of 9"  # the song among itself and the 8 shipped examples
    assert metrics["Windows heard as rock"].endswith("%")
    # the library's taste suggests a genre: the picker follows it
    again.button(key="covers_taste").click()
    again.run()
    assert not again.exception and not again.error
    assert any("suggested" in c.value for c in again.caption)
    assert again.selectbox(key="covers_genre").value in {o for o in again.selectbox(key="covers_genre").options}
