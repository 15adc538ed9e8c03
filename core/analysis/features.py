"""Windowed feature sets, aggregated from frame-level matrices on the ONE window grid.

Two named sets (columns are prefixed with the set name in the per-window table):

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

import numpy as np
import pandas as pd

from core.audio.frames import Frames
from core.audio.grid import window_mean_var

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

FEATURE_SETS: dict[str, dict[str, str]] = {"amper21": AMPER21, "gtzan": GTZAN, "tonal": TONAL}


def feature_columns(name: str) -> list[str]:
    """Column names of a feature set in the per-window table (``set.feature``)."""
    from core.errors import OptionError

    if name not in FEATURE_SETS:
        raise OptionError(f"Unknown feature set '{name}'. Choose one of: {', '.join(FEATURE_SETS)}.")
    return [f"{name}.{f}" for f in FEATURE_SETS[name]]


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


def window_features(
    frames: Frames,
    f0: np.ndarray,
    f1: np.ndarray,
    *,
    tempo_bpm: np.ndarray,
    pulse_clarity: np.ndarray,
    onset_frames: np.ndarray,
    sets: tuple[str, ...] = ("amper21", "gtzan", "tonal"),
) -> pd.DataFrame:
    """Both feature sets for every window of the grid, as one DataFrame."""
    n_win = f0.size
    tempo = np.nan_to_num(np.asarray(tempo_bpm, dtype=float), nan=0.0)
    rms_db = 20 * np.log10(np.maximum(frames.rms, 1e-5))
    scalar = np.vstack(
        [
            frames.rms,
            frames.zcr,
            frames.centroid_hz,
            frames.bandwidth_hz,
            frames.rolloff_hz,
            frames.flatness,
            frames.contrast_db,
            frames.harmonic_rms,
            frames.percussive_rms,
            frames.onset_env,
            rms_db,
            frames.harmonic_rms**2,
            frames.percussive_rms**2,
        ]
    )
    m, v = window_mean_var(scalar, f0, f1)
    (rms_m, zcr_m, cen_m, bw_m, roll_m, flat_m, con_m, harm_m, perc_m, ons_m, rdb_m, he_m, pe_m) = m.T
    (rms_v, zcr_v, cen_v, bw_v, roll_v, _, _, harm_v, perc_v, _, rdb_v, _, _) = v.T
    mfcc_m, mfcc_v = window_mean_var(frames.mfcc, f0, f1)
    chroma_m, chroma_v = window_mean_var(frames.chroma_stft, f0, f1)

    pca = np.zeros((n_win, 3))
    low_energy = np.zeros(n_win)
    for w in range(n_win):
        seg = frames.mfcc[:, f0[w] : f1[w]]
        if seg.shape[1] >= 3:
            ev = np.linalg.eigvalsh(np.cov(seg))[::-1]
            total = ev.sum()
            if total > 0:
                pca[w] = np.maximum(ev[:3], 0) / total
        r = frames.rms[f0[w] : f1[w]]
        low_energy[w] = float(np.mean(r < r.mean())) if r.size else 0.0
    onset_count = np.searchsorted(onset_frames, f1) - np.searchsorted(onset_frames, f0)
    dur_s = (f1 - f0) * frames.frame_s
    out: dict[str, np.ndarray] = {}
    if "amper21" in sets:
        a = {
            "mfcc_1": mfcc_m[:, 0],
            "mfcc_2": mfcc_m[:, 1],
            "mfcc_3": mfcc_m[:, 2],
            "pca_1": pca[:, 0],
            "pca_2": pca[:, 1],
            "pca_3": pca[:, 2],
            "spectral_centroid_hz": cen_m,
            "spectral_centroid_std_hz": np.sqrt(cen_v),
            "spectral_bandwidth_hz": bw_m,
            "spectral_rolloff_hz": roll_m,
            "spectral_flatness": flat_m,
            "spectral_contrast_db": con_m,
            "zero_crossing_rate": zcr_m,
            "rms_db": rdb_m,
            "rms_std_db": np.sqrt(rdb_v),
            "low_energy_ratio": low_energy,
            "onset_strength": ons_m,
            "onset_rate_per_s": onset_count / np.maximum(dur_s, 1e-9),
            "tempo_bpm": tempo,
            "pulse_clarity": np.asarray(pulse_clarity, dtype=float),
            "harmonic_ratio": he_m / np.maximum(he_m + pe_m, 1e-12),
        }
        assert list(a) == list(AMPER21)
        out.update({f"amper21.{k}": v for k, v in a.items()})
    if "gtzan" in sets:
        g = {
            "length": np.round(dur_s * frames.sr),
            "chroma_stft_mean": chroma_m.mean(axis=1),
            "chroma_stft_var": chroma_v.mean(axis=1) + chroma_m.var(axis=1),
            "rms_mean": rms_m,
            "rms_var": rms_v,
            "spectral_centroid_mean": cen_m,
            "spectral_centroid_var": cen_v,
            "spectral_bandwidth_mean": bw_m,
            "spectral_bandwidth_var": bw_v,
            "rolloff_mean": roll_m,
            "rolloff_var": roll_v,
            "zero_crossing_rate_mean": zcr_m,
            "zero_crossing_rate_var": zcr_v,
            "harmony_mean": harm_m,
            "harmony_var": harm_v,
            "perceptr_mean": perc_m,
            "perceptr_var": perc_v,
            "tempo": tempo,
        }
        for i in range(20):
            g[f"mfcc{i + 1}_mean"] = mfcc_m[:, i]
            g[f"mfcc{i + 1}_var"] = mfcc_v[:, i]
        assert list(g) == list(GTZAN)
        out.update({f"gtzan.{k}": v for k, v in g.items()})
    if "tonal" in sets:
        from core.analysis.key import _templates, _zscore, get_profile

        cm, _ = window_mean_var(np.log1p(100 * frames.chroma_stft), f0, f1)  # per-frame max-normalised
        templates = _templates(get_profile(None))
        z, _ = _zscore(cm)
        corr = z @ templates.T
        raw_m, _ = window_mean_var(frames.chroma_stft, f0, f1)
        p = raw_m / np.maximum(raw_m.sum(axis=1, keepdims=True), 1e-12)
        entropy = -np.sum(p * np.log2(np.maximum(p, 1e-12)), axis=1)
        lag = 8  # ~0.19 s: chord changes, not frame noise
        raw = frames.chroma_stft
        unit = raw / np.maximum(np.linalg.norm(raw, axis=0, keepdims=True), 1e-12)
        change_m = _chroma_change(unit, lag, f0, f1)
        change_1s_m = _chroma_change(unit, max(1, int(round(1.0 / frames.frame_s))), f0, f1)
        # windows with no harmonic energy at all read as steady, not as huge ratios
        harm_cv = np.where(harm_m > 1e-6, np.sqrt(harm_v) / np.maximum(harm_m, 1e-6), 0.0)
        # the tonic with the analysis's key profiles: each window's key, weighed with the whole
        # track's (at 1.0 here on the STFT chroma; the analysis uses 2.5 on the CQT chroma)
        from core.analysis.key import estimate_keys

        track = np.log1p(100 * frames.chroma_stft).mean(axis=1) if frames.n_frames else None
        tonic = np.maximum(estimate_keys(cm, context=track, context_weight=1.0).tonic, 0) if n_win else np.zeros(0, int)
        degrees = np.stack([np.roll(p[w], -int(tonic[w])) for w in range(n_win)]) if n_win else np.zeros((0, 12))
        t = {
            "key_strength": np.clip(corr.max(axis=1), 0, 1),
            "major_minus_minor": corr[:, :12].max(axis=1) - corr[:, 12:].max(axis=1),
            "chroma_entropy": entropy,
            "harmonic_change": change_m,
            "harmonic_change_1s": change_1s_m,
            "harmonic_rms_cv": harm_cv,
        }
        for k in range(12):
            t[f"degree_{k}"] = degrees[:, k] if n_win else np.zeros(0)
        assert list(t) == list(TONAL)
        out.update({f"tonal.{k}": v for k, v in t.items()})
    return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in out.items()})
