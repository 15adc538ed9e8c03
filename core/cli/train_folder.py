"""``python -m core train-folder DIR --out MODEL``: a real-music model from your own labelled folder.

``DIR/<label>/*.wav|mp3|flac|ogg|aiff`` (one sub-folder per label; a recording in two folders
has both labels). Prints the cross-validated figures (grouped by track) and where the bundle went;
the Analyze page lists it at once. Exit codes as ``core.cli.main`` says: 1 when some files could
not be read (they are listed and skipped, the model is still trained), 2 for a folder that cannot
train a model (a single label, a label with under 3 tracks, no audio) or a name already taken.

Wired into ``core.cli.main`` by ``add_train_folder(sub)``; imports nothing from it (no cycle).
"""

from __future__ import annotations

import argparse
import sys

from core.describe.folder import MIN_TRACKS, train_folder
from core.progress import terminal_bar
from core.store.store import Store


def _seed(text: str) -> int:
    if not text.strip().isdigit() or int(text) > 2**32 - 1:
        raise argparse.ArgumentTypeError(f"give a whole number from 0 to {2**32 - 1} (got {text!r})")
    return int(text)


def cmd_train_folder(args) -> int:
    """Train, save and report; the exit code (see the module docstring)."""
    store = None if args.no_store else Store(args.data_dir)
    with terminal_bar("train-folder", enabled=not args.quiet) as bar:
        result = train_folder(args.folder, out=args.out, store=store, seed=args.seed, force=args.force,
                              data_dir=args.data_dir, progress=bar)
    for line in result.unreadable:
        print(f"error: {line} (skipped)", file=sys.stderr)
    for name in result.ignored:
        print(f"  note: {name} is not inside a label folder (skipped)", file=sys.stderr)
    m = result.metrics
    labels = ", ".join(f"{lab} {n}" for lab, n in m.tracks_per_label.items())
    print(f"{result.folder}: {m.tracks} tracks ({labels}; {m.multi_label_tracks} with two labels or more), "
          f"{m.windows} windows, {result.train_s:.1f} s")
    print(f"cross-validated, grouped by track ({m.folds} folds; chance {m.chance_accuracy:.3f}):")
    print(m.table().to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"(coverage error: the best possible is {m.best_coverage:.2f})")
    return 1 if result.unreadable else 0


def add_train_folder(sub) -> None:
    """The ``train-folder`` subcommand on an argparse subparsers object."""
    t = sub.add_parser("train-folder", help="Train a real-music model on your own folder of labelled examples.")
    t.add_argument("folder", help=f"folder with one sub-folder of audio files per label (at least {MIN_TRACKS} "
                                  "tracks each, two labels or more)")
    t.add_argument("--out", required=True, help="model name (kept in $STUDIO_DATA_DIR/real_models/NAME) or folder")
    t.add_argument("--seed", type=_seed, default=0, help="same seed, same model and figures (default 0)")
    t.add_argument("--force", action="store_true", help="replace an existing model of that name")
    t.add_argument("--data-dir", default=None, help="store folder (default $STUDIO_DATA_DIR)")
    t.add_argument("--no-store", action="store_true", help="do not read or write the store cache")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train_folder)
