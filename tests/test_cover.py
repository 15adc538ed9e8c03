"""Covers: a song whose lead sheet is known, re-made in other genres by the real pipeline (lead
sheet, arrangement, synthesis, mix, master), kept in a real store; the arrangement rules on
hand-made lead sheets; the CLI end to end; bad input."""

from __future__ import annotations

import hashlib
import json

import mir_eval
import numpy as np
import pyloudnorm
import pytest

import core
from core.cli.main import main
from core.covers.arrange import COVER_RULES_PATH, CoverError, genre_rule, load_cover_rules, song_from_sheet
from core.covers.cover import CoverOptions, make_cover
from core.covers.leadsheet import LeadSheet
from core.covers.songs import known_song
from core.errors import StudioError
from core.separation import DEFAULT_MODEL, model_availability
from core.store.store import Store
from tests.conftest import wav_bytes

BARS, TEMPO = 8, 100.0


@pytest.fixture(scope="module")
def song():
    return known_song(progression="pop", bars=BARS, tempo_bpm=TEMPO, seed=5)


@pytest.fixture(scope="module")
def stored(song, tmp_path_factory):
    """A store holding the song, and its jazz cover (the lead sheet is made once, then a lookup)."""
    store = Store(tmp_path_factory.mktemp("covers") / "data")
    track = store.add_track(wav_bytes(song.audio, song.sample_rate), name="known song", suffix=".wav")
    cover = make_cover(track, options=CoverOptions(genre="jazz"), store=store)
    return store, track, cover


def _lead(cover):
    return next(i for i in cover.render.midi.instruments if i.name == "lead")


def test_jazz_cover_plays_the_songs_melody_and_chords_in_jazz(stored, song):
    store, track, cover = stored
    r = cover.recipe
    assert r["genre"] == "jazz" and r["descriptor"].startswith("jazz_")
    assert r["tempo_bpm"] < TEMPO  # jazz slows the song (the Leiden paper: by 15 BPM)
    # the melody: the song's pitches, in order, on the lead
    played = [n.pitch for n in sorted(_lead(cover).notes, key=lambda n: n.start)]
    wanted = [n.pitch for n in song.melody]
    matcher = __import__("difflib").SequenceMatcher(a=[p % 12 for p in wanted], b=[p % 12 for p in played])
    assert matcher.ratio() >= 0.8, (wanted[:20], played[:20])
    # the chords: the harmony sounds each bar's root, with sevenths added (the jazz chord style)
    beat_s = 60.0 / r["tempo_bpm"]
    harmony = next(i for i in cover.render.midi.instruments if i.name == "harmony")
    roots_found = sevenths = 0
    for bar, label in enumerate(song.chord_labels[:-1]):
        root = mir_eval.chord.encode(label)[0]
        pcs = {n.pitch % 12 for n in harmony.notes if bar * 4 * beat_s <= n.start < (bar + 0.5) * 4 * beat_s}
        roots_found += root in pcs
        sevenths += bool({(root + 10) % 12, (root + 11) % 12} & pcs)
    assert roots_found >= BARS - 2 and sevenths >= (BARS - 1) // 2
    # mastered like every render
    loud = pyloudnorm.Meter(cover.render.sample_rate).integrated_loudness(cover.render.audio)
    assert abs(loud + 14.0) < 0.6 and cover.render.peak_dbfs <= -0.9


def test_a_cover_is_stored_linked_and_a_second_look_is_a_lookup(stored):
    store, track, cover = stored
    linked = [r for r in store.renders_of(track.content_hash) if r["kind"] == "cover"]
    assert [r["render_key"] for r in linked] == [cover.key]
    seen = []
    again = make_cover(track, options=CoverOptions(genre="jazz"), store=store, progress=lambda f, m: seen.append(m))
    assert seen == ["Loaded from the store"]
    assert again.recipe == cover.recipe
    assert np.allclose(again.render.audio, cover.render.audio, atol=2e-6)  # kept as 24-bit FLAC


