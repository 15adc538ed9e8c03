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
from pathlib import Path

from core.embed.weights import MODELS, EmbeddingError
from core.wheels import fetch_main, unpack_members

#: wheel member (after ``musicnn/<model>/``) -> file name written in ``DEST/<model>/``.
_MEMBERS = {".index": "model.index", ".data-00000-of-00001": "model.data-00000-of-00001", "config.json": "config.json"}


def unpack_musicnn_checkpoints(wheel: Path, dest: Path, *, models=MODELS) -> list[Path]:
    """Copy each model's checkpoint out of the wheel into ``dest/<model>/``; returns the paths written."""
    wanted = [(f"musicnn/{m}/{inside}", Path(dest) / m / out) for m in models for inside, out in _MEMBERS.items()]
    return unpack_members(wheel, wanted, error=EmbeddingError, what="the musicnn checkpoints",
                          again="Download musicnn 0.1.0 again (`pip download --no-deps musicnn==0.1.0`).")


def main(argv=None) -> int:
    return fetch_main(argv, module="core.embed.fetch", unpack=unpack_musicnn_checkpoints, error=EmbeddingError)


if __name__ == "__main__":
    sys.exit(main())
