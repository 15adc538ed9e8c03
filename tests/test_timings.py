"""Estimates measured on this machine (core.store.timings) and the Analyze page's queue: several
tracks are analysed one after another under a panel that shows every track's state."""

from __future__ import annotations

import sqlite3

import pytest
from streamlit.testing.v1 import AppTest

from core.store.store import Store
from core.store.timings import ESTIMATE_RUNS, KEPT_RUNS, MIN_RECORDED_S
from tests.conftest import ROOT, wav_bytes


def test_no_estimate_before_the_first_run_then_the_median_rate(tmp_path):
    store = Store(tmp_path / "s")
    assert store.estimate("analyze", audio_s=60) is None
    for audio_s, elapsed_s in ((30, 3.0), (60, 6.0), (10, 50.0)):  # rates 0.1, 0.1 and an outlier 5.0
        assert store.record_timing("analyze", audio_s=audio_s, elapsed_s=elapsed_s)
    estimate = store.estimate("analyze", audio_s=240)
    assert estimate.seconds == pytest.approx(24.0) and estimate.runs == 3  # the median, not the mean
    assert estimate.words() == "about 24 s on this machine (from the last 3 runs)"
    assert store.estimate("separate spleeter", audio_s=60) is None  # stages are separate


def test_lookups_and_silent_clips_are_not_recorded(tmp_path):
    store = Store(tmp_path / "s")
    assert not store.record_timing("render", audio_s=60, elapsed_s=MIN_RECORDED_S / 10)  # a store lookup
    assert not store.record_timing("render", audio_s=0, elapsed_s=5.0)
    assert store.estimate("render", audio_s=60) is None


def test_the_estimate_follows_the_recent_runs_and_old_ones_go(tmp_path):
    store = Store(tmp_path / "s")
    for _ in range(KEPT_RUNS + 5):
        store.record_timing("render", audio_s=10, elapsed_s=20.0)  # a slow machine once
    for _ in range(ESTIMATE_RUNS):
        store.record_timing("render", audio_s=10, elapsed_s=2.0)  # then a faster one
    assert store.estimate("render", audio_s=60).seconds == pytest.approx(12.0)
    with sqlite3.connect(store.root / "studio.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM timings").fetchone()[0] == KEPT_RUNS


def test_two_stores_on_one_folder_share_the_timings(tmp_path):
    Store(tmp_path / "s").record_timing("analyze", audio_s=60, elapsed_s=3.0)
    assert Store(tmp_path / "s").estimate("analyze", audio_s=120).seconds == pytest.approx(6.0)


def _analyze_page(hashes: list[str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.session_state["analyze_shown"] = list(hashes)
    at.session_state["model_pick"] = "(none)"
    at.run()
    assert not at.exception
    return at


def test_several_tracks_go_through_one_queue_that_shows_each_state(abac_piece):
    audio, sr, _ = abac_piece
    store = Store()
    hashes = [store.keep(wav_bytes(0.9 * audio[i * 12 * sr: (i + 1) * 12 * sr], sr), name=f"take {i}", suffix=".wav")
              for i in range(2)]
    at = _analyze_page(hashes[:1])  # the first: no run measured here yet
    assert any("1 track to analyse" in m.value for m in at.markdown)
    assert any("take 0: ready, in" in c.value for c in at.caption)
    for _ in range(3):  # measured runs (this machine's first may have been under a second, not recorded)
        store.record_timing("analyze", audio_s=12.0, elapsed_s=6.0)
    at.session_state["analyze_shown"] = hashes
    at.run()
    assert not at.exception
    assert any("1 track to analyse** (about 6 s on this machine in all" in m.value for m in at.markdown), [m.value for m in at.markdown]
    states = [c.value for c in at.caption if "take" in c.value]
    assert any("take 1: ready, in" in s for s in states) and not any("take 0" in s for s in states)
    assert len(at.tabs) == 2 and not at.error  # both tabs show their analysis
    at.run()  # everything stored: no queue
    assert not any("to analyse" in m.value for m in at.markdown)


def test_a_failure_in_one_queued_track_leaves_the_others_going(abac_piece, monkeypatch, caplog):
    from core.analysis.analyze import analyze
    from pages.ui.text import UNEXPECTED

    def flaky(track, **kwargs):
        if track.name == "take 0":
            raise RuntimeError("/srv/secret.py: boom")
        return analyze(track, **kwargs)

    monkeypatch.setattr("pages.ui.queue.analyze", flaky)
    audio, sr, _ = abac_piece
    store = Store()
    hashes = [store.keep(wav_bytes(0.8 * audio[i * 12 * sr: (i + 1) * 12 * sr], sr), name=f"take {i}", suffix=".wav")
              for i in range(2)]
    at = _analyze_page(hashes)
    states = {c.value for c in at.caption if "take" in c.value}
    assert f"take 0: {UNEXPECTED}" in states and any(s.startswith("take 1: ready, in") for s in states)
    assert "/srv/" not in " ".join(states) and "boom" in caplog.text
