"""The store's SQLite file: where it lives, its connection and its schema's migrations.

The schema's version is SQLite's ``PRAGMA user_version``. A file made before versions existed
reads 0 and holds the version-1 tables (or none): migration 1 creates what is missing with
``CREATE TABLE IF NOT EXISTS``, so it fits both. Each migration runs in one transaction that
also sets ``user_version``: a crash leaves the old version, never half of a new one. A file
newer than this code is refused with a clear ``StoreError``.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from core.audio.load import DEFAULT_MAX_DURATION_S
from core.errors import StoreError

ENV_DATA_DIR = "STUDIO_DATA_DIR"
ENV_MAX_DURATION = "STUDIO_MAX_DURATION_S"
ENV_DB_TIMEOUT = "STUDIO_DB_TIMEOUT_S"
DB_NAME = "studio.sqlite3"

#: How long a writer waits for another writer's transaction (another tab, process or batch
#: job) before it gives up with a "busy" message; ``STUDIO_DB_TIMEOUT_S`` raises it.
DEFAULT_DB_TIMEOUT_S = 30.0

#: Version 1: the tables as they were before the schema had a version.
SCHEMA_V1 = (
    """CREATE TABLE IF NOT EXISTS tracks (
    content_hash TEXT PRIMARY KEY, name TEXT NOT NULL, format TEXT NOT NULL, sample_rate INTEGER NOT NULL,
    channels INTEGER NOT NULL, duration_s REAL NOT NULL, file TEXT NOT NULL, added_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS renders (
    render_key TEXT PRIMARY KEY, title TEXT NOT NULL, timeline_json TEXT NOT NULL, seed INTEGER NOT NULL,
    options_json TEXT NOT NULL, audio_file TEXT NOT NULL, midi_file TEXT NOT NULL, meta_json TEXT NOT NULL,
    created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS separations (
    separation_key TEXT PRIMARY KEY, track_hash TEXT NOT NULL, model TEXT NOT NULL, options_json TEXT NOT NULL,
    files_json TEXT NOT NULL, meta_json TEXT NOT NULL, created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS edit_states (
    track_hash TEXT NOT NULL, options_key TEXT NOT NULL, seq INTEGER NOT NULL, segments_json TEXT NOT NULL,
    note TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (track_hash, options_key, seq))""",
    """CREATE TABLE IF NOT EXISTS edit_cursors (
    track_hash TEXT NOT NULL, options_key TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (track_hash, options_key))""",
    """CREATE TABLE IF NOT EXISTS track_renders (
    track_hash TEXT NOT NULL, render_key TEXT NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL,
    created_at REAL NOT NULL, PRIMARY KEY (track_hash, render_key))""",
    """CREATE TABLE IF NOT EXISTS votes (
    track_hash TEXT NOT NULL, session TEXT NOT NULL, version_a TEXT NOT NULL, version_b TEXT NOT NULL,
    preferred TEXT NOT NULL, created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS analyses (
    track_hash TEXT NOT NULL REFERENCES tracks(content_hash), options_key TEXT NOT NULL, file TEXT NOT NULL,
    created_at REAL NOT NULL, PRIMARY KEY (track_hash, options_key))""",
)

#: Version 2: stored descriptions (a track's predictions under their complete key).
SCHEMA_V2 = (
    """CREATE TABLE IF NOT EXISTS descriptions (
    track_hash TEXT NOT NULL, key TEXT NOT NULL, file TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (track_hash, key))""",
)

#: Version 3: who voted and what they said (listener, note on each A/B vote); projects that
#: group tracks (and, through the tracks, their renders, covers and votes); the name a user gave a
#: version (``track_renders.name``, beside its automatic label); how long each stage
#: took on this machine (the pages' estimates).
SCHEMA_V3 = (
    "ALTER TABLE votes ADD COLUMN listener TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE votes ADD COLUMN note TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE track_renders ADD COLUMN name TEXT NOT NULL DEFAULT ''",
    """CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY, note TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS project_tracks (
    project TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE, track_hash TEXT NOT NULL,
    added_at REAL NOT NULL, PRIMARY KEY (project, track_hash))""",
    """CREATE TABLE IF NOT EXISTS timings (
    stage TEXT NOT NULL, audio_s REAL NOT NULL, elapsed_s REAL NOT NULL, created_at REAL NOT NULL)""",
)

#: MIGRATIONS[n - 1] takes a file from version n - 1 to version n.
MIGRATIONS = (SCHEMA_V1, SCHEMA_V2, SCHEMA_V3)
SCHEMA_VERSION = len(MIGRATIONS)


def tidy_name(name, *, what: str, max_chars: int, then: str) -> str:
    """A user's name for something (a version, a project) with its spaces tidied (runs of spaces,
    tabs and line breaks become one); a StoreError naming ``what`` when it is empty or longer
    than ``max_chars`` (``then``: what to do after, e.g. "rename it")."""
    cleaned = " ".join(name.split()) if isinstance(name, str) else ""
    if not cleaned:
        raise StoreError(f"{what} needs a name: type one, then {then}.")
    if len(cleaned) > max_chars:
        raise StoreError(f"{what}'s name is kept up to {max_chars} characters (this one has {len(cleaned)}): "
                         f"shorten it and {then}.")
    return cleaned


def default_data_dir() -> Path:
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "music-studio"


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def max_duration_s() -> float:
    """The long-file limit: ``STUDIO_MAX_DURATION_S`` or 20 minutes."""
    return _env_float(ENV_MAX_DURATION, DEFAULT_MAX_DURATION_S)


def busy_timeout_s() -> float:
    """How long a write waits for another writer: ``STUDIO_DB_TIMEOUT_S`` or 30 s."""
    return max(0.0, _env_float(ENV_DB_TIMEOUT, DEFAULT_DB_TIMEOUT_S))


def _is_busy(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


class Database:
    """The SQLite file of a data directory ``root``, migrated to ``SCHEMA_VERSION`` on open."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_data_dir()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"The data directory {self.root} cannot be used: {exc}") from None
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        try:
            # The busy timeout: a writer waits for another writer's transaction instead of failing.
            conn = sqlite3.connect(self.root / DB_NAME, timeout=busy_timeout_s())
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise self._error(exc, "cannot be opened") from None
        return conn

    def _error(self, exc: sqlite3.Error, what: str) -> StoreError:
        if _is_busy(exc):
            return StoreError(
                f"The studio database in {self.root} is busy: another tab, process or job kept it locked for "
                f"more than {busy_timeout_s():g} s, so nothing was saved. Try again; if a long job runs, set "
                f"{ENV_DB_TIMEOUT} to wait longer.")
        return StoreError(f"The studio database in {self.root} {what}: {exc}")

    @contextmanager
    def _db(self, *, immediate: bool = False):
        """A connection in one transaction: committed on success, rolled back on error.

        ``immediate=True`` takes the write lock first (BEGIN IMMEDIATE): for a write that
        depends on what it reads, so no other writer can change the rows in between."""
        conn = self._connect()
        try:
            with conn:
                if immediate:
                    conn.execute("BEGIN IMMEDIATE")
                yield conn
        except sqlite3.Error as exc:
            raise self._error(exc, "could not be updated") from None
        finally:
            conn.close()

    def schema_version(self) -> int:
        """The file's ``PRAGMA user_version``."""
        with self._db() as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        conn = self._connect()
        try:
            found = int(conn.execute("PRAGMA user_version").fetchone()[0])
            self._refuse_newer(found)
            while found < SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")  # one writer migrates; the others wait, then see its version
                found = int(conn.execute("PRAGMA user_version").fetchone()[0])
                self._refuse_newer(found)
                if found < SCHEMA_VERSION:
                    for statement in MIGRATIONS[found]:
                        conn.execute(statement)
                    found += 1
                    conn.execute(f"PRAGMA user_version = {found}")
                conn.commit()
        except sqlite3.Error as exc:
            conn.rollback()
            raise self._error(exc, "cannot be used") from None
        finally:
            conn.close()

    def _refuse_newer(self, found: int) -> None:
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"The studio database in {self.root} was written by a newer version of the studio (schema "
                f"version {found}; this one reads up to {SCHEMA_VERSION}). Update the studio, or point "
                f"{ENV_DATA_DIR} at another folder.")
