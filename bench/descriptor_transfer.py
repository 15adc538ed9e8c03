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
import soundfile as sf
from joblib import Parallel, delayed
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gtzan_embedding import DATASET, clip_windows  # noqa: E402
from core.analysis.analyze import window_feature_table  # noqa: E402
from core.audio.grid import WindowGrid  # noqa: E402
from core.audio.load import track_from_array  # noqa: E402
from core.describe.corpus import CorpusSpec, plan  # noqa: E402
from core.describe.models import (  # noqa: E402
    DEFAULT_FEATURE_SETS,
    GATE,
    STUDIO,
    evaluate,
    feature_columns_of,
    fit_estimator,
    load_model,
    model_views,
    split_by_render,
)
from core.describe.transfer import (  # noqa: E402
    MUSICNN_SET,
    gated_model,
    musicnn_columns,
    real_mix,
    set_columns,
    transfer_model,
)
from core.embed.genre import EMBED_MODEL, TO_CATALOG  # noqa: E402
from core.embed.musicnn import column_names, window_table  # noqa: E402
from core.generate.catalog import load_catalog  # noqa: E402
from core.generate.render import render  # noqa: E402
from core.generate.timeline import single_region  # noqa: E402

AMPER_COLUMNS = set_columns(DEFAULT_FEATURE_SETS)
HYBRID = (*DEFAULT_FEATURE_SETS, MUSICNN_SET)
FLUID = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SR = 22050


def _hear(y: np.ndarray, sr: int) -> np.ndarray:
    starts, ends, _ = WindowGrid().windows(len(y) / sr)
    table = window_table(y, sr, starts_s=starts, ends_s=ends, model=EMBED_MODEL, prefix="")
    return np.stack([table[c] for c in column_names(EMBED_MODEL, prefix="")], axis=1).astype(np.float32)


