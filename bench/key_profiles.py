"""Which key profile, chroma compression and context weight find the key best.

    .venv/bin/python bench/key_profiles.py

Twelve rendered pieces in random keys (alternating major and minor, random forms and
tempi); for every combination, the share of 10 s windows whose tonic AND mode are right.
The chosen default (log chroma, Temperley-Kostka-Payne, context 0.6) comes from this table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import core  # noqa: E402
from core.frames import compute_frames  # noqa: E402
from core.groundtruth import form_track  # noqa: E402
from core.grid import WindowGrid, window_mean_var  # noqa: E402
from core.key import PITCH_CLASSES, estimate_keys, load_profiles  # noqa: E402

COMPRESSIONS = {
    "energy": lambda c: c,
    "sqrt": np.sqrt,
    "log": lambda c: np.log1p(100 * c / max(float(c.max()), 1e-12)),
}


def main() -> None:
    _, profiles = load_profiles()
    rng = np.random.default_rng(7)
    pieces = []
    for i in range(12):
        tonic = PITCH_CLASSES[rng.integers(12)]
        mode = ("major", "minor")[i % 2]
        form = "".join(rng.choice(list("ABCD"), 4))
        audio, sr, _ = form_track(form=form, tempo_bpm=float(rng.integers(70, 160)), tonic=tonic, mode=mode,
                                  seed=i, bars_per_section=4)
        track = core.track_from_array(audio, sr)
        frames = compute_frames(track.mono(), sr=22050)
        f0, f1 = WindowGrid().frame_bounds(track.duration_s, sr=22050, hop_length=frames.hop_length,
                                           n_frames=frames.n_frames)
        pieces.append((frames.chroma_cqt, f0, f1, tonic, mode))
    print(f"{'chroma':7s} {'profile':24s} " + " ".join(f"ctx={w:<4}" for w in (0, 0.3, 0.6, 1.0)))
    for cname, compress in COMPRESSIONS.items():
        for pname in profiles:
            cells = []
            for weight in (0, 0.3, 0.6, 1.0):
                acc = []
                for chroma, f0, f1, tonic, mode in pieces:
                    c = compress(chroma)
                    win, _ = window_mean_var(c, f0, f1)
                    k = estimate_keys(win, profile=pname, context=c.sum(axis=1), context_weight=weight)
                    acc.append(np.mean((np.array(k.tonic_names()) == tonic) & (np.array(k.mode_names()) == mode)))
                cells.append(f"{np.mean(acc):.3f}   ")
            print(f"{cname:7s} {pname:24s} " + " ".join(cells))


if __name__ == "__main__":
    main()
