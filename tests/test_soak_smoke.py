"""The soak benchmark's plumbing (bench/soak.py), without a server or a browser: its tracks,
and its report of lost edits, RSS growth and page times from made-up session records."""

from __future__ import annotations

import sqlite3

from bench.soak import make_track, report
from core.audio.load import content_hash
from core.store.store import Store


def test_soak_tracks_differ_per_session_and_round():
    hashes = {content_hash(make_track(s, r)) for s in range(2) for r in range(2)}
    assert len(hashes) == 4 and make_track(0, 0) == make_track(0, 0)


def test_soak_report_counts_lost_edits_errors_and_rss_growth(tmp_path):
    history = Store(tmp_path).edits("h1")
    for i in range(3):
        history.push(f'[{{"i": {i}}}]', note=str(i))
    sessions = [{"rounds": 2, "errors": [], "edits": {"h1": 3}, "timings": [("render", 1.0), ("listen", 3.0)]},
                {"rounds": 1, "errors": ["page error: x"], "edits": {"h2": 2}, "timings": [("segments: split", 9.0)]}]
    rss = [(0.0, 100.0), (60.0, 300.0), (120.0, 400.0), (600.0, 450.0)]
    out = report(sessions, rss, tmp_path, minutes=10, server_exit=None)
    assert out["edits_made"] == 5 and out["edits_found"] == 3 and out["lost_edits"] == 2  # h2 never reached the store
    assert out["errors"] == 1 and out["rounds"] == 3
    assert out["page_navigation"]["n"] == 2 and out["page_navigation"]["max_s"] == 3.0  # actions are not navigations
    assert out["server_rss"]["growth_2_min_to_end_mb"] == 50.0 and out["server_rss"]["max_mb"] == 450.0
    with sqlite3.connect(tmp_path / "studio.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM edit_states").fetchone()[0] == 3
