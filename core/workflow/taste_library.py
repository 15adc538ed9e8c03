"""A library to profile (:mod:`core.workflow.taste`): audio files, folders walked for them, zips.

Nothing here decodes audio or writes a file: an item is a name to show and a way to read its
bytes (or the content hash of a track already in the store). A zip is read in memory, entry by
entry: entry names only label the rows (made safe: no path, control character or hidden name
survives), every entry is bounded by the studio's file-size limit (``STUDIO_MAX_FILE_MB``,
:func:`core.audio.load.max_file_bytes`) and the whole zip by :data:`ZIP_TOTAL_FILES` times it, a
zip holds at most :data:`MAX_ZIP_ENTRIES` entries, and what is not audio (a text file, a picture,
a zip in the zip) is listed as ignored, never read.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.audio.load import AUDIO_TYPES, max_file_bytes, read_audio_file, safe_track_name
from core.errors import AudioError

#: At most this many entries of one zip are looked at (the rest are listed as ignored).
MAX_ZIP_ENTRIES = 2000
#: A zip unpacks to at most this many times the single-file limit, in all.
ZIP_TOTAL_FILES = 4
#: Folders and zip entries the operating system leaves behind (never audio, never listed).
_JUNK_PARTS = ("__MACOSX",)


@dataclass(frozen=True)
class LibraryItem:
    """One track of a library: ``name`` to show (a file name or ``archive.zip/entry.wav``) and
    either ``read`` (its bytes; an AudioError when it cannot be read) or ``content_hash`` (a
    track already in the store)."""

    name: str
    read: Callable[[], bytes] | None = None
    content_hash: str | None = None

    @property
    def suffix(self) -> str:
        """The name's audio extension (``".wav"``), or "" when it has none (the content decides)."""
        ext = PurePosixPath(self.name).suffix.lower()
        return ext if ext.lstrip(".") in AUDIO_TYPES else ""

    @property
    def stem(self) -> str:
        """The name without folders and extension, safe as a track name."""
        return safe_track_name(PurePosixPath(self.name).stem)


@dataclass(frozen=True)
class Skipped:
    """A file of the library that was not profiled, and why (one sentence for a musician)."""

    file: str
    reason: str


@dataclass(frozen=True)
class Library:
    """What a set of inputs holds: the items to profile (in order) and what was ignored (not
    audio, or over a zip's limits), each with its reason."""

    items: tuple[LibraryItem, ...]
    ignored: tuple[Skipped, ...] = ()


def is_audio_name(name: str) -> bool:
    """An audio file by its name (``AUDIO_TYPES``), not hidden."""
    base = PurePosixPath(name).name
    return not base.startswith(".") and "." in base and base.rsplit(".", 1)[-1].lower() in AUDIO_TYPES


def _is_zip_name(name: str) -> bool:
    return PurePosixPath(name).name.lower().endswith(".zip") and not PurePosixPath(name).name.startswith(".")


def safe_entry_name(raw: str) -> str:
    """A zip entry's path as a label: each folder and the file name made safe (no ``..``, no
    absolute path, no control characters), joined with ``/``; at most the last three parts."""
    parts = [p for p in str(raw).replace("\\", "/").split("/") if p.strip(" .")]
    return "/".join(safe_track_name(p, max_bytes=120) for p in parts[-3:]) or "track"


def _path_item(path: Path, *, shown: str) -> LibraryItem:
    return LibraryItem(name=shown, read=lambda: read_audio_file(path))


def _walk(folder: Path) -> list[Path]:
    """Audio files and zips under ``folder`` (sorted; hidden folders and links to folders skipped)."""
    found = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _JUNK_PARTS)
        found += [Path(here) / f for f in sorted(files) if is_audio_name(f) or _is_zip_name(f)]
    return found


def library_from_paths(paths) -> Library:
    """Files as given (the content decides whether they are audio), folders walked for audio
    files and zips, zips opened (:func:`library_from_zip`)."""
    items: list[LibraryItem] = []
    ignored: list[Skipped] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files = [(f, str(Path(path.name) / f.relative_to(path))) for f in _walk(path)]
        else:
            files = [(path, path.name)]
        for file, shown in files:
            if _is_zip_name(file.name) and file.is_file():
                part = _zip_from_path(file, shown=shown)
                items += part.items
                ignored += part.ignored
            else:
                items.append(_path_item(file, shown=shown))
    return Library(items=tuple(items), ignored=tuple(ignored))


