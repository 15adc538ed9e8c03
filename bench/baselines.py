"""Baselines the benchmarks compare against (the recipes a newcomer would reach for)."""

from __future__ import annotations

import librosa
import numpy as np
import scipy
from sklearn.cluster import KMeans

from core.analysis.key import estimate_keys


def gallery_segments(y: np.ndarray, sr: int, *, k: int = 5) -> np.ndarray:
    """The librosa gallery Laplacian segmentation: k = 5, boundaries where labels change.

    Returns the boundary times in seconds, including 0 and the end.
    """
    C = librosa.amplitude_to_db(np.abs(librosa.cqt(y=y, sr=sr, bins_per_octave=36, n_bins=252)), ref=np.max)
    _, beats = librosa.beat.beat_track(y=y, sr=sr, trim=False)
    Csync = librosa.util.sync(C, beats, aggregate=np.median)
    R = librosa.segment.recurrence_matrix(Csync, width=3, mode="affinity", sym=True)
    Rf = librosa.segment.timelag_filter(scipy.ndimage.median_filter)(R, size=(1, 7))
    mfcc = librosa.feature.mfcc(y=y, sr=sr)
    Msync = librosa.util.sync(mfcc, beats)
    path_distance = np.sum(np.diff(Msync, axis=1) ** 2, axis=0)
    path_sim = np.exp(-path_distance / np.median(path_distance))
    R_path = np.diag(path_sim, k=1) + np.diag(path_sim, k=-1)
    deg_path, deg_rec = R_path.sum(axis=1), Rf.sum(axis=1)
    mu = deg_path.dot(deg_path + deg_rec) / np.sum((deg_path + deg_rec) ** 2)
    A = mu * Rf + (1 - mu) * R_path
    L = scipy.sparse.csgraph.laplacian(A, normed=True)
    _, evecs = scipy.linalg.eigh(L)
    evecs = scipy.ndimage.median_filter(evecs, size=(9, 1))
    Cnorm = np.cumsum(evecs**2, axis=1) ** 0.5
    X = evecs[:, :k] / Cnorm[:, k - 1 : k]
    seg_ids = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(X)
    bound_beats = 1 + np.flatnonzero(seg_ids[:-1] != seg_ids[1:])
    bound_beats = librosa.util.fix_frames(bound_beats, x_min=0)
    bound_frames = librosa.util.fix_frames(beats, x_min=0)[bound_beats]
    times = librosa.frames_to_time(bound_frames, sr=sr)
    return np.unique(np.concatenate([[0.0], times[times > 0], [len(y) / sr]]))


def librosa_tempo(y: np.ndarray, sr: int) -> float:
    """librosa's default global tempo estimate."""
    return float(np.atleast_1d(librosa.feature.tempo(y=y, sr=sr))[0])


def krumhansl_key(y: np.ndarray, sr: int) -> tuple[str, str]:
    """Krumhansl-Kessler template on the track's summed chroma_cqt (default settings)."""
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr)
    k = estimate_keys(chroma.sum(axis=1)[None, :], profile="krumhansl_kessler")
    return k.tonic_names()[0], k.mode_names()[0]


def krumhansl_window_keys(y: np.ndarray, sr: int, starts, ends) -> list[tuple[str, str]]:
    """Per-window Krumhansl keys from a chroma_cqt recomputed per window."""
    out = []
    for s, e in zip(starts, ends):
        chroma = librosa.feature.chroma_cqt(y=y[int(s * sr) : int(e * sr)], sr=sr)
        k = estimate_keys(chroma.sum(axis=1)[None, :], profile="krumhansl_kessler")
        out.append((k.tonic_names()[0], k.mode_names()[0]))
    return out
