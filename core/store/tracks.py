"""Tracks in the store: original uploads by content hash, decoded again on demand."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from core.audio.load import Track, content_hash, load_track, to_wav_bytes
from core.io import atomic_write
from core.store.db import Database, max_duration_s

_COLUMNS = ("content_hash", "name", "format", "sample_rate", "channels", "duration_s", "added_at")


class TrackStore(Database):
    """``audio/ab/abcdef....wav`` files and the ``tracks`` table."""

    def add_track(self, data: bytes, *, name: str, suffix: str = "") -> Track:
        """Decode uploaded bytes (or fetch them if this content is known) and keep them.

        The same content uploaded twice is decoded from the stored file with no new write.
        """
        digest = content_hash(data)
        known = self.get_track(digest, name=name)
        if known is not None:
            return known
        track = load_track(data, name=name, max_duration_s=max_duration_s())
        ext = (suffix or "." + track.format.lower()).lower()
        self._keep(track, data, Path("audio") / digest[:2] / f"{digest}{ext}")
        return track

    def has_track(self, digest: str) -> bool:
        with self._db() as db:
            return db.execute("SELECT 1 FROM tracks WHERE content_hash=?", (digest,)).fetchone() is not None

    def keep(self, data: bytes, *, name: str, suffix: str = "") -> str:
        """Store an upload and return its content hash; known content is not decoded again."""
        digest = content_hash(data)
        if not self.has_track(digest):
            self.add_track(data, name=name, suffix=suffix)
        return digest

    def keep_track(self, track: Track) -> None:
        """Keep a decoded (or in-memory) track, as 32-bit float WAV, unless its content is known."""
        if not self.has_track(track.content_hash):
            rel = Path("audio") / track.content_hash[:2] / f"{track.content_hash}.wav"
            self._keep(track, to_wav_bytes(track.samples, track.sample_rate, subtype="FLOAT"), rel)

    def _keep(self, track: Track, data: bytes, rel: Path) -> None:
        atomic_write(self.root / rel, data)
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO tracks VALUES (?,?,?,?,?,?,?,?)",
                (track.content_hash, track.name, track.format, track.sample_rate, track.channels,
                 track.duration_s, str(rel), time.time()),
            )

    def _track_file(self, digest: str) -> tuple[str, Path] | None:
        """The stored name and file of a track, or None when either is missing."""
        with self._db() as db:
            row = db.execute("SELECT name, file FROM tracks WHERE content_hash=?", (digest,)).fetchone()
        if row is None or not (self.root / row[1]).is_file():
            return None
        return row[0], self.root / row[1]

    def get_track(self, digest: str, *, name: str | None = None) -> Track | None:
        found = self._track_file(digest)
        if found is None:
            return None
        track = load_track(found[1], name=name or found[0], max_duration_s=float("inf"))
        # The stored file may be a float WAV of in-memory audio: its identity stays the key.
        return replace(track, content_hash=digest)

    def track_bytes(self, digest: str) -> bytes | None:
        """The original uploaded file (for playback at full quality)."""
        found = self._track_file(digest)
        return None if found is None else found[1].read_bytes()

    def list_tracks(self) -> list[dict]:
        with self._db() as db:
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM tracks ORDER BY added_at DESC").fetchall()
        return [dict(zip(_COLUMNS, r)) for r in rows]
