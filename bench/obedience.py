"""Do renders obey their timelines? Every descriptor of the catalog, measured by the analysis.

    .venv/bin/python bench/obedience.py [--duration-s 30] [--every 1]

For each descriptor: a single-region render at a random tempo inside its range and a random
tonic (seeded), analysed by core.analyze; it obeys when the global tempo is within 2 % and
the requested tonic is found in at least 80 % of the windows. Prints the failures, the share
of descriptors that obey, and the figures per genre.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np


def _scale_name(scale) -> str:
    from core.generate.catalog import SCALES

    return next((n for n, sc in SCALES.items() if tuple(sc) == tuple(scale)), "other")


def check(i: int, name: str, duration_s: float) -> tuple:
    import core
    from core.generate.catalog import load_catalog
    from core.generate.render import render
    from core.generate.timeline import single_region

    d = load_catalog().get(name)
    rng = np.random.default_rng(i)
    tempo = round(float(rng.uniform(*d.tempo_bpm)), 1)
    tonic = core.analysis.key.PITCH_CLASSES[int(rng.integers(12))]
    r = render(single_region(name, duration_s=duration_s, tempo_bpm=tempo, tonic=tonic), seed=i)
    a = core.analyze(core.track_from_array(r.audio, r.sample_rate))
    tonic_share = float((a.windows.tonic == tonic).mean())
    return name, d.genre, tempo, a.tempo_bpm, tonic, tonic_share, r.regions[0].band, f"{_scale_name(d.scale)}/{d.articulation}/hr{d.harmonic_rhythm:g}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--duration-s", type=float, default=30.0)
    p.add_argument("--every", type=int, default=1, help="check every n-th descriptor (1 = all)")
    args = p.parse_args()
    from joblib import Parallel, delayed

    from core.generate.catalog import load_catalog

    names = load_catalog().names()[:: args.every]
    rows = Parallel(n_jobs=2)(delayed(check)(i, n, args.duration_s) for i, n in enumerate(names))
    per_genre = defaultdict(list)
    for name, genre, tempo, got, tonic, share, band, traits in rows:
        tempo_ok = abs(got / tempo - 1) < 0.02 if np.isfinite(got) else False
        per_genre[genre].append((tempo_ok, share >= 0.8, share))
        if not (tempo_ok and share >= 0.8):
            print(f"  {name:40s} {band:22s} {traits:24s} tempo {tempo:6.1f} -> {got:6.1f}   tonic {tonic:2s} in {share:.0%} of windows")
    allr = [x for v in per_genre.values() for x in v]
    print(f"\n{len(allr)} descriptors: tempo within 2 %: {np.mean([t for t, _, _ in allr]):.2f}, "
          f"tonic in >= 80 % of windows: {np.mean([k for _, k, _ in allr]):.2f}, "
          f"both: {np.mean([t and k for t, k, _ in allr]):.2f}, mean tonic share {np.mean([s for _, _, s in allr]):.2f}")
    for genre, v in sorted(per_genre.items()):
        print(f"  {genre:12s} tempo {np.mean([t for t, _, _ in v]):.2f}  tonic {np.mean([k for _, k, _ in v]):.2f}")


if __name__ == "__main__":
    main()
