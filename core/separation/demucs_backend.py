"""Demucs v4 (Hybrid Transformer Demucs) through its Python API.

Weights come from a local folder first (``weights/demucs`` or ``$STUDIO_WEIGHTS_DIR/demucs``):

* a single model file ``<name>.th`` (a ``{klass, args, kwargs, state}`` package, the format
  ``demucs.states.load_model`` reads), or
* the published files of a bag: ``htdemucs`` is ``955717e8-8726e21a.th`` and the bag
  description ``htdemucs.yaml`` (the yaml is optional: the ones packaged with demucs are used
  when it is missing).

Every weight file is read with ``torch.load(weights_only=True)`` allowing only the Demucs model
classes and ``fractions.Fraction`` (HTDemucs keeps its training segment as one): unpickling a
weight file cannot run code, whatever its name. Published packages also hold ``training_args``,
which ``demucs.states.serialize_model`` stores as plain containers (``OmegaConf.to_container``),
so no omegaconf class is needed; it is dropped before the model is built.

Checksums, on top of that: a file whose name claims a published signature (``955717e8.th``,
``955717e8-<anything>.th``) must have the checksum Demucs publishes for it (the one in its
download URL, from the ``remote/files.txt`` packaged with demucs), not the one in its own name;
any other ``<name>-<checksum>.th`` must match the checksum in its name (damage, not trust).

Without local weights, the published files are downloaded into the weights folder when the
download server can be reached (each checked against its published checksum, then loaded as
above); offline, a ``SeparationError`` says which files to fetch and where to put them.
"""

from __future__ import annotations

import fractions
import hashlib
import logging
import os
import pickle
import random
import socket
from pathlib import Path

import numpy as np

from core.errors import OptionError, SeparationError

log = logging.getLogger(__name__)

_DOWNLOAD_HOSTS = (("dl.fbaipublicfiles.com", 443), ("huggingface.co", 443))
#: Set to 1 to never try a download (air-gapped machines, tests).
ENV_OFFLINE = "STUDIO_OFFLINE"


def _remote_root() -> Path:
    from demucs.pretrained import REMOTE_ROOT

    return Path(REMOTE_ROOT)


def published_files(name: str) -> list[tuple[str, str]]:
    """(file name, URL) of the weight files that make up a published Demucs model."""
    import yaml
    from demucs.pretrained import _parse_remote_files

    remote = _parse_remote_files(_remote_root() / "files.txt")
    bag = _remote_root() / f"{name}.yaml"
    sigs = yaml.safe_load(bag.read_text())["models"] if bag.is_file() else [name]
    out = []
    for sig in sigs:
        url = remote.get(sig)
        if url:
            out.append((url.rsplit("/", 1)[-1], url))
    return out


def _missing_message(name: str, folder: Path, reason: str) -> str:
    files = published_files(name)
    listing = "; ".join(f"{fname} ({url})" for fname, url in files) or f"{name}.th"
    return (
        f"The Demucs model {name!r} is not available: {reason}. On a machine with internet, download "
        f"{listing}, and put the file(s) in {folder} (or set STUDIO_WEIGHTS_DIR to a folder whose "
        f"'demucs' subfolder holds them). The 2-stem model 'spleeter-2stems' works offline."
    )


def local_weights_present(name: str, folder: Path) -> bool:
    """Whether ``folder`` holds ``name``.th or every weight file of the published bag ``name``."""
    if not folder.is_dir():
        return False
    stems = {p.stem.rsplit("-", 1)[0] if "-" in p.stem else p.stem for p in folder.glob("*.th")}
    if name in stems:
        return True
    import yaml

    bag = folder / f"{name}.yaml" if (folder / f"{name}.yaml").is_file() else _remote_root() / f"{name}.yaml"
    if not bag.is_file():
        return False
    sigs = yaml.safe_load(bag.read_text())["models"]
    return all(s in stems for s in sigs)


def _can_download(timeout_s: float = 2.0) -> bool:
    for host, port in _DOWNLOAD_HOSTS:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


def _weight_files(folder: Path) -> dict[str, Path]:
    """Signature (or model name) -> .th file in ``folder`` (``sig-checksum.th`` or ``name.th``)."""
    files = {}
    for path in sorted(folder.glob("*.th")):
        sig = path.stem.rsplit("-", 1)[0] if "-" in path.stem else path.stem
        if sig in files:
            raise SeparationError(f"{folder} holds two weight files for {sig!r} ({files[sig].name}, {path.name}); "
                                  f"keep one.")
        files[sig] = path
    return files


