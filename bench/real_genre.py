"""The shipped descriptor models on real music: genre per clip on gtzan-dev, mapped onto the catalog.

    nice -n 10 .venv/bin/python bench/real_genre.py [--model mlp] [--cache build/cache/compare_gtzan]

GTZAN genres that have a catalog genre (the real-music issue's mapping): classical -> cinematic,
country -> folk, disco -> pop, hiphop -> hiphop, jazz -> jazz, metal -> rock, pop -> pop,
rock -> rock (blues and reggae have none and are left out). Per clip the majority of its
windows' predicted genre is compared with the mapped label; also the share of windows right,
the most predicted genre, and a confusion table. Features come from the same per-window
feature sets the models were trained on (``core.describe.compare.real_table``, cached by content).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.describe.compare import read_labels, real_table  # noqa: E402
from core.describe.models import load_model  # noqa: E402

DATASET = (ROOT / ".." / "shared" / "datasets" / "gtzan-dev").resolve()
TO_CATALOG = {"classical": "cinematic", "country": "folk", "disco": "pop", "hiphop": "hiphop", "jazz": "jazz",
              "metal": "rock", "pop": "pop", "rock": "rock"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "cache" / "compare_gtzan")
    args = ap.parse_args(argv)
    if not (args.dataset / "labels.csv").exists():
        print(f"The dataset folder {args.dataset} is absent: nothing to measure.", file=sys.stderr)
        return 2
    labels = read_labels(args.dataset)
    labels = labels[labels["genre"].isin(TO_CATALOG)]
    args.cache.mkdir(parents=True, exist_ok=True)
    table = real_table(args.dataset, labels=labels, cache_dir=args.cache)
    model = load_model(args.model)
    pred = model.predict_windows(table)
    windows = pd.DataFrame({"track": table["track"], "truth": table["genre"].map(TO_CATALOG),
                            "genre": pred["genre"].to_numpy()})
    clips = windows.groupby("track").agg(truth=("truth", "first"), genre=("genre", lambda g: g.mode().iloc[0]))
    print(f"model {args.model}: {len(clips)} clips, {len(windows)} windows")
    print(f"clip accuracy (majority genre) {(clips.truth == clips.genre).mean():.3f}; "
          f"window accuracy {(windows.truth == windows.genre).mean():.3f}; chance about 1/8")
    print("windows per predicted genre:", windows.genre.value_counts(normalize=True).round(3).to_dict())
    print(pd.crosstab(clips.truth, clips.genre).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
