"""Benchmark: whole analysis of a 4-minute stereo 44.1 kHz track, against a naive baseline.

    .venv/bin/python bench/analyze.py [--runs 5] [--skip-baseline]

Prints the first analysis in a fresh process, the median of N warm runs, and the time of
a naive baseline that produces the same readings the way the librosa gallery does them:
``chroma_cqt``, ``beat_track`` and the window features recomputed for every 10 s window
(2 s hop), plus the gallery's Laplacian segmentation (k = 5). Target: <= 6 s warm on two
cores, >= 2.5x faster than the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def four_minute_track():
    from core.generate.groundtruth import form_track

    # 8 sections x 15 bars at 120 BPM = 240 s
    return form_track(form="ABACABDA", tempo_bpm=120.0, tonic="E", mode="minor", bars_per_section=15, seed=3)


def naive_baseline(y: np.ndarray, sr: int) -> None:
    """Same outputs, computed the straightforward way: per window, from scratch."""
    import librosa

    from bench.baselines import gallery_segments
    from core.analysis.key import estimate_keys
    from core.audio.grid import WindowGrid

    starts, ends, _ = WindowGrid().windows(len(y) / sr)
    for s, e in zip(starts, ends):
        yw = y[int(s * sr) : int(e * sr)]
        librosa.beat.beat_track(y=yw, sr=sr)
        chroma = librosa.feature.chroma_cqt(y=yw, sr=sr)
        estimate_keys(chroma.sum(axis=1)[None, :], profile="krumhansl_kessler")
        S = np.abs(librosa.stft(yw))
        mel = librosa.feature.melspectrogram(S=S**2, sr=sr)
        librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20)
        librosa.feature.chroma_stft(S=S**2, sr=sr)
        for f in (librosa.feature.spectral_centroid, librosa.feature.spectral_bandwidth,
                  librosa.feature.spectral_rolloff, librosa.feature.spectral_contrast):
            f(S=S, sr=sr)
        librosa.feature.spectral_flatness(S=S)
        librosa.feature.rms(S=S)
        librosa.feature.zero_crossing_rate(yw)
        librosa.decompose.hpss(mel, kernel_size=(9, 17))
        librosa.onset.onset_detect(y=yw, sr=sr)
    gallery_segments(y, sr)  # the librosa gallery segmentation, k = 5


FRESH = """
import sys, time
t0 = time.perf_counter()
import core
t1 = time.perf_counter()
track = core.load_track({path!r})
t2 = time.perf_counter()
core.analyze(track)
t3 = time.perf_counter()
print(f"{{t1 - t0:.3f}} {{t3 - t2:.3f}}")
"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--skip-baseline", action="store_true")
    args = p.parse_args()

    import soundfile as sf

    import core

    audio, sr, _ = four_minute_track()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "four_minutes.wav"
        sf.write(path, audio, sr)
        print(f"track: {audio.shape[0] / sr:.1f} s, {audio.shape[1]} channels, {sr} Hz")
        out = subprocess.run([sys.executable, "-c", FRESH.format(root=str(ROOT), path=str(path))],
                             capture_output=True, text=True, check=True).stdout.split()
        print(f"fresh process: import core {float(out[0]):.2f} s, first analysis {float(out[1]):.2f} s")
        track = core.load_track(path)
    core.analyze(track)  # warm-up
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        core.analyze(track)
        times.append(time.perf_counter() - t0)
    warm = statistics.median(times)
    print(f"warm analysis: median {warm:.2f} s of {args.runs} runs ({', '.join(f'{t:.2f}' for t in times)})")
    print(f"target <= 6 s warm: {'met' if warm <= 6 else 'NOT met'}")
    if args.skip_baseline:
        return
    y = track.mono()
    naive_baseline(y[: 30 * 22050], 22050)  # warm the baseline's code paths too
    t0 = time.perf_counter()
    naive_baseline(y, 22050)
    base = time.perf_counter() - t0
    print(f"naive baseline (per-window chroma_cqt + beat_track + features, gallery segmentation): {base:.2f} s")
    print(f"speed-up: {base / warm:.1f}x (target >= 2.5x: {'met' if base / warm >= 2.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
