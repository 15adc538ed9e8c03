"""Lead sheets (core.covers): chords, melody, exports, refusals, silence, the store and the CLI."""

from __future__ import annotations

import argparse
import io
import json

import mir_eval
import numpy as np
import pretty_midi
import pytest

from core.audio.load import load_track, to_wav_bytes
from core.cli.leadsheet import add_leadsheet
from core.covers.chords import template_chords
from core.covers.leadsheet import LeadSheet, LeadSheetError, LeadSheetOptions, lead_sheet
from core.covers.notes import Note, f0_notes, pesto_f0, quantize, subdivide, transcribe, voice
from core.covers.songs import known_song
from core.errors import OptionError
from core.store.store import Store

#: Measured on these exact pieces, minus a margin (bench/leadsheet.py has the wider figures):
#: template chords 1.0 on the true beats and 0.99 in the whole lead sheet; pesto and the top
#: voice 1.0 on a lone line; the lead sheet's melody 0.79 and bass 1.0 over the full band.
MIN_TEMPLATE_MIREX = 0.85
MIN_LINE_F = 0.85
MIN_MELODY_F = 0.7
MIN_BASS_F = 0.8


def _track(audio: np.ndarray, sr: int, name: str = "song"):
    return load_track(to_wav_bytes(audio, sr, subtype="FLOAT"), name=name)


def _note_f(ref, est) -> float:
    def arrays(notes):
        return (np.array([[n.start_s, n.end_s] for n in notes]).reshape(-1, 2),
                np.array([440.0 * 2 ** ((n.pitch - 69) / 12) for n in notes]))

    return mir_eval.transcription.precision_recall_f1_overlap(*arrays(ref), *arrays(est), offset_ratio=None)[2]


@pytest.fixture(scope="module")
def song():
    return known_song(progression="minor", bars=4, tempo_bpm=110.0, seed=3, drums=False)


def test_template_chords_match_most_beats_of_a_generated_piece(song):
    beat_s = 60.0 / song.tempo_bpm
    bounds = np.arange(0, 16 + 1) * beat_s
    labels = template_chords(song.audio, song.sample_rate, bounds)
    scores = mir_eval.chord.evaluate(song.chord_intervals_s, list(song.chord_labels),
                                     np.stack([bounds[:-1], bounds[1:]], axis=1), labels)
    assert scores["mirex"] >= MIN_TEMPLATE_MIREX, labels


def test_lead_sheet_of_a_generated_piece_has_its_chords_melody_and_bass(song):
    track = _track(song.audio, song.sample_rate)
    sheet = lead_sheet(track, options=LeadSheetOptions(chord_method="template", separate=False))
    assert sheet.methods == {"separation": "none", "chords": "template", "melody": "basic-pitch"}
    assert abs(sheet.tempo_bpm - 110.0) < 3
    assert len(sheet.chords) == len(sheet.beats_s) and sheet.downbeats_s
    segs = sheet.chord_segments()
    scores = mir_eval.chord.evaluate(song.chord_intervals_s, list(song.chord_labels),
                                     np.array([[a, b] for a, b, _ in segs]), [c for *_, c in segs])
    assert scores["mirex"] >= MIN_TEMPLATE_MIREX
    assert _note_f(song.melody, sheet.melody) >= MIN_MELODY_F
    assert _note_f(song.bass, sheet.bass) >= MIN_BASS_F
    bar_s = 4 * 60.0 / song.tempo_bpm
    assert all(min(abs(d - k * bar_s) for k in range(5)) < 0.06 for d in sheet.downbeats_s)


def test_pesto_finds_the_notes_of_a_monophonic_line():
    line = known_song(progression="pop", bars=4, tempo_bpm=100.0, seed=5, drums=False, accompaniment=False,
                      lead_program=73)
    notes = f0_notes(*pesto_f0(line.audio, line.sample_rate))
    assert _note_f(line.melody, notes) >= MIN_LINE_F


def test_top_voice_drops_overtones_and_bottom_voice_keeps_the_bass():
    line = known_song(progression="pop", bars=2, tempo_bpm=100.0, seed=2, drums=False, accompaniment=False,
                      lead_program=81)
    found = transcribe(line.audio, line.sample_rate)
    top = voice(found, highest=True)
    assert _note_f(line.melody, top) >= MIN_LINE_F
    low = voice([Note(40, 0.0, 1.0), Note(64, 0.0, 1.0), Note(43, 1.0, 2.0)], highest=False)
    assert [n.pitch for n in low] == [40, 43]


