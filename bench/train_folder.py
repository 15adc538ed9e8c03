"""Train on your own folder, measured: a folder made of gtzan-dev clips and one of the studio's renders.

    nice -n 10 .venv/bin/python bench/train_folder.py [--genres blues,classical,country,disco] \\
        [--per-genre 10] [--renders 5] [--seed 0]

The real folder: ``--per-genre`` clips of each of ``--genres`` (one clip of each artist in turn, by
clip name; default the first four genres alphabetically, not chosen for being easy), symlinked into ``DIR/<genre>/`` in a
temporary folder. The render folder: ``--renders`` 30 s renders (seeds 0..N-1) of four of the
example descriptors (cinematic, electronic, jazz, rock). Each is trained exactly as ``python -m
core train-folder`` does (core.describe.folder.train_folder: musicnn windows, the genre model's
estimator, cross-validation grouped by track) from an empty store ("cold": every clip heard) and
again from the filled store ("warm": the retraining a user gets); for gtzan-dev also grouped by
artist on the same features (GTZAN repeats artists, so grouping by track alone flatters it).
Prints accuracy per track (majority of windows) and per window, macro F1, LRAP, coverage error
and the seconds. Says so and skips the real folder when ../shared/datasets/gtzan-dev is absent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from core.audio.load import to_wav_bytes
from core.describe.folder import cross_validate, folder_windows, scan_folder, train_folder
from core.generate.catalog import load_catalog
from core.generate.examples import EXAMPLES
from core.generate.render import render
from core.generate.timeline import single_region
from core.store.store import Store

ROOT = Path(__file__).resolve().parent.parent
DATASET = (ROOT / ".." / "shared" / "datasets" / "gtzan-dev").resolve()
RENDER_GENRES = ("cinematic", "electronic", "jazz", "rock")


def gtzan_folder(dataset: Path, folder: Path, *, genres: list[str], per_genre: int) -> dict[str, str]:
    """Symlink the clips into ``folder/<genre>/``; returns clip stem -> artist."""
    labels = pd.read_csv(dataset / "labels.csv").sort_values("clip")
    labels["artist"] = labels["artist"].fillna(labels["clip"])
    labels["turn"] = labels.groupby("artist").cumcount()  # one clip of each artist in turn
    artists = {}
    for genre in genres:
        rows = labels[labels["genre"] == genre].sort_values(["turn", "clip"]).head(per_genre)
        if len(rows) < per_genre:
            raise SystemExit(f"gtzan-dev has {len(rows)} {genre} clips, fewer than --per-genre {per_genre}.")
        (folder / genre).mkdir(parents=True)
        for row in rows.itertuples(index=False):
            source = dataset / row.file
            (folder / genre / source.name).symlink_to(source)
            artists[source.stem] = row.artist
    return artists


def render_folder(folder: Path, *, per_genre: int) -> float:
    """``per_genre`` 30 s renders of each of :data:`RENDER_GENRES`; returns the seconds it took."""
    start, catalog = time.perf_counter(), load_catalog()
    for genre in RENDER_GENRES:
        name, tonic = EXAMPLES[genre]
        (folder / genre).mkdir(parents=True)
        for seed in range(per_genre):
            timeline = single_region(name, duration_s=30.0, tempo_bpm=catalog.get(name).default_tempo_bpm, tonic=tonic)
            result = render(timeline, seed=seed)
            (folder / genre / f"{genre}_{seed}.wav").write_bytes(to_wav_bytes(result.audio, result.sample_rate))
    return time.perf_counter() - start


def measure(folder: Path, work: Path, *, seed: int, title: str, artists: dict | None = None) -> None:
    store = Store(work / "store")
    t0 = time.perf_counter()
    cold = train_folder(folder, out=work / "cold", store=store, seed=seed)
    t1 = time.perf_counter()
    warm = train_folder(folder, out=work / "warm", store=store, seed=seed)
    t2 = time.perf_counter()
    m = cold.metrics
    assert warm.metrics == m, "the same folder and seed gave other figures"
    print(f"\n{title}: {m.tracks} tracks, {m.windows} windows, {len(m.labels)} labels, {m.folds} folds "
          f"(chance {m.chance_accuracy:.3f}); train {t1 - t0:.1f} s cold, {t2 - t1:.1f} s warm "
          f"(torch threads {torch.get_num_threads()})")
    table = m.table().rename(index=lambda i: f"{i}, grouped by track")
    if artists:
        windows = folder_windows(scan_folder(folder), store=store)
        by_artist = cross_validate(windows, seed=seed, groups=[artists[Path(e.files[0]).stem] for e in
                                                                windows.examples])
        table = pd.concat([table, by_artist.table().rename(index=lambda i: f"{i}, grouped by artist")])
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print("track confusion (rows true, columns predicted):")
    print(pd.DataFrame(m.track_confusion, index=m.labels, columns=m.labels).to_string())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--genres", default="blues,classical,country,disco")
    ap.add_argument("--per-genre", type=int, default=10)
    ap.add_argument("--renders", type=int, default=5, help="renders per genre (0: no render folder)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-train-folder-") as tmp:
        tmp = Path(tmp)
        if (args.dataset / "labels.csv").is_file():
            genres = [g.strip() for g in args.genres.split(",") if g.strip()]
            artists = gtzan_folder(args.dataset, tmp / "gtzan", genres=genres, per_genre=args.per_genre)
            measure(tmp / "gtzan", tmp / "gtzan-work", seed=args.seed, artists=artists,
                    title=f"gtzan-dev folder ({', '.join(genres)} x {args.per_genre})")
        else:
            print(f"The dataset folder {args.dataset} is absent: the real folder is not measured.", file=sys.stderr)
        if args.renders:
            took = render_folder(tmp / "renders", per_genre=args.renders)
            measure(tmp / "renders", tmp / "renders-work", seed=args.seed,
                    title=f"render folder ({', '.join(RENDER_GENRES)} x {args.renders}, rendered in {took:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
