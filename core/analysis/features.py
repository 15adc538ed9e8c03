"""Windowed feature sets, aggregated from frame-level matrices on the ONE window grid.

Three named sets, one registry (:data:`FEATURE_SETS`; columns are prefixed with the set name in
the per-window table):

``amper21`` — the 21 features of the Amper study (3 MFCCs, 3 PCA coefficients, 15 spectral
and temporal features). The study names the families, not the exact members; ours are
listed in :data:`AMPER21` with units. The 3 "PCA coefficients" are the shares of the
window's MFCC-frame variance explained by its first three principal components: they need
no fitted model and say how low-dimensional (stable) the window's timbre is.

``tonal`` — features of ours that say what mode, harmony and touch sound like (key strength,
major-minus-minor, chroma entropy, harmonic change per frame and per second, how detached the
harmonic part is, and the 12 scale degrees relative to the window's tonic), which timbre
features miss; sentiment, valence and mood depend on them.

``gtzan`` — the GTZAN-style set of the Leiden paper's appendix (after Olteanu et al.):
length, chroma_stft, rms, spectral centroid/bandwidth/rolloff, zero-crossing rate,
harmony and perceptr (mean and variance each), tempo, and mean/variance of 20 MFCCs.
That appendix counts 60 columns including ``filename`` and ``label``; the numeric
features are the 58 in :data:`GTZAN`. ``harmony``/``perceptr`` are the frame RMS of the
harmonic and percussive parts from HPSS (the GTZAN CSV took mean/var of the separated
waveforms, whose mean is ~0; frame RMS carries the same energy information usefully).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from core.analysis.key import estimate_keys, key_scores
from core.audio.frames import Frames
from core.audio.grid import window_mean_var
from core.errors import check_choice

#: name -> description with unit, in column order.
AMPER21: dict[str, str] = {
    "mfcc_1": "MFCC 1, window mean (cepstral units of log-mel dB)",
    "mfcc_2": "MFCC 2, window mean",
    "mfcc_3": "MFCC 3, window mean",
    "pca_1": "variance share of the 1st principal component of the window's 20 MFCC frames (0-1)",
    "pca_2": "variance share of the 2nd principal component (0-1)",
    "pca_3": "variance share of the 3rd principal component (0-1)",
    "spectral_centroid_hz": "spectral centroid, mean (Hz)",
    "spectral_centroid_std_hz": "spectral centroid, standard deviation (Hz)",
    "spectral_bandwidth_hz": "spectral bandwidth, mean (Hz)",
    "spectral_rolloff_hz": "85 % spectral roll-off, mean (Hz)",
    "spectral_flatness": "spectral flatness, mean (0 tonal - 1 noise)",
    "spectral_contrast_db": "spectral contrast over 7 octave bands, mean (dB)",
    "zero_crossing_rate": "zero crossings per sample, mean",
    "rms_db": "frame RMS level, mean (dBFS)",
    "rms_std_db": "frame RMS level, standard deviation (dB)",
    "low_energy_ratio": "share of frames quieter than the window's mean RMS (0-1)",
    "onset_strength": "onset strength (log-mel spectral flux), mean",
    "onset_rate_per_s": "detected onsets per second",
    "tempo_bpm": "window tempo (BPM; 0 when there is no pulse)",
    "pulse_clarity": "height of the window's tempogram peak (0 none - 1 clear beat)",
    "harmonic_ratio": "share of energy in the harmonic part of HPSS (0-1)",
}

_GTZAN_PAIRS = (
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "rolloff",
    "zero_crossing_rate",
    "harmony",
    "perceptr",
)
GTZAN: dict[str, str] = {"length": "window length in samples at 22,050 Hz"}
for _p in _GTZAN_PAIRS:
    GTZAN[f"{_p}_mean"] = f"{_p}, window mean"
    GTZAN[f"{_p}_var"] = f"{_p}, window variance"
GTZAN["tempo"] = "window tempo (BPM; 0 when there is no pulse)"
for _i in range(1, 21):
    GTZAN[f"mfcc{_i}_mean"] = f"MFCC {_i}, window mean"
    GTZAN[f"mfcc{_i}_var"] = f"MFCC {_i}, window variance"

#: Tonal features (ours): what mode and harmony sound like, which timbre sets miss.
TONAL: dict[str, str] = {
    "key_strength": "correlation of the window's chroma with its best key profile (0-1)",
    "major_minus_minor": "best major-key correlation minus best minor-key correlation (-1..1)",
    "chroma_entropy": "entropy of the window's mean chroma (bits; 0 one pitch class - 3.58 all equal)",
    "harmonic_change": "mean frame-to-frame change of the normalised chroma (0 static - 1 every frame new)",
    "harmonic_change_1s": "mean change of the normalised chroma over one second (chord changes; 0-1)",
    "harmonic_rms_cv": "coefficient of variation of the harmonic part's frame RMS (0 sustained - high detached)",
}
#: The window's pitch-class distribution relative to its estimated tonic: scale degrees,
#: which tell dorian from minor and mixolydian from major whatever the key.
for _k in range(12):
    TONAL[f"degree_{_k}"] = f"share of the window's chroma {_k} semitones above its estimated tonic (0-1)"

#: Weight of the whole track's key in each window's tonic for the ``tonal.degree_*`` features
#: (on the STFT chroma; the analysis's own key columns use AnalysisOptions.key_context on the CQT chroma).
TONAL_KEY_CONTEXT = 1.0
#: Lag (frames, ~0.19 s) of ``tonal.harmonic_change``: chord changes, not frame noise.
HARMONIC_CHANGE_LAG = 8

#: Frame-level series whose window mean and variance the sets share (computed once per call).
_SERIES: dict[str, Callable[[Frames], np.ndarray]] = {
    "rms": lambda f: f.rms,
    "zcr": lambda f: f.zcr,
    "centroid_hz": lambda f: f.centroid_hz,
    "bandwidth_hz": lambda f: f.bandwidth_hz,
    "rolloff_hz": lambda f: f.rolloff_hz,
    "flatness": lambda f: f.flatness,
    "contrast_db": lambda f: f.contrast_db,
    "harmonic_rms": lambda f: f.harmonic_rms,
    "percussive_rms": lambda f: f.percussive_rms,
    "onset_env": lambda f: f.onset_env,
    "rms_db": lambda f: 20 * np.log10(np.maximum(f.rms, 1e-5)),
    "harmonic_energy": lambda f: f.harmonic_rms**2,
    "percussive_energy": lambda f: f.percussive_rms**2,
}


@dataclass(frozen=True)
class WindowInputs:
    """What every feature set reads: one track's frames, the windows' frame bounds and pulse.

    Window statistics that several sets use are computed on first use and then shared.
    """

    frames: Frames
    f0: np.ndarray  # (n_windows,) first frame of each window
    f1: np.ndarray  # (n_windows,) one past its last frame
    tempo_bpm: np.ndarray  # (n_windows,) 0 where a window has no pulse
    pulse_clarity: np.ndarray  # (n_windows,) 0..1
    onset_frames: np.ndarray  # sorted onset frame indices

    @property
    def n_windows(self) -> int:
        return int(self.f0.size)

    @property
    def duration_s(self) -> np.ndarray:
        return (self.f1 - self.f0) * self.frames.frame_s

    def mean_var(self, series: str) -> tuple[np.ndarray, np.ndarray]:
        """(n_windows,) mean and variance of one of the shared frame series (see ``_SERIES``)."""
        means, variances = self._series
        i = list(_SERIES).index(series)
        return means[:, i], variances[:, i]

    @cached_property
    def _series(self) -> tuple[np.ndarray, np.ndarray]:
        rows = np.vstack([get(self.frames) for get in _SERIES.values()])
        return window_mean_var(rows, self.f0, self.f1)

    @cached_property
    def mfcc(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_windows, 20) window mean and variance of each MFCC."""
        return window_mean_var(self.frames.mfcc, self.f0, self.f1)

    @cached_property
    def chroma(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_windows, 12) window mean and variance of the STFT chroma."""
        return window_mean_var(self.frames.chroma_stft, self.f0, self.f1)


@dataclass(frozen=True)
class FeatureSet:
    """One named feature set: its features (in column order, with units) and how to compute them.

    ``compute`` returns one (n_windows,) array per feature, keyed by the feature names in
    ``features`` and in their order; the per-window table prefixes them with ``name``.
    """

    name: str
    features: Mapping[str, str]
    compute: Callable[[WindowInputs], dict[str, np.ndarray]]

    @property
    def columns(self) -> list[str]:
        return [f"{self.name}.{f}" for f in self.features]

    def table(self, inputs: WindowInputs) -> dict[str, np.ndarray]:
        """The set's columns (prefixed names) for every window."""
        values = self.compute(inputs)
        assert list(values) == list(self.features), f"feature set {self.name} computed other columns"
        return {f"{self.name}.{k}": v for k, v in values.items()}


