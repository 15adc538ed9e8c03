"""The store's schema versions (PRAGMA user_version): old files open and are migrated, newer
files are refused clearly, and the store keeps descriptions (schema version 2)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from core.errors import StoreError
from core.separation import SeparationOptions, Stems
from core.store.db import SCHEMA_VERSION
from core.store.store import Store

#: The schema exactly as the store wrote it before it had a version (user_version 0).
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    content_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    sample_rate INTEGER NOT NULL,
    channels INTEGER NOT NULL,
    duration_s REAL NOT NULL,
    file TEXT NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS renders (
    render_key TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    timeline_json TEXT NOT NULL,
    seed INTEGER NOT NULL,
    options_json TEXT NOT NULL,
    audio_file TEXT NOT NULL,
    midi_file TEXT NOT NULL,
    meta_json TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS separations (
    separation_key TEXT PRIMARY KEY,
    track_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    options_json TEXT NOT NULL,
    files_json TEXT NOT NULL,
    meta_json TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS edit_states (
    track_hash TEXT NOT NULL,
    options_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    segments_json TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (track_hash, options_key, seq)
);
CREATE TABLE IF NOT EXISTS edit_cursors (
    track_hash TEXT NOT NULL,
    options_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (track_hash, options_key)
);
CREATE TABLE IF NOT EXISTS track_renders (
    track_hash TEXT NOT NULL,
    render_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (track_hash, render_key)
);
CREATE TABLE IF NOT EXISTS votes (
    track_hash TEXT NOT NULL,
    session TEXT NOT NULL,
    version_a TEXT NOT NULL,
    version_b TEXT NOT NULL,
    preferred TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS analyses (
    track_hash TEXT NOT NULL REFERENCES tracks(content_hash),
    options_key TEXT NOT NULL,
    file TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (track_hash, options_key)
);
"""


def _old_store(root):
    """A data directory as the code before schema versions left it: two tracks' rows, a vote,
    an edit and a render link."""
    root.mkdir(parents=True)
    with sqlite3.connect(root / "studio.sqlite3") as db:
        db.executescript(OLD_SCHEMA)
        db.execute("INSERT INTO tracks VALUES (?,?,?,?,?,?,?,?)",
                   ("aa11", "old song", "WAV", 22050, 1, 3.0, "audio/aa/aa11.wav", 1.0))
        db.execute("INSERT INTO votes VALUES (?,?,?,?,?,?)", ("aa11", "s1", "original", "r1", "r1", 2.0))
        db.execute("INSERT INTO edit_states VALUES (?,?,?,?,?,?)", ("aa11", "segments", 1, "[]", "merge", 3.0))
        db.execute("INSERT INTO edit_cursors VALUES (?,?,?)", ("aa11", "segments", 1))
        db.execute("INSERT INTO track_renders VALUES (?,?,?,?,?)", ("aa11", "r1", "single", "v1", 4.0))
    with sqlite3.connect(root / "studio.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    return root


def _user_version(root) -> int:
    with sqlite3.connect(root / "studio.sqlite3") as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def test_a_fresh_store_is_at_the_latest_version(tmp_path):
    store = Store(tmp_path / "data")
    assert store.schema_version() == SCHEMA_VERSION == _user_version(tmp_path / "data") == 3


def test_an_unversioned_store_opens_keeps_its_data_and_is_migrated(tmp_path):
    root = _old_store(tmp_path / "data")
    store = Store(root)
    assert _user_version(root) == SCHEMA_VERSION
    assert [t["name"] for t in store.list_tracks()] == ["old song"]
    assert store.has_track("aa11")
    assert [v["preferred"] for v in store.votes("aa11")] == ["r1"]
    history = store.edits("aa11", "segments")
    assert history.cursor() == 1 and history.current() == "[]" and history.notes() == ["merge"]
    assert store.renders_of("aa11")[0]["label"] == "v1"
    store.put_description("aa11", "k1", b'{"p": 1}')  # the version-2 table exists
    assert Store(root).get_description("aa11", "k1") == b'{"p": 1}'
    assert _user_version(root) == SCHEMA_VERSION  # opening again changes nothing


def test_a_version_1_store_gets_the_descriptions_table(tmp_path):
    root = _old_store(tmp_path / "data")
    with sqlite3.connect(root / "studio.sqlite3") as db:
        db.execute("PRAGMA user_version = 1")
    store = Store(root)
    assert store.schema_version() == 3
    with sqlite3.connect(root / "studio.sqlite3") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"descriptions", "tracks", "projects", "project_tracks"} <= tables