def test_rock_cover_is_power_chords_and_the_same_options_make_the_same_cover(stored):
    store, track, _ = stored
    rock = make_cover(track, options=CoverOptions(genre="rock", seed=3), store=store)
    assert rock.recipe["descriptor"].startswith("rock_indie")
    harmony = next(i for i in rock.render.midi.instruments if i.name == "harmony")
    first = sorted(harmony.notes, key=lambda n: (n.start, n.pitch))[:3]
    intervals = {(n.pitch - first[0].pitch) % 12 for n in first}
    assert intervals <= {0, 7}  # root, fifth, octave: no third
    fresh = Store(store.root.parent / "again")  # no stored cover: made again from the start
    again = make_cover(fresh.add_track(store.track_bytes(track.content_hash), name="again", suffix=".wav"),
                       options=CoverOptions(genre="rock", seed=3), store=fresh)
    digest = lambda c: hashlib.sha256(c.render.audio.tobytes()).hexdigest()  # noqa: E731
    assert digest(again) == digest(rock)


@pytest.mark.skipif(bool(model_availability()[DEFAULT_MODEL]), reason="Spleeter weights not here (make weights)")
def test_keeping_the_vocals_drops_the_lead_and_sings_the_stem(stored):
    store, track, _ = stored
    cover = make_cover(track, options=CoverOptions(genre="folk", keep_vocals=True), store=store)
    assert cover.recipe["melody"] == "original vocals"
    assert all(i.name != "lead" for i in cover.render.midi.instruments)
    assert cover.render.peak_dbfs <= -0.9 and np.isfinite(cover.render.loudness_lufs)


@pytest.mark.skipif(bool(model_availability()[DEFAULT_MODEL]), reason="Spleeter weights not here (make weights)")
def test_a_timbre_cover_of_an_instrumental_says_there_is_no_vocal_line(stored):
    """The timbre transfer itself is measured in tests/test_timbre.py; here: an instrumental
    song's vocal stem holds no sung line, and the cover says what to do instead."""
    store, track, _ = stored
    with pytest.raises(CoverError, match="cannot be re-played on violin.*instrument play the melody"):
        make_cover(track, options=CoverOptions(genre="pop", timbre="violin"), store=store)
    with pytest.raises(StudioError, match="violin"):
        CoverOptions(genre="pop", timbre="kazoo")


# ------------------------------------------------------------------ the arrangement rules
def _sheet(**over) -> LeadSheet:
    beats = [0.5 + 0.6 * i for i in range(34)]  # 100 BPM, a pickup beat before the first downbeat
    data = {"format": "studio-leadsheet", "version": 1, "duration_s": 21.0, "tempo_bpm": 100.0,
            "beats_s": beats, "downbeats_s": beats[1::4], "key": "A minor",
            "sections": [[0.0, 10.0, "A"], [10.0, 21.0, "B"]],
            "chords": ["A:min"] * 17 + ["D:min"] * 8 + ["E:7"] * 9,
            "melody": [[69 + (i % 5), 1.1 + 0.6 * i, 1.6 + 0.6 * i, 90] for i in range(30)], "bass": []}
    return LeadSheet.from_dict({**data, **over})


def _loud_b(seconds=21.0, sr=8000):
    t = np.arange(int(seconds * sr)) / sr
    return (np.sin(2 * np.pi * 220 * t) * np.where(t < 10, 0.05, 0.5)).astype(np.float32), sr


