"""The SQLite store (content-addressed, atomic, survives restarts) and the analyze CLI."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

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


# ------------------------------------------------ CLI: safe output paths, options, plain errors (issue 16)
@pytest.fixture(scope="module")
def short_clip(abac_piece):
    audio, sr, _ = abac_piece
    return wav_bytes(audio[: 12 * sr], sr)


HOSTILE_INPUTS = ("...wav", "..wav", "two\nlines\x1b[31m.wav", "L" * 250 + ".wav", "song.wav")


def test_cli_output_never_leaves_the_output_folder(tmp_path, short_clip):
    src = tmp_path / "in"
    src.mkdir()
    for name in HOSTILE_INPUTS:
        (src / name).write_bytes(short_clip)
    out = tmp_path / "box" / "out"
    proc = run_cli("analyze", *(str(src / n) for n in HOSTILE_INPUTS), "--out", str(out), "--no-store", "--quiet",
                   "--window-s", "4", "--hop-s", "4")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["out"]  # nothing beside the output folder
    folders = sorted(p.name for p in out.iterdir())
    assert len(folders) == len(HOSTILE_INPUTS)  # one each: "..", "." and the others never collide
    assert "song" in folders  # an ordinary name is kept as it is
    for folder in folders:
        assert folder not in (".", "..") and not folder.startswith(".") and len(folder.encode()) <= 120
        assert all(ch.isprintable() for ch in folder) and "/" not in folder
        assert (out / folder / "summary.json").is_file()
    printed = proc.stdout + proc.stderr
    assert "\x1b" not in printed  # no terminal escape sequence reaches the terminal
    assert len(proc.stdout.splitlines()) == len(HOSTILE_INPUTS)  # a newline in a name does not split a line


def test_cli_safe_folder_names():
    from core.cli.main import output_folder, safe_folder_name, unique_folder_names

    assert safe_folder_name("song") == "song" and safe_folder_name("My song (live)") == "My song (live)"
    for bad in ("..", ".", "", "   ", "\x00", "../../etc", "a/b", "a\\b", "\n"):
        name = safe_folder_name(bad)
        assert name and name not in (".", "..") and "/" not in name and "\\" not in name and name.isprintable()
    assert len(safe_folder_name("x" * 300).encode()) <= 120
    assert len(safe_folder_name("é" * 300).encode()) <= 120
    names = unique_folder_names(["..", ".", "a/b", "a_b", "SONG", "song", "x" * 300, "x" * 301])
    assert len({n.lower() for n in names}) == len(names)  # unique, also on a case-blind file system
    root = Path("/tmp/out")
    assert output_folder(root, "..").parent == root
    with pytest.raises(AssertionError):
        output_folder(root, "../escape", checked=False)


WORK = ("Store", "load_model", "analyze", "describe", "separate", "cached_loop", "render", "load_timeline",
        "build_corpus", "load_corpora", "train", "write_examples", "write_levels")

BAD_OPTIONS = [
    ("loop", "TRACK", "--out", "OUT", "--variations", "0"),
    ("loop", "TRACK", "--out", "OUT", "--variations", "1000000"),
    ("loop", "TRACK", "--out", "OUT", "--seed", "-1"),
    ("analyze", "TRACK", "--out", "OUT", "--window-s", "nan"),
    ("analyze", "TRACK", "--out", "OUT", "--hop-s", "-2"),
    ("analyze", "TRACK", "--out", "OUT", "--k-max", "0"),
    ("analyze", "TRACK", "--out", "OUT", "--min-segment-s", "inf"),
    ("separate", "TRACK", "--out", "OUT", "--shifts", "99999999"),
    ("separate", "TRACK", "--out", "OUT", "--overlap", "nan"),
    ("separate", "TRACK", "--out", "OUT", "--segment-s", "0"),
    ("corpus", "--per-descriptor", "0", "--out", "OUT"),
    ("corpus", "--per-descriptor", "2", "--out", "OUT", "--durations", "10,abc"),
    ("corpus", "--per-descriptor", "2", "--out", "OUT", "--jobs", "0"),
    ("train", "--corpus", "OUT", "--threshold", "nan"),
    ("train", "--corpus", "OUT", "--window-step", "0"),
    ("train", "--corpus", "OUT", "--test-size", "2"),
    ("examples", "--duration-s", "-5"),
    ("render", "T.json", "-o", "OUT", "--seed", "99999999999999"),
]


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=[" ".join(a[:1] + a[-2:]) for a in BAD_OPTIONS])
def test_cli_bad_options_are_refused_before_any_work(argv, tmp_path, monkeypatch, capsys):
    from core.cli import main as cli

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    for name in WORK:
        monkeypatch.setattr(cli, name, no_work)
    track = tmp_path / "song.wav"
    track.write_bytes(b"RIFF")
    argv = [str(track) if a == "TRACK" else str(tmp_path / "o") if a == "OUT" else a for a in argv]
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    flag = next(a for a in argv if a.startswith("--") and a not in ("--out", "--corpus"))
    assert flag in err and "Traceback" not in err


def test_cli_unexpected_failure_is_one_line_and_the_batch_goes_on(tmp_path, short_clip, monkeypatch, capsys):
    from core.cli import main as cli

    real = cli.analyze

    def flaky(track, **kwargs):
        if track.name == "first":
            raise RuntimeError("/srv/secret/internal.py exploded")
        return real(track, **kwargs)

    monkeypatch.setattr(cli, "analyze", flaky)
    for name in ("first", "second"):
        (tmp_path / f"{name}.wav").write_bytes(short_clip)
    argv = ["analyze", str(tmp_path / "first.wav"), str(tmp_path / "second.wav"), "--out", str(tmp_path / "o"),
            "--no-store", "--quiet", "--window-s", "4", "--hop-s", "4"]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if "first.wav" in line]
    assert len(lines) == 1 and lines[0].startswith("error: first.wav") and "Traceback" not in captured.err
    assert (tmp_path / "o" / "second" / "summary.json").is_file()
    assert "second.wav" in captured.out
    monkeypatch.setenv("STUDIO_DEBUG", "1")
    assert cli.main(argv[:2] + argv[3:]) == 1
    assert "Traceback" in capsys.readouterr().err  # the details, only when asked for
    monkeypatch.delenv("STUDIO_DEBUG")
    assert cli.main(["--debug"] + argv[:2] + argv[3:]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_cli_extreme_samples_are_a_message_not_a_traceback(tmp_path):
    extreme = tmp_path / "loud.wav"
    extreme.write_bytes(wav_bytes(np.full(22050 * 8, 1e30, dtype=np.float32), 22050, subtype="FLOAT"))
    proc = run_cli("analyze", str(extreme), "--out", str(tmp_path / "o"), "--no-store", "--quiet")
    assert proc.returncode == 1 and "loud.wav" in proc.stderr and "Traceback" not in proc.stderr
