"""``python -m core taste FOLDER_OR_FILES... --out DIR``: DIR/tracks.csv and DIR/profile.json.

Folders are walked for audio files (and zips); zips are opened in memory. A file that cannot be
profiled (damaged, not audio, silent, under 3 s) is listed on stderr and in both outputs and
skipped; the others are profiled. Exit codes as ``core.cli.main`` says: 0 when every track was
profiled, 1 when some were skipped, 2 when none could be read (nothing is written then) or an
option is refused.

Wired into ``core.cli.main`` by ``add_taste(sub)``; imports nothing from it (no cycle).
"""

from __future__ import annotations

import argparse
import os
import sys
import unicodedata
from pathlib import Path

from core.describe.models import DEFAULT_MODEL_NAME
from core.embed.genre import GENRE_MODEL_DIR
from core.io import atomic_write
from core.progress import terminal_bar
from core.store.store import Store
from core.workflow.taste import TasteError, TasteOptions, load_taste_models, profile_library
from core.workflow.taste_library import library_from_paths


def _shown(text) -> str:
    """``text`` safe to print: control and format characters become ``?``."""
    return "".join("?" if unicodedata.category(ch)[0] == "C" else ch for ch in str(text))


def _jobs(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"give a whole number of worker processes from 1 to 64 (got {text!r})")
    return int(text)


def _print_summary(profile, out: Path) -> None:
    doc = profile.summary()
    genres = ", ".join(f"{g['genre']} {g['share']:.0%}" for g in doc["genres"][:4])
    leans = ", ".join(d["descriptor"] for d in doc["descriptors"][:3]) or "no descriptor"
    targets = ", ".join(t["genre"] for t in doc["cover_targets"]) or "none"
    print(f"{doc['tracks']} tracks profiled: {genres}; descriptors {leans}; cover targets {targets} -> "
          f"{_shown(out)}")


def _print_skipped(ignored, skipped) -> None:
    for s in ignored:
        print(f"  note: {_shown(s.file)}: {_shown(s.reason)} (ignored)", file=sys.stderr)
    for s in skipped:
        print(f"error: {_shown(s.file)}: {_shown(s.reason)} (skipped)", file=sys.stderr)


def cmd_taste(args) -> int:
    """Profile the library and write both files; the exit code (see the module docstring)."""
    options = TasteOptions(model=args.model, genre_model_dir=Path(args.genre_model), remove_vocals=args.remove_vocals)
    library = library_from_paths(args.inputs)
    store = None if args.no_store else Store(args.data_dir)
    models = load_taste_models(options)
    try:
        with terminal_bar("taste", enabled=not args.quiet) as bar:
            profile = profile_library(library, models=models, store=store, progress=bar, jobs=args.jobs)
    except TasteError as exc:  # nothing could be profiled: every file's reason, then the error (exit 2)
        _print_skipped(library.ignored, exc.skipped)
        raise
    _print_skipped(profile.ignored, profile.skipped)
    out = Path(args.out)
    atomic_write(out / "tracks.csv", profile.tracks_csv())
    atomic_write(out / "profile.json", profile.profile_json())
    _print_summary(profile, out)
    return 1 if profile.skipped else 0


def add_taste(sub) -> None:
    """The ``taste`` subcommand on an argparse subparsers object."""
    t = sub.add_parser("taste", help="Profile a library: genres, descriptors and cover targets of its tracks.")
    t.add_argument("inputs", nargs="+", help="audio files, folders of them (walked) or zips")
    t.add_argument("--out", required=True, help="output folder: tracks.csv and profile.json")
    t.add_argument("--model", default=DEFAULT_MODEL_NAME, help=f"descriptor model (default {DEFAULT_MODEL_NAME})")
    t.add_argument("--genre-model", default=str(GENRE_MODEL_DIR),
                   help="real-music genre model folder (default: the shipped GTZAN-10 model)")
    t.add_argument("--remove-vocals", dest="remove_vocals", action="store_const", const="auto", default="off",
                   help="take the vocals out before the descriptor model when a track has a voice (slower)")
    t.add_argument("--jobs", type=_jobs, default=min(2, os.cpu_count() or 1),
                   help="worker processes (default 2, or 1 on a one-core machine)")
    t.add_argument("--data-dir", default=None, help="store folder (default $STUDIO_DATA_DIR)")
    t.add_argument("--no-store", action="store_true", help="do not read or write the store cache")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_taste)
