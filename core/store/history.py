"""Versions of a track and what listeners said: render links, edit histories and A/B votes."""

from __future__ import annotations

import time

from core.errors import StoreError
from core.store.db import Database, tidy_name

#: The longest listener name and vote note kept (a note is a sentence or two, not an essay).
MAX_LISTENER_CHARS = 80
MAX_NOTE_CHARS = 2000
#: The longest name a user gives a version (a render or cover of a track).
MAX_VERSION_NAME_CHARS = 80


class HistoryStore(Database):
    """The ``track_renders``, ``edit_states``/``edit_cursors`` and ``votes`` tables."""

    # ------------------------------------------------- versions of one track
    def link_render(self, track_hash: str, render_key: str, *, kind: str, label: str = "") -> None:
        """Record that a stored render is a version of a track (kind: single, multi, edit, cover).
        Linking it again updates its kind, label and time; a name the user gave it stays."""
        with self._db() as db:  # one statement: atomic, and it waits for another writer (busy timeout)
            db.execute("INSERT INTO track_renders (track_hash, render_key, kind, label, created_at) VALUES "
                       "(?,?,?,?,?) ON CONFLICT (track_hash, render_key) DO UPDATE SET kind=excluded.kind, "
                       "label=excluded.label, created_at=excluded.created_at",
                       (track_hash, render_key, kind, label, time.time()))

    def renders_of(self, track_hash: str) -> list[dict]:
        """The renders linked to a track, oldest first: render_key, kind, label (the name the user
        gave it, else the automatic label), created_at, and ``named`` (True for a user's name,
        :meth:`rename_version`)."""
        with self._db() as db:
            rows = db.execute("SELECT render_key, kind, label, created_at, name FROM track_renders "
                              "WHERE track_hash=? ORDER BY created_at", (track_hash,)).fetchall()
        return [{"render_key": key, "kind": kind, "label": name or label, "created_at": created, "named": bool(name)}
                for key, kind, label, created, name in rows]

    def rename_version(self, track_hash: str, render_key: str, name: str) -> str:
        """Give a version of a track (a linked render or cover) the user's ``name``; returns the
        name as kept (spaces tidied). Two tabs renaming at once: the last one wins."""
        name = tidy_name(name, what="A version", max_chars=MAX_VERSION_NAME_CHARS, then="rename it")
        with self._db() as db:  # one statement: atomic, and it waits for another writer (busy timeout)
            found = db.execute("UPDATE track_renders SET name=? WHERE track_hash=? AND render_key=?",
                               (name, track_hash, render_key)).rowcount
        if not found:
            raise StoreError("This version is not linked to the track (it may have been removed in another tab): "
                             "choose it again from the list.")
        return name

    # ------------------------------------------------------------------ edits
    def edits(self, track_hash: str, options_key: str = "segments") -> "EditHistory":
        """The persistent undo/redo history of a track's segment edits."""
        return EditHistory(self, track_hash, options_key)

    # ------------------------------------------------------------------ votes
    def add_vote(self, track_hash: str, *, version_a: str, version_b: str, preferred: str, session: str,
                 listener: str = "", note: str = "") -> None:
        """One blind A/B answer: of versions ``version_a`` and ``version_b`` the listener preferred
        ``preferred`` (one of the two, or "same"); ``listener`` is who listened (a name, may be
        empty) and ``note`` what they said about the pair."""
        if preferred not in (version_a, version_b, "same"):
            raise StoreError("A vote must prefer one of the two versions, or 'same'.")
        listener, note = listener.strip(), note.strip()
        if len(listener) > MAX_LISTENER_CHARS or len(note) > MAX_NOTE_CHARS:
            raise StoreError(f"A listener's name is kept up to {MAX_LISTENER_CHARS} characters and a note up to "
                             f"{MAX_NOTE_CHARS}: shorten it and vote again.")
        with self._db() as db:  # one statement: atomic, and it waits for another writer (busy timeout)
            db.execute("INSERT INTO votes (track_hash, session, version_a, version_b, preferred, created_at, "
                       "listener, note) VALUES (?,?,?,?,?,?,?,?)",
                       (track_hash, session, version_a, version_b, preferred, time.time(), listener, note))

    def votes(self, track_hash: str) -> list[dict]:
        """A track's votes, oldest first: session, version_a, version_b, preferred, created_at,
        listener and note."""
        cols = ("session", "version_a", "version_b", "preferred", "created_at", "listener", "note")
        with self._db() as db:
            rows = db.execute(f"SELECT {', '.join(cols)} FROM votes WHERE track_hash=? ORDER BY created_at",
                              (track_hash,)).fetchall()
        return [dict(zip(cols, r)) for r in rows]

