"""Stored results: analyses, renders, separations, descriptions and JSON tables.

The store only keeps bytes and rows. Each result's codec lives beside its dataclass
(``analysis_to_bytes``/``analysis_from_bytes``, ``Render.to_files``/``Render.from_files``,
``Stems.to_files``/``Stems.from_files``); a stored result that cannot be read back is
logged and reported missing, so the stage computes it again.
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
from pathlib import Path

from core.analysis.analyze import Analysis, AnalysisOptions, analysis_from_bytes, analysis_to_bytes
from core.generate.render import Render, options_dict, render_key
from core.io import atomic_write
from core.separation import Stems
from core.store.db import Database

log = logging.getLogger(__name__)


class ArtifactStore(Database):
    """``analyses/``, ``renders/``, ``separations/``, ``descriptions/`` and JSON results."""

    def _read(self, rel: str | Path) -> bytes | None:
        path = self.root / rel
        return path.read_bytes() if path.is_file() else None

    # ---------------------------------------------------------------- analyses
    def get_analysis(self, digest: str, options: AnalysisOptions) -> Analysis | None:
        with self._db() as db:
            row = db.execute(
                "SELECT file FROM analyses WHERE track_hash=? AND options_key=?", (digest, options.cache_key())
            ).fetchone()
        if row is None:
            return None
        try:
            data = self._read(row[0])
            return None if data is None else analysis_from_bytes(data)
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

    # ----------------------------------------------------------------- renders
    def put_render(self, result: Render, *, options=None, title: str = "", key: str | None = None) -> str:
        """Keep a render (its key: ``render_key`` of its timeline, seed, ``options`` and sample
        rate, unless given) and return the key."""
        key = key or render_key(result.timeline, seed=result.seed, options=options, sample_rate=result.sample_rate)
        audio, midi, meta = result.to_files()
        timeline_json, seed = meta.pop("timeline"), meta.pop("seed")
        audio_rel, midi_rel = Path("renders") / f"{key}.flac", Path("renders") / f"{key}.mid"
        atomic_write(self.root / audio_rel, audio)
        atomic_write(self.root / midi_rel, midi)
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO renders VALUES (?,?,?,?,?,?,?,?,?)",
                (key, title or result.title, timeline_json, seed, json.dumps(options_dict(options)), str(audio_rel),
                 str(midi_rel), json.dumps(meta), time.time()),
            )
        return key

    def get_render(self, key: str) -> Render | None:
        with self._db() as db:
            row = db.execute(
                "SELECT timeline_json, seed, audio_file, midi_file, meta_json FROM renders WHERE render_key=?", (key,)
            ).fetchone()
        if row is None:
            return None
        try:
            audio, midi = self._read(row[2]), self._read(row[3])
            if audio is None or midi is None:
                return None
            return Render.from_files(audio, midi, {**json.loads(row[4]), "timeline": row[0], "seed": row[1]})
        except (OSError, ValueError, TypeError) as exc:
            log.warning("Stored render %s is unreadable (%s): it will be rendered again.", key, exc)
            return None

    def render_options(self, key: str) -> dict | None:
        """The options a stored render was made with (``options_json`` beside it), or None."""
        with self._db() as db:
            row = db.execute("SELECT options_json FROM renders WHERE render_key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def list_renders(self, *, limit: int = 50) -> list[dict]:
        with self._db() as db:
            rows = db.execute(
                "SELECT render_key, title, seed, created_at FROM renders ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [dict(zip(("render_key", "title", "seed", "created_at"), r)) for r in rows]

    # ------------------------------------------------------------- separations
    def put_separation(self, key: str, stems: Stems, *, options) -> None:
        """Keep stems under ``key`` (``core.separation.separation_key``) with their options."""
        files, meta = stems.to_files()
        rels = {}
        for filename, data in files.items():
            rel = Path("separations") / key / filename
            atomic_write(self.root / rel, data)
            rels[Path(filename).stem] = str(rel)
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO separations VALUES (?,?,?,?,?,?,?)",
                (key, stems.track_hash, stems.model, json.dumps(options.as_dict()), json.dumps(rels),
                 json.dumps(meta), time.time()),
            )

    def get_separation(self, key: str) -> Stems | None:
        with self._db() as db:
            row = db.execute(
                "SELECT track_hash, model, files_json, meta_json FROM separations WHERE separation_key=?", (key,)
            ).fetchone()
        if row is None:
            return None
        try:
            files = {Path(rel).name: (self.root / rel).read_bytes() for rel in json.loads(row[2]).values()}
            return Stems.from_files(files, json.loads(row[3]), model=row[1], track_hash=row[0])
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("Stored separation %s is unreadable (%s): it will be separated again.", key, exc)
            return None

    def list_separations(self, track_hash: str) -> list[dict]:
        with self._db() as db:
            rows = db.execute(
                "SELECT separation_key, model, created_at FROM separations WHERE track_hash=? ORDER BY created_at DESC",
                (track_hash,),
            ).fetchall()
        return [dict(zip(("separation_key", "model", "created_at"), r)) for r in rows]

    # ------------------------------------------------------------ descriptions
    def put_description(self, track_hash: str, key: str, data: bytes) -> None:
        """Keep a description's bytes (made by its caller) under the track and its complete key."""
        rel = Path("descriptions") / f"{track_hash}_{key}.bin"
        atomic_write(self.root / rel, data)
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO descriptions VALUES (?,?,?,?)", (track_hash, key, str(rel), time.time()))

    def get_description(self, track_hash: str, key: str) -> bytes | None:
        """The bytes given to ``put_description``, or None."""
        with self._db() as db:
            row = db.execute("SELECT file FROM descriptions WHERE track_hash=? AND key=?", (track_hash, key)).fetchone()
        return None if row is None else self._read(row[0])

    # ---------------------------------------------------------- JSON results
    def put_json(self, kind: str, key: str, obj) -> None:
        """A JSON result under ``<kind>/<key>.json`` (e.g. the loop's tables), written atomically."""
        atomic_write(self.root / kind / f"{key}.json", json.dumps(obj).encode())

    def get_json(self, kind: str, key: str):
        """The JSON stored by ``put_json``, or None (missing or unreadable: recomputed by the caller)."""
        path = self.root / kind / f"{key}.json"
        try:
            return json.loads(path.read_text()) if path.is_file() else None
        except (OSError, ValueError) as exc:
            log.warning("Stored result %s is unreadable (%s): it will be computed again.", path, exc)
            return None
