"""Calibration and an honest "unknown" for the render-trained descriptor models.

The tools are those of the real-music genre model (``core.embed.genre``: temperature scaling
fitted on held-out predictions, :func:`~core.embed.genre.ece`, and the Mahalanobis
:class:`~core.embed.genre.Novelty` with its threshold at a held-out percentile). Here they are
fitted per descriptor model on HELD-OUT RENDERS (a corpus made with another seed than the
training corpus, grouped by render): one temperature per target (genre, subgenre, mood,
sentiment, valence, momentum; a conditional target's temperature is shared by its parents'
classifiers; never below 1, :data:`MIN_TEMPERATURE`) and a novelty on the model's own feature columns. A window farther from the
renders than 97.5 % of held-out render windows is ``ood``: every target reads ``unknown``
(real music unlike any render says so, instead of "jazz 0.99").

The calibration is a sidecar of the model bundle (``<model folder>/calibration.npz``, arrays
and JSON text only, read with ``allow_pickle=False``) tied to the model's fingerprint, so a
retrained model ignores a stale one. ``core.describe.predict.predict`` applies it when present.
Fit it with ``python -m core.describe.calibrate MODEL --corpus DIR [--out FILE]``.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.cachekey import digest
from core.describe.models import (
    MUSICNN_SET,
    PARENT,
    TARGETS,
    UNKNOWN,
    DescriptorModel,
    ModelError,
    find_model,
    load_model,
    training_table,
)
from core.embed.genre import UNKNOWN_PERCENTILE, Novelty, ece, fit_novelty, fit_temperature, nll, temper
from core.errors import OptionError
from core.io import atomic_write

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.npz"
#: Held-out renders are as easy as the training renders (genre 0.99 right), so their NLL asks for
#: a temperature near 0 (surer still): on gtzan-dev that made the mapped real windows' genre ECE
#: 0.83. Temperatures below 1 are refused: calibration on renders may only make a model humbler.
MIN_TEMPERATURE = 1.0


# -------------------------------------------------------- descriptor models
@dataclass(frozen=True)
class DescriptorCalibration:
    """A descriptor model's temperatures (one per target) and novelty, for one model fingerprint."""

    model_fingerprint: str
    temperatures: dict[str, float]
    novelty: Novelty
    report: dict = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return digest({"model": self.model_fingerprint, "t": self.temperatures, "thr": self.novelty.threshold},
                      length=16)

    def to_bytes(self) -> bytes:
        meta = json.dumps({"model_fingerprint": self.model_fingerprint, "temperatures": self.temperatures,
                           "report": self.report})
        buf = io.BytesIO()
        np.savez_compressed(buf, meta=np.array(meta), **self.novelty.arrays())
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> DescriptorCalibration:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return cls(model_fingerprint=meta["model_fingerprint"], temperatures=dict(meta["temperatures"]),
                       novelty=Novelty.from_arrays(z), report=dict(meta.get("report", {})))


def _target_proba(model: DescriptorModel, probs: dict, raw: pd.DataFrame, target: str) -> tuple[np.ndarray, list]:
    """Per window the probability row of ``target`` given the predicted parent, and its labels."""
    labels = list(model.labels[target])
    out = np.zeros((len(raw), len(labels)))
    if PARENT[target] is None:
        frames = {None: probs[target]}
        rows = {None: np.ones(len(raw), dtype=bool)}
    else:
        frames = probs[target]
        rows = {p: raw[PARENT[target]].to_numpy() == p for p in frames}
    for parent, frame in frames.items():
        r = rows[parent]
        if r.any():
            for c in frame.columns:
                out[r, labels.index(c)] = frame[c].to_numpy()[r]
    return out, labels


def calibrated_confidences(model: DescriptorModel, table: pd.DataFrame, cal: DescriptorCalibration | None):
    """The forced labels (``threshold=0``) and, per target, the calibrated probability of each
    window's label; with ``cal=None`` the model's own probabilities."""
    raw = model.predict_windows(table, threshold=0.0)
    probs = model.probabilities(table)
    conf = {}
    for target in TARGETS:
        p, labels = _target_proba(model, probs, raw, target)
        p = temper(p, cal.temperatures.get(target, 1.0)) if cal is not None else p
        idx = np.array([labels.index(v) if v in labels else 0 for v in raw[target].astype(str)], dtype=int)
        conf[target] = p[np.arange(len(p)), idx] if len(p) else np.zeros(0)
    return raw, conf


