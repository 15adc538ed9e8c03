"""The studio's store: one SQLite file plus content-addressed files in a data directory.

Layout of ``STUDIO_DATA_DIR`` (default ``~/.local/share/music-studio``)::

    studio.sqlite3               tracks, analyses (and later: edits, renders, votes)
    audio/ab/abcdef....wav       original uploads, named by content hash
    analyses/abcdef..._opts.npz  serialised analyses, keyed by track hash + options
    renders/KEY.flac, KEY.mid    renders, keyed by timeline + seed + options
    separations/KEY/vocals.flac  stems, keyed by track hash + model + options + weights

Files are written to a temporary name and renamed into place (atomic on POSIX); database
writes run in transactions. A second look at the same content is a lookup, not a recompute.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import zipfile
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from core.analysis.analyze import Analysis, AnalysisOptions, analysis_from_bytes, analysis_to_bytes, analyze
from core.audio.load import DEFAULT_MAX_DURATION_S, Track, content_hash, load_track
from core.errors import StoreError, StudioError
from core.io import atomic_write

log = logging.getLogger(__name__)

ENV_DATA_DIR = "STUDIO_DATA_DIR"
ENV_MAX_DURATION = "STUDIO_MAX_DURATION_S"

_SCHEMA = """
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


def default_data_dir() -> Path:
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "music-studio"


def max_duration_s() -> float:
    """The long-file limit: ``STUDIO_MAX_DURATION_S`` or 20 minutes."""
    raw = os.environ.get(ENV_MAX_DURATION)
    try:
        return float(raw) if raw else DEFAULT_MAX_DURATION_S
    except ValueError:
        return DEFAULT_MAX_DURATION_S