def published_checksums() -> dict[str, str]:
    """Signature -> the sha256 prefix Demucs publishes for it (the checksum in its download URL)."""
    from demucs.pretrained import _parse_remote_files

    remote = _parse_remote_files(_remote_root() / "files.txt")
    return {sig: url.rsplit("/", 1)[-1].rsplit(".", 1)[0].rsplit("-", 1)[-1] for sig, url in remote.items()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_checksum(path: Path) -> None:
    """A published signature must have its published checksum; ``name-checksum.th`` its own."""
    sig, _, named = path.stem.rpartition("-") if "-" in path.stem else (path.stem, "", "")
    published = published_checksums().get(sig)
    actual = _sha256(path)
    if published is not None and not actual.startswith(published):
        raise SeparationError(
            f"{path} is named as the published Demucs weights {sig}, but its checksum ({actual[:8]}) does not match "
            f"the published one ({published}). Delete it and download {sig}-{published}.th again."
        )
    if published is None and named and not actual.startswith(named):
        raise SeparationError(f"{path} is damaged: its checksum ({actual[:len(named)]}) does not match the one in its "
                              f"name ({named}). Download or save it again.")


def _load_file(path: Path):
    """One Demucs model from a .th package, after :func:`_check_checksum`.

    Read with ``torch.load(weights_only=True)`` allowing only the Demucs model classes and
    ``Fraction``: a weight file cannot run code. Only klass/args/kwargs/state are kept.
    """
    import torch
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs
    from demucs.states import load_model

    _check_checksum(path)
    classes = (HTDemucs, HDemucs, Demucs)
    with torch.serialization.safe_globals([*classes, fractions.Fraction]):
        package = torch.load(path, map_location="cpu", weights_only=True)
    keys = ("klass", "args", "kwargs", "state")
    if not isinstance(package, dict) or any(k not in package for k in keys) or package["klass"] not in classes:
        raise SeparationError(f"{path} is not a Demucs model package (klass, args, kwargs, state). Download it again.")
    return load_model({k: package[k] for k in keys})


def _load_local(name: str, folder: Path):
    """The model from local files, or None when the folder holds none of its files."""
    import yaml
    from demucs.apply import BagOfModels

    files = _weight_files(folder)
    try:
        if name in files:
            model = _load_file(files[name])
        else:
            bag = folder / f"{name}.yaml" if (folder / f"{name}.yaml").is_file() else _remote_root() / f"{name}.yaml"
            if not bag.is_file():
                return None
            spec = yaml.safe_load(bag.read_text())
            sigs = spec["models"]
            absent = [s for s in sigs if s not in files]
            if len(absent) == len(sigs):
                return None
            if absent:
                raise SeparationError(_missing_message(
                    name, folder, f"{len(absent)} of its {len(sigs)} weight files are missing from {folder}"))
            model = BagOfModels([_load_file(files[s]) for s in sigs], spec.get("weights"), spec.get("segment"))
    except SeparationError:
        raise
    except (OSError, EOFError, RuntimeError, KeyError, TypeError, ValueError, AttributeError, ImportError,
            pickle.UnpicklingError) as exc:
        raise SeparationError(
            f"The Demucs weights for {name!r} in {folder} are damaged, not a Demucs model, or contain objects "
            f"that are not allowed in a weight file ({type(exc).__name__}: {str(exc)[:200]}). Download them again."
        ) from None
    model.eval()
    return model


def _download(name: str, folder: Path) -> None:
    """The published weight files of ``name`` into ``folder``, each checked against its published
    checksum while it is written (``torch.hub.download_url_to_file(hash_prefix=...)``)."""
    import torch

    files = published_files(name)
    if not files:
        raise SeparationError(_missing_message(name, folder, "Demucs publishes no weight files under that name"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for fname, url in files:
            if not (folder / fname).is_file():
                torch.hub.download_url_to_file(url, str(folder / fname), hash_prefix=Path(fname).stem.rsplit("-", 1)[-1],
                                               progress=False)
    except Exception as exc:  # noqa: BLE001 - any download failure becomes advice for the user
        raise SeparationError(_missing_message(name, folder, f"the download failed ({exc})")) from None


def load_demucs(name: str, *, weights_dir: Path, allow_download: bool = True):
    """A Demucs model (``demucs.apply.Model`` or ``BagOfModels``) ready for inference."""
    folder = Path(weights_dir)
    if folder.is_dir():
        model = _load_local(name, folder)
        if model is not None:
            return model
    if not allow_download or os.environ.get(ENV_OFFLINE) == "1" or not _can_download():
        reason = f"there are no weights for it in {folder} and this machine cannot reach the download server"
        raise SeparationError(_missing_message(name, folder, reason))
    log.info("Downloading Demucs %s (first use)", name)
    _download(name, folder)
    model = _load_local(name, folder)
    if model is None:
        raise SeparationError(_missing_message(name, folder, "the download did not give its weight files"))
    return model


def max_segment_s(model) -> float:
    """The longest segment a model accepts (transformer models: their training segment)."""
    if hasattr(model, "max_allowed_segment"):
        return float(model.max_allowed_segment)
    from demucs.htdemucs import HTDemucs

    return float(model.segment) if isinstance(model, HTDemucs) else float("inf")


def _progress_callback(model, progress, *, length: int, segment_s: float | None, shifts: int):
    """``apply_model``'s callback that reports the share of segments done to ``progress``."""
    n_models = len(getattr(model, "models", [model]))
    passes = max(1, shifts)
    seg = segment_s or float(getattr(model, "segment", 7.8) or 7.8)

    def callback(info: dict) -> None:
        if progress is None or info.get("state") != "end":
            return
        done_in_model = min(1.0, (info.get("segment_offset", 0) + seg * model.samplerate) / max(1, length))
        frac = (info.get("model_idx_in_bag", 0) * passes + info.get("shift_idx", 0) + done_in_model) / (n_models * passes)
        progress(min(1.0, frac), "Separating")

    return callback


def separate_demucs(model, mix: np.ndarray, *, segment_s: float | None = None, overlap: float = 0.25,
                    shifts: int = 0, seed: int = 0, progress=None) -> dict[str, np.ndarray]:
    """Stems of ``mix`` (float32 ``(n, 2)`` at the model's rate, 44.1 kHz for v4 models).

    The track is normalised as the Demucs CLI does (mean and standard deviation of the mono
    mix), split into overlapping segments by ``apply_model`` (bounded memory for long files),
    and ``progress`` follows the segments.

    This is what ``demucs.api.Separator(...).separate_tensor(...)`` does, kept here because the
    Separator cannot take a model it did not load: it always calls ``get_model(name, repo)``,
    which reads weight files with a full ``torch.load`` (no ``weights_only``, no single-file
    ``name.th`` packages) and downloads when no repo is given; it also draws its shifts from the
    global random state (the stems would not be reproducible, and they are cached) and divides
    by ``std + 1e-8`` where silence-safe division keeps our numbers. Its progress callback is
    ``apply_model``'s, which we use directly.
    """
    import torch
    from demucs.apply import apply_model

    longest = max_segment_s(model)
    if segment_s is not None and segment_s > longest:
        raise OptionError(
            f"This Demucs model was trained on {longest:g} s segments; use a segment of at most {longest:g} s "
            f"(got {segment_s:g})."
        )
    if mix.ndim != 2 or mix.shape[1] != model.audio_channels:
        raise SeparationError(f"Demucs expects {model.audio_channels}-channel audio.")
    wav = torch.from_numpy(np.ascontiguousarray(mix.T, dtype=np.float32))
    ref = wav.mean(0)
    mean, std = float(ref.mean()), float(ref.std())
    std = std if std > 1e-8 else 1.0
    wav = (wav - mean) / std
    callback = _progress_callback(model, progress, length=wav.shape[-1], segment_s=segment_s, shifts=shifts)
    # apply_model draws its shifts from Python's random module: seed a saved-and-restored state so
    # the same input gives the same stems (they are cached) and nobody else's randomness changes.
    saved = random.getstate()
    try:
        random.seed(seed)
        with torch.random.fork_rng(), torch.inference_mode():
            torch.manual_seed(seed)
            out = apply_model(model, wav[None], shifts=shifts, split=True, overlap=overlap, segment=segment_s,
                              progress=False, callback=callback)[0]
    finally:
        random.setstate(saved)
    out = out * std + mean
    return {name: np.ascontiguousarray(out[i].numpy().T, dtype=np.float32) for i, name in enumerate(model.sources)}


# ------------------------------------------------------------------- backend contract
def load_network(model: str, folder: Path):
    """The backend contract (``core.separation.backends``): :func:`load_demucs` from ``folder``."""
    return load_demucs(model, weights_dir=folder)


def separate_network(network, mix: np.ndarray, *, options, progress=None) -> dict[str, np.ndarray]:
    """The backend contract: :func:`separate_demucs` with the options' segment, overlap and shifts."""
    return separate_demucs(network, mix, segment_s=options.segment_s, overlap=options.overlap,
                           shifts=options.shifts, progress=progress)