def _zip_from_path(path: Path, *, shown: str) -> Library:
    try:
        return library_from_zip(read_audio_file(path), name=shown)
    except AudioError as exc:  # unreadable or over the file-size limit: the whole zip is one ignored line
        return Library(items=(), ignored=(Skipped(shown, str(exc)),))


def _entry_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, label: str, limit: int):
    def read() -> bytes:
        try:
            with archive.open(info) as fh:
                data = fh.read(limit + 1)
        except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
            raise AudioError(f"this entry of the zip cannot be unpacked ({exc}); zip it again.") from None
        if len(data) > limit:
            raise AudioError(f"it unpacks to more than {limit >> 20} MB, the most the studio reads in one file.")
        return data

    return read


def library_from_zip(data: bytes, *, name: str = "upload.zip") -> Library:
    """The audio entries of a zip (in its order), each read only when profiled; other entries
    are ignored with a reason. A file that is not a zip is an AudioError."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise AudioError(f"'{safe_entry_name(name)}' is not a zip file that can be opened: zip the tracks again "
                         "(or give the folder).") from None
    limit, budget = max_file_bytes(), ZIP_TOTAL_FILES * max_file_bytes()
    items, ignored = [], []
    entries = [i for i in archive.infolist() if not i.is_dir()]
    for n, info in enumerate(entries):
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        label = f"{safe_entry_name(name)}/{safe_entry_name(info.filename)}"
        if any(p in _JUNK_PARTS for p in parts) or (parts and parts[-1].startswith(".")):
            continue  # the operating system's own files (__MACOSX, ._x.wav, .DS_Store)
        why = _entry_refusal(info, n=n, limit=limit, budget=budget)
        if why:
            ignored.append(Skipped(label, why))
            continue
        budget -= info.file_size
        items.append(LibraryItem(name=label, read=_entry_reader(archive, info, label=label, limit=limit)))
    return Library(items=tuple(items), ignored=tuple(ignored))


def _entry_refusal(info: zipfile.ZipInfo, *, n: int, limit: int, budget: int) -> str:
    """Why a zip entry is not read ("" when it is read)."""
    if n >= MAX_ZIP_ENTRIES:
        return f"the zip holds more than {MAX_ZIP_ENTRIES} files; only the first {MAX_ZIP_ENTRIES} are looked at."
    if _is_zip_name(info.filename):
        return "a zip inside the zip: unzip it and give its tracks."
    if not is_audio_name(info.filename):
        return "not an audio file (WAV, FLAC, OGG, MP3, AIFF)."
    if info.file_size > limit:
        return f"it unpacks to {info.file_size >> 20} MB; the studio reads files up to {limit >> 20} MB."
    if info.file_size > budget:
        return f"the zip unpacks to more than {ZIP_TOTAL_FILES * limit >> 20} MB in all: split it."
    return ""


def library_from_uploads(uploads) -> Library:
    """``(file name, bytes)`` pairs as a page receives them: audio files as they are, zips opened
    (:func:`library_from_zip`; a zip that cannot be opened is ignored with its reason)."""
    items: list[LibraryItem] = []
    ignored: list[Skipped] = []
    for name, data in uploads:
        if _is_zip_name(name):
            try:
                part = library_from_zip(data, name=name)
            except AudioError as exc:
                ignored.append(Skipped(safe_entry_name(name), str(exc)))
                continue
            items += part.items
            ignored += part.ignored
        else:
            items.append(LibraryItem(name=safe_entry_name(name), read=lambda d=data: d))
    return Library(items=tuple(items), ignored=tuple(ignored))


def library_from_store(rows) -> Library:
    """Stored tracks (``store.list_tracks()`` rows: ``content_hash`` and ``name``)."""
    return Library(items=tuple(LibraryItem(name=str(r["name"]), content_hash=str(r["content_hash"])) for r in rows))
