"""Tempo and beats from ONE onset envelope.

The autocorrelation tempogram of the whole track is computed once; the global tempo uses
its mean over the track, each window's tempo the mean over the window's frames (cumulative
sums, no recomputation). Peaks are refined by parabolic interpolation of the lag, then by a
least-squares fit of the beat times inside the window, so tempo is precise to a fraction of
a percent rather than to one frame of lag (one frame is 2.5 % at 180 BPM).
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
from scipy.ndimage import uniform_filter1d

from core.audio.grid import window_mean_var

MIN_BPM = 30.0
#: Highest tempo reported (GTZAN-Rhythm annotates fast reels and punk up to ~260 BPM).
MAX_BPM = 260.0
#: Tempogram window (frames): ~8.9 s at 22,050 Hz / 512.
TEMPOGRAM_WIN = 384
#: The onset envelope minus its running mean over this span (s), half-wave rectified, is what
#: the tempogram reads: slow loudness swells then do not mask the pulse.
DETREND_S = 1.0
#: The metrical level: the period whose own and double-period autocorrelation are strongest,
#: under a broad log-normal prior (centre, width in octaves).
PRIOR_CENTER_BPM = 120.0
PRIOR_STD_OCTAVES = 1.0
#: The octave people tap (GTZAN-Rhythm level), chosen among half, the metrical level and double:
#: a log-normal preference centred on TAP_CENTER_BPM at TAP_REF_ONSETS_PER_S onsets per second,
#: moving with the onset density to the power TAP_DENSITY_EXP, plus TAP_SALIENCE_WEIGHT x log of
#: the candidate's autocorrelation. Chosen on the train part of gtzan-dev (bench/real_music.py).
TAP_CENTER_BPM = 100.0
TAP_STD_OCTAVES = 0.6
TAP_REF_ONSETS_PER_S = 3.0
TAP_DENSITY_EXP = 0.4
TAP_SALIENCE_WEIGHT = 0.25
#: No pulse when the mean onset strength stays below this (nothing is struck: a held tone) ...
MIN_ONSET_STRENGTH = 0.05
#: ... or when the onset envelope has no peaks: its 99th percentile over its median stays below
#: this (noise of any colour, rain, a chord over hiss: 1.4-1.65; every gtzan-dev clip 2.45 or
#: more, median 7.5; a 66 BPM pluck over light hiss 2.7).
MIN_ONSET_PEAKINESS = 2.0


@dataclass(frozen=True)
class TempoResult:
    tempo_bpm: float  # global tempo, NaN when the track has no pulse
    beat_times_s: np.ndarray  # beat grid (s)
    window_tempo_bpm: np.ndarray  # (n_windows,) NaN where a window has no pulse
    pulse_clarity: np.ndarray  # (n_windows,) 0..1 height of the tempogram peak
    confidence: float = 0.0  # 0..1 how clearly the track's pulse stands out (0 when no pulse)


def _log_normal_prior(bpms: np.ndarray, center_bpm: float, std_octaves: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.exp(-0.5 * ((np.log2(bpms) - np.log2(center_bpm)) / std_octaves) ** 2)


def _peak_bpm(ac: np.ndarray, lag_bpm: np.ndarray, valid: np.ndarray, prior: np.ndarray) -> tuple[float, float]:
    """Tempo (BPM) at the prior-weighted autocorrelation peak, lag-interpolated."""
    score = np.where(valid, ac * prior, -np.inf)
    i = int(np.argmax(score))
    if not np.isfinite(score[i]) or ac[i] <= 0:
        return float("nan"), 0.0
    lag = float(i)
    if 0 < i < len(ac) - 1:
        a, b, c = ac[i - 1], ac[i], ac[i + 1]
        den = a - 2 * b + c
        if den < 0:
            lag = i + 0.5 * (a - c) / den
    return float(lag_bpm[1] / lag) if lag > 0 else float("nan"), float(ac[i])


def _beat_fit_bpm(beats_s: np.ndarray) -> float:
    """Tempo from a robust least-squares line through beat times (NaN if too few)."""
    if beats_s.size < 4:
        return float("nan")
    idx = np.arange(beats_s.size)
    period, offset = np.polyfit(idx, beats_s, 1)
    resid = beats_s - (period * idx + offset)
    keep = np.abs(resid) < max(3 * np.median(np.abs(resid)), 0.02)
    if keep.sum() >= 4:
        period, _ = np.polyfit(idx[keep], beats_s[keep], 1)
    return 60.0 / period if period > 0 else float("nan")


def _detrended(onset_env: np.ndarray, *, sr: int, hop_length: int) -> np.ndarray:
    """The onset envelope above its running mean (half-wave rectified)."""
    width = max(3, int(round(DETREND_S * sr / hop_length)) | 1)
    return np.maximum(onset_env - uniform_filter1d(onset_env, width, mode="nearest"), 0.0)


def _at_bpm(ac: np.ndarray, lag_bpm: np.ndarray, bpm: float) -> float:
    """The autocorrelation at the lag of ``bpm`` (linear interpolation; tiny floor)."""
    lag = lag_bpm[1] / bpm
    i = int(lag)
    if i + 1 >= ac.size:
        return 1e-4
    frac = lag - i
    return max(float((1 - frac) * ac[i] + frac * ac[i + 1]), 1e-4)


def _metrical_bpm(ac: np.ndarray, lag_bpm: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """The metrical period (its own plus its double period's autocorrelation, broad prior),
    lag-refined; returns (BPM, autocorrelation there)."""
    n = ac.size
    double = np.zeros(n)
    lags = np.arange(n)
    ok = 2 * lags + 1 < n
    double[ok] = np.maximum.reduce([ac[2 * lags[ok] + d] for d in (-1, 0, 1)])
    prior = _log_normal_prior(lag_bpm, PRIOR_CENTER_BPM, PRIOR_STD_OCTAVES)
    score = np.where(valid, (ac + double) * prior, -np.inf)
    i = int(np.argmax(score))
    lo, hi = max(i - 2, 1), min(i + 3, n)
    j = lo + int(np.argmax(ac[lo:hi]))
    one = np.zeros(n, dtype=bool)
    one[j] = True
    return _peak_bpm(ac, lag_bpm, one, np.ones(n))


def _tap_octave(metrical_bpm: float, ac: np.ndarray, lag_bpm: np.ndarray, onsets_per_s: float) -> float:
    """Half, once or twice the metrical tempo: the one people tap (see the TAP_* constants)."""
    center = TAP_CENTER_BPM * (max(onsets_per_s, 0.1) / TAP_REF_ONSETS_PER_S) ** TAP_DENSITY_EXP
    best_bpm, best = metrical_bpm, -np.inf
    for bpm in (metrical_bpm / 2, metrical_bpm, metrical_bpm * 2):
        if not MIN_BPM <= bpm <= MAX_BPM:
            continue
        score = -0.5 * (np.log2(bpm / center) / TAP_STD_OCTAVES) ** 2
        score += TAP_SALIENCE_WEIGHT * np.log(_at_bpm(ac, lag_bpm, bpm))
        if score > best:
            best_bpm, best = bpm, score
    return best_bpm


def _onsets_per_s(onset_env: np.ndarray, weights: np.ndarray, *, sr: int, hop_length: int) -> float:
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=hop_length, units="frames")
    heard = onsets[weights[onsets] > 0] if onsets.size else onsets
    return float(heard.size / max(weights.sum() * hop_length / sr, 1e-9))


def _window_tempi(tg, lag_bpm, valid, tempo, beat_times, *, f0, f1, silent_frames, sr, hop_length):
    """Per window: mean tempogram over the window's frames (cumulative sums), a prior
    centred on the global tempo (so a window only leaves it with clear evidence)."""
    mean_tg, _ = window_mean_var(tg, f0, f1)
    local_prior = _log_normal_prior(lag_bpm, tempo, PRIOR_STD_OCTAVES)
    win_bpm = np.full(f0.size, np.nan)
    clarity = np.zeros(f0.size)
    for w in range(f0.size):
        bpm, peak = _peak_bpm(mean_tg[w], lag_bpm, valid, local_prior)
        if silent_frames is not None and silent_frames[f0[w]:f1[w]].mean() > 0.9:
            continue
        clarity[w] = np.clip(peak, 0.0, 1.0)
        if np.isfinite(bpm) and abs(bpm / tempo - 1) < 0.04:
            t0, t1 = f0[w] * hop_length / sr, f1[w] * hop_length / sr
            inside = beat_times[(beat_times >= t0) & (beat_times < t1)]
            refined = _beat_fit_bpm(inside)
            if np.isfinite(refined) and abs(refined / bpm - 1) < 0.04:
                bpm = refined
        win_bpm[w] = bpm
    return win_bpm, clarity


def estimate_tempo(
    onset_env: np.ndarray,
    *,
    sr: int,
    hop_length: int,
    f0: np.ndarray,
    f1: np.ndarray,
    silent_frames: np.ndarray | None = None,
) -> TempoResult:
    """Global tempo (with a confidence), beat grid and per-window tempo from one onset envelope.

    The global tempo is the metrical period of the mean tempogram, then the octave people tap
    (:func:`_tap_octave`); it is NaN only when there is no pulse at all (a held tone, noise).

    Parameters
    ----------
    onset_env : (n_frames,) onset strength
    f0, f1 : window frame bounds on the ONE grid
    silent_frames : optional boolean mask; silent stretches do not vote for the tempo
    """
    n = onset_env.size
    no_pulse = TempoResult(float("nan"), np.zeros(0), np.full(f0.size, np.nan), np.zeros(f0.size))
    weights = np.ones(n) if silent_frames is None else (~silent_frames).astype(float)
    if n < 8 or weights.sum() == 0 or np.sum(onset_env * weights) / weights.sum() < MIN_ONSET_STRENGTH:
        return no_pulse
    heard = onset_env[weights > 0]
    if np.percentile(heard, 99) < MIN_ONSET_PEAKINESS * max(float(np.median(heard)), 1e-9):
        return no_pulse
    tg = librosa.feature.tempogram(onset_envelope=_detrended(onset_env, sr=sr, hop_length=hop_length), sr=sr,
                                   hop_length=hop_length, win_length=TEMPOGRAM_WIN)
    lag_bpm = librosa.tempo_frequencies(tg.shape[0], sr=sr, hop_length=hop_length)
    valid = (lag_bpm >= MIN_BPM) & (lag_bpm <= MAX_BPM)
    global_ac = (tg * weights).sum(axis=1) / weights.sum()
    metrical_bpm, height = _metrical_bpm(global_ac, lag_bpm, valid)
    if not np.isfinite(metrical_bpm):
        return no_pulse
    rough_bpm = _tap_octave(metrical_bpm, global_ac, lag_bpm, _onsets_per_s(onset_env, weights, sr=sr,
                                                                            hop_length=hop_length))
    _, beats = librosa.beat.beat_track(
        onset_envelope=onset_env, sr=sr, hop_length=hop_length, bpm=rough_bpm, units="frames", trim=False
    )
    beat_times = librosa.frames_to_time(beats, sr=sr, hop_length=hop_length)
    fitted = _beat_fit_bpm(beat_times)
    tempo = fitted if np.isfinite(fitted) and abs(fitted / rough_bpm - 1) < 0.04 else rough_bpm
    win_bpm, clarity = _window_tempi(tg, lag_bpm, valid, tempo, beat_times, f0=f0, f1=f1,
                                     silent_frames=silent_frames, sr=sr, hop_length=hop_length)
    median = float(np.median(global_ac[valid]))
    confidence = float(np.clip((height - median) / max(1.0 - median, 1e-9), 0.0, 1.0))
    return TempoResult(float(tempo), beat_times, win_bpm, clarity, confidence)
