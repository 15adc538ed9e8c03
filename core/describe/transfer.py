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

from core.analysis.features import feature_columns
from core.describe.models import (
    GATE,
    MUSICNN_SET,
    PARENT,
    STUDIO,
    STUDIO_GENRE,
    TARGETS,
    DescriptorModel,
    fit_estimator,
    fit_hierarchy,
)
from core.embed.genre import EMBED_MODEL
from core.embed.hear import heard_windows, musicnn_versions
from core.embed.musicnn import column_names
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


def musicnn_columns() -> list[str]:
    """The window-table columns of the musicnn set (``musicnn.tag_rock`` ... ``musicnn.emb_199``)."""
    return column_names(EMBED_MODEL)


def set_columns(feature_sets: tuple[str, ...]) -> list[str]:
    """The columns of ``feature_sets``: the analysis' sets (``core.analysis.features``) and ``musicnn``."""
    return [c for s in feature_sets for c in (musicnn_columns() if s == MUSICNN_SET else feature_columns(s))]


def _repeat(x: np.ndarray, y: np.ndarray, times: int) -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(x, times, axis=0), np.repeat(y, times)


def fit_transfer(renders: pd.DataFrame, *, real: pd.DataFrame | None = None, kind: str = "logreg", seed: int = 0,
                 real_weight: int = 1, feature_sets: tuple[str, ...] = (MUSICNN_SET,), progress=None) -> dict:
    """The hierarchy's estimators from windows of renders (labelled by their descriptor) on
    ``feature_sets``; the genre head also learns ``real`` windows (labelled by catalog genre),
    each repeated ``real_weight`` times. Subgenre, mood and the rest learn the renders only."""
    cols = set_columns(feature_sets)
    x = np.nan_to_num(renders[cols].to_numpy(dtype=float), nan=0.0)
    estimators = fit_hierarchy(kind, x, renders, seed, progress)
    if real is not None and len(real):
        xr, yr = _repeat(np.nan_to_num(real[cols].to_numpy(dtype=float), nan=0.0),
                         real["genre"].astype(str).to_numpy(), real_weight)
        estimators["genre"] = fit_estimator(kind, np.concatenate([x, xr]),
                                            np.concatenate([renders["genre"].astype(str).to_numpy(), yr]), seed=seed)
    return estimators


def transfer_model(renders: pd.DataFrame, *, real: pd.DataFrame | None = None, kind: str = "logreg", seed: int = 0,
                   name: str = "musicnn", threshold: float = 0.4, real_weight: int = 1,
                   feature_sets: tuple[str, ...] = (MUSICNN_SET,), metrics: dict | None = None,
                   config: dict | None = None, progress=None) -> DescriptorModel:
    """A :class:`DescriptorModel` on ``feature_sets`` (musicnn alone by default; ``fit_transfer``),
    ready to save."""
    import sklearn

    catalog = load_catalog()
    labels = {t: sorted(renders[t].astype(str).unique()) for t in TARGETS}
    if real is not None and len(real):  # the genre head also knows the real windows' genres
        labels["genre"] = sorted(set(labels["genre"]) | set(real["genre"].astype(str)))
    descriptors = [{"name": n, **{k: str(v) for k, v in catalog.get(n).labels().items() if k != "descriptor"}}
                   for n in sorted(set(renders["descriptor"])) if n in catalog.descriptors]
    estimators = fit_transfer(renders, real=real, kind=kind, seed=seed, real_weight=real_weight,
                              feature_sets=feature_sets, progress=progress)
    return DescriptorModel(name=name, kind=kind, columns=set_columns(feature_sets), feature_sets=tuple(feature_sets),
                           estimators=estimators, labels=labels, descriptors=descriptors, threshold=threshold,
                           metrics=metrics or {}, config=config or {},
                           versions={"scikit-learn": sklearn.__version__, "numpy": np.__version__})


def needs_musicnn(model: DescriptorModel) -> bool:
    """Whether ``model`` reads the musicnn columns (which the analysis does not compute)."""
    return MUSICNN_SET in tuple(model.feature_sets)


def musicnn_key(model: DescriptorModel) -> dict | None:
    """What a cache key of results made with ``model`` must add when it listens with musicnn
    (``core.embed.hear.musicnn_versions``); None for the other models."""
    return musicnn_versions() if needs_musicnn(model) else None


