"""The SQLite store (content-addressed, atomic, survives restarts) and the analyze CLI."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

import core
from core import AnalysisOptions, AudioError, SegmentOptions
from core.analysis.analyze import analyze
from core.io import atomic_write
from core.store.store import Store
from tests.conftest import ROOT, wav_bytes


@pytest.fixture(scope="module")
def clip_bytes(abac_piece):
    audio, sr, _ = abac_piece
    return wav_bytes(audio[: 30 * sr], sr)


def test_same_upload_is_known_and_analysis_is_cached(tmp_path, clip_bytes):
    store = Store(tmp_path / "data")
    t1 = store.add_track(clip_bytes, name="clip", suffix=".wav")
    t2 = store.add_track(clip_bytes, name="clip", suffix=".wav")
    assert t1.content_hash == t2.content_hash
    assert len(store.list_tracks()) == 1
    calls = []
    a1 = analyze(t1, progress=lambda f, m: calls.append(m), store=store)
    assert "Loaded from the store" not in calls
    calls.clear()
    a2 = analyze(t2, progress=lambda f, m: calls.append(m), store=store)
    assert calls == ["Loaded from the store"]
    assert a1.summary() == a2.summary()


def test_other_options_are_a_separate_cache_entry(tmp_path, clip_bytes):
    store = Store(tmp_path / "data")
    t = store.add_track(clip_bytes, name="clip")
    analyze(t, store=store)
    other = AnalysisOptions(segmentation=SegmentOptions(k_min=2, k_max=2))
    assert store.get_analysis(t.content_hash, other) is None
    assert analyze(t, options=other, store=store).k == 2
    assert store.get_analysis(t.content_hash, AnalysisOptions()) is not None


def test_store_survives_a_restart(tmp_path, clip_bytes):
    root = tmp_path / "data"
    first = Store(root)
    t = first.add_track(clip_bytes, name="clip")
    a = analyze(t, store=first)
    del first
    again = Store(root)  # a new process would do exactly this
    assert again.list_tracks()[0]["name"] == "clip"
    assert again.track_bytes(t.content_hash) == clip_bytes
    assert again.get_analysis(t.content_hash, AnalysisOptions()).summary() == a.summary()
    with sqlite3.connect(root / "studio.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_in_memory_track_keeps_its_identity_in_the_store(tmp_path, abac_piece):
    audio, sr, _ = abac_piece
    tr = core.track_from_array(audio[: 12 * sr], sr, name="mem")
    store = Store(tmp_path / "data")
    analyze(tr, store=store)
    back = store.get_track(tr.content_hash)
    assert back.content_hash == tr.content_hash and back.name == "mem"
    assert np.allclose(back.samples, tr.samples)


def test_bad_upload_is_refused_and_nothing_is_written(tmp_path):
    store = Store(tmp_path / "data")
    with pytest.raises(AudioError):
        store.add_track(b"%PDF-1.7 not audio", name="notes")
    assert store.list_tracks() == []
    assert not (tmp_path / "data" / "audio").exists()


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path):
    target = tmp_path / "x.bin"
    atomic_write(target, b"old")

    with pytest.raises(TypeError):
        atomic_write(target, None)  # fails mid-write
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_unusable_data_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(core.StoreError, match="cannot be used"):
        Store(blocker / "data")


# ----------------------------------------------------------------------------- CLI
def run_cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=300)


def test_cli_analyze_writes_the_contract_and_skips_bad_files(tmp_path, clip_bytes):
    good = tmp_path / "song.wav"
    good.write_bytes(clip_bytes)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"%PDF-1.4 this is a pdf")
    out = tmp_path / "out"
    proc = run_cli("analyze", str(bad), str(good), "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "broken.wav" in proc.stderr and "PDF" in proc.stderr
    assert "%" in proc.stderr  # the terminal progress bar
    folder = out / "song"
    with open(folder / "windows.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:6] == ["start_s", "end_s", "tempo_bpm", "tonic", "mode", "segment"]
    assert len(rows) == 11
    with open(folder / "segments.csv") as fh:
        assert next(csv.reader(fh)) == ["start_s", "end_s", "label"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["tonic"] in core.analysis.key.PITCH_CLASSES and summary["mode"] in ("major", "minor")
    assert {"duration_s", "tempo_bpm", "key", "k"} <= set(summary)
    assert not (out / "broken").exists()


def test_cli_options_reach_the_analysis(tmp_path, clip_bytes):
    good = tmp_path / "song.wav"
    good.write_bytes(clip_bytes)
    proc = run_cli("analyze", str(good), "--out", str(tmp_path / "o"), "--window-s", "5", "--hop-s", "5",
                   "--k-min", "2", "--k-max", "2", "--no-store", "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "o" / "song" / "summary.json").read_text())
    assert summary["k"] == 2 and summary["window_s"] == 5.0 and summary["n_windows"] == 6


def test_cli_rejects_bad_options_clearly(tmp_path, clip_bytes):
    good = tmp_path / "song.wav"
    good.write_bytes(clip_bytes)
    proc = run_cli("analyze", str(good), "--out", str(tmp_path / "o"), "--hop-s", "50")
    assert proc.returncode == 2
    assert "hop" in proc.stderr.lower() and "Traceback" not in proc.stderr
