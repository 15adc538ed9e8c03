"""Benchmark: realtime factor of a 60 s multi-region render (target >= 40x on two cores).

    .venv/bin/python bench/render.py [--runs 5]

Prints the median of N warm renders of a three-region timeline (compose, synthesise on two
worker processes, reverb, master to -14 LUFS), the same render forced serial, and the
soundfont synthesiser alone on the same notes in one pass, for reference.
"""

from __future__ import annotations

import argparse
import statistics
import time

from core.generate import render as render_module  # noqa: E402
from core.generate.synth import render_midi  # noqa: E402
from core.generate.timeline import multi_region  # noqa: E402

TIMELINE = multi_region([
    dict(start_s=0, end_s=20, descriptor="cinematic_percussion_determined", tempo_bpm=96, tonic="D"),
    dict(start_s=20, end_s=40, descriptor="electronic_synthwave_driving", tempo_bpm=110, tonic="A"),
    dict(start_s=40, end_s=60, descriptor="pop_corporate_uplifting", tempo_bpm=112, tonic="D"),
])


def timed(fn, runs):
    fn()  # warm-up (worker processes, caches)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    length = TIMELINE.duration_s
    warm = timed(lambda: render_module.render(TIMELINE, seed=1), args.runs)
    print(f"60 s three-region render: median {warm:.2f} s of {args.runs} -> {length / warm:.1f}x realtime "
          f"(target >= 40x: {'met' if length / warm >= 40 else 'NOT met'})")
    limit = render_module.PARALLEL_MIN_S
    render_module.PARALLEL_MIN_S = float("inf")
    serial = timed(lambda: render_module.render(TIMELINE, seed=1), max(1, args.runs // 2))
    render_module.PARALLEL_MIN_S = limit
    print(f"same render on one process: {serial:.2f} s -> {length / serial:.1f}x realtime")
    result = render_module.render(TIMELINE, seed=1)
    synth = timed(lambda: render_midi(result.midi, sr=44100), max(1, args.runs // 2))
    print(f"synthesiser alone, all notes in one pass: {synth:.2f} s -> {length / synth:.1f}x realtime")


if __name__ == "__main__":
    main()