def apply_calibration(model: DescriptorModel, table: pd.DataFrame, pred: pd.DataFrame,
                      cal: DescriptorCalibration) -> pd.DataFrame:
    """``pred`` (``model.predict_windows(table)``) with calibrated ``<target>_prob``, labels
    below the model's threshold ``unknown``, and two new columns: ``ood_distance`` and ``ood``
    (the window is unlike the renders the model learnt from: every target ``unknown``)."""
    raw, conf = calibrated_confidences(model, table, cal)
    out = pred.copy()
    dist = cal.novelty.distance(model._matrix(table))
    ood = dist > cal.novelty.threshold
    for target in TARGETS:
        out[target] = np.where((conf[target] >= model.threshold) & ~ood, raw[target].to_numpy(), UNKNOWN)
        out[f"{target}_prob"] = np.round(conf[target], 3)
    out["low_confidence"] = (out[list(TARGETS)] == UNKNOWN).any(axis=1)
    out["ood_distance"] = np.round(dist, 3)
    out["ood"] = ood
    return out


def descriptor_reliability(model: DescriptorModel, table: pd.DataFrame, cal: DescriptorCalibration | None) -> dict:
    """Per target the ECE and NLL of the windows' (calibrated when ``cal``) probabilities
    against their true labels (the targets ``table`` has); windows whose true label the model
    lacks are left out."""
    raw, _ = calibrated_confidences(model, table, None)
    probs = model.probabilities(table)
    out = {}
    for target in [t for t in TARGETS if t in table]:
        p, labels = _target_proba(model, probs, raw, target)
        p = temper(p, cal.temperatures.get(target, 1.0)) if cal is not None else p
        truth = table[target].astype(str).to_numpy()
        known = np.isin(truth, labels)
        idx = np.array([labels.index(v) for v in truth[known]], dtype=int)
        out[target] = {"ece": round(ece(p[known], idx), 4), "nll": round(nll(p[known], idx), 4),
                       "windows": int(known.sum())}
    return out


def fit_descriptor_calibration(model: DescriptorModel, table: pd.DataFrame, *,
                               percentile: float = UNKNOWN_PERCENTILE) -> DescriptorCalibration:
    """Temperatures and novelty of ``model`` fitted on held-out render windows ``table`` (a
    corpus table: features, labels and ``render_id``; renders the model never learnt from)."""
    if "render_id" not in table or not len(table):
        raise OptionError("Calibrating a descriptor model needs held-out render windows with their render ids.")
    if MUSICNN_SET in tuple(model.feature_sets):
        raise ModelError(f"Model '{model.name}' listens with musicnn and learnt real recordings too: a calibration "
                         "fitted on renders alone would call real music unknown. It is not calibrated this way.")
    raw, _ = calibrated_confidences(model, table, None)
    probs = model.probabilities(table)
    temperatures = {}
    for target in TARGETS:
        p, labels = _target_proba(model, probs, raw, target)
        truth = table[target].astype(str).to_numpy()
        known = np.isin(truth, labels)
        temperatures[target] = round(fit_temperature(p[known], [labels.index(v) for v in truth[known]],
                                                     min_temperature=MIN_TEMPERATURE), 4)
    novelty, _ = fit_novelty(model._matrix(table), groups=table["render_id"].to_numpy(), percentile=percentile)
    return DescriptorCalibration(model_fingerprint=model.fingerprint, temperatures=temperatures, novelty=novelty,
                                 report={"renders": int(table["render_id"].nunique()), "windows": int(len(table))})


def calibration_path(model: DescriptorModel) -> Path | None:
    """Where ``model``'s calibration would lie (None for a model not saved in a model folder)."""
    try:
        return find_model(model.name) / CALIBRATION_FILE
    except ModelError:  # an unsaved or renamed model simply has no calibration
        return None


def load_calibration(model: DescriptorModel, path: Path | None = None) -> DescriptorCalibration | None:
    """The calibration beside ``model``'s bundle when it exists and was made for this very model
    (same fingerprint); otherwise None (a damaged file is logged and ignored)."""
    path = path or calibration_path(model)
    if path is None or not path.is_file():
        return None
    try:
        cal = DescriptorCalibration.from_bytes(path.read_bytes())
    except (OSError, ValueError, KeyError) as exc:
        log.warning("The calibration %s cannot be read (%s): probabilities are left as the model gives them.",
                    path, exc)
        return None
    return cal if cal.model_fingerprint == model.fingerprint else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Fit a descriptor model's calibration on held-out renders.")
    ap.add_argument("model")
    ap.add_argument("--corpus", type=Path, required=True, help="a corpus folder of renders the model never saw")
    ap.add_argument("--out", type=Path, default=None, help=f"default: the model folder's {CALIBRATION_FILE}")
    args = ap.parse_args(argv)
    model = load_model(args.model)
    table, _, _ = training_table(pd.read_parquet(args.corpus / "corpus.parquet"))
    cal = fit_descriptor_calibration(model, table)
    out = args.out or find_model(args.model) / CALIBRATION_FILE
    atomic_write(out, cal.to_bytes())
    print(f"temperatures {cal.temperatures}; novelty threshold {cal.novelty.threshold:.2f}; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
