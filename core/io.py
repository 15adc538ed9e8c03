"""Writing files safely: readers see the old file or the whole new one, never half."""

from __future__ import annotations

import json
import os
import stat
import tempfile
import time
from pathlib import Path

import jsonschema

from core.errors import StoreError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once at import (os.umask is process-wide: reading it later could race other threads).
_UMASK = _current_umask()


#: A temporary file of :func:`atomic_write` older than this (seconds) was left by a killed writer.
STALE_TEMP_S = 3600.0


def is_temp_name(name: str) -> bool:
    """Whether ``name`` has the shape of :func:`atomic_write`'s temporary files (``.NAME.XXXX.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3


def sweep_stale_temps(root: Path, *, older_than_s: float = STALE_TEMP_S) -> list[Path]:
    """Delete :func:`atomic_write` temporaries under ``root`` last written over ``older_than_s`` ago.

    A process killed mid-write (kill -9, power loss) leaves its temporary file behind. Younger
    ones are kept: they may belong to a write still running in another process. Returns the
    paths removed; files that vanish or cannot be removed meanwhile are skipped.
    """
    cutoff = time.time() - older_than_s
    removed: list[Path] = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if not is_temp_name(name):
                continue
            path = Path(folder) / name
            try:
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                continue  # another process swept or renamed it first
            except OSError as exc:
                raise StoreError(f"Cannot remove the leftover file {path}: {exc.strerror or exc}.") from None
    return removed


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise StoreError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp creates 0600; a user's output file gets normal permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise StoreError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_checked_json(path: Path, *, schema: dict, error: type, what: str):
    """A JSON data file checked against a JSON schema; ``error`` (a StudioError class) with
    ``what`` and the first line of the problem when it is missing, not JSON or does not fit."""
    try:
        raw = json.loads(Path(path).read_text())
        jsonschema.validate(raw, schema)
    except (OSError, ValueError, jsonschema.ValidationError) as exc:
        raise error(f"{what} in {Path(path).name} cannot be used ({str(exc).splitlines()[0][:200]}).") from None
    return raw