def test_quantize_snaps_to_the_grid_within_reach():
    grid = subdivide(np.array([0.0, 0.5, 1.0]), per_beat=4)
    out = quantize([Note(60, 0.13, 0.37), Note(62, 0.7, 0.9)], grid, max_shift_s=0.02)
    assert [(n.start_s, n.end_s) for n in out] == [(0.125, 0.375), (0.7, 0.9)]


def _sheet() -> LeadSheet:
    return LeadSheet(duration_s=4.0, tempo_bpm=120.0, beats_s=(0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5),
                     downbeats_s=(0.0, 2.0), key="A minor", sections=((0.0, 4.0, "A"),),
                     chords=("A:min",) * 4 + ("G:7",) * 4,
                     melody=(Note(69, 0.0, 0.5, 90), Note(72, 0.5, 1.5, 80)), bass=(Note(45, 0.0, 2.0, 100),),
                     methods={"chords": "template"}, warnings=("a note",), track_hash="abc")


def test_json_round_trip_is_exact():
    sheet = _sheet()
    assert LeadSheet.from_json(sheet.to_json()) == sheet


def test_midi_has_melody_chords_and_bass_at_the_tempo():
    sheet = _sheet()
    pm = pretty_midi.PrettyMIDI(io.BytesIO(sheet.midi_bytes()))
    names = [i.name for i in pm.instruments]
    assert names == ["melody", "chords", "bass"]
    melody, chords, bass = pm.instruments
    assert [(n.pitch, round(n.start, 3)) for n in melody.notes] == [(69, 0.0), (72, 0.5)]
    assert sorted(n.pitch % 12 for n in chords.notes if n.start < 1.0) == [0, 4, 9]  # A C E
    assert sorted({n.pitch % 12 for n in chords.notes if n.start >= 2.0}) == [2, 5, 7, 11]  # G B D F
    assert [n.pitch for n in bass.notes] == [45]
    assert abs(pm.get_tempo_changes()[1][0] - 120.0) < 1e-6


@pytest.mark.parametrize("text", [
    "not json", "[]", json.dumps({"format": "other"}),
    json.dumps({**_sheet().to_dict(), "melody": [[200, 0, 1, 80]]}),
    json.dumps({**_sheet().to_dict(), "chords": ["C:maj"]}),
    json.dumps({**_sheet().to_dict(), "beats_s": "soon"}),
])
def test_malformed_json_is_refused_with_a_plain_message(text):
    with pytest.raises(LeadSheetError, match="lead sheet"):
        LeadSheet.from_json(text)


def test_silence_gives_an_empty_lead_sheet_with_a_warning():
    sheet = lead_sheet(_track(np.zeros(22050 * 3, dtype=np.float32), 22050, "quiet"))
    assert sheet.chords == () and sheet.melody == () and sheet.bass == ()
    assert any("silent" in w for w in sheet.warnings)
    assert LeadSheet.from_json(sheet.to_json()) == sheet
    assert len(sheet.to_midi().instruments) == 3


def test_bad_options_are_refused():
    with pytest.raises(OptionError, match="chord method"):
        LeadSheetOptions(chord_method="guess")
    with pytest.raises(OptionError, match="per beat"):
        LeadSheetOptions(per_beat=0)


def test_store_keeps_the_lead_sheet_and_the_cli_writes_json_and_midi(tmp_path):
    store = Store(tmp_path / "data")
    track = _track(np.zeros(22050 * 2, dtype=np.float32), 22050, "quiet")
    first = lead_sheet(track, store=store)
    messages = []
    again = lead_sheet(track, store=store, progress=lambda f, m: messages.append(m))
    assert again == first and messages == ["Loaded from the store"]
    wav = tmp_path / "quiet.wav"
    wav.write_bytes(to_wav_bytes(np.zeros(22050 * 2, dtype=np.float32), 22050))
    parser = argparse.ArgumentParser()
    add_leadsheet(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["leadsheet", str(wav), "--out", str(tmp_path / "out"), "--no-store", "--quiet"])
    assert args.func(args) == 0
    assert LeadSheet.from_json((tmp_path / "out" / "leadsheet.json").read_text()).melody == ()
    pretty_midi.PrettyMIDI(str(tmp_path / "out" / "leadsheet.mid"))  # a MIDI file (empty tracks are not read back)
