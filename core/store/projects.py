"""Projects: named groups of reference tracks (and, through the tracks, their renders, covers
and votes), for a client or a brief. The tables are ``projects`` and ``project_tracks``
(schema version 3, :mod:`core.store.db`); a project's tracks go with it when it is deleted,
the tracks themselves stay in the library.
"""

from __future__ import annotations

import time
import unicodedata

from core.errors import StoreError
from core.store.db import Database, tidy_name

#: The longest project name and note kept.
MAX_PROJECT_NAME_CHARS = 80
MAX_PROJECT_NOTE_CHARS = 2000


def project_name(name) -> str:
    """``name`` as a project is kept: spaces tidied (runs of spaces, tabs and line breaks become
    one space); a StoreError when it is empty, too long or holds control characters."""
    cleaned = tidy_name(name, what="A project", max_chars=MAX_PROJECT_NAME_CHARS,
                        then="create it (for example the client or the brief)")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in cleaned):
        raise StoreError("A project's name cannot hold invisible or control characters: type it again with "
                         "letters, digits, spaces and punctuation.")
    return cleaned


class ProjectStore(Database):
    """The ``projects`` and ``project_tracks`` tables."""

    def create_project(self, name: str, *, note: str = "") -> str:
        """Make an empty project; returns its name as kept (:func:`project_name`)."""
        name, note = project_name(name), _note(note)
        with self._db(immediate=True) as db:
            if _exists(db, name):
                raise StoreError(f"There is already a project called {name!r}: pick it from the list, or give "
                                 "the new one another name.")
            db.execute("INSERT INTO projects VALUES (?,?,?)", (name, note, time.time()))
        return name

    def rename_project(self, name: str, new_name: str) -> str:
        """Give a project another name (its tracks follow); returns the new name as kept."""
        new_name = project_name(new_name)
        with self._db(immediate=True) as db:
            row = _project_row(db, name)
            if new_name == row[0]:
                return new_name
            if _exists(db, new_name):
                raise StoreError(f"There is already a project called {new_name!r}: choose another name.")
            db.execute("INSERT INTO projects VALUES (?,?,?)", (new_name, row[1], row[2]))
            db.execute("UPDATE project_tracks SET project=? WHERE project=?", (new_name, row[0]))
            db.execute("DELETE FROM projects WHERE name=?", (row[0],))
        return new_name

    def delete_project(self, name: str) -> None:
        """Remove a project and its list of tracks (the tracks, renders and votes stay)."""
        with self._db(immediate=True) as db:
            row = _project_row(db, name)
            db.execute("DELETE FROM project_tracks WHERE project=?", (row[0],))
            db.execute("DELETE FROM projects WHERE name=?", (row[0],))

    def add_track_to_project(self, name: str, track_hash: str) -> None:
        """Put a library track in a project (again: nothing changes)."""
        with self._db(immediate=True) as db:
            row = _project_row(db, name)
            if db.execute("SELECT 1 FROM tracks WHERE content_hash=?", (track_hash,)).fetchone() is None:
                raise StoreError("This track is not in the library (it may have been removed): upload it on "
                                 "Analyze, then add it to the project.")
            db.execute("INSERT OR IGNORE INTO project_tracks VALUES (?,?,?)", (row[0], track_hash, time.time()))

    def remove_track_from_project(self, name: str, track_hash: str) -> None:
        """Take a track out of a project (it stays in the library)."""
        with self._db(immediate=True) as db:
            row = _project_row(db, name)
            db.execute("DELETE FROM project_tracks WHERE project=? AND track_hash=?", (row[0], track_hash))

    def projects(self) -> list[dict]:
        """Every project, by name: name, note, created_at and tracks (how many)."""
        with self._db() as db:
            rows = db.execute("SELECT p.name, p.note, p.created_at, COUNT(t.track_hash) FROM projects p "
                              "LEFT JOIN project_tracks t ON t.project = p.name GROUP BY p.name "
                              "ORDER BY p.name COLLATE NOCASE").fetchall()
        return [dict(zip(("name", "note", "created_at", "tracks"), r)) for r in rows]

    def project_tracks(self, name: str) -> list[str]:
        """The content hashes of a project's tracks, in the order they were added."""
        with self._db() as db:
            row = _project_row(db, name)
            rows = db.execute("SELECT track_hash FROM project_tracks WHERE project=? ORDER BY added_at, track_hash",
                              (row[0],)).fetchall()
        return [r[0] for r in rows]

    def descriptions_of(self, track_hash: str) -> list[str]:
        """The keys of a track's stored descriptions (style predictions), newest first: what a
        report of the track (or of a project holding it) shows without knowing the model."""
        with self._db() as db:
            rows = db.execute("SELECT key FROM descriptions WHERE track_hash=? ORDER BY created_at DESC",
                              (track_hash,)).fetchall()
        return [r[0] for r in rows]

    def has_project(self, name: str) -> bool:
        with self._db() as db:
            return _exists(db, " ".join(name.split()) if isinstance(name, str) else "")


def _note(note) -> str:
    note = note.strip() if isinstance(note, str) else ""
    if len(note) > MAX_PROJECT_NOTE_CHARS:
        raise StoreError(f"A project's note is kept up to {MAX_PROJECT_NOTE_CHARS} characters: shorten it.")
    return note


def _exists(db, name: str) -> bool:
    return db.execute("SELECT 1 FROM projects WHERE name=?", (name,)).fetchone() is not None


def _project_row(db, name) -> tuple:
    """(name, note, created_at) of a project, or a StoreError saying there is none by that name."""
    cleaned = " ".join(name.split()) if isinstance(name, str) else ""
    row = db.execute("SELECT name, note, created_at FROM projects WHERE name=?", (cleaned,)).fetchone()
    if row is None:
        shown = cleaned if len(cleaned) <= 80 else cleaned[:80] + "..."
        raise StoreError(f"There is no project called {shown!r}: pick one from the list, or create it first.")
    return row