def with_musicnn(table: pd.DataFrame, track, *, store=None) -> pd.DataFrame:
    """``table`` (per window of the ONE grid: ``start_s``, ``end_s``...) with the musicnn columns
    of ``track``'s audio added (MSD_musicnn, about 3 s per minute of audio on 2 cores; with a
    ``store``, heard once per track and grid: ``core.embed.hear.heard_windows``)."""
    heard = heard_windows(track, table["start_s"].to_numpy(), table["end_s"].to_numpy(), store=store)
    return pd.concat([table.reset_index(drop=True), pd.DataFrame(heard, columns=musicnn_columns())],
                     axis=1).set_axis(table.index, axis=0)


# ----------------------------------------------------------------------- the gated model
def take_columns(columns: list[str], names: list[str]):
    """A fitted selector of ``names`` out of a matrix whose columns are ``columns`` (a stock
    scikit-learn ``ColumnTransformer``: a bundle holding it still loads with trusted types only)."""
    from sklearn.compose import ColumnTransformer

    index = [columns.index(n) for n in names]
    return ColumnTransformer([("take", "passthrough", index)], remainder="drop").fit(np.zeros((1, len(columns))))


def _on(columns: list[str], names: list[str], estimator):
    from sklearn.pipeline import Pipeline

    return Pipeline([("columns", take_columns(columns, names)), ("model", estimator)])


def studio_labels(renders: pd.DataFrame, *, soundfont: str = "TimGM6mb") -> np.ndarray:
    """``studio`` for the windows the studio head learnt from (renders with ``soundfont``, not
    through the real mix), ``other`` for every other render window."""
    known = (renders["soundfont"].astype(str) == soundfont) & (renders["variant"].astype(str) == "clean")
    return np.where(known.to_numpy(), STUDIO, "other")


def fit_gate(renders: pd.DataFrame, real: pd.DataFrame, columns: list[str], *, seed: int = 0):
    """P(studio) from ``columns``: studio renders against real-mix and other-soundfont renders and
    real windows (a standardised logistic regression, the two classes balanced by repeating the
    studio windows: unbalanced, about a third of the studio's own windows leant on the musicnn
    head)."""
    x = np.nan_to_num(np.concatenate([renders[columns].to_numpy(dtype=float), real[columns].to_numpy(dtype=float)]))
    y = np.concatenate([studio_labels(renders), np.full(len(real), "other")])
    studio = y == STUDIO
    if studio.any():
        times = max(1, int(round((~studio).sum() / studio.sum())))
        x = np.concatenate([x, np.repeat(x[studio], times - 1, axis=0)])
        y = np.concatenate([y, np.repeat(y[studio], times - 1)])
    return fit_estimator("logreg", x, y, seed=seed)


def gated_model(base: DescriptorModel, renders: pd.DataFrame, real: pd.DataFrame, *, seed: int = 0,
                name: str = "gated", real_weight: int = 1, metrics: dict | None = None,
                config: dict | None = None) -> DescriptorModel:
    """``base`` (a model of the Amper-study features, exact on the studio's own renders) with a
    genre head on the musicnn embedding that learnt renders and ``real`` windows, and a gate that
    weighs the two genre heads per window by how much it sounds like a studio render. Subgenre,
    mood and the rest stay ``base``'s, conditioned on the gated genre."""
    columns = list(base.columns) + [c for c in musicnn_columns() if c not in base.columns]
    mus = musicnn_columns()
    xr, yr = _repeat(np.nan_to_num(real[mus].to_numpy(dtype=float)), real["genre"].astype(str).to_numpy(),
                     real_weight)
    head = fit_estimator("logreg", np.concatenate([np.nan_to_num(renders[mus].to_numpy(dtype=float)), xr]),
                         np.concatenate([renders["genre"].astype(str).to_numpy(), yr]), seed=seed)
    estimators = {"genre": _on(columns, mus, head), STUDIO_GENRE: _on(columns, base.columns, base.estimators["genre"]),
                  GATE: fit_gate(renders, real, columns, seed=seed)}
    for target in TARGETS[1:]:
        est = base.estimators[target]
        estimators[target] = (_on(columns, base.columns, est) if PARENT[target] is None else
                              {p: _on(columns, base.columns, m) for p, m in est.items()})
    return DescriptorModel(name=name, kind=f"gated {base.kind} + musicnn logreg", columns=columns,
                           feature_sets=(*base.feature_sets, MUSICNN_SET), estimators=estimators,
                           labels=base.labels, descriptors=base.descriptors, threshold=base.threshold,
                           metrics=metrics or {}, config=config or {}, versions=base.versions)

