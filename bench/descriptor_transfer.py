"""Descriptor models that transfer to real music (issue 14 item 2): what helps, measured on real clips.

    nice -n 10 .venv/bin/python bench/descriptor_transfer.py [--per-descriptor 4] [--jobs 2]
        [--cache build/cache/descriptor_transfer] [--out report.json] [--save assets/models/musicnn]

Renders of every catalog descriptor (30 s, random tempo, band and tonic from the corpus plan,
``core.describe.corpus.plan``; every other render with the FluidR3 soundfont when it is
installed) are heard by musicnn on the ONE window grid twice: as rendered, and through a random
"real mix" chain (``core.describe.transfer.real_mix``: level, EQ tilt, room reverb, saturation,
bus compression, noise, MP3 artefacts; pedalboard). The gtzan-dev clips whose genre maps onto
the catalog (``core.embed.genre.TO_CATALOG``) are heard the same way.

Variants, each a hierarchy of standardised logistic regressions on the 250 musicnn columns
(``core.describe.transfer``):

- ``amper``: the shipped default (``mlp``, the Amper study's features) as a baseline;
- ``clean``: musicnn features of the renders as rendered;
- ``mixed``: clean plus real-mix copies;
- ``mixed+real``: mixed, and the genre head also learns the mapped gtzan windows (5 folds
  grouped by artist: a clip is never judged by a model that learnt its artist).

Figures: majority catalog genre per real clip, the share of all real windows on the most
frequent genre (collapse), and per-window genre / mood / sentiment / valence / momentum accuracy
on held-out renders (split by render). ``--save DIR`` refits the best variant on everything and
writes the bundle.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gtzan_embedding import DATASET, clip_windows  # noqa: E402
from core.audio.grid import WindowGrid  # noqa: E402
from core.describe.corpus import CorpusSpec, plan  # noqa: E402
from core.describe.models import fit_estimator, split_by_render  # noqa: E402
from core.describe.transfer import musicnn_columns, real_mix, transfer_model  # noqa: E402
from core.embed.genre import EMBED_MODEL, TO_CATALOG  # noqa: E402
from core.embed.musicnn import column_names, window_table  # noqa: E402
from core.generate.catalog import load_catalog  # noqa: E402
from core.generate.render import render  # noqa: E402
from core.generate.timeline import single_region  # noqa: E402

FLUID = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SR = 22050


def _hear(y: np.ndarray, sr: int) -> np.ndarray:
    starts, ends, _ = WindowGrid().windows(len(y) / sr)
    table = window_table(y, sr, starts_s=starts, ends_s=ends, model=EMBED_MODEL, prefix="")
    return np.stack([table[c] for c in column_names(EMBED_MODEL, prefix="")], axis=1).astype(np.float32)


def render_features(job, index: int, cache: Path) -> Path:
    """Clean and real-mix musicnn windows of one corpus render (cached as .npz)."""
    out = cache / "renders" / f"{job.render_id}.npz"
    if out.exists():
        return out
    soundfont = str(FLUID) if (index % 2 and FLUID.exists()) else None
    timeline = single_region(job.descriptor, duration_s=job.duration_s, tempo_bpm=job.tempo_bpm, tonic=job.tonic,
                             band=job.band)
    if soundfont:
        os.environ["STUDIO_SOUNDFONT"] = soundfont
    else:
        os.environ.pop("STUDIO_SOUNDFONT", None)
    result = render(timeline, seed=job.seed, parallel=False, sample_rate=SR)
    audio = result.audio if result.audio.ndim == 2 else result.audio[:, None]
    mixed = real_mix(audio, SR, seed=job.seed)
    clean = _hear(audio.mean(axis=1), SR)
    heard = _hear(mixed.mean(axis=1), SR)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, clean=clean, mixed=heard, soundfont=np.array(soundfont or "TimGM6mb"))
    tmp.replace(out)
    return out


def render_tables(per_descriptor: int, jobs: int, cache: Path) -> pd.DataFrame:
    spec = CorpusSpec(per_descriptor=per_descriptor, durations_s=(30.0,), seed=7)
    todo = plan(spec)
    print(f"{len(todo)} renders", flush=True)
    Parallel(n_jobs=jobs, verbose=5)(delayed(render_features)(j, i, cache) for i, j in enumerate(todo))
    catalog = load_catalog()
    rows = []
    for job in todo:
        data = np.load(cache / "renders" / f"{job.render_id}.npz")
        labels = catalog.get(job.descriptor).labels()
        for variant in ("clean", "mixed"):
            x = data[variant]
            frame = pd.DataFrame(x, columns=column_names(EMBED_MODEL))
            for k, v in labels.items():
                frame[k] = str(v)
            frame["render_id"] = job.render_id
            frame["variant"] = variant
            frame["soundfont"] = str(data["soundfont"])
            rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def real_tables(dataset: Path, cache: Path) -> pd.DataFrame:
    labels = pd.read_csv(dataset / "labels.csv")
    rows = []
    for _, r in labels.iterrows():
        catalog = TO_CATALOG.get(r["genre"], "")
        if not catalog:
            continue
        x = clip_windows(dataset / r["file"], cache)
        frame = pd.DataFrame(x, columns=column_names(EMBED_MODEL))
        frame["genre"] = catalog
        frame["clip"] = r["clip"]
        frame["artist"] = r["artist"] if isinstance(r["artist"], str) else r["clip"]
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


EVAL_TARGETS = ("genre", "subgenre", "mood", "sentiment", "valence", "momentum")


def render_figures(model, test: pd.DataFrame) -> dict:
    """Per-window accuracy per target on held-out renders, as rendered and through the real mix."""
    out = {}
    for variant in ("clean", "mixed"):
        part = test[test.variant == variant]
        pred = model.predict_windows(part, threshold=0.0)
        out[variant] = {t: round(float(np.mean(pred[t].to_numpy() == part[t].to_numpy())), 3) for t in EVAL_TARGETS}
    return out


def clip_figures(guess: np.ndarray, real: pd.DataFrame) -> dict:
    """Majority catalog genre per clip and the collapse check (share of windows on one genre)."""
    frame = pd.DataFrame({"clip": real["clip"].to_numpy(), "truth": real.genre.to_numpy(), "guess": guess})
    per = frame.groupby("clip").agg(truth=("truth", "first"), guess=("guess", lambda s: s.value_counts().index[0]))
    top = frame.guess.value_counts(normalize=True)
    return {"clips": len(per), "majority_accuracy": round(float(np.mean(per.truth == per.guess)), 3),
            "top_genre": str(top.index[0]), "top_share": round(float(top.iloc[0]), 3),
            "per_genre": {g: round(float(np.mean(p.truth == p.guess)), 2) for g, p in per.groupby("truth")}}


def real_cv(train: pd.DataFrame, real: pd.DataFrame, *, kind: str, real_weight: int, seed: int) -> np.ndarray:
    """The genre head's forced guess per real window, each clip judged by a head trained on the
    renders and the real clips of other artists (5 folds grouped by artist)."""
    cols = musicnn_columns()
    guess = np.empty(len(real), dtype=object)
    xr, yr = real[cols].to_numpy(dtype=float), real.genre.astype(str).to_numpy()
    for tr, te in GroupKFold(n_splits=5).split(xr, yr, real.artist.to_numpy()):
        x = np.concatenate([train[cols].to_numpy(dtype=float), np.repeat(xr[tr], real_weight, axis=0)])
        y = np.concatenate([train.genre.astype(str).to_numpy(), np.repeat(yr[tr], real_weight)])
        est = fit_estimator(kind, x, y, seed=seed)
        guess[te] = est.classes_[est.predict_proba(xr[te]).argmax(axis=1)]
    return guess


def variants(renders: pd.DataFrame, real: pd.DataFrame, *, kinds, weights, seed: int) -> list[dict]:
    train_idx, test_idx = split_by_render(renders, test_size=0.3, seed=seed)
    train, test = renders.iloc[train_idx], renders.iloc[test_idx]
    rows = []
    for kind in kinds:
        for name, part in (("clean", train[train.variant == "clean"]), ("mixed", train)):
            model = transfer_model(part, kind=kind, seed=seed)
            guess = model.predict_windows(real, threshold=0.0)["genre"].to_numpy()
            rows.append({"variant": name, "kind": kind, "real": clip_figures(guess, real),
                         "renders": render_figures(model, test)})
            print(json.dumps(rows[-1]), flush=True)
        for w in weights:
            guess = real_cv(train, real, kind=kind, real_weight=w, seed=seed)
            with_real = transfer_model(train, real=real, kind=kind, seed=seed, real_weight=w)
            figures = render_figures(with_real, test)
            rows.append({"variant": f"mixed+real x{w}", "kind": kind, "real_weight": w,
                         "real": clip_figures(guess, real), "renders": figures})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "cache" / "descriptor_transfer")
    ap.add_argument("--gtzan-cache", type=Path, default=ROOT / "build" / "cache" / "gtzan_embedding")
    ap.add_argument("--per-descriptor", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--data-only", action="store_true")
    ap.add_argument("--kinds", default="logreg,mlp")
    ap.add_argument("--weights", default="1,4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if not (args.dataset / "labels.csv").exists():
        print(f"The dataset folder {args.dataset} is absent: nothing to measure.", file=sys.stderr)
        return 2
    real = real_tables(args.dataset, args.gtzan_cache)
    print(f"real: {real['clip'].nunique()} clips, {len(real)} windows", flush=True)
    renders = render_tables(args.per_descriptor, args.jobs, args.cache)
    renders.to_parquet(args.cache / "renders.parquet")
    real.to_parquet(args.cache / "real.parquet")
    print(f"renders: {renders.render_id.nunique()} renders, {len(renders)} windows", flush=True)
    if args.data_only:
        return 0
    rows = variants(renders, real, kinds=args.kinds.split(","), weights=[int(w) for w in args.weights.split(",")],
                    seed=args.seed)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
