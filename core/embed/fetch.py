"""Unpack the musicnn checkpoints from the ``musicnn`` wheel (set-up step).

``make weights`` runs ``pip download --no-deps musicnn==0.1.0`` and then
``python -m core.embed.fetch WHEEL DEST`` (DEST is usually ``weights/musicnn``). The wheel is only
read as a zip file: the package (which pins TensorFlow 1.x) is never installed. Inside the wheel a
model's checkpoint is ``musicnn/<model>/.index`` and ``.data-00000-of-00001`` (an empty prefix);
they are written as ``DEST/<model>/model.index`` and ``model.data-00000-of-00001``, with the
model's ``config.json``.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from core.embed.weights import MODELS, EmbeddingError
from core.io import atomic_write

#: wheel member (after ``musicnn/<model>/``) -> file name written in ``DEST/<model>/``.
_MEMBERS = {".index": "model.index", ".data-00000-of-00001": "model.data-00000-of-00001", "config.json": "config.json"}


def unpack_musicnn_checkpoints(wheel: Path, dest: Path, *, models=MODELS) -> list[Path]:
    """Copy each model's checkpoint out of the wheel into ``dest/<model>/``; returns the paths written."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            wanted = [(f"musicnn/{m}/{inside}", Path(dest) / m / out) for m in models for inside, out in _MEMBERS.items()]
            missing = [member for member, _ in wanted if member not in names]
            if missing:
                raise EmbeddingError(f"{wheel} does not contain the musicnn checkpoints ({', '.join(missing)}). "
                                     "Download musicnn 0.1.0 again (`pip download --no-deps musicnn==0.1.0`).")
            for member, path in wanted:
                atomic_write(path, zf.read(member))
            return [path for _, path in wanted]
    except (OSError, zipfile.BadZipFile) as exc:
        raise EmbeddingError(f"{wheel} is not a readable wheel ({exc}). Download it again.") from None


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m core.embed.fetch WHEEL DEST", file=sys.stderr)
        return 2
    try:
        for p in unpack_musicnn_checkpoints(Path(args[0]), Path(args[1])):
            print(f"wrote {p}")
    except EmbeddingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
