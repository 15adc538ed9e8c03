"""The studio's store: one SQLite file plus content-addressed files in a data directory.

Layout of ``STUDIO_DATA_DIR`` (default ``~/.local/share/music-studio``)::

    studio.sqlite3               the tables (schema version in PRAGMA user_version, core.store.db)
    audio/ab/abcdef....wav       original uploads, named by content hash
    analyses/abcdef..._opts.npz  serialised analyses, keyed by track hash + options
    renders/KEY.flac, KEY.mid    renders, keyed by timeline + seed + options + data + versions
    separations/KEY/vocals.flac  stems, keyed by track hash + model + options + weights
    descriptions/HASH_KEY.bin    descriptions (predictions), keyed by their complete key
    loops/KEY.json               JSON results (put_json / get_json)

Files are written to a temporary name and renamed into place (atomic on POSIX; temporaries a
killed writer left are swept when a store opens); database
writes run in transactions. The store persists and looks up; it computes nothing: the
stages take it (``analyze(track, store=store)``, ``render(timeline, store=store)``,
``separate(track, store=store)``), so a second look at the same content is a lookup.

``Store`` is the union of the repositories: :class:`~core.store.tracks.TrackStore`,
:class:`~core.store.artifacts.ArtifactStore`, :class:`~core.store.history.HistoryStore` and
:class:`~core.store.timings.TimingStore` (how long the stages took here) and
:class:`~core.store.projects.ProjectStore` (projects: named groups of tracks).
"""

from __future__ import annotations

import os

from core.io import sweep_stale_temps
from core.store.artifacts import ArtifactStore
from core.store.db import ENV_DATA_DIR, ENV_MAX_DURATION, SCHEMA_VERSION, default_data_dir, max_duration_s
from core.store.history import EditHistory, HistoryStore
from core.store.projects import ProjectStore
from core.store.timings import TimingStore
from core.store.tracks import TrackStore

__all__ = ["ENV_DATA_DIR", "ENV_MAX_DURATION", "SCHEMA_VERSION", "EditHistory", "Store", "default_data_dir",
           "max_duration_s"]


class Store(TrackStore, ArtifactStore, HistoryStore, TimingStore, ProjectStore):
    """Tracks, results and histories by content hash, in ``root`` (see module docstring).

    Opening a store sweeps the temporary files a killed write left (older than an hour:
    ``core.io.sweep_stale_temps``).
    """

    def __init__(self, root: str | os.PathLike | None = None):
        super().__init__(root)
        sweep_stale_temps(self.root)
