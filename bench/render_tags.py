"""The bagged ensemble of binary CNNs tagging renders with every label their descriptor gives.

    nice -n 10 .venv/bin/python bench/render_tags.py [--per-descriptor 2] [--epochs 10] [--out F.json]

A render's descriptor gives it several true labels at once: its genre, its subgenre, its mood and
the instruments of its band (``core.generate.catalog.band_words``). The corpus plan
(``core.describe.corpus.plan``, 30 s renders, seed 7) makes ``--per-descriptor`` renders of every
descriptor; each render is cut into 40 x 100 MFCC tiles (``core.describe.cnn.mfcc_tiles``, cached
under ``--cache`` by render id). The split is by render, never by tile: the last render of each
descriptor is held out, the others train (of which a fifth of the renders, grouped, choose the
per-label thresholds). One binary network per label (``core.describe.cnn.train_bagged``);
figures from ``core.describe.cnn.multilabel_scores``: LRAP and coverage error per tile and per
render (mean of its tiles' confidences), plus the thresholded tags' precision and recall. The
issue's target: LRAP >= 0.90 on render windows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.cachekey import library_versions, stage_key  # noqa: E402
from core.describe.cnn import N_MFCC, TILE_FRAMES, CNNOptions, mfcc_tiles, multilabel_scores, train_bagged  # noqa: E402
from core.describe.corpus import CorpusSpec, plan  # noqa: E402
from core.generate.catalog import band_words, load_catalog, load_descriptor_words  # noqa: E402
from core.generate.render import RENDER_VERSION, render  # noqa: E402
from core.generate.timeline import single_region  # noqa: E402

SR = 22050


def render_tiles(job, cache: Path) -> np.ndarray:
    """The MFCC tiles of one corpus render, rendered once and cached by the job, the engine's
    version, the rate and the libraries that cut the tiles."""
    key = stage_key("render-tags-tiles", 1, asdict(job), RENDER_VERSION, SR, N_MFCC, TILE_FRAMES,
                    library_versions("librosa", "numpy"), length=16)
    out = cache / f"{job.render_id}-{key}.npy"
    if out.exists():
        return np.load(out)
    timeline = single_region(job.descriptor, duration_s=job.duration_s, tempo_bpm=job.tempo_bpm, tonic=job.tonic,
                             band=job.band)
    audio = render(timeline, seed=job.seed, parallel=False, sample_rate=SR).audio
    tiles = mfcc_tiles(audio.mean(axis=1) if audio.ndim == 2 else audio, SR)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(out, tiles)
    return tiles


def render_labels(job, catalog, words) -> list[str]:
    """Every true label of a render: genre, subgenre, mood and its band's instruments."""
    d = catalog.get(job.descriptor)
    return [f"genre:{d.genre}", f"subgenre:{d.genre}/{d.subgenre}", f"mood:{d.mood}",
            *(f"instrument:{w}" for w in band_words(d.bands[job.band], words))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-descriptor", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "cache" / "render_tags")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    if args.per_descriptor < 2:
        ap.error("--per-descriptor must be 2 or more: one render of each descriptor is held out")
    jobs = plan(CorpusSpec(per_descriptor=args.per_descriptor, durations_s=(30.0,), seed=7))
    t0 = time.perf_counter()
    tiles = Parallel(n_jobs=args.jobs, verbose=2)(delayed(render_tiles)(j, args.cache) for j in jobs)
    print(f"{len(jobs)} renders cut into tiles in {time.perf_counter() - t0:.0f} s", flush=True)
    catalog, words = load_catalog(), load_descriptor_words()
    names = [render_labels(j, catalog, words) for j in jobs]
    labels = sorted({n for ns in names for n in ns})
    truth = np.concatenate([np.tile(np.isin(labels, ns), (len(t), 1)) for ns, t in zip(names, tiles)])
    x = np.concatenate(tiles)
    render_of = np.concatenate([np.full(len(t), i) for i, t in enumerate(tiles)])
    last = {}
    for i, j in enumerate(jobs):
        last[j.descriptor] = i
    test = np.isin(render_of, list(last.values()))
    rng = np.random.default_rng(args.seed)
    train_renders = np.unique(render_of[~test])
    val_renders = rng.choice(train_renders, size=max(1, len(train_renders) // 5), replace=False)
    val = ~test & np.isin(render_of, val_renders)
    fit = ~test & ~val
    print(f"{len(labels)} labels, {len(x)} tiles: {fit.sum()} train, {val.sum()} threshold, {test.sum()} test "
          f"({np.unique(render_of[test]).size} held-out renders)", flush=True)
    t0 = time.perf_counter()
    model = train_bagged(x[fit], truth[fit], labels, validation=(x[val], truth[val]),
                         options=CNNOptions(epochs=args.epochs, seed=args.seed),
                         progress=lambda f, m: print(f"\r{100 * f:5.1f}% {m[:60]:60s}", end="", file=sys.stderr))
    train_s = time.perf_counter() - t0
    score = model.scores(x[test])
    figures = multilabel_scores(truth[test], score, render_of[test])
    tagged = model.tags(x[test])
    tp = (tagged & truth[test]).sum()
    figures.update(labels=len(labels), tag_precision=float(tp / max(tagged.sum(), 1)),
                   tag_recall=float(tp / truth[test].sum()), train_s=round(train_s, 1), epochs=args.epochs,
                   renders=len(jobs), per_descriptor=args.per_descriptor)
    for kind in ("genre", "subgenre", "mood", "instrument"):
        cols = [i for i, n in enumerate(labels) if n.startswith(kind + ":")]
        top = np.array(cols)[np.argmax(score[:, cols], axis=1)]
        figures[f"{kind}_top1_tile"] = float(np.mean(truth[test][np.arange(len(top)), top]))
    print("\n" + json.dumps(figures, indent=1))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
