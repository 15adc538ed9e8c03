"""Fingerprints of the data files a result depends on, for cache keys and `versions`.

A cached analysis or render is reused only while the code version AND the data it was made
from (key profiles, catalog, grooves, instrument levels, soundfont) are unchanged.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=32)
def _file_hash(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def file_fingerprint(path: str | os.PathLike) -> str:
    """Short content hash of a file (recomputed only when its size or mtime changes)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return "missing"
    return _file_hash(str(p.resolve()), st.st_mtime_ns, st.st_size)


def fingerprint(*paths: str | os.PathLike) -> str:
    """One hash over several files."""
    return hashlib.sha256("|".join(file_fingerprint(p) for p in paths).encode()).hexdigest()[:16]
