"""Qmax cover similarity (Serra, Serra & Andrzejak 2009, "Cross recurrence quantification for
cover song identification", New Journal of Physics 11), in numpy.

1. Key: the reference is rotated by the optimal transposition index (OTI), the shift of its
   global chroma that best matches the query's (Serra, Gomez & Herrera 2008).
2. Delay embedding: each beat becomes the stack of EMBED_DIM beats, EMBED_DELAY apart.
3. Cross-recurrence plot: cell (i, j) is 1 when query point i and reference point j are each
   among the other's KAPPA share of nearest neighbours (mutual kNN, Euclidean).
4. Qmax: the longest curved local alignment through the plot (steps (1,1), (2,1), (1,2); a
   gap opens at GAP_OPEN and extends at GAP_EXTEND). The score is Qmax / the query's embedded
   length: never normalised by the reference's length (local alignment: a short query
   against a long reference is not penalised).
"""

from __future__ import annotations

import numpy as np

#: Embedding dimension and delay (beats); share of nearest neighbours that recur; gap penalties.
#: m = 10, tau = 1, kappa = 0.1: the published parameters (Serra et al. 2009). m = 7, kappa = 0.05 scored
#: higher on pseudo-versions of one recording (bench/cover_detect.py) but lower on the studio's covers
#: in other genres (MAP 0.29 against 0.43 over 33 covers of gtzan-dev clips, bench/covers.py).
EMBED_DIM = 10
EMBED_DELAY = 1
KAPPA = 0.1
GAP_OPEN = 5.0
GAP_EXTEND = 0.5
#: A reference more than this factor faster or slower than the query is read at double or half
#: its beat rate (the beat tracker's octave is not always the same for two versions).
OCTAVE_SPLIT = 2 ** 0.5
#: Most cross-recurrence cells held at once (references are scored in batches below it).
MAX_PLOT_CELLS = 20_000_000
#: How many of the best transpositions are tried (the best score counts).
N_TRANSPOSITIONS = 1


def transpositions(query: np.ndarray, reference: np.ndarray, *, n: int = N_TRANSPOSITIONS) -> np.ndarray:
    """The ``n`` rotations of the reference's global chroma that best match the query's, best first."""
    gq = query.mean(axis=0)
    gr = reference.mean(axis=0)
    gq, gr = gq / max(float(gq.max()), 1e-12), gr / max(float(gr.max()), 1e-12)
    fit = np.array([gq @ np.roll(gr, k) for k in range(12)])
    return np.argsort(-fit, kind="stable")[:n]


def embed(chroma: np.ndarray, *, dim: int = EMBED_DIM, delay: int = EMBED_DELAY) -> np.ndarray:
    """(n - (dim - 1) * delay, 12 * dim) delay-embedded chroma, each beat L2-normalised first."""
    unit = chroma / np.maximum(np.linalg.norm(chroma, axis=1, keepdims=True), 1e-9)
    n = unit.shape[0] - (dim - 1) * delay
    if n <= 0:
        return np.zeros((0, 12 * dim))
    return np.concatenate([unit[k * delay: k * delay + n] for k in range(dim)], axis=1)


def cross_recurrence(xq: np.ndarray, xr: np.ndarray, *, kappa: float = KAPPA) -> np.ndarray:
    """(nq, nr) binary cross-recurrence plot by mutual nearest neighbours."""
    sq = (xq * xq).sum(axis=1)[:, None] + (xr * xr).sum(axis=1)[None, :] - 2.0 * xq @ xr.T
    k_row = max(1, int(round(kappa * xr.shape[0])))  # neighbours of a query point among the reference's
    k_col = max(1, int(round(kappa * xq.shape[0])))
    row = np.partition(sq, k_row - 1, axis=1)[:, k_row - 1: k_row]
    col = np.partition(sq, k_col - 1, axis=0)[k_col - 1: k_col, :]
    return (sq <= row) & (sq <= col)


