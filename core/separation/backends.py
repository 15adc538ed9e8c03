"""The separation models behind one contract: a registry of backends.

A :class:`Backend` says what a model is (its name, the stems it writes, where its weights
live under the weights folder, two cheap file checks) and names the module that runs it.
That module is imported on first use (it pulls in torch, which the pages and the CLI should
not pay for at start-up) and defines two functions:

``load_network(model: str, folder: Path) -> network``
    The network from the weight files in ``folder``; raises ``SeparationError`` with advice
    when they are missing or damaged.
``separate_network(network, mix, *, options, progress=None) -> {stem: samples}``
    ``mix`` is float32 ``(n, 2)`` at 44.1 kHz; ``options`` a ``SeparationOptions``; each stem
    comes back as float32 ``(n, 2)`` at 44.1 kHz.

A new model is one such module and one line in :data:`BACKENDS`.

Loaded networks are kept per process (:func:`load_network`), keyed by the model, the weights
folder and the content fingerprint of its weight files: a second separation does not read
the weights again, and new weights are loaded as soon as they are in place.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from core.cachekey import named_files_fingerprint
from core.separation.demucs_backend import local_weights_present


def _files_in(folder: Path, *, suffixes: tuple[str, ...] = (), prefix: str = "") -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.name.startswith(prefix) and (not suffixes or p.suffix in suffixes))


def _every_file(folder: Path) -> list[Path]:
    return _files_in(folder)


def _spleeter_files(folder: Path) -> list[Path]:
    return _files_in(folder, prefix="model.")


def _demucs_files(folder: Path) -> list[Path]:
    return _files_in(folder, suffixes=(".th", ".yaml"))


def _spleeter_missing(name: str, folder: Path) -> str:
    return "" if (folder / "model.index").is_file() else f"checkpoint missing in {folder} (run make weights)"


def _demucs_missing(name: str, folder: Path) -> str:
    return "" if local_weights_present(name, folder) else (
        f"no weights in {folder} (downloads on first use where there is internet)")


def _any_file_missing(name: str, folder: Path) -> str:
    return "" if _every_file(folder) else f"no weights in {folder}"


@dataclass(frozen=True, kw_only=True)
class Backend:
    """One separation model.

    name : the model's name (``SeparationOptions.model``).
    stems : the stem names it writes, in order.
    runtime : dotted name of the module with ``load_network`` and ``separate_network``.
    weights_subdir : its folder under the weights folder (``spleeter/2stems``, ``demucs``).
    weight_files : folder -> the files it loads (their fingerprint keys the cached stems and
        the loaded network). Default: every file in the folder.
    missing : (name, folder) -> "" when its weights are here, else why not (files only: cheap).
    remainder : a stem made as the track minus the other stems, at the track's own rate, so the
        stems add back up exactly (Spleeter's accompaniment); None keeps what the model gives.
    libraries : distributions whose versions the stems depend on (part of the cache key).
    family : the kind of model in words (``Demucs``), for messages; default the name.
    """

    name: str
    stems: tuple[str, ...]
    runtime: str
    weights_subdir: str
    weight_files: Callable[[Path], list[Path]] = _every_file
    missing: Callable[[str, Path], str] = _any_file_missing
    remainder: str | None = None
    libraries: tuple[str, ...] = ("torch", "soxr")
    family: str = ""

    def folder(self, weights_dir: str | Path) -> Path:
        """Where this model's weights are under ``weights_dir``."""
        return Path(weights_dir) / self.weights_subdir

    def runtime_module(self):
        """The module that runs the model (imported now if it was not yet)."""
        return importlib.import_module(self.runtime)


def _demucs(name: str, stems: tuple[str, ...]) -> Backend:
    return Backend(name=name, stems=stems, runtime="core.separation.demucs_backend", weights_subdir="demucs",
                   weight_files=_demucs_files, missing=_demucs_missing, libraries=("torch", "soxr", "demucs"), family="Demucs")


_FOUR = ("drums", "bass", "other", "vocals")

#: Separation models by name; the first is the default.
BACKENDS: dict[str, Backend] = {
    "spleeter-2stems": Backend(name="spleeter-2stems", stems=("vocals", "accompaniment"), runtime="core.separation.spleeter",
                               weights_subdir="spleeter/2stems", weight_files=_spleeter_files,
                               missing=_spleeter_missing, remainder="accompaniment", family="Spleeter"),
    "htdemucs": _demucs("htdemucs", _FOUR),
    "htdemucs_6s": _demucs("htdemucs_6s", _FOUR + ("guitar", "piano")),
    "htdemucs_ft": _demucs("htdemucs_ft", _FOUR),
}

_LOADING = threading.Lock()  # one load at a time: two pages asking at once share one network


@lru_cache(maxsize=3)
def _cached_network(runtime: str, model: str, folder: str, fingerprint: str):
    return importlib.import_module(runtime).load_network(model, Path(folder))


def load_network(backend: Backend, weights_dir: str | Path):
    """The loaded network of ``backend`` from ``weights_dir``, read once per process.

    Keyed by the model, the resolved weights folder and the content fingerprint of its weight
    files (``core.cachekey.named_files_fingerprint``, itself re-read only when a file's size or
    mtime changes). A failed load is not kept: the next call tries again.
    """
    folder = backend.folder(weights_dir)
    fingerprint = named_files_fingerprint(backend.weight_files(folder))
    with _LOADING:
        return _cached_network(backend.runtime, backend.name, str(folder.resolve()), fingerprint)


def forget_loaded_networks() -> None:
    """Drop the loaded networks (frees their memory; the next separation loads again)."""
    _cached_network.cache_clear()