def _pca_shares(mfcc: np.ndarray, f0: np.ndarray, f1: np.ndarray) -> np.ndarray:
    """(n_windows, 3) variance shares of the first three principal components of each window's MFCC frames."""
    pca = np.zeros((f0.size, 3))
    for w in range(f0.size):
        seg = mfcc[:, f0[w] : f1[w]]
        if seg.shape[1] >= 3:
            ev = np.linalg.eigvalsh(np.cov(seg))[::-1]
            total = ev.sum()
            if total > 0:
                pca[w] = np.maximum(ev[:3], 0) / total
    return pca


def _low_energy_ratio(rms: np.ndarray, f0: np.ndarray, f1: np.ndarray) -> np.ndarray:
    """(n_windows,) share of each window's frames quieter than the window's mean RMS."""
    low = np.zeros(f0.size)
    for w in range(f0.size):
        r = rms[f0[w] : f1[w]]
        low[w] = float(np.mean(r < r.mean())) if r.size else 0.0
    return low


def _amper21(w: WindowInputs) -> dict[str, np.ndarray]:
    mfcc_m, _ = w.mfcc
    pca = _pca_shares(w.frames.mfcc, w.f0, w.f1)
    cen_m, cen_v = w.mean_var("centroid_hz")
    rdb_m, rdb_v = w.mean_var("rms_db")
    he_m, pe_m = w.mean_var("harmonic_energy")[0], w.mean_var("percussive_energy")[0]
    onset_count = np.searchsorted(w.onset_frames, w.f1) - np.searchsorted(w.onset_frames, w.f0)
    return {
        "mfcc_1": mfcc_m[:, 0],
        "mfcc_2": mfcc_m[:, 1],
        "mfcc_3": mfcc_m[:, 2],
        "pca_1": pca[:, 0],
        "pca_2": pca[:, 1],
        "pca_3": pca[:, 2],
        "spectral_centroid_hz": cen_m,
        "spectral_centroid_std_hz": np.sqrt(cen_v),
        "spectral_bandwidth_hz": w.mean_var("bandwidth_hz")[0],
        "spectral_rolloff_hz": w.mean_var("rolloff_hz")[0],
        "spectral_flatness": w.mean_var("flatness")[0],
        "spectral_contrast_db": w.mean_var("contrast_db")[0],
        "zero_crossing_rate": w.mean_var("zcr")[0],
        "rms_db": rdb_m,
        "rms_std_db": np.sqrt(rdb_v),
        "low_energy_ratio": _low_energy_ratio(w.frames.rms, w.f0, w.f1),
        "onset_strength": w.mean_var("onset_env")[0],
        "onset_rate_per_s": onset_count / np.maximum(w.duration_s, 1e-9),
        "tempo_bpm": w.tempo_bpm,
        "pulse_clarity": w.pulse_clarity,
        "harmonic_ratio": he_m / np.maximum(he_m + pe_m, 1e-12),
    }