class Store:
    """Tracks and analyses by content hash, in ``root`` (see module docstring)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_data_dir()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self._db() as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"The data directory {self.root} cannot be used: {exc}") from None

    @contextmanager
    def _db(self):
        try:
            conn = sqlite3.connect(self.root / "studio.sqlite3", timeout=30)
        except sqlite3.Error as exc:
            raise StoreError(f"The studio database in {self.root} cannot be opened: {exc}") from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            with conn:  # one transaction: commit on success, roll back on error
                yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"The studio database in {self.root} could not be updated: {exc}") from None
        finally:
            conn.close()

    # ------------------------------------------------------------------ tracks
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
        rel = Path("audio") / digest[:2] / f"{digest}{ext}"
        self._keep(track, data, rel)
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

    def _keep(self, track: Track, data: bytes, rel: Path) -> None:
        atomic_write(self.root / rel, data)
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO tracks VALUES (?,?,?,?,?,?,?,?)",
                (track.content_hash, track.name, track.format, track.sample_rate, track.channels,
                 track.duration_s, str(rel), time.time()),
            )

    def get_track(self, digest: str, *, name: str | None = None) -> Track | None:
        with self._db() as db:
            row = db.execute("SELECT name, file FROM tracks WHERE content_hash=?", (digest,)).fetchone()
        if row is None:
            return None
        path = self.root / row[1]
        if not path.is_file():
            return None
        track = load_track(path, name=name or row[0], max_duration_s=float("inf"))
        # The stored file may be a float WAV of in-memory audio: its identity stays the key.
        return replace(track, content_hash=digest)

    def track_bytes(self, digest: str) -> bytes | None:
        """The original uploaded file (for playback at full quality)."""
        with self._db() as db:
            row = db.execute("SELECT file FROM tracks WHERE content_hash=?", (digest,)).fetchone()
        if row is None or not (self.root / row[0]).is_file():
            return None
        return (self.root / row[0]).read_bytes()

    def list_tracks(self) -> list[dict]:
        with self._db() as db:
            rows = db.execute(
                "SELECT content_hash, name, format, sample_rate, channels, duration_s, added_at "
                "FROM tracks ORDER BY added_at DESC"
            ).fetchall()
        keys = ("content_hash", "name", "format", "sample_rate", "channels", "duration_s", "added_at")
        return [dict(zip(keys, r)) for r in rows]

    # ---------------------------------------------------------------- analyses
    def get_analysis(self, digest: str, options: AnalysisOptions) -> Analysis | None:
        with self._db() as db:
            row = db.execute(
                "SELECT file FROM analyses WHERE track_hash=? AND options_key=?", (digest, options.cache_key())
            ).fetchone()
        if row is None or not (self.root / row[0]).is_file():
            return None
        try:
            return analysis_from_bytes((self.root / row[0]).read_bytes())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("Stored analysis %s is unreadable (%s): it will be recomputed.", row[0], exc)
            return None

    def put_analysis(self, analysis: Analysis) -> None:
        key = analysis.options.cache_key()
        rel = Path("analyses") / f"{analysis.track_hash}_{key}.npz"
        atomic_write(self.root / rel, analysis_to_bytes(analysis))
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO analyses VALUES (?,?,?,?)", (analysis.track_hash, key, str(rel), time.time())
            )

    def analysis_for(
        self, track: Track, *, options: AnalysisOptions | None = None, progress=None
    ) -> Analysis:
        """The cached analysis of ``track`` with ``options``, computing and storing it once.

        A track that is not in the store yet is added (as 32-bit float WAV) first.
        """
        opts = options or AnalysisOptions()
        cached = self.get_analysis(track.content_hash, opts)
        if cached is not None:
            if progress:
                progress(1.0, "Loaded from the store")
            return cached
        with self._db() as db:
            known = db.execute("SELECT 1 FROM tracks WHERE content_hash=?", (track.content_hash,)).fetchone()
        if known is None:
            from core.audio.load import to_wav_bytes

            rel = Path("audio") / track.content_hash[:2] / f"{track.content_hash}.wav"
            self._keep(track, to_wav_bytes(track.samples, track.sample_rate, subtype="FLOAT"), rel)
        result = analyze(track, options=opts, progress=progress)
        self.put_analysis(result)
        return result

    # ----------------------------------------------------------------- renders
    def render_for(self, timeline, *, seed: int = 0, options=None, title: str = "", progress=None):
        """The render of ``timeline`` with ``seed`` and ``options``: stored once, then looked up.

        The key is a hash of the timeline JSON, the seed, the options and the render version,
        so the same request is instant the second time and never recomputed.
        """
        from core.generate.render import render, render_key

        key = render_key(timeline, seed=seed, options=options)

        def make():
            result = render(timeline, seed=seed, options=options, progress=progress)
            self.put_render(result, options=options, title=title)
            return result

        return _stored_or_made(lambda: self.get_render(key), make, progress)

    def put_render(self, result, *, options=None, title: str = "") -> str:
        import io
        import json

        import soundfile as sf

        from core.generate.render import options_dict, render_key

        key = render_key(result.timeline, seed=result.seed, options=options)
        buf = io.BytesIO()
        sf.write(buf, result.audio, result.sample_rate, format="FLAC", subtype="PCM_24")
        audio_rel = Path("renders") / f"{key}.flac"
        midi_rel = Path("renders") / f"{key}.mid"
        atomic_write(self.root / audio_rel, buf.getvalue())
        atomic_write(self.root / midi_rel, result.midi_bytes())
        meta = {"regions": [r.__dict__ | {"sections": [s.__dict__ for s in r.sections]} for r in result.regions],
                "loudness_lufs": result.loudness_lufs, "peak_dbfs": result.peak_dbfs, "versions": result.versions}
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO renders VALUES (?,?,?,?,?,?,?,?,?)",
                (key, title or _render_title(result), result.timeline.to_json(indent=None), int(result.seed),
                 json.dumps(options_dict(options)), str(audio_rel), str(midi_rel), json.dumps(meta), time.time()),
            )
        return key

    def get_render(self, key: str):
        import io
        import json

        import pretty_midi
        import soundfile as sf

        from core.generate.render import Render, RegionRender
        from core.generate.timeline import Timeline

        with self._db() as db:
            row = db.execute(
                "SELECT timeline_json, seed, audio_file, midi_file, meta_json FROM renders WHERE render_key=?", (key,)
            ).fetchone()
        if row is None or not (self.root / row[2]).is_file() or not (self.root / row[3]).is_file():
            return None
        from core.generate.compose import Section

        try:
            audio, sr = sf.read(self.root / row[2], dtype="float32", always_2d=True)
            midi = pretty_midi.PrettyMIDI(io.BytesIO((self.root / row[3]).read_bytes()))
            meta = json.loads(row[4])
            regions = tuple(
                RegionRender(**{**r, "sections": tuple(Section(**s) for s in r["sections"])}) for r in meta["regions"]
            )
            timeline = Timeline.from_json(row[0], check_catalog=False)
        except (OSError, ValueError, KeyError, TypeError, EOFError, sf.LibsndfileError, StudioError) as exc:
            log.warning("Stored render %s is unreadable (%s): it will be rendered again.", key, exc)
            return None
        return Render(audio=audio, sample_rate=int(sr), midi=midi, timeline=timeline,
                      seed=int(row[1]), regions=regions, loudness_lufs=meta["loudness_lufs"],
                      peak_dbfs=meta["peak_dbfs"], versions=meta["versions"])

    def list_renders(self, *, limit: int = 50) -> list[dict]:
        with self._db() as db:
            rows = db.execute(
                "SELECT render_key, title, seed, created_at FROM renders ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [dict(zip(("render_key", "title", "seed", "created_at"), r)) for r in rows]


    # ------------------------------------------------------------- separations
    def separation_for(self, track: Track, *, options=None, weights_dir=None, progress=None):
        """The stems of ``track`` (``core.separation.Stems``): separated once, then looked up.

        The key covers the track's content hash, the model and its options, the separation
        version and a fingerprint of the weight files.
        """
        from core.separation import SeparationOptions, compute_stems, default_weights_dir, separation_key

        opts = options or SeparationOptions()
        weights = Path(weights_dir) if weights_dir is not None else default_weights_dir()
        key = separation_key(track.content_hash, opts, weights_dir=weights)

        def make():
            stems = compute_stems(track, options=opts, weights_dir=weights, progress=progress)
            self.put_separation(key, stems, options=opts)
            return stems

        return _stored_or_made(lambda: self.get_separation(key), make, progress)

    def put_separation(self, key: str, stems, *, options) -> None:
        import io
        import json

        import numpy as np
        import soundfile as sf

        files = {}
        for name, audio in stems.stems.items():
            buf = io.BytesIO()
            if float(np.max(np.abs(audio), initial=0.0)) <= 1.0:
                sf.write(buf, audio, stems.sample_rate, format="FLAC", subtype="PCM_24")
                rel = Path("separations") / key / f"{name}.flac"
            else:  # beyond full scale: keep it exactly rather than clip
                sf.write(buf, audio, stems.sample_rate, format="WAV", subtype="FLOAT")
                rel = Path("separations") / key / f"{name}.wav"
            atomic_write(self.root / rel, buf.getvalue())
            files[name] = str(rel)
        meta = {"sample_rate": stems.sample_rate, "notes": list(stems.notes)}
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO separations VALUES (?,?,?,?,?,?,?)",
                (key, stems.track_hash, stems.model, json.dumps(options.as_dict()), json.dumps(files),
                 json.dumps(meta), time.time()),
            )

    def get_separation(self, key: str):
        import json

        import soundfile as sf

        from core.separation import Stems

        with self._db() as db:
            row = db.execute(
                "SELECT track_hash, model, files_json, meta_json FROM separations WHERE separation_key=?", (key,)
            ).fetchone()
        if row is None:
            return None
        try:
            files = json.loads(row[2])
            meta = json.loads(row[3])
            stems = {}
            for name, rel in files.items():
                audio, sr = sf.read(self.root / rel, dtype="float32", always_2d=True)
                stems[name] = audio
        except (OSError, ValueError, KeyError, TypeError, sf.LibsndfileError) as exc:
            log.warning("Stored separation %s is unreadable (%s): it will be separated again.", key, exc)
            return None
        return Stems(stems=stems, sample_rate=int(meta["sample_rate"]), model=row[1], track_hash=row[0],
                     notes=tuple(meta.get("notes", ())))

    # ---------------------------------------------------------- JSON results
    def put_json(self, kind: str, key: str, obj) -> None:
        """A JSON result under ``<kind>/<key>.json`` (e.g. the loop's tables), written atomically."""
        import json

        atomic_write(self.root / kind / f"{key}.json", json.dumps(obj).encode())

    def get_json(self, kind: str, key: str):
        """The JSON stored by ``put_json``, or None (missing or unreadable: recomputed by the caller)."""
        import json

        path = self.root / kind / f"{key}.json"
        try:
            return json.loads(path.read_text()) if path.is_file() else None
        except (OSError, ValueError) as exc:
            log.warning("Stored result %s is unreadable (%s): it will be computed again.", path, exc)
            return None

    # ------------------------------------------------- versions of one track
    def link_render(self, track_hash: str, render_key: str, *, kind: str, label: str = "") -> None:
        """Record that a stored render is a version of a track (kind: single, multi, edit, cover)."""
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO track_renders VALUES (?,?,?,?,?)",
                       (track_hash, render_key, kind, label, time.time()))

    def renders_of(self, track_hash: str) -> list[dict]:
        """The renders linked to a track, oldest first: render_key, kind, label, created_at."""
        with self._db() as db:
            rows = db.execute("SELECT render_key, kind, label, created_at FROM track_renders WHERE track_hash=? "
                              "ORDER BY created_at", (track_hash,)).fetchall()
        return [dict(zip(("render_key", "kind", "label", "created_at"), r)) for r in rows]

    # ------------------------------------------------------------------ edits
    def edits(self, track_hash: str, options_key: str = "segments") -> "EditHistory":
        """The persistent undo/redo history of a track's segment edits."""
        return EditHistory(self, track_hash, options_key)

    # ------------------------------------------------------------------ votes
    def add_vote(self, track_hash: str, *, version_a: str, version_b: str, preferred: str, session: str) -> None:
        """One blind A/B answer: of versions ``version_a`` and ``version_b`` the listener preferred
        ``preferred`` (one of the two, or "same")."""
        if preferred not in (version_a, version_b, "same"):
            raise StoreError("A vote must prefer one of the two versions, or 'same'.")
        with self._db() as db:
            db.execute("INSERT INTO votes VALUES (?,?,?,?,?,?)",
                       (track_hash, session, version_a, version_b, preferred, time.time()))

    def votes(self, track_hash: str) -> list[dict]:
        with self._db() as db:
            rows = db.execute("SELECT session, version_a, version_b, preferred, created_at FROM votes "
                              "WHERE track_hash=? ORDER BY created_at", (track_hash,)).fetchall()
        return [dict(zip(("session", "version_a", "version_b", "preferred", "created_at"), r)) for r in rows]

    def list_separations(self, track_hash: str) -> list[dict]:
        with self._db() as db:
            rows = db.execute(
                "SELECT separation_key, model, created_at FROM separations WHERE track_hash=? ORDER BY created_at DESC",
                (track_hash,),
            ).fetchall()
        return [dict(zip(("separation_key", "model", "created_at"), r)) for r in rows]


