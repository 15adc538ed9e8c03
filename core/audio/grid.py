"""The ONE window grid every per-window table uses.

Windows of ``window_s`` seconds start every ``hop_s`` seconds from 0. Windows that fit
entirely inside the track are *full*. If the last full window stops short of the end, one
more window starts on the next hop and ends at the end of the track: it is flagged
``partial``. A track shorter than one window is analysed as a single partial window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import OptionError


@dataclass(frozen=True)
class WindowGrid:
    """Window length and hop, in seconds (10 s / 2 s as in the Amper study)."""

    window_s: float = 10.0
    hop_s: float = 2.0

    def __post_init__(self):
        if not (0.5 <= self.window_s <= 120.0):
            raise OptionError(f"Window length must be between 0.5 and 120 s (got {self.window_s} s).")
        if not (0.1 <= self.hop_s <= self.window_s):
            raise OptionError(
                f"Window hop must be between 0.1 s and the window length (got {self.hop_s} s)."
            )

    def windows(self, duration_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start times, end times (s) and the ``partial`` flag of every window."""
        if duration_s <= 0:
            return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
        eps = 1e-9
        if duration_s < self.window_s - eps:
            return np.array([0.0]), np.array([float(duration_s)]), np.array([True])
        n_full = int(np.floor((duration_s - self.window_s) / self.hop_s + eps)) + 1
        starts = np.arange(n_full) * self.hop_s
        ends = starts + self.window_s
        partial = np.zeros(n_full, dtype=bool)
        if duration_s - ends[-1] > 0.05:
            # Audio after the last full window: one explicit partial window covers it
            # (it starts on the next hop, so it is still at least window_s - hop_s long).
            starts = np.append(starts, starts[-1] + self.hop_s)
            ends = np.append(ends, duration_s)
            partial = np.append(partial, True)
        return starts.astype(float), ends.astype(float), partial

    def frame_bounds(
        self, duration_s: float, *, sr: int, hop_length: int, n_frames: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """First and one-past-last feature frame of each window (never empty)."""
        starts, ends, _ = self.windows(duration_s)
        f0 = np.clip(np.round(starts * sr / hop_length).astype(int), 0, max(n_frames - 1, 0))
        f1 = np.clip(np.round(ends * sr / hop_length).astype(int), 1, n_frames)
        f1 = np.maximum(f1, f0 + 1)
        return f0, f1


def window_mean_var(frames: np.ndarray, f0: np.ndarray, f1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each row of ``frames`` (d, n_frames) over each window.

    Uses cumulative sums, so the cost does not grow with the number of windows.
    Returns arrays of shape ``(n_windows, d)``.
    """
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    c1 = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    c2 = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x * x, axis=1)], axis=1)
    n = (f1 - f0).astype(float)
    mean = (c1[:, f1] - c1[:, f0]) / n
    var = np.maximum((c2[:, f1] - c2[:, f0]) / n - mean * mean, 0.0)
    return mean.T, var.T
