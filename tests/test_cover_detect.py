"""Cover detection (core.covers.detect): versions in other tempi and keys, excerpts, the
registry, refusals, the store, determinism and the ``cover-similarity`` command."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from core.audio.load import to_wav_bytes
from core.cli.main import main
from core.covers import detect
from core.covers.detect import (
    DEFAULT_DETECTOR,
    DETECTORS,
    CoverDetectionError,
    CoverFeatures,
    cover_features,
    rank_of,
    similarity,
    similarity_matrix,
)
from core.covers.songs import known_song
from core.errors import OptionError
from core.store.store import Store


def _features(**kw) -> CoverFeatures:
    song = known_song(bars=kw.pop("bars", 8), **kw)
    return cover_features(song.audio, song.sample_rate)


@pytest.fixture(scope="module")
def songs() -> dict[str, CoverFeatures]:
    """Song "a" in three versions (tempo, key, instruments, drums) and three other songs, one on
    the same chords as "a" with another melody."""
    return {
        "a": _features(progression="pop", seed=0, tempo_bpm=100.0),
        "a_slow_up2": _features(progression="pop", seed=0, tempo_bpm=85.0, transpose_semitones=2, chord_program=4,
                                lead_program=11, drums=False),
        "a_fast_down3": _features(progression="pop", seed=0, tempo_bpm=115.0, transpose_semitones=-3,
                                  chord_program=24, lead_program=81),
        "b_same_chords": _features(progression="pop", seed=7, tempo_bpm=100.0),
        "c": _features(progression="jazz", seed=1, tempo_bpm=100.0),
        "d": _features(progression="minor", seed=2, tempo_bpm=110.0),
    }


def _others(songs, *exclude):
    return [f for name, f in songs.items() if name not in exclude and not name.startswith("a")]


@pytest.mark.parametrize("method", ["qmax", "fft2d"])
def test_a_version_in_another_tempo_and_key_ranks_its_song_first(songs, method):
    for version in ("a_slow_up2", "a_fast_down3"):
        assert rank_of(songs[version], songs["a"], _others(songs), method=method) == 1, (method, version)


def test_qmax_is_the_default_and_beats_the_same_chords_with_another_melody(songs):
    assert DEFAULT_DETECTOR == "qmax" and set(DETECTORS) >= {"qmax", "fft2d"}
    a, version, impostor = songs["a"], songs["a_slow_up2"], songs["b_same_chords"]
    assert similarity(version, a) > similarity(version, impostor) + 0.1


def test_a_15_s_excerpt_ranks_its_full_song_first():
    full = known_song(progression="minor", bars=16, tempo_bpm=100.0, seed=4)  # 38 s
    start = int(12.0 * full.sample_rate)
    excerpt = cover_features(full.audio[start: start + 15 * full.sample_rate], full.sample_rate)
    song = cover_features(full.audio, full.sample_rate)
    others = [_features(progression=p, seed=s, bars=16, tempo_bpm=100.0)
              for p, s in (("minor", 5), ("pop", 4), ("blues", 4))]
    assert excerpt.n_beats < song.n_beats / 2
    assert rank_of(excerpt, song, others) == 1
    # normalised by the query's length only: the excerpt aligns almost whole with its song
    assert similarity(excerpt, song) > 0.8


def test_similarity_matrix_is_deterministic_and_identical_tracks_score_highest(songs):
    feats = list(songs.values())
    for method in DETECTORS:
        m1 = similarity_matrix(feats, method=method)
        m2 = similarity_matrix(feats, method=method)
        assert m1.shape == (len(feats), len(feats))
        np.testing.assert_array_equal(m1, m2)
        assert np.all(np.diag(m1) >= m1.max(axis=1)), method  # a track is at least as alike to itself
    song = known_song(progression="jazz", seed=1, bars=8)
    again = cover_features(song.audio, song.sample_rate)
    np.testing.assert_array_equal(again.chroma, songs["c"].chroma)


def test_progress_is_reported_and_an_unknown_method_is_refused(songs):
    seen = []
    similarity_matrix(list(songs.values())[:3], progress=lambda f, m="": seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0
    with pytest.raises(OptionError, match="Unknown cover detection method"):
        similarity(songs["a"], songs["c"], method="nope")


def test_a_clip_with_too_few_beats_is_refused_with_a_clear_message():
    sr = 22050
    with pytest.raises(CoverDetectionError, match="silent"):
        cover_features(np.zeros(10 * sr, dtype=np.float32), sr)
    rng = np.random.default_rng(0)
    with pytest.raises(CoverDetectionError, match="too few beats"):
        cover_features(rng.normal(0, 0.1, 10 * sr).astype(np.float32), sr)  # noise: no pulse
    short = known_song(progression="pop", bars=2, tempo_bpm=100.0).audio  # 8 beats
    with pytest.raises(CoverDetectionError, match="at least 16"):
        cover_features(short, sr)


def test_features_are_kept_in_the_store_by_content_hash(tmp_path, songs, monkeypatch):
    store = Store(tmp_path / "store")
    song = known_song(progression="jazz", seed=1, bars=8)
    first = cover_features(song.audio, song.sample_rate, track_hash="h1", store=store)
    monkeypatch.setattr(detect, "compute_features", lambda *a, **k: pytest.fail("not read from the store"))
    kept = cover_features(song.audio, song.sample_rate, track_hash="h1", store=store)
    np.testing.assert_array_equal(kept.chroma, first.chroma)
    np.testing.assert_array_equal(kept.beats_s, first.beats_s)
    assert kept.tempo_bpm == first.tempo_bpm and kept.track_hash == "h1"
    monkeypatch.undo()
    path = tmp_path / "store" / detect.STORE_KIND / f"{detect.features_key('h1')}.json"
    path.write_text('{"chroma": [[1, 2]]}')  # damaged: computed again
    again = cover_features(song.audio, song.sample_rate, track_hash="h1", store=store)
    np.testing.assert_array_equal(again.chroma, first.chroma)


def test_known_song_transposes_every_pitched_note_and_its_chords():
    plain = known_song(progression="minor", bars=2, seed=1)
    up = known_song(progression="minor", bars=2, seed=1, transpose_semitones=3)
    assert up.chord_labels == ("F:min", "C#:maj")
    assert [n.pitch for n in up.melody] == [n.pitch + 3 for n in plain.melody]
    assert [n.pitch for n in up.bass] == [n.pitch + 3 for n in plain.bass]
    same = known_song(progression="minor", bars=2, seed=1, transpose_semitones=0)
    np.testing.assert_array_equal(same.audio, plain.audio)


def test_cli_writes_the_matrix_and_reports_a_bad_file(tmp_path, capsys):
    files = []
    for k, (progression, seed) in enumerate((("pop", 0), ("pop", 0), ("jazz", 1))):
        song = known_song(progression=progression, seed=seed, bars=8, tempo_bpm=100.0 + 10 * k)
        folder = tmp_path / f"d{k}"
        folder.mkdir()
        path = folder / ("song.wav" if k < 2 else "other.wav")  # two files with the same stem
        path.write_bytes(to_wav_bytes(song.audio, song.sample_rate))
        files.append(path)
    fake = tmp_path / "notes.wav"
    fake.write_bytes(b"%PDF-1.4 this is not audio" * 20)
    out = tmp_path / "S.csv"
    code = main(["cover-similarity", *map(str, files), str(fake), "--out", str(out), "--quiet",
                 "--data-dir", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 1 and "notes.wav" in err and "left out" in err
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["", "song", "song-2", "other"] and [r[0] for r in rows[1:]] == ["song", "song-2", "other"]
    values = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert values[0, 1] > values[0, 2] and values[1, 0] > values[1, 2]  # the same song, 10 BPM apart
    code = main(["cover-similarity", str(files[0]), str(fake), "--out", str(tmp_path / "T.csv"), "--quiet",
                 "--no-store", "--method", "fft2d"])
    assert code == 2 and "at least two" in capsys.readouterr().err
    assert not (tmp_path / "T.csv").exists()