#: The state that stands for "the machine's version" in an edit history (written by reset).
_MACHINE = "null"


class EditHistory:
    """The undo/redo history of one track's segment edits (states are JSON lists of segments).

    ``Store.edits(track_hash, options_key)`` gives it; every method writes through to SQLite,
    so edits survive a refresh and a restart. State 0 does not exist: no state means "the
    machine's version" (the analysis), which ``reset`` returns to.
    """

    def __init__(self, store: Database, track_hash: str, options_key: str):
        self._store, self.track_hash, self.options_key = store, track_hash, options_key

    def _key(self) -> tuple[str, str]:
        return self.track_hash, self.options_key

    def _cursor_in(self, db) -> int:
        row = db.execute("SELECT seq FROM edit_cursors WHERE track_hash=? AND options_key=?", self._key()).fetchone()
        return int(row[0]) if row else 0

    def _count_in(self, db) -> int:
        row = db.execute("SELECT COALESCE(MAX(seq), 0) FROM edit_states WHERE track_hash=? AND options_key=?",
                         self._key()).fetchone()
        return int(row[0])

    def _current_in(self, db) -> str | None:
        seq = self._cursor_in(db)
        if seq == 0:
            return None
        row = db.execute("SELECT segments_json FROM edit_states WHERE track_hash=? AND options_key=? AND seq=?",
                         (*self._key(), seq)).fetchone()
        return row[0] if row and row[0] != _MACHINE else None

    def cursor(self) -> int:
        with self._store._db() as db:
            return self._cursor_in(db)

    def count(self) -> int:
        with self._store._db() as db:
            return self._count_in(db)

    def current(self) -> str | None:
        """The segments JSON at the cursor, or None for the machine's version."""
        with self._store._db() as db:
            return self._current_in(db)

    def _push_in(self, db, segments_json: str, note: str) -> int:
        seq = self._cursor_in(db) + 1
        db.execute("DELETE FROM edit_states WHERE track_hash=? AND options_key=? AND seq>=?", (*self._key(), seq))
        db.execute("INSERT INTO edit_states VALUES (?,?,?,?,?,?)", (*self._key(), seq, segments_json, note, time.time()))
        db.execute("INSERT OR REPLACE INTO edit_cursors VALUES (?,?,?)", (*self._key(), seq))
        return seq

    def push(self, segments_json: str, *, note: str = "") -> int:
        """A new state after the cursor (what was undone past it is dropped); returns its number.

        Every method that reads the cursor and then writes does both in one write transaction
        (BEGIN IMMEDIATE), so two tabs or processes editing at once each keep their edit, one
        after the other, and two undos at once are two steps back."""
        with self._store._db(immediate=True) as db:
            return self._push_in(db, segments_json, note)

    def _step(self, delta: int) -> str | None:
        """Move the cursor ``delta`` states (within 0..count) and return the state there."""
        with self._store._db(immediate=True) as db:
            seq = min(self._count_in(db), max(0, self._cursor_in(db) + delta))
            db.execute("INSERT OR REPLACE INTO edit_cursors VALUES (?,?,?)", (*self._key(), seq))
            return self._current_in(db)

    def can_undo(self) -> bool:
        return self.cursor() > 0

    def can_redo(self) -> bool:
        return self.cursor() < self.count()

    def undo(self) -> str | None:
        return self._step(-1)

    def redo(self) -> str | None:
        return self._step(+1)

    def reset(self) -> None:
        """Back to the machine's version, as a new state: undo brings the edits back, and no
        later edit can drop them."""
        with self._store._db(immediate=True) as db:
            if self._current_in(db) is not None:
                self._push_in(db, _MACHINE, "reset to the analysis")

    def notes(self) -> list[str]:
        with self._store._db() as db:
            rows = db.execute("SELECT note FROM edit_states WHERE track_hash=? AND options_key=? ORDER BY seq",
                              self._key()).fetchall()
        return [r[0] for r in rows]