def test_song_from_a_sheet_keeps_pickup_chords_and_dynamics():
    rules = load_cover_rules()
    audio, sr = _loud_b()
    song = song_from_sheet(_sheet(), audio, sr, rule=rules["pop"])
    assert song.tonic == "A"
    first = song.melody[0]
    assert first[0] == pytest.approx(4.0, abs=0.02)  # the first downbeat (1.1 s) opens bar 1: beat 0.5 s is a pickup
    labels = [c.label for bar in song.bars for _, c in bar]
    runs = [label for i, label in enumerate(labels) if i == 0 or labels[i - 1] != label]
    assert runs == ["A:min", "D:min", "E:7"]
    assert song.intensity[0] < song.intensity[-1] == 1.0  # the loud section is the climax
    jazz = song_from_sheet(_sheet(), audio, sr, rule=rules["jazz"])
    assert any(len(bar) == 2 and bar[1][1].label.endswith(":7") for bar in jazz.bars)  # a V7 approach
    double = song_from_sheet(_sheet(), audio, sr, rule=rules["pop"], scale=2.0)
    assert len(double.bars) == 2 * len(song.bars) - 1 or len(double.bars) == 2 * len(song.bars)
    assert double.melody[1][0] == pytest.approx(2 * song.melody[1][0], abs=0.05)


@pytest.mark.parametrize("over, words", [
    ({"duration_s": 8.0}, "at least 10 s"),
    ({"tempo_bpm": None}, "No steady beat"),
    ({"melody": []}, "No melody"),
])
def test_a_sheet_a_cover_cannot_be_made_of_says_why(over, words):
    audio, sr = _loud_b()
    with pytest.raises(CoverError, match=words):
        song_from_sheet(_sheet(**over), audio, sr, rule=load_cover_rules()["rock"])


def test_a_genre_pair_overrides_the_target_genres_rule(tmp_path):
    jazz, rock_to_jazz = genre_rule("jazz"), genre_rule("jazz", source="rock")
    assert rock_to_jazz.tempo_shift_bpm == -20 and jazz.tempo_shift_bpm == -15
    assert rock_to_jazz.vocal["gain_db"] == -1.5 and rock_to_jazz.vocal["highpass_hz"] == jazz.vocal["highpass_hz"]
    assert genre_rule("jazz", source="cinematic") == jazz  # no rule for that pair: the genre's own
    rules = json.loads(COVER_RULES_PATH.read_text())
    rules["pairs"] = {"rock->polka": {"tempo_pull": 0.2}}
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps(rules))
    with pytest.raises(CoverError, match="rock->polka"):
        genre_rule("jazz", path=bad)


def test_unknown_genre_and_damaged_rules_are_refused(tmp_path):
    track = core.track_from_array(np.zeros(22050 * 12, np.float32), 22050, name="x")
    with pytest.raises(CoverError, match="no cover recipe for 'polka'"):
        make_cover(track, options=CoverOptions(genre="polka"))
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps({"version": 1, "genres": {"rock": {"tempo_pull": 3}}}))
    with pytest.raises(CoverError, match="cannot be used"):
        load_cover_rules(bad)


# ------------------------------------------------------------------ the command line
def test_cli_writes_the_cover_its_midi_lead_sheet_and_recipe(stored, tmp_path, capsys):
    store, track, _ = stored
    wav = tmp_path / "my song.wav"
    wav.write_bytes(store.track_bytes(track.content_hash))
    out = tmp_path / "out"
    code = main(["cover", str(wav), "--genre", "jazz", "--out", str(out), "--quiet", "--data-dir", str(store.root)])
    assert code == 0, capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == {"cover.wav", "cover.mid", "leadsheet.json", "cover.json"}
    recipe = json.loads((out / "cover.json").read_text())
    assert recipe["options"]["genre"] == "jazz" and recipe["options"]["seed"] == 0
    LeadSheet.from_json((out / "leadsheet.json").read_text())
    with pytest.raises(SystemExit) as exit_info:
        main(["cover", str(wav), "--genre", "polka", "--out", str(out)])
    assert exit_info.value.code == 2
    short = tmp_path / "short.wav"
    short.write_bytes(wav_bytes(np.zeros(22050 * 3, np.float32) + 0.1, 22050))
    assert main(["cover", str(short), "--genre", "rock", "--out", str(out / "s"), "--quiet", "--no-store"]) == 2
    assert "at least 10 s" in capsys.readouterr().err
