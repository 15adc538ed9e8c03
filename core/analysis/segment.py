"""Laplacian form segmentation (McFee & Ellis 2014), with labels and boundaries decided apart.

Pipeline (on beat-synchronous features):

1. beat-synchronous CQT (dB) -> k-NN recurrence matrix with affinity weights;
2. path enhancement (time-lag median filter) plus a local path graph from MFCC steps,
   balanced by the degree-matching weight ``mu`` of the paper;
3. eigenvectors of the normalised graph Laplacian;
4. **labels**: KMeans on the first k eigenvectors, k (the number of section *types*)
   chosen by silhouette over a range constrained by duration (:func:`k_range`);
5. **boundaries**: a registry of methods. ``novelty`` (default) picks peaks of a
   checkerboard novelty curve over the cosine self-similarity of the first m eigenvectors;
   ``labels`` puts a boundary wherever the KMeans label changes (the librosa gallery recipe).
   Each segment then takes the majority cluster label of its beats, so returning material
   shares a label; segments shorter than ``min_segment_s`` merge into their closest neighbour.

Registries (msaf's shape: one contract per kind of algorithm)
------------------------------------------------------------
``LABEL_METHODS`` maps a name to a :data:`LabelMethod`: ``method(form, k_lo=, k_hi=)`` gets
the :class:`FormFeatures` of the track and the range of section types to try, and returns
``(k, labels, scores)``: the number of types, one type id per beat-synchronous frame, and the
score of each k tried. ``BOUNDARY_METHODS`` maps a name to a :data:`BoundaryMethod`:
``method(form, labels=)`` returns the frames (1 .. n - 1) where a segment starts. A new
algorithm is one function and one line in its registry; ``SegmentOptions.label_method`` and
``boundary_method`` pick them by name.

See ``../shared/NOTES-segmentation.md`` for the measurements behind these defaults.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Callable

import librosa
import numpy as np
import scipy.linalg
import scipy.ndimage
import scipy.signal
import scipy.sparse.csgraph
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from core.errors import OptionError, check_choice


@dataclass(frozen=True, kw_only=True)
class SegmentOptions:
    """Knobs of the form segmentation.

    Attributes
    ----------
    k_min, k_max : int or None
        Range of section types tried by silhouette; None = the duration rule of :func:`k_range`.
    boundary_method : str
        A name in :data:`BOUNDARY_METHODS`: ``"novelty"`` (default), ``"labels"``, ``"structural"``
        (Serra et al.'s structural features) or ``"fusion"`` (the mean of both novelty curves).
    label_method : str
        A name in :data:`LABEL_METHODS`: ``"kmeans"`` (default, k by silhouette) or
        ``"uniform"`` (one section type: the boundaries alone make the form).
    min_segment_s : float
        Segments shorter than this merge into a neighbour.
    kernel_s : float
        Half-width of the checkerboard kernel (novelty), in seconds.
    n_eigenvectors : int
        m, the eigenvectors used for the novelty self-similarity.
    peak_prominence : float
        Minimum novelty peak prominence (novelty is scaled to 0..1).
    mfcc_weight : float
        Weight of timbre (MFCC) next to harmony (CQT) in the recurrence features; 0 gives
        the CQT-only recurrence of the paper.
    silhouette_tolerance : float
        k is the largest k whose silhouette is within this of the best score.
    seed : int
        KMeans seed (segmentation is deterministic for a given seed).
    """

    k_min: int | None = None
    k_max: int | None = None
    boundary_method: str = "novelty"
    label_method: str = "kmeans"
    min_segment_s: float = 6.0
    kernel_s: float = 12.0
    n_eigenvectors: int = 5
    peak_prominence: float = 0.12
    mfcc_weight: float = 2.0
    silhouette_tolerance: float = 0.03
    seed: int = 0

    def __post_init__(self):
        check_choice(self.boundary_method, BOUNDARY_METHODS, what="boundary method")
        check_choice(self.label_method, LABEL_METHODS, what="label method")
        for name in ("k_min", "k_max"):
            v = getattr(self, name)
            if v is not None and (not float(v).is_integer() or not (1 <= v <= 12)):
                raise OptionError(f"{name} must be a whole number of section types from 1 to 12 (got {v}).")
        if not (1 <= self.n_eigenvectors <= 20) or not float(self.n_eigenvectors).is_integer():
            raise OptionError(f"n_eigenvectors must be a whole number from 1 to 20 (got {self.n_eigenvectors}).")
        if not (0.0 < self.peak_prominence < 1.0):
            raise OptionError(f"peak_prominence must be between 0 and 1 (got {self.peak_prominence}).")
        if not (0.0 <= self.mfcc_weight <= 10.0) or not (0.0 <= self.silhouette_tolerance <= 1.0):
            raise OptionError("mfcc_weight must be 0-10 and silhouette_tolerance 0-1.")
        if self.k_min and self.k_max and self.k_min > self.k_max:
            raise OptionError(f"k_min ({self.k_min}) is larger than k_max ({self.k_max}).")
        if not (0.0 <= self.min_segment_s <= 120.0):
            raise OptionError(f"Minimum segment length must be 0-120 s (got {self.min_segment_s}).")
        if not (2.0 <= self.kernel_s <= 60.0):
            raise OptionError(f"Novelty kernel must be 2-60 s (got {self.kernel_s}).")


@dataclass(frozen=True)
class Segmentation:
    boundaries_s: np.ndarray  # segment starts plus the final end, (n_segments + 1,)
    labels: list[str]  # one letter per segment, by first appearance: A, B, A, C ...
    k: int  # number of section types chosen
    silhouette: dict[int, float] = field(default_factory=dict)  # k -> score tried
    novelty: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per sync frame, 0..1
    sync_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))


def k_range(duration_s: float) -> tuple[int, int]:
    """Section types worth trying for a track of ``duration_s`` seconds.

    Rule: k_min is 1 below 30 s, 2 from 30 s, 3 from 150 s (a 4-minute song with one or two
    section types is a trivial segmentation); k_max is 1 + one type per 20 s, at most 8
    (a 10 s clip gets 1, a 60 s clip at most 4, a 4-minute song 3 to 8).
    """
    k_min = 1 if duration_s < 30 else (2 if duration_s < 150 else 3)
    k_max = max(k_min, min(8, 1 + int(duration_s // 20)))
    return k_min, k_max


def _sync_grid(beat_frames: np.ndarray, n_frames: int, frame_s: float, duration_s: float) -> np.ndarray:
    """Frames to aggregate between: the beats when they are usable, else a 0.5 s grid."""
    beats = np.unique(beat_frames[(beat_frames > 0) & (beat_frames < n_frames)])
    if beats.size >= max(8, 0.4 * duration_s):
        ibi = np.diff(beats) * frame_s
        if ibi.size and np.median(ibi) <= 1.5:
            return beats
    step = max(1, int(round(0.5 / frame_s)))
    return np.arange(step, n_frames, step)


def _recurrence_features(cqt_sync: np.ndarray, mfcc_sync: np.ndarray, mfcc_weight: float) -> np.ndarray:
    """CQT (dB) alone, or stacked with MFCC so texture changes count next to harmony.

    Each block is centred per row and scaled by its overall spread; the MFCC block is
    scaled up by sqrt(252 / 20) so that ``mfcc_weight = 1`` gives both blocks equal energy.
    """
    if mfcc_weight <= 0:
        return cqt_sync

    def z(m):
        return (m - m.mean(axis=1, keepdims=True)) / (m.std() + 1e-9)

    scale = mfcc_weight * np.sqrt(cqt_sync.shape[0] / mfcc_sync.shape[0])
    return np.vstack([z(cqt_sync), scale * z(mfcc_sync)])


def _affinity(cqt_sync: np.ndarray, mfcc_sync: np.ndarray) -> np.ndarray:
    n = cqt_sync.shape[1]
    width = max(1, min(3, (n - 1) // 2 - 1))
    R = librosa.segment.recurrence_matrix(cqt_sync, width=width, mode="affinity", sym=True)
    df = librosa.segment.timelag_filter(scipy.ndimage.median_filter)
    Rf = df(R, size=(1, 7))
    path_distance = np.sum(np.diff(mfcc_sync, axis=1) ** 2, axis=0)
    sigma = np.median(path_distance)
    path_sim = np.exp(-path_distance / (sigma if sigma > 0 else 1.0))
    R_path = np.diag(path_sim, k=1) + np.diag(path_sim, k=-1)
    deg_path = R_path.sum(axis=1)
    deg_rec = Rf.sum(axis=1)
    denom = np.sum((deg_path + deg_rec) ** 2)
    mu = deg_path.dot(deg_path + deg_rec) / denom if denom > 0 else 0.5
    return mu * Rf + (1 - mu) * R_path


def _embedding(A: np.ndarray) -> np.ndarray:
    L = scipy.sparse.csgraph.laplacian(A, normed=True)
    _, evecs = scipy.linalg.eigh(L)
    return evecs


def _cluster(evecs: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """KMeans labels on the first k normalised eigenvectors, and that embedding."""
    if k <= 1:
        return np.zeros(evecs.shape[0], dtype=int), evecs[:, :1]
    cnorm = np.cumsum(evecs**2, axis=1) ** 0.5
    X = evecs[:, :k] / np.maximum(cnorm[:, k - 1 : k], 1e-12)
    # one thread: on a few hundred beats OpenMP's thread start-up costs 10x the clustering
    # itself on two busy cores (0.55 s -> 0.06 s per fit), with the same labels
    with threadpool_limits(limits=1):
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X), X


def _choose_k(
    evecs: np.ndarray, k_lo: int, k_hi: int, seed: int, tolerance: float
) -> tuple[int, np.ndarray, dict[int, float]]:
    """k by silhouette: the largest k whose score is within ``tolerance`` of the best.

    Silhouette leans towards few clusters (see NOTES-segmentation.md), so near-ties go to
    the finer labelling.
    """
    n = evecs.shape[0]
    k_hi = min(k_hi, n - 1)
    scores: dict[int, float] = {}
    labelings: dict[int, np.ndarray] = {}
    for k in range(max(2, k_lo), k_hi + 1):
        labels, X = _cluster(evecs, k, seed)
        if len(np.unique(labels)) < 2:
            continue
        scores[k] = float(silhouette_score(X, labels))
        labelings[k] = labels
    if not scores:
        return 1, np.zeros(n, dtype=int), scores
    best_score = max(scores.values())
    if k_lo <= 1 and best_score < 0.5:
        # A short clip only splits into two types when the split is clear.
        return 1, np.zeros(n, dtype=int), scores
    k = max(k for k, v in scores.items() if v >= best_score - tolerance)
    return k, labelings[k], scores


def _novelty(evecs: np.ndarray, m: int, half_width: int) -> np.ndarray:
    """Checkerboard novelty over the cosine self-similarity of eigenvectors 1..m.

    At each frame: Gaussian-weighted mean similarity inside the block before and the block
    after, minus the mean similarity across them. Near the ends only the part of the kernel
    inside the track counts, so the track's start and end make no false peaks. 0 means no
    change, 1 a complete change between two self-similar blocks.
    """
    X = evecs[:, 1 : m + 1] if evecs.shape[1] > m else evecs[:, 1:]
    n = evecs.shape[0]
    if X.shape[1] == 0:
        return np.zeros(n)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    S = X @ X.T
    w = max(2, half_width)
    taper = np.exp(-0.5 * ((np.arange(w) + 0.5) / (0.5 * w)) ** 2)  # weight by distance to the cut
    nov = np.zeros(n)
    for i in range(1, n):
        a, b = min(w, i), min(w, n - i)
        wa, wb = taper[:a][::-1], taper[:b]
        before = S[i - a : i, i - a : i]
        after = S[i : i + b, i : i + b]
        cross = S[i - a : i, i : i + b]
        within = 0.5 * (wa @ before @ wa / wa.sum() ** 2 + wb @ after @ wb / wb.sum() ** 2)
        nov[i] = within - wa @ cross @ wb / (wa.sum() * wb.sum())
    return np.clip(nov / 2.0, 0.0, 1.0)


@dataclass(frozen=True)
class FormFeatures:
    """What every label and boundary method sees, one row per beat-synchronous frame."""

    embedding: np.ndarray  # eigenvectors of the normalised graph Laplacian, (n_frames, n_frames)
    novelty: np.ndarray  # checkerboard novelty of the embedding, 0..1, (n_frames,)
    frame_s: float  # median length of a beat-synchronous frame, in seconds
    options: SegmentOptions
    features: np.ndarray | None = None  # the recurrence features, (n_dims, n_frames)

    @property
    def n_frames(self) -> int:
        return self.embedding.shape[0]


#: ``method(form, *, k_lo, k_hi) -> (k, labels, scores)``: the number of section types, one type
#: id per frame of ``form`` (ints from 0), and a score per k tried (may be empty).
LabelMethod = Callable[..., tuple[int, np.ndarray, dict[int, float]]]
#: ``method(form, *, labels) -> cuts``: the frames (1 .. n_frames - 1) where a segment starts.
BoundaryMethod = Callable[..., list[int]]


def kmeans_labels(form: FormFeatures, *, k_lo: int, k_hi: int) -> tuple[int, np.ndarray, dict[int, float]]:
    """KMeans on the first k eigenvectors, k by silhouette (:func:`_choose_k`)."""
    return _choose_k(form.embedding, k_lo, k_hi, form.options.seed, form.options.silhouette_tolerance)


def uniform_labels(form: FormFeatures, *, k_lo: int, k_hi: int) -> tuple[int, np.ndarray, dict[int, float]]:
    """One section type for every frame: the boundaries alone make the form (all segments A)."""
    return 1, np.zeros(form.n_frames, dtype=int), {}


def novelty_boundaries(form: FormFeatures, *, labels: np.ndarray) -> list[int]:
    """Peaks of the novelty curve at least ``min_segment_s`` apart and ``peak_prominence`` high."""
    return _peaks(form, form.novelty)


def structural_novelty(features: np.ndarray, *, embed_frames: int = 3, kappa: float = 0.04,
                       sigma_frames: float = 4.0) -> np.ndarray:
    """Novelty from structural features (Serra, Muller, Grosche & Arcos 2012), 0..1 per frame.

    Time-delay embedding of the features (``embed_frames`` beats), a mutual k-nearest-neighbour
    recurrence matrix (k = ``kappa`` x frames), turned into a time-lag matrix whose columns are
    the structural features (which earlier and later material each moment repeats), smoothed
    along time by a Gaussian of ``sigma_frames``; the novelty is the squared distance between
    consecutive structural features. Where repetition patterns change, sections change, which
    is what this catches and frame-to-frame contrast alone does not.
    """
    n = features.shape[1]
    if n < 4:
        return np.zeros(n)
    x = librosa.feature.stack_memory(features, n_steps=max(1, embed_frames), delay=1, mode="edge")
    k = int(np.clip(round(kappa * n), 2, n - 2))
    R = librosa.segment.recurrence_matrix(x, k=k, sym=True, mode="connectivity").astype(float)
    lag = librosa.segment.recurrence_to_lag(R, pad=False)
    P = scipy.ndimage.gaussian_filter(lag, sigma=(0.5, sigma_frames), mode="nearest")
    nov = np.concatenate([[0.0], np.sum(np.diff(P, axis=1) ** 2, axis=0)])
    top = float(nov.max())
    return nov / top if top > 0 else nov


def _peaks(form: FormFeatures, curve: np.ndarray) -> list[int]:
    min_len = max(1, int(round(form.options.min_segment_s / form.frame_s)))
    peaks, _ = scipy.signal.find_peaks(curve, prominence=form.options.peak_prominence, distance=min_len)
    return [int(p) for p in peaks if 0 < p < form.n_frames]


def _structural(form: FormFeatures) -> np.ndarray:
    if form.features is None:
        raise OptionError("The structural-features boundary method needs the form's features.")
    sigma = max(1.0, form.options.kernel_s / 3.0 / form.frame_s)
    return structural_novelty(form.features, sigma_frames=sigma)


def structural_boundaries(form: FormFeatures, *, labels: np.ndarray) -> list[int]:
    """Peaks of the structural-features novelty (:func:`structural_novelty`)."""
    return _peaks(form, _structural(form))


def fusion_boundaries(form: FormFeatures, *, labels: np.ndarray) -> list[int]:
    """Peaks of the mean of the Laplacian checkerboard novelty and the structural-features novelty."""
    return _peaks(form, 0.5 * (form.novelty + _structural(form)))


def label_change_boundaries(form: FormFeatures, *, labels: np.ndarray) -> list[int]:
    """A boundary wherever the section-type label changes (the librosa gallery recipe)."""
    return [int(c) for c in np.flatnonzero(np.diff(labels)) + 1]


#: Label methods by name (``SegmentOptions.label_method``).
LABEL_METHODS: dict[str, LabelMethod] = {"kmeans": kmeans_labels, "uniform": uniform_labels}
#: Boundary methods by name (``SegmentOptions.boundary_method``; the CLI's and the page's choices).
BOUNDARY_METHODS: dict[str, BoundaryMethod] = {"novelty": novelty_boundaries, "labels": label_change_boundaries,
                                               "structural": structural_boundaries, "fusion": fusion_boundaries}


def _k_bounds(duration_s: float, options: SegmentOptions) -> tuple[int, int]:
    """The range of section types to try: the options' k_min / k_max, else :func:`k_range`."""
    k_lo, k_hi = k_range(duration_s)
    k_lo, k_hi = options.k_min or k_lo, options.k_max or k_hi
    if options.k_min and not options.k_max:
        k_hi = max(k_hi, k_lo)
    if options.k_max and not options.k_min:
        k_lo = min(k_lo, k_hi)
    return k_lo, k_hi


def segment(
    cqt_db: np.ndarray,
    mfcc: np.ndarray,
    beat_frames: np.ndarray,
    *,
    frame_s: float,
    duration_s: float,
    options: SegmentOptions = SegmentOptions(),
) -> Segmentation:
    """Form segments of a track from its frame-level CQT (dB) and MFCC.

    Parameters
    ----------
    cqt_db : (n_bins, n_frames) CQT magnitude in dB
    mfcc : (n_mfcc, n_frames)
    beat_frames : beat positions in frames (may be empty: a 0.5 s grid is used)
    frame_s : seconds per frame
    duration_s : track length in seconds
    """
    n_frames = cqt_db.shape[1]
    grid = _sync_grid(np.asarray(beat_frames, dtype=int), n_frames, frame_s, duration_s)
    edges = np.concatenate([[0], grid, [n_frames]])
    edges = np.unique(edges)
    times = edges * frame_s
    times[-1] = duration_s
    n_sync = edges.size - 1
    if n_sync < 12:  # under ~6 s of beats: too little to find a form in
        return Segmentation(np.array([0.0, duration_s]), ["A"], 1, {}, np.zeros(n_sync), times[:-1])

    cqt_sync = librosa.util.sync(cqt_db, edges[1:-1], aggregate=np.median, pad=True)[:, :n_sync]
    mfcc_sync = librosa.util.sync(mfcc, edges[1:-1], pad=True)[:, :n_sync]
    features = _recurrence_features(cqt_sync, mfcc_sync, options.mfcc_weight)
    A = _affinity(features, mfcc_sync)
    evecs = _embedding(A)
    beat_s = float(np.median(np.diff(times))) if n_sync > 1 else 0.5
    half_width = int(np.clip(round(options.kernel_s / beat_s), 4, 64))
    form = FormFeatures(embedding=evecs, novelty=_novelty(evecs, options.n_eigenvectors, half_width),
                        frame_s=beat_s, options=options, features=features)
    k_lo, k_hi = _k_bounds(duration_s, options)
    k, labels, scores = LABEL_METHODS[options.label_method](form, k_lo=k_lo, k_hi=k_hi)
    cuts = BOUNDARY_METHODS[options.boundary_method](form, labels=labels)
    bounds = [0] + sorted(set(int(c) for c in cuts)) + [n_sync]
    bounds = _merge_short(bounds, times, evecs[:, : max(k, 2)], options.min_segment_s)
    seg_labels = [int(np.bincount(labels[a:b]).argmax()) for a, b in zip(bounds[:-1], bounds[1:])]
    letters = _letters(seg_labels)
    return Segmentation(
        boundaries_s=np.array([times[b] for b in bounds]),
        labels=letters,
        k=len(set(letters)),  # section types that survived labelling and merging
        silhouette=scores,
        novelty=form.novelty,
        sync_times_s=times[:-1],
    )


def _merge_short(bounds: list[int], times: np.ndarray, emb: np.ndarray, min_s: float) -> list[int]:
    """Merge segments shorter than ``min_s`` into the neighbour whose mean embedding is closest."""
    bounds = list(bounds)
    while len(bounds) > 2:
        lengths = [times[b] - times[a] for a, b in zip(bounds[:-1], bounds[1:])]
        i = int(np.argmin(lengths))
        if lengths[i] >= min_s:
            break
        if i == 0:
            del bounds[1]
            continue
        if i == len(lengths) - 1:
            del bounds[-2]
            continue
        me = emb[bounds[i] : bounds[i + 1]].mean(axis=0)
        left = emb[bounds[i - 1] : bounds[i]].mean(axis=0)
        right = emb[bounds[i + 1] : bounds[i + 2]].mean(axis=0)
        if np.linalg.norm(me - left) <= np.linalg.norm(me - right):
            del bounds[i]
        else:
            del bounds[i + 1]
    return bounds


def _letters(cluster_ids: list[int]) -> list[str]:
    """Relabel cluster ids by order of first appearance: A, B, C ... (AA, AB after Z)."""
    mapping: dict[int, str] = {}
    out = []
    for c in cluster_ids:
        if c not in mapping:
            i = len(mapping)
            mapping[c] = string.ascii_uppercase[i] if i < 26 else "A" + string.ascii_uppercase[i - 26]
        out.append(mapping[c])
    return out