def _render_audio(job, index: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The render of ``job`` (every other one with FluidR3 when installed) and its real-mix copy."""
    soundfont = str(FLUID) if (index % 2 and FLUID.exists()) else None
    timeline = single_region(job.descriptor, duration_s=job.duration_s, tempo_bpm=job.tempo_bpm, tonic=job.tonic,
                             band=job.band)
    if soundfont:
        os.environ["STUDIO_SOUNDFONT"] = soundfont
    else:
        os.environ.pop("STUDIO_SOUNDFONT", None)
    result = render(timeline, seed=job.seed, parallel=False, sample_rate=SR)
    audio = result.audio if result.audio.ndim == 2 else result.audio[:, None]
    return audio, real_mix(audio, SR, seed=job.seed), soundfont or "TimGM6mb"


def _save(out: Path, **arrays) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(out)
    return out


def _amper(y: np.ndarray, sr: int) -> np.ndarray:
    table = window_feature_table(track_from_array(y, sr, name="w"))
    return table[feature_columns_of(table, DEFAULT_FEATURE_SETS)].to_numpy(dtype=np.float32)


def render_features(job, index: int, cache: Path) -> Path:
    """Clean and real-mix windows of one corpus render, musicnn and the Amper-study sets (cached)."""
    out, amper = cache / "renders" / f"{job.render_id}.npz", cache / "amper" / f"{job.render_id}.npz"
    if out.exists() and amper.exists():
        return out
    audio, mixed, soundfont = _render_audio(job, index)
    if not out.exists():
        _save(out, clean=_hear(audio.mean(axis=1), SR), mixed=_hear(mixed.mean(axis=1), SR),
              soundfont=np.array(soundfont))
    _save(amper, clean=_amper(audio, SR), mixed=_amper(mixed, SR))
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
        amper = np.load(cache / "amper" / f"{job.render_id}.npz")
        labels = catalog.get(job.descriptor).labels()
        for variant in ("clean", "mixed"):
            frame = pd.concat([pd.DataFrame(data[variant], columns=column_names(EMBED_MODEL)),
                               pd.DataFrame(amper[variant], columns=AMPER_COLUMNS)], axis=1)
            for k, v in labels.items():
                frame[k] = str(v)
            frame["render_id"] = job.render_id
            frame["variant"] = variant
            frame["soundfont"] = str(data["soundfont"])
            rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def real_amper(path: Path, cache: Path) -> np.ndarray:
    """The Amper-study sets of a real clip on the window grid (cached)."""
    out = cache / f"{path.stem}.amper.npy"
    if not out.exists():
        y, sr = sf.read(path, dtype="float32", always_2d=True)
        np.save(out, _amper(y, sr))
    return np.load(out)


def real_tables(dataset: Path, cache: Path) -> pd.DataFrame:
    labels = pd.read_csv(dataset / "labels.csv")
    rows = []
    for _, r in labels.iterrows():
        catalog = TO_CATALOG.get(r["genre"], "")
        if not catalog:
            continue
        x = clip_windows(dataset / r["file"], cache)
        frame = pd.concat([pd.DataFrame(x, columns=column_names(EMBED_MODEL)),
                           pd.DataFrame(real_amper(dataset / r["file"], cache), columns=AMPER_COLUMNS)], axis=1)
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


def amper_baseline(real: pd.DataFrame, model_name: str = "mlp") -> dict:
    """The shipped model on the Amper study's features, forced per window, on the same clips."""
    return clip_figures(load_model(model_name).predict_windows(real, threshold=0.0)["genre"].to_numpy(), real)


def real_cv(train: pd.DataFrame, real: pd.DataFrame, *, kind: str, real_weight: int, seed: int,
            feature_sets: tuple[str, ...] = (MUSICNN_SET,)) -> np.ndarray:
    """The genre head's forced guess per real window, each clip judged by a head trained on the
    renders and the real clips of other artists (5 folds grouped by artist)."""
    cols = set_columns(feature_sets)
    guess = np.empty(len(real), dtype=object)
    xr, yr = real[cols].to_numpy(dtype=float), real.genre.astype(str).to_numpy()
    for tr, te in GroupKFold(n_splits=5).split(xr, yr, real.artist.to_numpy()):
        x = np.concatenate([train[cols].to_numpy(dtype=float), np.repeat(xr[tr], real_weight, axis=0)])
        y = np.concatenate([train.genre.astype(str).to_numpy(), np.repeat(yr[tr], real_weight)])
        est = fit_estimator(kind, np.nan_to_num(x), y, seed=seed)
        guess[te] = est.classes_[est.predict_proba(np.nan_to_num(xr[te])).argmax(axis=1)]
    return guess


def variants(renders: pd.DataFrame, real: pd.DataFrame, *, kinds, weights, sets, seed: int) -> list[dict]:
    train_idx, test_idx = split_by_render(renders, test_size=0.3, seed=seed)
    train, test = renders.iloc[train_idx], renders.iloc[test_idx]
    rows = []
    for feature_sets in sets:
        for kind in kinds:
            tag = {"kind": kind, "features": "+".join(feature_sets)}
            for name, part in (("clean", train[train.variant == "clean"]), ("mixed", train)):
                model = transfer_model(part, kind=kind, seed=seed, feature_sets=feature_sets)
                guess = model.predict_windows(real, threshold=0.0)["genre"].to_numpy()
                rows.append({"variant": name, **tag, "real": clip_figures(guess, real),
                             "renders": render_figures(model, test)})
                print(json.dumps(rows[-1]), flush=True)
            for w in weights:
                guess = real_cv(train, real, kind=kind, real_weight=w, seed=seed, feature_sets=feature_sets)
                with_real = transfer_model(train, real=real, kind=kind, seed=seed, real_weight=w,
                                           feature_sets=feature_sets)
                rows.append({"variant": f"mixed+real x{w}", **tag, "real_weight": w,
                             "real": clip_figures(guess, real), "renders": render_figures(with_real, test)})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def save_bundle(renders: pd.DataFrame, real: pd.DataFrame, folder: Path, *, kind: str, real_weight: int,
                seed: int) -> Path:
    """Measure the chosen variant (held-out renders; artist-grouped real clips), refit it on every
    render and real window and write the bundle with those figures in its metrics."""
    train_idx, test_idx = split_by_render(renders, test_size=0.3, seed=seed)
    train, test = renders.iloc[train_idx], renders.iloc[test_idx]
    held = transfer_model(train, real=real if real_weight else None, kind=kind, seed=seed, real_weight=real_weight)
    clean_test = test[test.variant == "clean"]
    metrics = evaluate(held, clean_test)
    metrics["split"] = {"train_renders": int(train.render_id.nunique()), "test_renders": int(test.render_id.nunique()),
                        "train_windows": len(train), "test_windows": len(clean_test)}
    metrics["real_mix"] = render_figures(held, test)["mixed"]
    guess = (real_cv(train, real, kind=kind, real_weight=real_weight, seed=seed) if real_weight else
             held.predict_windows(real, threshold=0.0)["genre"].to_numpy())
    metrics["real_music"] = {"dataset": "gtzan-dev, clips whose genre maps onto the catalog",
                             "grouping": "5 folds grouped by artist" if real_weight else "none (renders only)",
                             **clip_figures(guess, real)}
    x = renders[musicnn_columns()].to_numpy(dtype=float)
    extras = model_views(held, renders, x, test_idx, seed)
    final = transfer_model(renders, real=real if real_weight else None, kind=kind, seed=seed, name=folder.name,
                           real_weight=real_weight, metrics=metrics,
                           config={"seed": seed, "test_size": 0.3, "renders": int(renders.render_id.nunique()),
                                   "windows": len(renders), "real_clips": int(real["clip"].nunique()),
                                   "real_windows": len(real), "real_weight": real_weight,
                                   "corpus": "30 s renders of every descriptor (TimGM6mb and FluidR3), each also "
                                             "through a random real-mix chain; bench/descriptor_transfer.py"})
    final.extras = extras
    return final.save(folder)


def by_soundfont(model, test: pd.DataFrame) -> dict:
    """Per-window genre and mood accuracy of held-out renders by soundfont and real-mix."""
    out = {}
    for (font, variant), part in test.groupby(["soundfont", "variant"]):
        pred = model.predict_windows(part, threshold=0.0)
        out[f"{Path(str(font)).stem} {variant}"] = {
            t: round(float(np.mean(pred[t].to_numpy() == part[t].to_numpy())), 3) for t in EVAL_TARGETS}
    return out


def _gate_weight(model, table: pd.DataFrame) -> np.ndarray:
    return model.estimators[GATE].predict_proba(model._matrix(table))[:, list(model.estimators[GATE].classes_).index(
        STUDIO)]


def save_gated(renders: pd.DataFrame, real: pd.DataFrame, folder: Path, *, base_name: str, seed: int) -> Path:
    """The gated model (``core.describe.transfer.gated_model`` over the shipped ``base_name``):
    measured on held-out renders and artist-grouped real clips, refitted on everything, saved."""
    base = load_model(base_name)
    train_idx, test_idx = split_by_render(renders, test_size=0.3, seed=seed)
    train, test = renders.iloc[train_idx], renders.iloc[test_idx]
    held = gated_model(base, train, real, seed=seed)
    studio_test = test[(test.soundfont == "TimGM6mb") & (test.variant == "clean")]
    metrics = evaluate(held, studio_test)
    metrics["split"] = {"train_renders": int(train.render_id.nunique()),
                        "test_renders": int(studio_test.render_id.nunique()), "train_windows": len(train),
                        "test_windows": len(studio_test),
                        "note": "held out: the studio's own renders (TimGM6mb, as rendered); every soundfont and "
                                "the real mix in by_soundfont"}
    metrics["by_soundfont"] = by_soundfont(held, test)
    print(json.dumps(metrics["by_soundfont"]), flush=True)
    guess, gate = np.empty(len(real), dtype=object), np.zeros(len(real))
    for tr, te in GroupKFold(n_splits=5).split(real, groups=real.artist.to_numpy()):
        fold = gated_model(base, train, real.iloc[tr], seed=seed)
        guess[te] = fold.predict_windows(real.iloc[te], threshold=0.0)["genre"].to_numpy()
        gate[te] = _gate_weight(fold, real.iloc[te])
    metrics["real_music"] = {"dataset": "gtzan-dev, clips whose genre maps onto the catalog",
                             "grouping": "5 folds grouped by artist", **clip_figures(guess, real)}
    metrics["real_music"]["windows_through_the_studio_head"] = round(float((gate >= 0.5).mean()), 3)
    print(json.dumps(metrics["real_music"]), flush=True)
    final = gated_model(base, renders, real, seed=seed, name=folder.name, metrics=metrics,
                        config={"seed": seed, "base_model": base_name, "base_config": base.config,
                                "renders": int(renders.render_id.nunique()), "windows": len(renders),
                                "real_clips": int(real["clip"].nunique()),
                                "real_windows": len(real),
                                "corpus": "base: the shipped corpus; genre head and gate: 30 s renders of every "
                                          "descriptor (TimGM6mb and FluidR3), each also through a random real-mix "
                                          "chain, and gtzan-dev's mapped clips; bench/descriptor_transfer.py"})
    final.extras = base.extras  # the map and distances of the base's feature space (its subgenre and mood heads)
    return final.save(folder)


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
    ap.add_argument("--sets", default="musicnn;amper21,gtzan,tonal,musicnn",
                    help="feature-set combinations to try, ';' between combinations")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--save", type=Path, default=None, help="write the bundle of --save-kind / --save-weight here")
    ap.add_argument("--save-kind", default="logreg")
    ap.add_argument("--save-weight", type=int, default=1, help="real-window weight of the saved model (0: none)")
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
    if args.save and args.save_kind == "gated":
        print(f"saved {save_gated(renders, real, args.save, base_name='mlp', seed=args.seed)}")
        return 0
    if args.save:
        folder = save_bundle(renders, real, args.save, kind=args.save_kind, real_weight=args.save_weight,
                             seed=args.seed)
        print(f"saved {folder}")
        return 0
    if args.data_only:
        return 0
    baseline = amper_baseline(real)
    print(json.dumps({"variant": "amper (shipped mlp)", "real": baseline}), flush=True)
    rows = [{"variant": "amper (shipped mlp)", "kind": "mlp", "real": baseline}]
    rows += variants(renders, real, kinds=args.kinds.split(","), weights=[int(w) for w in args.weights.split(",")],
                     sets=[tuple(c.split(",")) for c in args.sets.split(";")], seed=args.seed)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
