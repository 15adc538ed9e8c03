"""Per-window predictions on the ONE grid, and the per-segment majority table derived from them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.analysis.analyze import Analysis
from core.describe.calibrate import apply_calibration, load_calibration
from core.describe.models import EMBED_MODEL, TARGETS, UNKNOWN, DescriptorModel, ModelError
from core.describe.transfer import needs_musicnn, with_musicnn
from core.embed.weights import weights_present
from core.errors import OptionError
from core.generate.catalog import load_catalog
from core.span import Span

MAJORITY_COLUMNS = ("start_s", "end_s", "label", "duration_s", "genre", "subgenre", "mood", "sentiment", "valence",
                    "momentum", "tempo_bpm", "key", "descriptor", "confidence")


def predict(analysis: Analysis, model: DescriptorModel, *, features: pd.DataFrame | None = None,
            track=None, store=None) -> pd.DataFrame:
    """The analysis' per-window table with, per target, the predicted label and its probability,
    the top 3 descriptors and a low-confidence flag (silent windows are ``unknown``). When the
    model has a calibration (``core.describe.calibrate``) the probabilities are calibrated and
    ``ood_distance`` / ``ood`` say how unlike the renders each window is (``ood``: ``unknown``).

    ``features``: another per-window feature table on the same grid to classify instead of the
    analysis' own (the accompaniment's, when vocals are removed first).

    ``track``: the analysed audio, which a model on the musicnn embedding
    (``core.describe.transfer``) hears when ``features`` does not already hold its columns (once
    per track and grid with a ``store``).
    """
    source = analysis.windows if features is None else features
    if len(source) != len(analysis.windows):
        raise OptionError("The feature table is not on the analysis' window grid.")
    if needs_musicnn(model) and not set(model.columns) <= set(source.columns):
        if track is None or features is not None:  # never hear other audio than the features came from
            raise OptionError(f"Model '{model.name}' listens with musicnn: pass the track it should hear.")
        if not weights_present(EMBED_MODEL):
            raise ModelError(f"Model '{model.name}' listens with musicnn, whose weights are not installed here: "
                             "run `make weights`, or choose the mlp model.")
        source = with_musicnn(source, track, store=store)
    pred = model.predict_windows(source)
    calibration = load_calibration(model)
    if calibration is not None:
        pred = apply_calibration(model, source, pred, calibration)
    silent = analysis.windows["silent"].to_numpy(dtype=bool)
    if silent.any():
        for t in TARGETS:
            pred.loc[silent, t] = UNKNOWN
            pred.loc[silent, f"{t}_prob"] = 0.0
        pred.loc[silent, "low_confidence"] = True
    pred.insert(0, "model", model.name)
    return pd.concat([analysis.windows, pred], axis=1)


#: Remove vocals before classifying: always, never, or when the track has a voice.
VOCAL_MODES = ("auto", "on", "off")
#: A track "has a voice" when the vocal stem carries at least this share of the mixture's energy
#: in at least ``VOICE_FRAMES_MIN`` of its non-silent seconds (bench/separate.py: instrumental renders
#: score 0.00-0.10, a sung line as loud as the backing 0.20-0.65).
VOICE_ENERGY_MIN = 0.05
VOICE_FRAMES_MIN = 0.15


def voice_share(stems, *, frame_s: float = 1.0) -> float:
    """Share of the non-silent seconds in which the vocal stem holds >= ``VOICE_ENERGY_MIN`` of
    the mixture's energy (0 for an instrumental, near 1 for a song sung throughout)."""
    vocals = stems["vocals"].mean(axis=1)
    mix = stems.mixture().mean(axis=1)
    hop = max(1, int(frame_s * stems.sample_rate))
    n = mix.size // hop
    if n == 0:
        return 0.0
    ev = np.sum(vocals[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1)
    em = np.sum(mix[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1)
    loud = em > hop * 1e-6  # about -60 dBFS
    if not loud.any():
        return 0.0
    return float(np.mean(ev[loud] / em[loud] >= VOICE_ENERGY_MIN))


def known_labels(values: pd.Series) -> pd.Series:
    """The values that are real labels (not ``unknown``, empty or NaN), as text."""
    s = values.astype(str)
    return s[(s != UNKNOWN) & (s != "") & (s != "nan")]


def top_descriptors(windows: pd.DataFrame, *, n: int = 1) -> list[str]:
    """The track's most frequent window descriptors (``top1_descriptor``), most frequent first."""
    if "top1_descriptor" not in windows:
        raise OptionError("The windows have no predictions: classify the track with a model first.")
    counts = known_labels(windows.loc[~windows["silent"].astype(bool), "top1_descriptor"]).value_counts()
    return [str(d) for d in counts.index[:n]]


def _mode(values: pd.Series) -> str:
    known = values[values.astype(str) != UNKNOWN]
    pool = known if len(known) else values
    return str(pool.astype(str).value_counts().index[0]) if len(pool) else ""


def majority_table(windows: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """For each segment: its duration and the most frequent genre, subgenre, mood, sentiment,
    valence, momentum, tempo and key over its windows; the matching catalog descriptor and a
    confidence (the share of its windows whose genre, subgenre and mood agree with it).

    Derived from the per-window table every time; never stored beside it (the Amper study's
    "majority_rules" table).
    """
    catalog = load_catalog()
    rows = []
    for i, seg in segments.reset_index(drop=True).iterrows():
        w = windows[windows["segment"] == i]
        row = {"start_s": seg.start_s, "end_s": seg.end_s, "label": seg.label,
               "duration_s": round(float(seg.end_s - seg.start_s), 2)}
        for t in TARGETS:
            row[t] = _mode(w[t]) if len(w) else UNKNOWN
        tempi = w["tempo_bpm"].dropna()
        row["tempo_bpm"] = round(float(tempi.median()), 1) if len(tempi) else float("nan")
        keys = (w["tonic"] + " " + w["mode"]).str.strip()
        row["key"] = _mode(keys[keys != ""]) if (keys != "").any() else ""
        name = f"{row['genre']}_{row['subgenre']}_{row['mood']}"
        if name not in catalog.descriptors and "top1_descriptor" in w:
            name = _mode(w["top1_descriptor"]) if len(w) else ""
        row["descriptor"] = name if name in catalog.descriptors else ""
        if len(w) and row["descriptor"]:
            d = catalog.get(row["descriptor"])
            agree = (w["genre"] == d.genre) & (w["subgenre"] == d.subgenre) & (w["mood"] == d.mood)
            row["confidence"] = round(float(agree.mean()), 3)
        else:
            row["confidence"] = 0.0
        rows.append(row)
    return pd.DataFrame(rows, columns=list(MAJORITY_COLUMNS))


def _text(value) -> str:
    return "" if value is None or value != value else str(value).strip()


def majority_spans(majority: pd.DataFrame) -> list[Span]:
    """The rows of a majority table as spans: the segment's label, its descriptor ("" when none),
    median tempo (None when none) and the tonic of its key (None when none)."""
    spans = []
    for seg in majority.itertuples(index=False):
        key = seg.key.strip() if isinstance(seg.key, str) else ""
        tempo = seg.tempo_bpm
        spans.append(Span(start_s=float(seg.start_s), end_s=float(seg.end_s), label=_text(seg.label),
                          descriptor=_text(seg.descriptor),
                          tempo_bpm=float(tempo) if tempo is not None and tempo == tempo else None,
                          tonic=key.split()[0] if key else None))
    return spans
