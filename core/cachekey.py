"""One cache-key scheme for every stored result.

A key is a hash of the inputs' own keys: a stage name and its version, then parts such as a
track's content hash, options (as canonical JSON), the data files' content fingerprint, the
model weights' content fingerprint and the versions of the libraries whose numbers the
result depends on. Change any input and the key changes; equal inputs give equal keys.

File fingerprints hash the files' CONTENT (sha256), cached per (path, size, mtime) so a
file is read once per process until it changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, is_dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

MISSING = "missing"


def canonical_json(obj) -> str:
    """``obj`` as JSON with sorted keys (dataclasses as dicts; anything else JSON cannot say as ``str``)."""
    return json.dumps(obj, sort_keys=True, default=_plain)


def _plain(obj):
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return str(obj)


def digest(obj, *, length: int = 32) -> str:
    """The first ``length`` hex digits of the sha256 of ``obj``'s canonical JSON."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def stage_key(stage: str, version: int | str, *parts, length: int = 32) -> str:
    """The key of one stage's result: its name, its version and its inputs' keys, in order."""
    return digest({"stage": stage, "version": str(version), "parts": list(parts)}, length=length)


@lru_cache(maxsize=256)
def _content_hash(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_fingerprint(path: str | os.PathLike) -> str:
    """Short content hash of a file ("missing" when there is none), re-read only when its
    size or mtime changes."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return MISSING
    return _content_hash(str(p.resolve()), st.st_mtime_ns, st.st_size)[:16]


def fingerprint(*paths: str | os.PathLike) -> str:
    """One content hash over several files (in the order given)."""
    return hashlib.sha256("|".join(file_fingerprint(p) for p in paths).encode()).hexdigest()[:16]


def named_files_fingerprint(paths) -> str:
    """One content hash over a set of files by name (a renamed, added or removed file
    changes it; the order given does not)."""
    return digest(sorted((Path(p).name, file_fingerprint(p)) for p in paths), length=16)


def library_versions(*names: str) -> dict[str, str]:
    """The installed version of each distribution ("missing" when it is not installed)."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = MISSING
    return out