def test_votes_from_a_version_2_store_survive_and_gain_listener_and_note(tmp_path):
    root = tmp_path / "data"
    store = Store(root)
    with sqlite3.connect(root / "studio.sqlite3") as db:  # make it a version-2 file holding an old vote
        db.execute("DROP TABLE votes")
        db.execute("DROP TABLE projects")
        db.execute("DROP TABLE project_tracks")
        db.execute("DROP TABLE timings")
        db.execute("ALTER TABLE track_renders DROP COLUMN name")
        db.execute("INSERT INTO track_renders VALUES ('t', 'r1', 'multi', 'multi_v0', 1.0)")
        db.execute("CREATE TABLE votes (track_hash TEXT NOT NULL, session TEXT NOT NULL, version_a TEXT NOT NULL, "
                   "version_b TEXT NOT NULL, preferred TEXT NOT NULL, created_at REAL NOT NULL)")
        db.execute("INSERT INTO votes VALUES ('t', 's', 'a', 'b', 'a', 1.0)")
        db.execute("PRAGMA user_version = 2")
    store = Store(root)
    assert store.schema_version() == 3
    store.add_vote("t", version_a="a", version_b="b", preferred="b", session="s2", listener=" Ana ",
                   note="B's chorus lifts")
    old, new = store.votes("t")
    assert (old["preferred"], old["listener"], old["note"]) == ("a", "", "")
    assert (new["preferred"], new["listener"], new["note"]) == ("b", "Ana", "B's chorus lifts")
    assert [(r["label"], r["named"]) for r in store.renders_of("t")] == [("multi_v0", False)]  # old link kept
    store.rename_version("t", "r1", "Chorus idea")
    store.link_render("t", "r1", kind="multi", label="multi_v1")  # linked again: the user's name stays
    assert [(r["label"], r["named"]) for r in store.renders_of("t")] == [("Chorus idea", True)]
    with pytest.raises(StoreError, match="shorten"):
        store.add_vote("t", version_a="a", version_b="b", preferred="a", session="s", note="x" * 5000)


def test_a_newer_store_is_refused_clearly(tmp_path):
    root = tmp_path / "data"
    Store(root)
    with sqlite3.connect(root / "studio.sqlite3") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer version of the studio"):
        Store(root)
    assert _user_version(root) == SCHEMA_VERSION + 1  # left as it was


def test_descriptions_are_bytes_by_track_and_key(tmp_path):
    store = Store(tmp_path / "data")
    assert store.get_description("h", "k") is None
    data = json.dumps({"columns": ["genre"], "data": [["rock"]]}).encode()
    store.put_description("h", "k", data)
    store.put_description("h", "other", b"x")
    assert store.get_description("h", "k") == data and store.get_description("h", "other") == b"x"
    store.put_description("h", "k", b"new")  # the same key replaces
    assert Store(tmp_path / "data").get_description("h", "k") == b"new"


def test_stems_and_renders_round_trip_through_their_codecs(tmp_path):
    rng = np.random.default_rng(0)
    quiet = (0.1 * rng.standard_normal((2000, 2))).astype(np.float32)
    loud = quiet * 30  # beyond full scale: kept as float WAV, not clipped
    stems = Stems(stems={"vocals": quiet, "accompaniment": loud}, sample_rate=22050, model="spleeter-2stems",
                  track_hash="h", notes=("a note",))
    store = Store(tmp_path / "data")
    store.put_separation("key1", stems, options=SeparationOptions())
    back = Store(tmp_path / "data").get_separation("key1")
    assert back.names == ("vocals", "accompaniment") and back.notes == ("a note",)
    assert np.abs(back["vocals"] - quiet).max() < 1e-5 and np.array_equal(back["accompaniment"], loud)
    assert store.list_separations("h")[0]["model"] == "spleeter-2stems"
    (tmp_path / "data" / "separations" / "key1" / "vocals.flac").write_bytes(b"not flac")
    assert store.get_separation("key1") is None  # unreadable: separated again by the caller


