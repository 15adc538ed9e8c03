"""The loop's two tables on the example tracks and on tracks rendered from the catalog.

    .venv/bin/python bench/loop.py [--variations 3] [--catalog-tracks 6] [--seconds 60] [--out build/loop]

References: the 8 example renders in assets/examples (20 s, one per genre) and
``--catalog-tracks`` pieces rendered from the catalog, each three regions of random
descriptors (different genres), random tempi and tonics, ``--seconds`` long. Each reference
goes through ``core.workflow.loop.cached_loop`` with the shipped mlp model (a private store in
``--out``: a second run only reads the tables). Prints the mean single-region accuracy and
multi-region consistency per target against the issue's targets and the Amper study, and
writes the four CSV tables to ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

from core.analysis.key import PITCH_CLASSES  # noqa: E402
from core.audio.load import to_wav_bytes  # noqa: E402
from core.describe.models import TARGETS, load_model  # noqa: E402
from core.generate.catalog import load_catalog  # noqa: E402
from core.generate.render import render  # noqa: E402
from core.generate.timeline import multi_region  # noqa: E402
from core.store.store import Store  # noqa: E402
from core.workflow.loop import AMPER_MULTI, AMPER_SINGLE, TARGETS_MULTI, TARGETS_SINGLE, cached_loop, summary_by_title  # noqa: E402


def catalog_piece(i: int, *, seconds: float, seed: int):
    """Three regions of descriptors from three different genres."""
    rng = np.random.default_rng(seed + i)
    catalog = load_catalog()
    names = sorted(catalog.descriptors)
    picked: list[str] = []
    while len(picked) < 3:
        name = names[int(rng.integers(len(names)))]
        if all(catalog.get(name).genre != catalog.get(p).genre for p in picked):
            picked.append(name)
    edges = np.linspace(0.0, seconds, 4)
    regions = []
    for k, name in enumerate(picked):
        lo, hi = catalog.get(name).tempo_bpm
        regions.append({"start_s": float(edges[k]), "end_s": float(edges[k + 1]), "descriptor": name,
                        "tempo_bpm": round(float(rng.uniform(lo, hi)), 1),
                        "tonic": PITCH_CLASSES[int(rng.integers(12))]})
    result = render(multi_region(regions), seed=seed + i)
    return f"catalog_{i + 1}", to_wav_bytes(result.audio, result.sample_rate, subtype="FLOAT")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variations", type=int, default=3)
    p.add_argument("--catalog-tracks", type=int, default=6)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=100)
    p.add_argument("--out", default=str(ROOT / "build" / "loop"))
    args = p.parse_args()
    out = Path(args.out)
    store = Store(out / "store")
    model = load_model("mlp")
    refs = [(f.stem, f.read_bytes(), f.suffix) for f in sorted((ROOT / "assets" / "examples").glob("example_*.ogg"))]
    refs += [(*catalog_piece(i, seconds=args.seconds, seed=args.seed), ".wav") for i in range(args.catalog_tracks)]
    singles, multis = [], []
    for title, data, suffix in refs:
        track = store.add_track(data, name=title, suffix=suffix)
        result = cached_loop(title, track, store=store, model=model, variations=args.variations)
        s, m = summary_by_title(result.single).iloc[0], summary_by_title(result.multi).iloc[0]
        print(f"{title:22s} single " + " ".join(f"{s[t]:.2f}" for t in TARGETS) +
              "   multi " + " ".join(f"{m[t]:.2f}" for t in TARGETS), flush=True)
        singles.append(result.single)
        multis.append(result.multi)
    single, multi = pd.concat(singles, ignore_index=True), pd.concat(multis, ignore_index=True)
    tables = {"single_region.csv": single, "multi_region.csv": multi,
              "single_region_summary.csv": summary_by_title(single),
              "multi_region_summary.csv": summary_by_title(multi)}
    for name, table in tables.items():
        table.to_csv(out / name, index=False)
    for group, mask in (("examples", "example_"), ("catalog", "catalog_"), ("all", "")):
        s = summary_by_title(single[single.title.str.startswith(mask)]).iloc[-1]
        m = summary_by_title(multi[multi.title.str.startswith(mask)]).iloc[-1]
        print(f"\n{group}: {'target':>10s} " + " ".join(f"{t:>9s}" for t in TARGETS))
        print("  single-region accuracy   " + " ".join(f"{s[t]:9.3f}" for t in TARGETS))
        print("  (target / Amper)         " + " ".join(f"{TARGETS_SINGLE[t]:.2f}/{AMPER_SINGLE[t]:.2f}"
                                                    for t in TARGETS))
        print("  multi-region consistency " + " ".join(f"{m[t]:9.3f}" for t in TARGETS))
        print("  (target / Amper)         " + " ".join(f"{TARGETS_MULTI[t]:.2f}/{AMPER_MULTI[t]:.2f}"
                                                    for t in TARGETS))
    print(f"\n{len(single)} single-region renders, {len(multi)} reference segments; tables in {out}")


if __name__ == "__main__":
    main()
