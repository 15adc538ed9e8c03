"""Per-window predictions on the ONE grid, and the per-segment majority table derived from them."""

from __future__ import annotations

import pandas as pd

from core.analysis.analyze import Analysis
from core.describe.models import TARGETS, UNKNOWN, DescriptorModel

MAJORITY_COLUMNS = ("start_s", "end_s", "label", "duration_s", "genre", "subgenre", "mood", "sentiment", "valence",
                    "momentum", "tempo_bpm", "key", "descriptor", "confidence")


def predict(analysis: Analysis, model: DescriptorModel, *, features: pd.DataFrame | None = None) -> pd.DataFrame:
    """The analysis' per-window table with, per target, the predicted label and its probability,
    the top 3 descriptors and a low-confidence flag (silent windows are ``unknown``).

    ``features``: another per-window feature table on the same grid to classify instead of the
    analysis' own (the accompaniment's, when vocals are removed first).
    """
    source = analysis.windows if features is None else features
    if len(source) != len(analysis.windows):
        from core.errors import OptionError

        raise OptionError("The feature table is not on the analysis' window grid.")
    pred = model.predict_windows(source)
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
    import numpy as np

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


def classify(analysis: Analysis, model: DescriptorModel, *, track, remove_vocals: str = "auto", store=None,
             progress=None) -> pd.DataFrame:
    """``predict`` with the vocals removed first when asked (the models learnt from renders
    without voices, so a singer confuses them, as the Amper study found).

    ``remove_vocals``: "on" always, "off" never, "auto" when the track has a voice
    (``voice_share`` >= ``VOICE_FRAMES_MIN``). The table gains ``vocals_removed`` and
    ``voice_share`` columns (``voice_share`` is NaN when the track was not separated). In "auto",
    a separation model that cannot run means the full mix is classified, with the reason in
    ``table.attrs["vocals_note"]``.
    """
    if remove_vocals not in VOCAL_MODES:
        from core.errors import OptionError

        raise OptionError(f"Remove vocals must be one of {', '.join(VOCAL_MODES)} (got {remove_vocals!r}).")

    def full_mix(note: str = "") -> pd.DataFrame:
        table = predict(analysis, model)
        table["vocals_removed"] = False
        table["voice_share"] = float("nan")
        if note:
            table.attrs["vocals_note"] = note
        return table

    if remove_vocals == "off" or track.is_silent:
        return full_mix()
    from core.analysis.analyze import window_feature_table
    from core.audio.load import track_from_array
    from core.errors import SeparationError
    from core.progress import scaled
    from core.separation import separate

    try:
        stems = separate(track, store=store, progress=scaled(progress, 0.0, 0.8))
    except SeparationError as exc:
        if remove_vocals == "on":
            raise
        # "auto" never blocks classifying: without the separation model the full mix is classified
        return full_mix(f"Vocals were not checked: {exc}")
    share = voice_share(stems)
    use = remove_vocals == "on" or share >= VOICE_FRAMES_MIN
    features = None
    if use:
        if progress:
            progress(0.8, "Features of the accompaniment")
        accompaniment = track_from_array(stems["accompaniment"], stems.sample_rate, name=f"{track.name}-accompaniment")
        features = window_feature_table(accompaniment, grid=analysis.options.grid)
    table = predict(analysis, model, features=features)
    table["vocals_removed"] = bool(use)
    table["voice_share"] = round(share, 3)
    if progress:
        progress(1.0, "Classified")
    return table


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
    from core.generate.catalog import load_catalog

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
