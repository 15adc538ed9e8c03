"""Per-window predictions on the ONE grid, and the per-segment majority table derived from them."""

from __future__ import annotations

import pandas as pd

from .analysis import Analysis
from .models import TARGETS, UNKNOWN, DescriptorModel

MAJORITY_COLUMNS = ("start_s", "end_s", "label", "duration_s", "genre", "subgenre", "mood", "sentiment", "valence",
                    "momentum", "tempo_bpm", "key", "descriptor", "confidence")


def predict(analysis: Analysis, model: DescriptorModel) -> pd.DataFrame:
    """The analysis' per-window table with, per target, the predicted label and its probability,
    the top 3 descriptors and a low-confidence flag (silent windows are ``unknown``)."""
    pred = model.predict_windows(analysis.windows)
    silent = analysis.windows["silent"].to_numpy(dtype=bool)
    if silent.any():
        for t in TARGETS:
            pred.loc[silent, t] = UNKNOWN
            pred.loc[silent, f"{t}_prob"] = 0.0
        pred.loc[silent, "low_confidence"] = True
    pred.insert(0, "model", model.name)
    return pd.concat([analysis.windows, pred], axis=1)


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
    from .catalog import load_catalog

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
