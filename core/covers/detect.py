"""Cover detection: is this recording a version of that one? (issue 19, item 4)

Every track becomes :class:`CoverFeatures` (beat-synchronous CQT chroma on the project's beat
grid, :func:`core.analysis.tempo.estimate_tempo`), and a scorer of the :data:`DETECTORS`
registry says how alike two tracks are (higher = more alike):

- ``fft2d``: the Leiden paper's baseline (after Bertin-Mahieux & Ellis 2012): 75-beat chroma
  patches, the magnitude of their 2-D Fourier transform (key- and phase-invariant), the median
  over the patches, and 1 / (1 + Euclidean distance).
- ``qmax`` (default): Serra, Serra & Andrzejak 2009: the reference transposed by the optimal
  transposition index (OTI) of the global chromas, a binary cross-recurrence plot of delay
  embeddings (mutual nearest neighbours) and the Qmax local alignment
  (:mod:`core.covers.qmax`). The score is Qmax over the query's length: the share of the
  query that aligns, never divided by the reference's length, so a 15 s excerpt still finds
  its full song.

A new scorer is one function ``scores(query, references) -> np.ndarray`` and one registry line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import librosa
import numpy as np

from core.analysis.tempo import estimate_tempo
from core.audio.load import SILENCE_PEAK
from core.cachekey import library_versions, stage_key
from core.covers.qmax import qmax_scores
from core.errors import StudioError, check_choice

log = logging.getLogger(__name__)

#: Bump when a change alters the features of the same audio (part of the cache key).
DETECT_VERSION = 1
STORE_KIND = "cover_features"
FEATURE_SR = 22050
HOP_LENGTH = 512
#: CQT chroma from C1 over 7 octaves at 3 bins per semitone (as the analysis' CQT).
CQT_BINS_PER_OCTAVE = 36
CQT_OCTAVES = 7
#: The harmonic part: HPSS on CQT frames pooled by 4 (93 ms), median over 5 pooled frames x 9 bins
#: (weighting the lowest octaves down as the key chroma does measured worse: bench/cover_detect.py).
N_FFT = 2048
HPSS_POOL_FRAMES = 4
HPSS_KERNEL = (5, 9)
#: Fewest beats a clip must have to be compared (about 8 s at 120 BPM).
MIN_BEATS = 16
#: The beat grid is read in one tempo octave from this tempo (a 60 BPM pulse as 120 BPM half beats).
FOLD_MIN_BPM = 80.0
#: fft2d: patch length in beats and the power-law expansion of the chroma (Bertin-Mahieux & Ellis).
PATCH_BEATS = 75
FFT_POWER = 1.96


class CoverDetectionError(StudioError):
    """A clip cannot be compared as a cover (too short, no beat)."""


@dataclass(frozen=True)
class CoverFeatures:
    """What the cover scorers read from one track.

    Attributes
    ----------
    chroma : (n_beats, 12) float32, each beat scaled to max 1 (C first)
    beats_s : (n_beats,) the beat times (s) the chroma is pooled between
    tempo_bpm : the beat grid's tempo
    duration_s : the clip's length (s)
    """

    chroma: np.ndarray = field(repr=False)
    beats_s: np.ndarray = field(repr=False)
    tempo_bpm: float
    duration_s: float
    track_hash: str | None = None

    @property
    def n_beats(self) -> int:
        return int(self.chroma.shape[0])

    def to_dict(self) -> dict:
        return {"chroma": self.chroma.tolist(), "beats_s": self.beats_s.tolist(), "tempo_bpm": self.tempo_bpm,
                "duration_s": self.duration_s, "track_hash": self.track_hash}

    @classmethod
    def from_dict(cls, data: dict) -> "CoverFeatures":
        chroma = np.asarray(data["chroma"], dtype=np.float32).reshape(-1, 12)
        beats = np.asarray(data["beats_s"], dtype=float)
        if beats.shape[0] != chroma.shape[0]:
            raise ValueError("one beat time per chroma vector")
        return cls(chroma, beats, float(data["tempo_bpm"]), float(data["duration_s"]), data.get("track_hash"))


def features_key(track_hash: str) -> str:
    """The store key of a track's cover features."""
    return stage_key(STORE_KIND, DETECT_VERSION, track_hash, library_versions("librosa", "numpy", "scipy"))


def _mono(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at FEATURE_SR; ``audio`` is (n,) or (n, channels) (a Track's layout)."""
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1 if y.shape[1] <= y.shape[0] else 0)
    if y.ndim != 1:
        raise CoverDetectionError("The audio must be mono or stereo samples to be compared as a cover.")
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    if sample_rate != FEATURE_SR and y.size:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=FEATURE_SR, res_type="soxr_hq")
    return y