#: GTZAN pair name -> the shared frame series it is the window mean/variance of.
_GTZAN_SERIES = {
    "rms": "rms",
    "spectral_centroid": "centroid_hz",
    "spectral_bandwidth": "bandwidth_hz",
    "rolloff": "rolloff_hz",
    "zero_crossing_rate": "zcr",
    "harmony": "harmonic_rms",
    "perceptr": "percussive_rms",
}


def _gtzan(w: WindowInputs) -> dict[str, np.ndarray]:
    chroma_m, chroma_v = w.chroma
    mfcc_m, mfcc_v = w.mfcc
    g = {
        "length": np.round(w.duration_s * w.frames.sr),
        "chroma_stft_mean": chroma_m.mean(axis=1),
        "chroma_stft_var": chroma_v.mean(axis=1) + chroma_m.var(axis=1),
    }
    for pair, series in _GTZAN_SERIES.items():
        g[f"{pair}_mean"], g[f"{pair}_var"] = w.mean_var(series)
    g["tempo"] = w.tempo_bpm
    for i in range(20):
        g[f"mfcc{i + 1}_mean"] = mfcc_m[:, i]
        g[f"mfcc{i + 1}_var"] = mfcc_v[:, i]
    return g


def _chroma_change(unit: np.ndarray, lag: int, f0: np.ndarray, f1: np.ndarray) -> np.ndarray:
    """Per window, the mean over its frames of 1 - cosine similarity of unit chroma with the
    frame ``lag`` earlier. Frames with no frame ``lag`` before them are left out of the mean
    (not counted as zero), so the first window is measured like the others."""
    n = unit.shape[1]
    change, valid = np.zeros(n), np.zeros(n)
    if n > lag:
        change[lag:] = 1 - np.sum(unit[:, lag:] * unit[:, :-lag], axis=0)
        valid[lag:] = 1.0
    total, _ = window_mean_var(np.vstack([change, valid]), f0, f1)
    return np.where(total[:, 1] > 0, total[:, 0] / np.maximum(total[:, 1], 1e-12), 0.0)


