"""What the single-track commands share: a file read as a track, kept in the store when there is one."""

from __future__ import annotations

from pathlib import Path

from core.audio.load import AUDIO_TYPES, Track, load_track, read_audio_file
from core.store.store import Store, max_duration_s


def open_track(path: Path, *, data_dir=None, no_store: bool = False) -> tuple[Track, Store | None]:
    """The track of an audio file and the store it was added to (None with ``no_store``: the
    file is only decoded). Unreadable or non-audio files raise the loader's StudioError."""
    data = read_audio_file(path)
    if no_store:
        return load_track(data, name=path.stem, max_duration_s=max_duration_s()), None
    store = Store(data_dir)
    suffix = path.suffix if path.suffix.lower().lstrip(".") in AUDIO_TYPES else ""
    return store.add_track(data, name=path.stem, suffix=suffix), store
