"""Where the musicnn checkpoints live, and the error when they are missing or damaged.

The checkpoints are unpacked from the ``musicnn==0.1.0`` wheel by ``make weights``
(``python -m core.embed.fetch WHEEL weights/musicnn``) into one folder per model, each holding
``model.index`` and ``model.data-00000-of-00001``.
"""

from __future__ import annotations

from pathlib import Path

from core.cachekey import named_files_fingerprint
from core.errors import StudioError
from core.separation import default_weights_dir

#: The models this studio can load (the wheel also ships MSD_vgg / MTT_vgg, not ported).
MODELS = ("MTT_musicnn", "MSD_musicnn")
DEFAULT_MODEL = MODELS[0]
#: Bumped whenever the tags or embedding computed from the same audio and weights would change.
EMBED_VERSION = 1
#: The checkpoint files each model folder must hold.
CHECKPOINT_FILES = ("model.index", "model.data-00000-of-00001")


class EmbeddingError(StudioError):
    """The embedding network could not run (weights missing or damaged, unknown model)."""


def musicnn_folder(model: str, *, weights_dir: str | Path | None = None) -> Path:
    """``<weights_dir>/musicnn/<model>`` (``weights_dir`` defaults to ``$STUDIO_WEIGHTS_DIR`` or ``weights/``)."""
    base = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    return base / "musicnn" / model


def missing_weights(folder: Path, what: str) -> EmbeddingError:
    """The plain message for absent or unusable musicnn weights: what is wrong and how to get them."""
    return EmbeddingError(
        f"The musicnn tagging model in {folder} is not usable: {what}. "
        "Run `make weights` (it downloads the musicnn 0.1.0 wheel and unpacks its checkpoints), "
        f"or run `python -m core.embed.fetch musicnn-0.1.0-py3-none-any.whl {folder.parent}`."
    )


def weights_present(model: str, *, weights_dir: str | Path | None = None) -> bool:
    """True when every checkpoint file of ``model`` is on disk."""
    folder = musicnn_folder(model, weights_dir=weights_dir)
    return all((folder / name).is_file() for name in CHECKPOINT_FILES)


def weights_fingerprint(model: str, *, weights_dir: str | Path | None = None) -> str:
    """Content hash of ``model``'s checkpoint files, for cache keys: new weights never serve stale tags."""
    folder = musicnn_folder(model, weights_dir=weights_dir)
    return named_files_fingerprint([folder / name for name in CHECKPOINT_FILES])
