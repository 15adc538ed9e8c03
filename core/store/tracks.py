"""Tracks in the store: original uploads by content hash, decoded again on demand."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from core.audio.load import AUDIO_TYPES, Track, content_hash, load_track, to_wav_bytes
from core.errors import OptionError
from core.io import atomic_write
from core.store.db import Database, max_duration_s

_COLUMNS = ("content_hash", "name", "format", "sample_rate", "channels", "duration_s", "added_at")


class TrackStore(Database):
    """``audio/ab/abcdef....wav`` files and the ``tracks`` table."""

    def add_track(self, data: bytes, *, name: str, suffix: str = "") -> Track:
        """Decode uploaded bytes (or fetch them if this content is known) and keep them.

        The same content uploaded twice is decoded from the stored file with no new write. A
        stored copy that no longer holds the uploaded bytes (damaged on disk) is replaced by them. ``suffix`` is the file's extension (``".wav"`` or ``"wav"``, one of
        ``AUDIO_TYPES``); empty takes it from the decoded format.

        Raises
        ------
        OptionError
            ``suffix`` is not an audio file extension.
        AudioError
            The upload itself cannot be used.
        """
        ext = _extension(suffix)
        digest = content_hash(data)
        found = self._track_file(digest)
        if found is not None and _same_bytes(found[1], data):
            track = load_track(data, name=name or found[0], max_duration_s=float("inf"))
            return replace(track, content_hash=digest)
        track = load_track(data, name=name, max_duration_s=max_duration_s())
        rel = Path("audio") / digest[:2] / f"{digest}.{ext or track.format.lower()}"
        self._keep(track, data, rel)
        if found is not None and found[1] != self.root / rel:
            found[1].unlink(missing_ok=True)  # the damaged copy, under another extension
        return track

    def has_track(self, digest: str) -> bool:
        with self._db() as db:
            return db.execute("SELECT 1 FROM tracks WHERE content_hash=?", (digest,)).fetchone() is not None

    def keep(self, data: bytes, *, name: str, suffix: str = "") -> str:
        """Store an upload and return its content hash; known content is not decoded again.

        A stored copy that no longer holds these bytes (damaged on disk) is replaced by them."""
        _extension(suffix)
        digest = content_hash(data)
        if not self.has_track(digest) or not self._intact(digest, data):
            self.add_track(data, name=name, suffix=suffix)
        return digest

    def _intact(self, digest: str, data: bytes) -> bool:
        """Whether the stored file of ``digest`` still holds exactly ``data``."""
        found = self._track_file(digest)
        return found is not None and _same_bytes(found[1], data)

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


def _extension(suffix: str) -> str:
    """``suffix`` as a bare lower-case audio extension (``""`` when empty), or an OptionError."""
    ext = str(suffix).strip().lower()
    ext = ext[1:] if ext.startswith(".") else ext
    if (ext or str(suffix).strip()) and ext not in AUDIO_TYPES:
        shown = suffix if len(suffix) <= 40 else suffix[:40] + "..."
        raise OptionError(
            f"{shown!r} is not an audio file extension: use one of {', '.join(AUDIO_TYPES)} (with or without a dot)."
        )
    return ext


def _same_bytes(path: Path, data: bytes, *, block: int = 1 << 20) -> bool:
    """Whether the file at ``path`` holds exactly ``data`` (compared in blocks: no second copy)."""
    try:
        if path.stat().st_size != len(data):
            return False
        view = memoryview(data)
        with open(path, "rb") as fh:
            for start in range(0, len(data), block):
                if fh.read(block) != view[start : start + block]:
                    return False
    except OSError:
        return False  # unreadable: the upload replaces it
    return True