def qmax_batch(plots: list[np.ndarray]) -> np.ndarray:
    """Qmax of each cross-recurrence plot (all with the same number of rows), computed row by
    row for all plots at once (a row needs only the two rows above it)."""
    if not plots:
        return np.zeros(0)
    nq = plots[0].shape[0]
    width = max(p.shape[1] for p in plots)
    r = np.zeros((len(plots), nq, width + 2), dtype=bool)  # two zero columns in front: j-1, j-2
    for k, p in enumerate(plots):
        r[k, :, 2: 2 + p.shape[1]] = p
    q1 = np.zeros((len(plots), width + 2))  # row i-1 (all zero before the first row)
    q2 = np.zeros_like(q1)  # row i-2
    best = np.zeros(len(plots))
    for i in range(nq):
        a, b, c = q1[:, 1:-1], q2[:, 1:-1], q1[:, :-2]  # (i-1, j-1), (i-2, j-1), (i-1, j-2)
        gap1 = np.where(r[:, i - 1], GAP_OPEN, GAP_EXTEND)  # row -1 wraps around: its Q is 0 anyway
        gap2 = np.where(r[:, i - 2], GAP_OPEN, GAP_EXTEND)
        hit = np.maximum(np.maximum(a, b), c) + 1.0
        miss = np.maximum(np.maximum(a - gap1[:, 1:-1], b - gap2[:, 1:-1]), np.maximum(c - gap1[:, :-2], 0.0))
        row = np.zeros_like(q1)
        row[:, 2:] = np.where(r[:, i, 2:], hit, miss)
        best = np.maximum(best, row.max(axis=1))
        q2, q1 = q1, row
    return best


def beat_rate(chroma: np.ndarray, factor: int | float) -> np.ndarray:
    """The beat chroma at ``factor`` times its beat rate: 2 repeats every beat, 0.5 averages
    pairs of beats, 1 leaves it as it is."""
    if factor == 2:
        return np.repeat(chroma, 2, axis=0)
    if factor == 0.5:
        n = chroma.shape[0] // 2 * 2
        return 0.5 * (chroma[0:n:2] + chroma[1:n:2])
    return chroma


def octave_factor(query_bpm: float, reference_bpm: float) -> float:
    """2, 1 or 0.5: the beat rate that brings the reference's tempo within half an octave of the
    query's (a version read at double or half tempo by the beat tracker still aligns)."""
    if not (np.isfinite(query_bpm) and np.isfinite(reference_bpm)) or min(query_bpm, reference_bpm) <= 0:
        return 1.0
    ratio = query_bpm / reference_bpm
    return 2.0 if ratio > OCTAVE_SPLIT else 0.5 if ratio < 1.0 / OCTAVE_SPLIT else 1.0


def qmax_scores(query: np.ndarray, references: list[np.ndarray], *, query_bpm: float = float("nan"),
                reference_bpms=None, dim: int = EMBED_DIM, delay: int = EMBED_DELAY, kappa: float = KAPPA,
                n_transpositions: int = N_TRANSPOSITIONS) -> np.ndarray:
    """Qmax of the query's beat chroma against each reference's, over the query's embedded length.

    With the tempi, a reference whose tempo is about double or half the query's is first brought
    to the query's beat rate (:func:`octave_factor`)."""
    xq = embed(query, dim=dim, delay=delay)
    if xq.shape[0] == 0:
        return np.zeros(len(references))
    bpms = [float("nan")] * len(references) if reference_bpms is None else list(reference_bpms)
    references = [beat_rate(ref, octave_factor(query_bpm, bpm)) for ref, bpm in zip(references, bpms)]
    scores = np.zeros(len(references))
    width = max((ref.shape[0] for ref in references), default=1)
    step = max(1, MAX_PLOT_CELLS // max(xq.shape[0] * width, 1))  # references per batch: bounded memory
    for start in range(0, len(references), step):
        batch = references[start: start + step]
        shifts = [transpositions(query, ref, n=n_transpositions) for ref in batch]
        for t in range(n_transpositions):
            plots = []
            for ref, shift in zip(batch, shifts):
                xr = embed(np.roll(ref, shift[t], axis=1), dim=dim, delay=delay)
                plots.append(cross_recurrence(xq, xr, kappa=kappa) if xr.shape[0] else np.zeros((xq.shape[0], 1), bool))
            scores[start: start + step] = np.maximum(scores[start: start + step], qmax_batch(plots))
    return scores / xq.shape[0]
