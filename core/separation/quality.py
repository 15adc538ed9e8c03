"""Separation quality against known parts (tests and bench/separate.py)."""

from __future__ import annotations

import warnings

import numpy as np


def sdr_db(references: list[np.ndarray], estimates: list[np.ndarray]) -> np.ndarray:
    """BSS-eval signal-to-distortion ratio (dB) of each estimate against its reference.

    Mono downmixes of ``(n, channels)`` arrays, by mir_eval (its separation module is marked
    deprecated in mir_eval 0.8 but is the reference implementation of the measure).
    """
    import mir_eval

    ref = np.stack([r.mean(axis=1) if r.ndim == 2 else r for r in references])
    est = np.stack([e.mean(axis=1) if e.ndim == 2 else e for e in estimates])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        sdr, _sir, _sar, _perm = mir_eval.separation.bss_eval_sources(ref, est, compute_permutation=False)
    return sdr
