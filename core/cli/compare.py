"""``python -m core compare --corpus DIR [--real DIR_WITH_LABELS] --out DIR``.

Trains every registered estimator (or those of ``--estimators``) on the same split and features
and writes the comparison (:mod:`core.describe.compare`): ``OUT/renders/`` for the render corpus
(split by render, 30 % of the renders of each descriptor held out) and ``OUT/real/`` for a
folder of labelled recordings (``labels.csv``: ``file``, ``genre`` or ``label``, optionally
``artist``; artist-disjoint grouped cross-validation), each with ``table.csv``, ``table.md``,
``confusion_<model>.csv`` and ``summary.json``.

This module does not import :mod:`core.cli.main` (which adds the subcommand with
:func:`add_compare`): that would be an import cycle. Errors a user can cause are
:class:`~core.errors.StudioError`; ``main`` turns them into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.analysis.features import FEATURE_SETS
from core.describe.compare import BACKENDS, compare, connect, real_table
from core.describe.corpus import load_corpora
from core.describe.models import DEFAULT_FEATURE_SETS, ESTIMATORS, MUSICNN_SET, TARGETS
from core.errors import OptionError, StudioError
from core.progress import terminal_bar


def _estimators(text: str) -> list[str]:
    """``--estimators``: comma-separated registered names."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"give estimators among {', '.join(ESTIMATORS)} separated by commas "
                                         f"(got {text!r})")
    return names


def _feature_sets(text: str) -> tuple[str, ...]:
    """``--features``: comma-separated feature sets (the analysis' sets and musicnn)."""
    known = (*FEATURE_SETS, MUSICNN_SET)
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names or any(n not in known for n in names):
        raise argparse.ArgumentTypeError(f"give feature sets among {', '.join(known)} separated by commas "
                                         f"(got {text!r})")
    return names


def _whole(lo: int, hi: int):
    def parse(text: str) -> int:
        if not text.strip().isdigit() or not lo <= int(text) <= hi:
            raise argparse.ArgumentTypeError(f"give a whole number from {lo} to {hi} (got {text!r})")
        return int(text)
    return parse


def add_compare(sub) -> None:
    """Add the ``compare`` subcommand to an argparse subparsers object."""
    c = sub.add_parser("compare", help="Train every estimator on the same split and compare them (tables).")
    c.add_argument("--corpus", nargs="+", default=None, help="render corpus folder(s) (python -m core corpus)")
    c.add_argument("--real", default=None, help="folder of labelled recordings with labels.csv (file, genre, artist)")
    c.add_argument("--out", required=True, help="output folder: OUT/renders/ and OUT/real/")
    c.add_argument("--estimators", type=_estimators, default=list(ESTIMATORS),
                   help=f"comma-separated (default all: {','.join(ESTIMATORS)})")
    c.add_argument("--target", choices=TARGETS + ("descriptor",), default="genre",
                   help="what the render comparison predicts (default genre; real recordings: their label)")
    c.add_argument("--window-step", type=_whole(1, 10_000), default=3,
                   help="keep every n-th window of a render (default 3: neighbours overlap by 80 %%)")
    c.add_argument("--folds", type=_whole(2, 20), default=5, help="artist-disjoint folds for --real (default 5)")
    c.add_argument("--features", type=_feature_sets, default=DEFAULT_FEATURE_SETS,
                   help=f"feature sets the estimators read (default {','.join(DEFAULT_FEATURE_SETS)}; "
                        f"{MUSICNN_SET}: the musicnn embedding, --real only)")
    c.add_argument("--cache", default=None, help="folder caching the features of each --real recording")
    c.add_argument("--backend", choices=BACKENDS, default="local",
                   help="local: here, one estimator after another; dask: one task per estimator on --scheduler")
    c.add_argument("--scheduler", default=None, help="Dask scheduler address for --backend dask (tcp://HOST:8786)")
    c.add_argument("--seed", type=_whole(0, 2**32 - 1), default=0)
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_compare)


def _print(label: str, result) -> None:
    print(f"{label}: {result.split['tracks']} tracks, {result.split['windows']} windows, "
          f"{result.split['folds']} fold(s)")
    for row in result.table.itertuples(index=False):
        print(f"  {row.model:5s} window acc {row.window_accuracy:.3f}  track acc {row.track_accuracy:.3f}  "
              f"macro F1 {row.window_macro_f1:.3f}  LRAP {row.track_lrap:.3f}  coverage {row.track_coverage:.2f}  "
              f"train {row.train_s:.1f} s  {row.size_bytes / 1000:.0f} kB")


def cmd_compare(args) -> int:
    """Run the comparison(s) and write them; 0 when all worked."""
    if not args.corpus and not args.real:
        raise OptionError("Give --corpus DIR (render corpus) and/or --real DIR (labelled recordings).")
    if args.real and not (Path(args.real) / "labels.csv").is_file():
        raise StudioError(f"No labels.csv in {args.real}: give a folder with labels.csv (columns file and genre, "
                          "optionally artist) beside its recordings.")
    if args.backend == "dask" and not args.scheduler:
        raise OptionError("--backend dask needs --scheduler tcp://HOST:8786 (the Dask scheduler's address).")
    if args.scheduler and args.backend != "dask":
        raise OptionError("--scheduler is for --backend dask: give both, or neither.")
    if MUSICNN_SET in args.features and args.corpus:
        raise OptionError("The render corpus holds the Amper-study feature sets, not musicnn: give --features "
                          f"musicnn with --real only, or --features {','.join(DEFAULT_FEATURE_SETS)}.")
    out = Path(args.out)
    corpus = load_corpora(args.corpus) if args.corpus else None  # a missing folder is refused before any work
    client = connect(args.scheduler) if args.backend == "dask" else None  # reached before the slow work
    try:
        _run(args, corpus, out, {"estimators": args.estimators, "seed": args.seed, "feature_sets": args.features,
                                 "backend": args.backend, "scheduler": client})
    finally:
        if client is not None:
            client.close()
    return 0


def _run(args, corpus, out: Path, run: dict) -> None:
    if corpus is not None:
        table = corpus[corpus.groupby("render_id").cumcount() % args.window_step == 0]
        with terminal_bar("compare renders", enabled=not args.quiet) as bar:
            result = compare(table, target=args.target, split="render", progress=bar, **run)
        _print(f"renders -> {result.write(out / 'renders')}", result)
    if args.real:
        with terminal_bar("features", enabled=not args.quiet) as bar:
            windows = real_table(args.real, cache_dir=args.cache, musicnn=MUSICNN_SET in args.features, progress=bar)
        with terminal_bar("compare real", enabled=not args.quiet) as bar:
            result = compare(windows, split="group", folds=args.folds, progress=bar, **run)
        _print(f"real -> {result.write(out / 'real')}", result)


def main(argv=None) -> int:
    """``python -m core.cli.compare ...`` on its own (``python -m core compare`` once wired):
    a refused input is one line on stderr and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m core.cli.compare")
    add_compare(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["compare", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
