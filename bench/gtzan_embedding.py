"""A real-music genre model on the musicnn embedding: GTZAN's 10 genres on gtzan-dev.

    nice -n 10 .venv/bin/python bench/gtzan_embedding.py [--cache build/cache/gtzan_embedding] [--save DIR]

Every clip is embedded with the torch port of musicnn (core.embed, MSD_musicnn: 50 tags and
the 200-d penultimate layer per 3 s patch) and averaged onto the ONE window grid
(``core.embed.musicnn.window_table``, 10 s windows, 2 s hop), exactly as the studio does for
an upload. A logistic regression (standardised features; ``core.embed.genre``) learns the
windows; a clip is the mean of its windows' probabilities. Scored two artist-disjoint ways:
trained on Sturm's train part and tested on his valid part, and 5-fold cross-validation
grouped by artist over all 168 clips; also the catalog genre through the real-music issue's
mapping (blues and reggae have none) and the share of clips on the most predicted genre.
``--save DIR`` then fits on every clip and writes the model bundle (``assets/real_models/gtzan10``),
calibrated (temperature) and with its novelty ("unknown") fitted on artist-grouped held-out
windows; ``bench/real_music_genre.py --save-bundle DIR`` does the same and records the held-out
ECE and unknown rate in the bundle's metrics too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from sklearn.model_selection import GroupKFold

from core.audio.grid import WindowGrid
from core.embed.genre import EMBED_MODEL, TO_CATALOG, fit_genre_model, save_genre_model
from core.embed.musicnn import column_names, window_table

ROOT = Path(__file__).resolve().parent.parent
DATASET = (ROOT / ".." / "shared" / "datasets" / "gtzan-dev").resolve()


def clip_windows(path: Path, cache: Path) -> np.ndarray:
    """(n_windows, 250) musicnn features of a clip on the window grid, cached."""
    out = cache / f"{path.stem}.windows.npy"
    if out.exists():
        return np.load(out)
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    starts, ends, _ = WindowGrid().windows(len(y) / sr)
    table = window_table(y.mean(axis=1), sr, starts_s=starts, ends_s=ends, model=EMBED_MODEL, prefix="")
    feats = np.stack([table[c] for c in column_names(EMBED_MODEL, prefix="")], axis=1)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(out, feats)
    return feats


def clip_votes(model, windows: list[np.ndarray]) -> np.ndarray:
    return np.array([model.classes_[np.argmax(model.predict_proba(w).mean(axis=0))] for w in windows])


def score(windows, labels: pd.DataFrame, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    x = np.concatenate([windows[i] for i in np.flatnonzero(train)])
    y = np.concatenate([[labels["genre"].iloc[i]] * len(windows[i]) for i in np.flatnonzero(train)])
    return clip_votes(fit_genre_model(x, y, calibrate=False), [windows[i] for i in np.flatnonzero(test)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "cache" / "gtzan_embedding")
    ap.add_argument("--save", type=Path, default=None)
    args = ap.parse_args(argv)
    if not (args.dataset / "labels.csv").exists():
        print(f"The dataset folder {args.dataset} is absent: nothing to measure.", file=sys.stderr)
        return 2
    labels = pd.read_csv(args.dataset / "labels.csv")
    windows = [clip_windows(args.dataset / f, args.cache) for f in labels["file"]]
    truth = labels["genre"].to_numpy()
    split = labels["sturm_split"].to_numpy()
    valid_pred = score(windows, labels, split == "train", split == "valid")
    print(f"train -> valid (artist-disjoint, {np.sum(split == 'valid')} clips): {np.mean(valid_pred == truth[split == 'valid']):.3f}")
    groups = labels["artist"].fillna(labels["clip"]).to_numpy()
    cv = np.empty(len(labels), dtype=object)
    for tr, te in GroupKFold(n_splits=5).split(truth, truth, groups):
        mask_tr, mask_te = np.zeros(len(labels), bool), np.zeros(len(labels), bool)
        mask_tr[tr], mask_te[te] = True, True
        cv[te] = score(windows, labels, mask_tr, mask_te)
    mapped = labels["genre"].isin(TO_CATALOG).to_numpy()
    catalog = np.mean([TO_CATALOG.get(p) == TO_CATALOG[t] for p, t in zip(cv[mapped], truth[mapped])])
    top = pd.Series(cv).value_counts(normalize=True)
    print(f"artist-grouped 5-fold ({len(labels)} clips): GTZAN-10 {np.mean(cv == truth):.3f}; catalog genre "
          f"({mapped.sum()} mapped clips) {catalog:.3f}; most predicted: {top.index[0]} {top.iloc[0]:.2f}")
    print(pd.crosstab(pd.Series(truth, name="truth"), pd.Series(cv, name="predicted")).to_string())
    if args.save:
        x = np.concatenate(windows)
        y = np.concatenate([[g] * len(w) for g, w in zip(truth, windows)])
        g = np.concatenate([[a] * len(w) for a, w in zip(groups, windows)])
        save_genre_model(fit_genre_model(x, y, groups=g), args.save, metrics={
            "valid_accuracy": round(float(np.mean(valid_pred == truth[split == "valid"])), 3),
            "artist_grouped_cv_accuracy": round(float(np.mean(cv == truth)), 3),
            "catalog_genre_accuracy": round(float(catalog), 3), "clips": int(len(labels)),
            "windows": int(len(x))})
        print(f"saved to {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
