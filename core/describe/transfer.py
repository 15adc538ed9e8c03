"""Descriptor models that transfer to real recordings.

The Amper-study features of the studio's renders separate the descriptors perfectly and say
little about a real record (issue 14: 0.10 majority genre on real clips). Two things help a
model trained on renders hear real music:

- the musicnn embedding (``core.embed.musicnn``: a network trained on the Million Song
  Dataset), which places a render and a real mix of the same style near each other;
- renders made more like real mixes before they are heard (:func:`real_mix`: level, EQ tilt,
  room reverb, saturation, bus compression, noise and MP3 artefacts, all with pedalboard,
  drawn from a seed).

``bench/descriptor_transfer.py`` measures each on real clips.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pedalboard

from core.describe.models import TARGETS, DescriptorModel, fit_estimator, fit_hierarchy
from core.embed.genre import EMBED_MODEL
from core.embed.musicnn import column_names, window_table
from core.generate.catalog import load_catalog


def real_mix(audio: np.ndarray, sample_rate: int, *, seed: int) -> np.ndarray:
    """``audio`` (n, channels) through a random mastering-and-delivery chain drawn from ``seed``:
    the same seed gives the same chain. Peak-normalised to -1 dBFS so no copy clips."""
    rng = np.random.default_rng([seed, 14])
    chain = [
        pedalboard.Gain(gain_db=float(rng.uniform(-6.0, 6.0))),
        pedalboard.LowShelfFilter(cutoff_frequency_hz=float(rng.uniform(80, 300)), gain_db=float(rng.uniform(-6, 6))),
        pedalboard.HighShelfFilter(cutoff_frequency_hz=float(rng.uniform(2500, 8000)),
                                   gain_db=float(rng.uniform(-8, 5))),
    ]
    if rng.random() < 0.7:
        chain.append(pedalboard.Reverb(room_size=float(rng.uniform(0.1, 0.8)), wet_level=float(rng.uniform(0.05, 0.35)),
                                       dry_level=float(rng.uniform(0.7, 1.0)), width=float(rng.uniform(0.3, 1.0))))
    if rng.random() < 0.35:
        chain.append(pedalboard.Distortion(drive_db=float(rng.uniform(3, 15))))
    chain.append(pedalboard.Compressor(threshold_db=float(rng.uniform(-28, -10)), ratio=float(rng.uniform(2, 8)),
                                       attack_ms=float(rng.uniform(1, 30)), release_ms=float(rng.uniform(50, 300))))
    x = np.ascontiguousarray(np.asarray(audio, dtype=np.float32).T)
    y = pedalboard.Pedalboard(chain)(x, sample_rate)
    peak = float(np.max(np.abs(y))) or 1.0
    y = y * (10 ** (-1 / 20) / peak)
    noise_db = float(rng.uniform(-70, -40))
    y = y + rng.standard_normal(y.shape).astype(np.float32) * 10 ** (noise_db / 20)
    if rng.random() < 0.5 and sample_rate in (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000):
        y = pedalboard.MP3Compressor(vbr_quality=float(rng.uniform(2, 9)))(y.astype(np.float32), sample_rate)
    y = np.clip(y, -1.0, 1.0)
    return np.ascontiguousarray(y.T[: len(audio)])


# ----------------------------------------------------------------------- the model
#: The feature set of a transfer model: musicnn's 50 tags and 200-d embedding per window.
MUSICNN_SET = "musicnn"


def musicnn_columns() -> list[str]:
    """The window-table columns a transfer model reads (``musicnn.tag_rock`` ... ``musicnn.emb_199``)."""
    return column_names(EMBED_MODEL)


def _repeat(x: np.ndarray, y: np.ndarray, times: int) -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(x, times, axis=0), np.repeat(y, times)


def fit_transfer(renders: pd.DataFrame, *, real: pd.DataFrame | None = None, kind: str = "logreg", seed: int = 0,
                 real_weight: int = 1, progress=None) -> dict:
    """The hierarchy's estimators from musicnn windows of renders (labelled by their descriptor);
    the genre head also learns ``real`` windows (labelled by catalog genre), each repeated
    ``real_weight`` times. Subgenre, mood and the rest learn the renders only."""
    cols = musicnn_columns()
    x = renders[cols].to_numpy(dtype=float)
    estimators = fit_hierarchy(kind, x, renders, seed, progress)
    if real is not None and len(real):
        xr, yr = _repeat(real[cols].to_numpy(dtype=float), real["genre"].astype(str).to_numpy(), real_weight)
        estimators["genre"] = fit_estimator(kind, np.concatenate([x, xr]),
                                            np.concatenate([renders["genre"].astype(str).to_numpy(), yr]), seed=seed)
    return estimators


def transfer_model(renders: pd.DataFrame, *, real: pd.DataFrame | None = None, kind: str = "logreg", seed: int = 0,
                   name: str = "musicnn", threshold: float = 0.4, real_weight: int = 1, metrics: dict | None = None,
                   config: dict | None = None, progress=None) -> DescriptorModel:
    """A :class:`DescriptorModel` on the musicnn feature set (``fit_transfer``), ready to save."""
    import sklearn

    catalog = load_catalog()
    labels = {t: sorted(renders[t].astype(str).unique()) for t in TARGETS}
    descriptors = [{"name": n, **{k: str(v) for k, v in catalog.get(n).labels().items() if k != "descriptor"}}
                   for n in sorted(set(renders["descriptor"])) if n in catalog.descriptors]
    estimators = fit_transfer(renders, real=real, kind=kind, seed=seed, real_weight=real_weight, progress=progress)
    return DescriptorModel(name=name, kind=kind, columns=musicnn_columns(), feature_sets=(MUSICNN_SET,),
                           estimators=estimators, labels=labels, descriptors=descriptors, threshold=threshold,
                           metrics=metrics or {}, config=config or {},
                           versions={"scikit-learn": sklearn.__version__, "numpy": np.__version__})


def needs_musicnn(model: DescriptorModel) -> bool:
    """Whether ``model`` reads the musicnn columns (which the analysis does not compute)."""
    return MUSICNN_SET in tuple(model.feature_sets)


def with_musicnn(table: pd.DataFrame, track) -> pd.DataFrame:
    """``table`` (per window of the ONE grid: ``start_s``, ``end_s``...) with the musicnn columns
    of ``track``'s audio added (MSD_musicnn, about 3 s per minute of audio on 2 cores)."""
    mono = track.samples.mean(axis=1) if track.samples.ndim == 2 else track.samples
    heard = window_table(mono, track.sample_rate, starts_s=table["start_s"].to_numpy(),
                         ends_s=table["end_s"].to_numpy(), model=EMBED_MODEL)
    return pd.concat([table.reset_index(drop=True), pd.DataFrame(heard)], axis=1).set_axis(table.index, axis=0)