def _scale_degrees(w: WindowInputs, log_chroma: np.ndarray, window_chroma: np.ndarray,
                   shares: np.ndarray) -> dict[str, np.ndarray]:
    """``degree_0..11``: each window's chroma shares rotated to start on its tonic (the window's
    key weighed with the whole track's, :data:`TONAL_KEY_CONTEXT`)."""
    if not w.n_windows:
        return {f"degree_{k}": np.zeros(0) for k in range(12)}
    track = log_chroma.mean(axis=1) if w.frames.n_frames else None
    keys = estimate_keys(window_chroma, context=track, context_weight=TONAL_KEY_CONTEXT)
    tonic = np.maximum(keys.tonic, 0)
    degrees = np.stack([np.roll(shares[i], -int(tonic[i])) for i in range(w.n_windows)])
    return {f"degree_{k}": degrees[:, k] for k in range(12)}


def _tonal(w: WindowInputs) -> dict[str, np.ndarray]:
    frames = w.frames
    log_chroma = np.log1p(100 * frames.chroma_stft)  # the STFT chroma is per-frame max-normalised
    window_chroma, _ = window_mean_var(log_chroma, w.f0, w.f1)
    scores = key_scores(window_chroma)
    raw_m, _ = w.chroma
    p = raw_m / np.maximum(raw_m.sum(axis=1, keepdims=True), 1e-12)
    unit = frames.chroma_stft / np.maximum(np.linalg.norm(frames.chroma_stft, axis=0, keepdims=True), 1e-12)
    harm_m, harm_v = w.mean_var("harmonic_rms")
    one_second = max(1, int(round(1.0 / frames.frame_s)))
    return {
        "key_strength": scores.strength,
        "major_minus_minor": scores.major_minus_minor,
        "chroma_entropy": -np.sum(p * np.log2(np.maximum(p, 1e-12)), axis=1),
        "harmonic_change": _chroma_change(unit, HARMONIC_CHANGE_LAG, w.f0, w.f1),
        "harmonic_change_1s": _chroma_change(unit, one_second, w.f0, w.f1),
        # windows with no harmonic energy at all read as steady, not as huge ratios
        "harmonic_rms_cv": np.where(harm_m > 1e-6, np.sqrt(harm_v) / np.maximum(harm_m, 1e-6), 0.0),
        **_scale_degrees(w, log_chroma, window_chroma, p),
    }


#: The registry: a new feature set is a description dict, a compute function and one line here.
FEATURE_SETS: dict[str, FeatureSet] = {
    fs.name: fs
    for fs in (
        FeatureSet("amper21", AMPER21, _amper21),
        FeatureSet("gtzan", GTZAN, _gtzan),
        FeatureSet("tonal", TONAL, _tonal),
    )
}


def feature_set(name: str) -> FeatureSet:
    """The registered feature set ``name`` (OptionError when there is none)."""
    check_choice(name, FEATURE_SETS, what="feature set")
    return FEATURE_SETS[name]


def feature_columns(name: str) -> list[str]:
    """Column names of a feature set in the per-window table (``set.feature``)."""
    return feature_set(name).columns


def window_features(
    frames: Frames,
    f0: np.ndarray,
    f1: np.ndarray,
    *,
    tempo_bpm: np.ndarray,
    pulse_clarity: np.ndarray,
    onset_frames: np.ndarray,
    sets: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """The named feature sets (every registered one when None), in registry order, for every
    window of the grid, as one DataFrame."""
    wanted = set(FEATURE_SETS) if sets is None else {feature_set(name).name for name in sets}
    inputs = WindowInputs(frames, f0, f1, tempo_bpm=np.nan_to_num(np.asarray(tempo_bpm, dtype=float), nan=0.0),
                          pulse_clarity=np.asarray(pulse_clarity, dtype=float), onset_frames=onset_frames)
    out: dict[str, np.ndarray] = {}
    for fs in FEATURE_SETS.values():
        if fs.name in wanted:
            out.update(fs.table(inputs))
    return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in out.items()})