#: The state that stands for "the machine's version" in an edit history (written by reset).
_MACHINE = "null"


class EditHistory:
    """The undo/redo history of one track's segment edits (states are JSON lists of segments).

    ``Store.edits(track_hash, options_key)`` gives it; every method writes through to SQLite,
    so edits survive a refresh and a restart. State 0 does not exist: no state means "the
    machine's version" (the analysis), which ``reset`` returns to.
    """

    def __init__(self, store: "Store", track_hash: str, options_key: str):
        self._store, self.track_hash, self.options_key = store, track_hash, options_key

    def _key(self) -> tuple[str, str]:
        return self.track_hash, self.options_key

    def cursor(self) -> int:
        with self._store._db() as db:
            row = db.execute("SELECT seq FROM edit_cursors WHERE track_hash=? AND options_key=?", self._key()).fetchone()
        return int(row[0]) if row else 0

    def count(self) -> int:
        with self._store._db() as db:
            row = db.execute("SELECT COALESCE(MAX(seq), 0) FROM edit_states WHERE track_hash=? AND options_key=?",
                             self._key()).fetchone()
        return int(row[0])

    def current(self) -> str | None:
        """The segments JSON at the cursor, or None for the machine's version."""
        seq = self.cursor()
        if seq == 0:
            return None
        with self._store._db() as db:
            row = db.execute("SELECT segments_json FROM edit_states WHERE track_hash=? AND options_key=? AND seq=?",
                             (*self._key(), seq)).fetchone()
        return row[0] if row and row[0] != _MACHINE else None

    def push(self, segments_json: str, *, note: str = "") -> int:
        """A new state after the cursor (what was undone past it is dropped); returns its number."""
        seq = self.cursor() + 1
        with self._store._db() as db:
            db.execute("DELETE FROM edit_states WHERE track_hash=? AND options_key=? AND seq>=?", (*self._key(), seq))
            db.execute("INSERT INTO edit_states VALUES (?,?,?,?,?,?)",
                       (*self._key(), seq, segments_json, note, time.time()))
            db.execute("INSERT OR REPLACE INTO edit_cursors VALUES (?,?,?)", (*self._key(), seq))
        return seq

    def _move(self, seq: int) -> str | None:
        with self._store._db() as db:
            db.execute("INSERT OR REPLACE INTO edit_cursors VALUES (?,?,?)", (*self._key(), seq))
        return self.current()

    def can_undo(self) -> bool:
        return self.cursor() > 0

    def can_redo(self) -> bool:
        return self.cursor() < self.count()

    def undo(self) -> str | None:
        return self._move(max(0, self.cursor() - 1))

    def redo(self) -> str | None:
        return self._move(min(self.count(), self.cursor() + 1))

    def reset(self) -> None:
        """Back to the machine's version, as a new state: undo brings the edits back, and no
        later edit can drop them."""
        if self.current() is not None:
            self.push(_MACHINE, note="reset to the analysis")

    def notes(self) -> list[str]:
        with self._store._db() as db:
            rows = db.execute("SELECT note FROM edit_states WHERE track_hash=? AND options_key=? ORDER BY seq",
                              self._key()).fetchall()
        return [r[0] for r in rows]


def _stored_or_made(lookup, make, progress):
    """``lookup()`` when the store has it (reported as loaded), else ``make()``."""
    found = lookup()
    if found is not None:
        if progress:
            progress(1.0, "Loaded from the store")
        return found
    return make()


def _render_title(result) -> str:
    names = " > ".join(r.descriptor for r in result.regions)
    return f"{names} (seed {result.seed})"
