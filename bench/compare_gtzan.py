"""Every registered estimator on real music: 10 GTZAN genres, artist-disjoint 5-fold CV.

    nice -n 10 .venv/bin/python bench/compare_gtzan.py                     # train + valid parts
    nice -n 10 .venv/bin/python bench/compare_gtzan.py --parts all --estimators svm,rf
    nice -n 10 .venv/bin/python bench/compare_gtzan.py --cnn               # also the CNNs (minutes)

The clips of ``../shared/datasets/gtzan-dev`` (by default Sturm's train and valid parts, as the
issue asks) are cut into the studio's one window grid (10 s windows, 2 s hop) and featurised with
every feature set (``core.analysis.analyze.window_feature_table``, the corpus's path); the
features of each clip are cached under ``--cache`` by the file's content, so a rerun is seconds.
Folds: ``StratifiedGroupKFold`` by artist (no artist in two folds), 5 folds, seeded; every
window is tested once. Figures: accuracy, macro F1, coverage error and LRAP per window and per
clip (mean of its windows' probabilities; ``clip_vote`` = majority of windows), train seconds
per fold, predict ms per window, bundle size. Written to ``--out`` (table.csv, table.md,
confusion matrices, summary.json). ``--cnn`` adds the CNNs of ``core.describe.cnn`` on 40 x 100
MFCC tiles and 64 x 100 log-mel tiles in the same folds (``cnn/``).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.audio.load import load_track  # noqa: E402
from core.cachekey import library_versions, stage_key  # noqa: E402
from core.describe.cnn import CNNOptions, cross_validate, logmel_tiles, mfcc_tiles  # noqa: E402
from core.describe.compare import compare, read_labels, real_table  # noqa: E402
from core.describe.models import ESTIMATORS  # noqa: E402

DATASET = (ROOT / ".." / "shared" / "datasets" / "gtzan-dev").resolve()
PARTS = {"trainvalid": ("train", "valid"), "all": ("train", "valid", "none")}


def _progress(label: str):
    def report(fraction: float, message: str = "") -> None:
        print(f"\r{label} {100 * fraction:5.1f}% {message[:60]:60s}", end="", file=sys.stderr, flush=True)
    return report


TILES = {"mfcc": ("tiles-v1", mfcc_tiles), "logmel": ("logmel-v1", logmel_tiles)}


def clip_tiles(path: Path, cache: Path, *, kind: str = "mfcc") -> np.ndarray:
    """The clip's 40 x 100 MFCC tiles (``core.describe.cnn.mfcc_tiles`` at 22,050 Hz) or its
    64 x 100 log-mel tiles (``logmel_tiles``, cut alike), cached by content."""
    data = path.read_bytes()
    prefix, cut = TILES[kind]
    versions = stage_key(prefix, 1, library_versions("librosa", "numpy"), length=8)  # a new librosa: new tiles
    cached = cache / f"{prefix}-{versions}-{hashlib.sha256(data).hexdigest()[:24]}.npy"
    if cached.is_file():
        return np.load(cached)
    tiles = cut(load_track(data, name=path.stem).mono(sr=22050), 22050)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(cached, tiles)
    return tiles


def run_cnn(dataset: Path, labels, *, cache: Path, out: Path, folds: int, seed: int, epochs: int):
    """The softmax CNNs (MFCC and log-mel tiles) and the bagged binary ensemble in artist-disjoint
    folds; writes ``out``."""
    genres = sorted(labels.genre.unique())
    parts = [(clip_tiles(dataset / row.file, cache), row) for row in labels.itertuples(index=False)]
    tiles = np.concatenate([t for t, _ in parts])
    y = np.concatenate([np.full(len(t), genres.index(r.genre)) for t, r in parts])
    tracks = np.concatenate([np.full(len(t), r.file) for t, r in parts])
    groups = np.concatenate([np.full(len(t), r.group) for t, r in parts])
    logmel = np.concatenate([clip_tiles(dataset / row.file, cache, kind="logmel") for row in labels.itertuples(index=False)])
    result = cross_validate(tiles, y, tracks, groups, labels=genres, logmel=logmel, folds=folds, seed=seed,
                            options=CNNOptions(epochs=epochs, seed=seed), progress=_progress("cnn"))
    result.write(out)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "cache" / "compare_gtzan")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "compare_gtzan")
    ap.add_argument("--parts", choices=PARTS, default="trainvalid")
    ap.add_argument("--estimators", default=",".join(ESTIMATORS))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cnn", action="store_true", help="also the CNNs on MFCC tiles (core.describe.cnn)")
    ap.add_argument("--cnn-only", action="store_true", help="only the CNNs")
    ap.add_argument("--epochs", type=int, default=10, help="CNN training epochs (default 10)")
    args = ap.parse_args(argv)
    if not (args.dataset / "labels.csv").exists():
        print(f"The dataset folder {args.dataset} is absent (no labels.csv there): nothing to measure. "
              "Put gtzan-dev in ../shared/datasets/ or pass --dataset.", file=sys.stderr)
        return 2
    labels = read_labels(args.dataset)
    labels = labels[labels.sturm_split.isin(PARTS[args.parts])].reset_index(drop=True)
    if not args.cnn_only:
        t0 = time.perf_counter()
        windows = real_table(args.dataset, labels=labels, cache_dir=args.cache, progress=_progress("features"))
        print(f"\n{len(labels)} clips, {len(windows)} windows, {labels.group.nunique()} artists "
              f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        result = compare(windows, estimators=[e.strip() for e in args.estimators.split(",") if e.strip()],
                         split="group", folds=args.folds, seed=args.seed, progress=_progress("compare"))
        result.write(args.out)
        print(f"\n{result.split}\n{result.markdown()}")
    if args.cnn or args.cnn_only:
        result = run_cnn(args.dataset, labels, cache=args.cache, out=args.out / "cnn", folds=args.folds,
                         seed=args.seed, epochs=args.epochs)
        print(f"\n{result.split}\n{result.markdown()}")
    print(f"Written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
