"""``python -m core cover-similarity FILE... --out S.csv``: the N x N cover similarity matrix.

Row i is file i as the query, column j the file it is compared with; higher = more alike (see
:mod:`core.covers.detect`). The header row and the first column are the file stems (made unique).
A file that cannot be read or compared is reported on one line and left out (exit code 1); fewer
than two usable files is exit code 2. Wired into ``core.cli.main`` by ``add_cover_similarity(sub)``;
imports nothing from it (no cycle).
"""

from __future__ import annotations

import csv
import io
import sys
import traceback
import unicodedata
from pathlib import Path

from core.audio.load import AUDIO_TYPES, load_track, read_audio_file
from core.covers.detect import DEFAULT_DETECTOR, DETECTORS, cover_features, similarity_matrix
from core.errors import StudioError
from core.io import atomic_write
from core.progress import scaled, terminal_bar
from core.store.store import Store, max_duration_s


def _shown(text) -> str:
    """``text`` safe on a terminal: control and format characters become ``?``."""
    return "".join("?" if unicodedata.category(ch)[0] == "C" else ch for ch in str(text))


def unique_stems(paths) -> list[str]:
    """Each path's stem; a stem seen before gets -2, -3... (``a.wav``, ``x/a.flac`` -> a, a-2)."""
    used: set[str] = set()
    out = []
    for path in paths:
        base = Path(path).stem or "track"
        name, i = base, 2
        while name in used:
            name = f"{base}-{i}"
            i += 1
        used.add(name)
        out.append(name)
    return out


def _features(path: Path, store):
    data = read_audio_file(path)
    if store is not None:
        suffix = path.suffix if path.suffix.lower().lstrip(".") in AUDIO_TYPES else ""
        track = store.add_track(data, name=path.stem, suffix=suffix)
    else:
        track = load_track(data, name=path.stem, max_duration_s=max_duration_s())
    return cover_features(track.samples, track.sample_rate, track_hash=track.content_hash, store=store)


def matrix_csv(names: list[str], matrix) -> bytes:
    """The matrix as CSV: a header row of names (first cell empty), then one row per name."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["", *names])
    for name, row in zip(names, matrix):
        writer.writerow([name, *(f"{v:.6g}" for v in row)])
    return buf.getvalue().encode()


def cmd_cover_similarity(args) -> int:
    """Features of every file (kept in the store by content), then the matrix into ``--out``."""
    paths = [Path(p) for p in args.files]
    store = None if args.no_store else Store(args.data_dir)
    names, features, failures = [], [], 0
    with terminal_bar("cover similarity", enabled=not args.quiet) as bar:
        for k, (path, name) in enumerate(zip(paths, unique_stems(paths))):
            bar(0.5 * k / len(paths), f"reading {_shown(name)}")
            try:
                features.append(_features(path, store))
                names.append(name)
            except StudioError as exc:
                failures += 1
                print(f"error: {_shown(path.name)}: {_shown(exc)} (left out)", file=sys.stderr)
            except Exception as exc:  # noqa: BLE001 - reported on its line; the other files go on
                failures += 1
                if getattr(args, "debug", False):
                    traceback.print_exception(exc, file=sys.stderr)
                print(f"error: {_shown(path.name)}: unexpected failure ({type(exc).__name__}: {_shown(exc)}) "
                      f"(left out)", file=sys.stderr)
        if len(features) < 2:
            raise StudioError(f"Cover similarity needs at least two usable audio files; {len(features)} could be "
                              f"read. Give two or more audio files (WAV, FLAC, OGG, MP3, AIFF).")
        matrix = similarity_matrix(features, method=args.method, progress=scaled(bar, 0.5, 1.0))
    atomic_write(Path(args.out), matrix_csv(names, matrix))
    print(f"{len(names)} x {len(names)} cover similarity ({args.method}) -> {_shown(args.out)}")
    return 1 if failures else 0


def add_cover_similarity(sub) -> None:
    """The ``cover-similarity`` subcommand on an argparse subparsers object."""
    cs = sub.add_parser("cover-similarity", help="Write the N x N cover similarity matrix of audio files (CSV).")
    cs.add_argument("files", nargs="+", help="audio files (WAV, FLAC, OGG, MP3, AIFF)")
    cs.add_argument("--out", required=True, help="output CSV: header row and first column are the file stems")
    cs.add_argument("--method", choices=tuple(DETECTORS), default=DEFAULT_DETECTOR,
                    help=f"cover detector (default {DEFAULT_DETECTOR}: key-invariant local alignment; "
                         f"qmax-fine: a finer neighbourhood, for versions of one recording; "
                         f"fft2d: the Leiden paper's 2-D FFT baseline)")
    cs.add_argument("--data-dir", default=None, help="store folder (default $STUDIO_DATA_DIR)")
    cs.add_argument("--no-store", action="store_true", help="do not read or write the store cache")
    cs.add_argument("--quiet", action="store_true", help="no progress bar")
    cs.set_defaults(func=cmd_cover_similarity)