def _beat_frames(y: np.ndarray, stft: np.ndarray) -> tuple[np.ndarray, float]:
    """Beat frames (HOP_LENGTH grid) and tempo from the analysis' tempo estimator."""
    mel = librosa.feature.melspectrogram(S=stft**2, sr=FEATURE_SR)
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=FEATURE_SR, hop_length=HOP_LENGTH)
    tempo = estimate_tempo(onset, sr=FEATURE_SR, hop_length=HOP_LENGTH, f0=np.array([0]),
                           f1=np.array([onset.size]))
    frames = librosa.time_to_frames(tempo.beat_times_s, sr=FEATURE_SR, hop_length=HOP_LENGTH)
    return np.unique(frames[(frames >= 0) & (frames < onset.size)]), float(tempo.tempo_bpm)


def fold_beats(frames: np.ndarray, tempo_bpm: float) -> tuple[np.ndarray, float]:
    """The beat grid brought into FOLD_MIN_BPM..2 x FOLD_MIN_BPM: a slow pulse gets its half
    beats (midpoints), a fast one keeps every other beat; returns the frames and their tempo."""
    while tempo_bpm < FOLD_MIN_BPM and frames.size >= 2:
        frames = np.unique(np.r_[frames, (frames[:-1] + frames[1:]) // 2])
        tempo_bpm *= 2
    while tempo_bpm >= 2 * FOLD_MIN_BPM and frames.size >= 2 * MIN_BEATS:
        frames = frames[::2]
        tempo_bpm /= 2
    return frames, tempo_bpm


def _chroma(y: np.ndarray, stft: np.ndarray) -> np.ndarray:
    """(12, n_frames) chroma of the CQT's harmonic part, tuned to the clip.

    The harmonic part comes from a median-filter HPSS on the CQT itself, on frames pooled by
    HPSS_POOL_FRAMES (drums and onsets then smear no pitch class), as the analysis' key chroma."""
    tuning = float(librosa.estimate_tuning(S=stft[: stft.shape[0] // 2], sr=FEATURE_SR)) if stft.max() > 1e-4 else 0.0
    cqt = np.abs(librosa.cqt(y, sr=FEATURE_SR, hop_length=HOP_LENGTH, n_bins=CQT_BINS_PER_OCTAVE * CQT_OCTAVES,
                             bins_per_octave=CQT_BINS_PER_OCTAVE, tuning=tuning))
    n = cqt.shape[1]
    pad = (-n) % HPSS_POOL_FRAMES
    pooled = np.pad(cqt, ((0, 0), (0, pad)), mode="edge").reshape(cqt.shape[0], -1, HPSS_POOL_FRAMES).mean(axis=2)
    harmonic = librosa.decompose.hpss(pooled, kernel_size=HPSS_KERNEL, margin=1.0)[0]
    chroma = librosa.feature.chroma_cqt(C=harmonic, sr=FEATURE_SR, bins_per_octave=CQT_BINS_PER_OCTAVE, norm=None)
    return np.repeat(chroma, HPSS_POOL_FRAMES, axis=1)[:, :n]


def _too_few_beats(n_beats: int, duration_s: float) -> CoverDetectionError:
    return CoverDetectionError(
        f"This clip has too few beats to compare as a cover: {n_beats} found in {duration_s:.1f} s, at least "
        f"{MIN_BEATS} are needed. Use a longer excerpt (15 s or more) with a steady beat.")


def compute_features(audio: np.ndarray, sample_rate: int, *, track_hash: str | None = None) -> CoverFeatures:
    """The features of :func:`cover_features`, always computed (no store)."""
    if not sample_rate or sample_rate <= 0:
        raise CoverDetectionError(f"The sample rate must be positive to compare a clip as a cover (got {sample_rate}).")
    y = _mono(audio, sample_rate)
    duration_s = y.size / FEATURE_SR
    if y.size and not np.any(np.abs(y) > SILENCE_PEAK):
        raise CoverDetectionError(f"This clip is silent ({duration_s:.1f} s): there is nothing to compare as a cover.")
    if y.size < HOP_LENGTH * 8:
        raise _too_few_beats(0, duration_s)
    stft = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH))
    beats, tempo_bpm = fold_beats(*_beat_frames(y, stft))
    if beats.size - 1 < MIN_BEATS:
        raise _too_few_beats(max(beats.size - 1, 0), duration_s)
    chroma = librosa.util.sync(_chroma(y, stft), beats, aggregate=np.mean, pad=False).T  # (n_beats, 12)
    chroma = chroma / np.maximum(chroma.max(axis=1, keepdims=True), 1e-9)
    beats_s = librosa.frames_to_time(beats[:-1], sr=FEATURE_SR, hop_length=HOP_LENGTH)
    return CoverFeatures(chroma.astype(np.float32), beats_s, tempo_bpm, float(duration_s), track_hash)


def cover_features(audio: np.ndarray, sample_rate: int, *, track_hash: str | None = None,
                   store=None) -> CoverFeatures:
    """Beat-synchronous chroma of one track, for :func:`similarity` and friends.

    Parameters
    ----------
    audio : (n,) or (n, channels) float samples
    sample_rate : Hz
    track_hash : the track's content hash; with a ``store`` the features are kept under it
    store : :class:`core.store.store.Store`, optional

    Raises
    ------
    CoverDetectionError
        When the clip has fewer than :data:`MIN_BEATS` beats (too short, silent, no pulse).
    """
    key = features_key(track_hash) if store is not None and track_hash else None
    if key is not None:
        cached = store.get_json(STORE_KIND, key)
        if cached is not None:
            try:
                return CoverFeatures.from_dict(cached)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("Stored cover features %s are damaged (%s): computed again.", key, exc)
    features = compute_features(audio, sample_rate, track_hash=track_hash)
    if key is not None:
        store.put_json(STORE_KIND, key, features.to_dict())
    return features


# ------------------------------------------------------------------ fft2d (Leiden baseline)
def fft2d_vector(features: CoverFeatures) -> np.ndarray:
    """(PATCH_BEATS * 12,) the median 2-D FFT magnitude of the 75-beat chroma patches, unit length.

    A clip shorter than one patch is repeated to fill it (the FFT treats a patch as periodic)."""
    chroma = features.chroma.astype(float) ** FFT_POWER
    if chroma.shape[0] < PATCH_BEATS:
        chroma = np.resize(chroma, (PATCH_BEATS, 12))
    patches = np.lib.stride_tricks.sliding_window_view(chroma, (PATCH_BEATS, 12))[:, 0]
    magnitude = np.median(np.abs(np.fft.fft2(patches, axes=(1, 2))), axis=0).ravel()
    return magnitude / max(float(np.linalg.norm(magnitude)), 1e-12)


def fft2d_scores(query: CoverFeatures, references: list[CoverFeatures]) -> np.ndarray:
    """1 / (1 + Euclidean distance) of the median 2-D FFT patches (Leiden baseline)."""
    q = fft2d_vector(query)
    refs = np.stack([fft2d_vector(r) for r in references]) if references else np.zeros((0, q.size))
    return 1.0 / (1.0 + np.linalg.norm(refs - q, axis=1))


def _qmax(query: CoverFeatures, references: list[CoverFeatures], **params) -> np.ndarray:
    return qmax_scores(query.chroma, [r.chroma for r in references], query_bpm=query.tempo_bpm,
                       reference_bpms=[r.tempo_bpm for r in references], **params)


def _qmax_fine(query: CoverFeatures, references: list[CoverFeatures]) -> np.ndarray:
    """Qmax with a finer neighbourhood (7-beat embedding, 5 % neighbours): best on versions of one
    recording and on engine renderings of songs that share a progression, worse on covers in
    another genre (see core/covers/qmax.py)."""
    return _qmax(query, references, dim=7, kappa=0.05)


#: name -> ``scores(query, references) -> (len(references),) similarities`` (higher = more alike).
DETECTORS = {"qmax": _qmax, "qmax-fine": _qmax_fine, "fft2d": fft2d_scores}
DEFAULT_DETECTOR = "qmax"


def _scorer(method: str):
    check_choice(method, DETECTORS, what="cover detection method")
    return DETECTORS[method]


def similarity(a: CoverFeatures, b: CoverFeatures, *, method: str = DEFAULT_DETECTOR) -> float:
    """How alike ``b`` is to ``a`` as a version of it (``a`` the query; higher = more alike)."""
    return float(_scorer(method)(a, [b])[0])


def similarity_matrix(features: list[CoverFeatures], *, method: str = DEFAULT_DETECTOR,
                      progress=None) -> np.ndarray:
    """(n, n) similarities: row i is track i as the query against every track (higher = more alike)."""
    scores = _scorer(method)
    report = progress or (lambda f, m="": None)
    n = len(features)
    out = np.zeros((n, n))
    for i, query in enumerate(features):
        report(i / max(n, 1), f"comparing {i + 1}/{n}")
        out[i] = scores(query, features)
    report(1.0, "compared")
    return out


def rank_of(query: CoverFeatures, reference: CoverFeatures, others: list[CoverFeatures], *,
            method: str = DEFAULT_DETECTOR) -> int:
    """Where ``reference`` ranks among ``[reference, *others]`` by similarity to ``query``:
    1 when no other track is more alike (ties go to the reference)."""
    scores = _scorer(method)(query, [reference, *others])
    return 1 + int(np.sum(scores[1:] > scores[0]))