def test_edits_from_two_tabs_at_once_are_all_kept(tmp_path):
    """Two writers pushing edits at the same time: every edit is kept, none overwritten
    (the cursor used to be read in one transaction and written in another)."""
    import threading

    from core.store.store import Store

    root = tmp_path / "data"
    Store(root)  # create and migrate once
    per_writer = 150

    def writer(name: str) -> None:
        history = Store(root).edits("track")
        for i in range(per_writer):
            history.push(f'[{{"writer": "{name}", "i": {i}}}]', note=f"{name}-{i}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = Store(root).edits("track")
    assert history.count() == 2 * per_writer
    assert history.cursor() == 2 * per_writer
    notes = history.notes()
    assert sorted(notes) == sorted(f"{n}-{i}" for n in ("a", "b") for i in range(per_writer))


#: Two processes, each with two threads: the probe's shape (two processes lost 724 of 2,000 edits).
_PROCESSES, _THREADS, _PER_THREAD = 2, 2, 60


def _write_all(root, kind: str, proc: int) -> None:
    """One process's writers: ``_THREADS`` threads, each with its own Store, pushing ``kind``."""
    import threading

    def one(thread: int) -> None:
        store, who = Store(root), f"p{proc}t{thread}"
        history = store.edits("track")
        for i in range(_PER_THREAD):
            if kind == "edits":
                history.push(f'[{{"who": "{who}", "i": {i}}}]', note=f"{who}-{i}")
            elif kind == "votes":
                store.add_vote("track", version_a="original", version_b=f"{who}-{i}", preferred="same", session=who)
            else:
                store.link_render("track", f"{who}-{i}", kind="single", label=who)

    threads = [threading.Thread(target=one, args=(t,)) for t in range(_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _write_all_checked(root, kind: str, proc: int, errors) -> None:
    try:
        _write_all(root, kind, proc)
    except Exception as exc:  # reported to the parent, which fails the test with it
        errors.put(f"{type(exc).__name__}: {exc}")
        raise


def _from_two_processes(root, kind: str) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_write_all_checked, args=(root, kind, p, errors)) for p in range(_PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert errors.empty(), errors.get()
    assert [p.exitcode for p in procs] == [0] * _PROCESSES


def _expected() -> list[str]:
    return sorted(f"p{p}t{t}-{i}" for p in range(_PROCESSES) for t in range(_THREADS) for i in range(_PER_THREAD))


@pytest.mark.parametrize("kind", ["edits", "votes", "links"])
def test_two_processes_of_two_threads_lose_no_edit_vote_or_link(tmp_path, kind):
    """Edits, A/B votes and render links written at once by two processes of two threads each:
    every one is kept, and no writer fails with "database is locked"."""
    root = tmp_path / "data"
    Store(root)
    _from_two_processes(root, kind)
    store = Store(root)
    if kind == "edits":
        history = store.edits("track")
        assert history.count() == history.cursor() == len(_expected())
        assert sorted(history.notes()) == _expected()
    elif kind == "votes":
        assert sorted(v["version_b"] for v in store.votes("track")) == _expected()
    else:
        assert sorted(r["render_key"] for r in store.renders_of("track")) == _expected()


def _undo_all(root, proc: int) -> None:
    import threading

    def one() -> None:
        history = Store(root).edits("track")
        for _ in range(_PER_THREAD):
            history.undo()

    threads = [threading.Thread(target=one) for _ in range(_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_undos_from_two_processes_at_once_are_each_one_step(tmp_path):
    """Each undo moves the cursor one step back from where it is when it runs (the cursor used
    to be read in one transaction and moved in another, so two undos could land on one state)."""
    import multiprocessing

    root = tmp_path / "data"
    history = Store(root).edits("track")
    for i in range(len(_expected()) + 10):
        history.push(f'[{{"i": {i}}}]', note=str(i))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_undo_all, args=(root, p)) for p in range(_PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * _PROCESSES
    assert history.cursor() == 10 and history.current() == '[{"i": 9}]'


def _hold_write_lock(root, seconds: float):
    """Another writer holding the database's write lock for ``seconds`` (in a thread)."""
    import threading
    import time

    locked = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(root / "studio.sqlite3", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait(10)
    return thread


def test_a_writer_waits_for_another_writer_instead_of_failing(tmp_path, monkeypatch):
    """The store opens SQLite with a busy timeout: a vote, a link and an edit made while another
    writer holds the lock wait for it and are kept (no "database is locked")."""
    import time

    monkeypatch.setenv("STUDIO_DB_TIMEOUT_S", "20")
    root = tmp_path / "data"
    store = Store(root)
    holder = _hold_write_lock(root, 1.0)
    started = time.monotonic()
    store.add_vote("t", version_a="a", version_b="b", preferred="a", session="s")
    store.link_render("t", "r1", kind="single")
    store.edits("t").push("[]", note="while locked")
    waited_s = time.monotonic() - started
    holder.join()
    assert waited_s >= 0.5  # it did wait for the other writer
    assert len(store.votes("t")) == 1 and len(store.renders_of("t")) == 1 and store.edits("t").count() == 1


def test_a_writer_blocked_past_the_busy_timeout_gets_a_plain_message(tmp_path, monkeypatch):
    """Past the busy timeout (the setting STUDIO_DB_TIMEOUT_S) the message says the database is
    busy and what to do, not SQLite's "database is locked"; nothing half-written is left."""
    from core.store import db as store_db

    monkeypatch.setenv("STUDIO_DB_TIMEOUT_S", "0.2")
    assert store_db.busy_timeout_s() == 0.2
    root = tmp_path / "data"
    store = Store(root)
    holder = _hold_write_lock(root, 2.0)
    try:
        with pytest.raises(StoreError, match="busy.*another.*STUDIO_DB_TIMEOUT_S"):
            store.edits("t").push("[]", note="blocked")
        with pytest.raises(StoreError, match="busy"):
            store.add_vote("t", version_a="a", version_b="b", preferred="a", session="s")
    finally:
        holder.join()
    assert store.edits("t").count() == 0 and store.votes("t") == []
