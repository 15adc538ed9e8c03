"""Real-music genre on gtzan-dev: the render-trained descriptor model and the GTZAN-10 model,
with their "unknown" rates, a collapse check and reliability (ECE).

    nice -n 10 .venv/bin/python bench/real_music_genre.py [--out FILE.json] [--model mlp]
        [--corpus build/corpus_cal] [--save-bundle assets/real_models/gtzan10]
        [--save-calibration FILE] [--skip-descriptor] [--skip-synthetic]

- **GTZAN-10** (``core.embed.genre``, MSD_musicnn windows): artist-disjoint, two ways: trained on
  Sturm's train part and scored on his valid part, and 5-fold cross-validation grouped by artist
  over all 168 clips. Inside every training part the temperature and the novelty threshold are
  fitted on the part's own artist-grouped held-out predictions, so the held-out clips judge a
  model that never saw them at all. Per clip: the mean of its windows' probabilities (the model
  card's figure) and the majority of its known windows' genres; window ECE before and after
  calibration; the unknown rate on the held-out windows; the catalog genre through the
  real-music issue's mapping; the share of windows (and clips) on the most predicted genre.
- **Non-music and renders** through the product path (``analyze`` + ``real_music_windows`` with
  the bundle in ``--model-dir``): white, pink and brown noise, a -45 dBFS hiss, near-silence,
  a sine sweep, two steady tones, a click track, two synthetic speech-like signals (formant
  filtered pulse trains in syllables), the eight example renders, a known song and a form track:
  the share of windows each says "unknown" for.
- **Descriptor model** (``--model``, the shipped MLP by default): majority genre per clip on the
  clips whose GTZAN genre maps onto the catalog (``TO_CATALOG``), window accuracy, the collapse
  check, its own low-confidence share. With ``--corpus`` (held-out renders: a corpus made with
  another seed than the training corpus, e.g. ``python -m core corpus --per-descriptor 2
  --durations 30 --seed 7 --out build/corpus_cal``) it is calibrated (``core.describe.calibrate``):
  ECE per target on held-out renders before/after (fitted on half the renders, judged on the
  other half), then, fitted on all of them, the ``ood`` rate on every gtzan-dev window and on the
  non-music clips, and the mapped accuracy of the windows it still names.

Prints a summary and writes everything to ``--out`` (JSON). Says so and exits 2 when the dataset
folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import signal
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gtzan_embedding import clip_windows  # noqa: E402
from core.analysis.analyze import analyze  # noqa: E402
from core.audio.load import track_from_array  # noqa: E402
from core.covers.songs import known_song  # noqa: E402
from core.describe.calibrate import (  # noqa: E402
    apply_calibration,
    descriptor_reliability,
    fit_descriptor_calibration,
)
from core.describe.compare import read_labels, real_table  # noqa: E402
from core.describe.models import UNKNOWN, load_model, training_table  # noqa: E402
from core.embed.genre import (  # noqa: E402
    GENRE_MODEL_DIR,
    TO_CATALOG,
    GenreModel,
    ece,
    fit_genre_model,
    load_genre_model,
    nll,
    save_genre_model,
    temper,
)
from core.embed.hear import real_music_windows  # noqa: E402
from core.generate.groundtruth import form_track  # noqa: E402
from core.io import atomic_write  # noqa: E402

DATASET = (ROOT / ".." / "shared" / "datasets" / "gtzan-dev").resolve()
SR = 22050


# ------------------------------------------------------------------ GTZAN-10
def _stack(windows, labels, rows):
    x = np.concatenate([windows[i] for i in rows])
    y = np.concatenate([[labels["genre"].iloc[i]] * len(windows[i]) for i in rows])
    g = np.concatenate([[labels["group"].iloc[i]] * len(windows[i]) for i in rows])
    return x, y, g


def heldout_part(windows, labels, train, test) -> pd.DataFrame:
    """Fit (with calibration and novelty, grouped by artist) on ``train`` clips; one row per
    window of the ``test`` clips: clip, truth, raw and calibrated probabilities, unknown."""
    x, y, g = _stack(windows, labels, train)
    fit = fit_genre_model(x, y, groups=g)
    model = GenreModel(pipeline=fit.pipeline, genres=tuple(map(str, fit.classes_)), columns=tuple(range(x.shape[1])),
                       metrics={}, temperature=fit.temperature, novelty=fit.novelty)
    rows = []
    for i in test:
        raw = fit.pipeline.predict_proba(windows[i])
        pred = model.predict(windows[i])
        rows.append(pd.DataFrame({"clip": labels["clip"].iloc[i], "truth": labels["genre"].iloc[i],
                                  "raw": list(raw), "cal": list(temper(raw, fit.temperature)),
                                  "genre": pred["real_genre"], "forced": [model.genres[j] for j in raw.argmax(1)],
                                  "unknown": pred["real_unknown"], "temperature": fit.temperature}))
    return pd.concat(rows, ignore_index=True)


def window_figures(w: pd.DataFrame, genres: list[str]) -> dict:
    truth = np.searchsorted(genres, w["truth"])
    raw, cal = np.stack(w["raw"]), np.stack(w["cal"])
    known = ~w["unknown"].to_numpy()
    top = w.loc[known, "genre"].value_counts(normalize=True)
    return {"windows": int(len(w)), "window_accuracy": round(float(np.mean(w["forced"] == w["truth"])), 3),
            "ece_raw": round(ece(raw, truth), 4), "ece_calibrated": round(ece(cal, truth), 4),
            "nll_raw": round(nll(raw, truth), 4), "nll_calibrated": round(nll(cal, truth), 4),
            "unknown_share": round(float(np.mean(~known)), 4),
            "most_frequent_genre": str(top.index[0]) if len(top) else "",
            "most_frequent_share": round(float(top.iloc[0]), 3) if len(top) else 0.0}


def clip_figures(w: pd.DataFrame, genres: list[str]) -> dict:
    def per_clip(c):
        known = c.loc[~c["unknown"], "genre"]
        return pd.Series({"truth": c["truth"].iloc[0], "mean_prob": genres[int(np.argmax(np.stack(c["cal"]).mean(0)))],
                          "majority": known.value_counts().index[0] if len(known) else UNKNOWN})
    clips = w.groupby("clip", sort=False)[["truth", "cal", "genre", "unknown"]].apply(per_clip)
    mapped = clips["truth"].isin(TO_CATALOG)
    catalog = [TO_CATALOG.get(p) == TO_CATALOG[t] for p, t in zip(clips.loc[mapped, "mean_prob"], clips.loc[mapped, "truth"])]
    top = clips["mean_prob"].value_counts(normalize=True)
    return {"clips": int(len(clips)), "accuracy_mean_prob": round(float(np.mean(clips["mean_prob"] == clips["truth"])), 3),
            "accuracy_majority": round(float(np.mean(clips["majority"] == clips["truth"])), 3),
            "catalog_accuracy_mapped": round(float(np.mean(catalog)), 3), "mapped_clips": int(mapped.sum()),
            "most_predicted_clip_share": round(float(top.iloc[0]), 3)}


def gtzan10(windows, labels) -> dict:
    genres = sorted(labels["genre"].unique())
    split = labels["sturm_split"].to_numpy()
    valid = heldout_part(windows, labels, np.flatnonzero(split == "train"), np.flatnonzero(split == "valid"))
    parts = []
    for train, test in GroupKFold(n_splits=5).split(labels, groups=labels["group"]):
        parts.append(heldout_part(windows, labels, train, test))
    cv = pd.concat(parts, ignore_index=True)
    out = {"sturm_valid": {**clip_figures(valid, genres), **window_figures(valid, genres),
                           "temperature": float(valid["temperature"].iloc[0])},
           "artist_grouped_cv5": {**clip_figures(cv, genres), **window_figures(cv, genres),
                                  "temperatures": sorted(map(float, cv["temperature"].unique()))}}
    clips = cv.groupby("clip", sort=False).apply(lambda c: genres[int(np.argmax(np.stack(c["cal"]).mean(0)))],
                                                 include_groups=False)
    truth = labels.set_index("clip").loc[clips.index, "genre"]
    out["artist_grouped_cv5"]["confusion"] = pd.crosstab(truth.rename("truth"), clips.rename("predicted")).to_dict()
    return out


# --------------------------------------------------------- non-music and renders
def _noise(kind: str, *, seed: int, level: float, dur_s: float = 30.0) -> np.ndarray:
    w = np.random.default_rng(seed).standard_normal(int(SR * dur_s))
    if kind == "pink":
        f = np.fft.rfftfreq(w.size, 1 / SR)
        w = np.fft.irfft(np.fft.rfft(w) / np.sqrt(np.maximum(f, f[1])), n=w.size)
    elif kind == "brown":
        w = np.cumsum(w)
        w -= signal.savgol_filter(w, 2001, 1)
    return level * w / np.max(np.abs(w))


def _speechlike(*, seed: int, dur_s: float = 30.0) -> np.ndarray:
    """Syllables of a formant-filtered glottal pulse train (100-180 Hz, five vowels) with pauses."""
    rng = np.random.default_rng(seed)
    vowels = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410)]
    out, t0 = np.zeros(int(SR * dur_s)), 0
    while t0 < out.size:
        n = int(SR * rng.uniform(0.12, 0.3))
        if rng.random() < 0.15:
            t0 += int(SR * rng.uniform(0.2, 0.6))
            continue
        phase = np.cumsum(2 * np.pi * rng.uniform(100, 180) * np.linspace(1, rng.uniform(0.85, 1.15), n) / SR)
        source = (np.sin(phase) > 0.95) + 0.05 * rng.standard_normal(n)
        syllable = sum(signal.lfilter(*signal.iirpeak(fc, 8, fs=SR), source) for fc in vowels[rng.integers(5)])
        end = min(out.size, t0 + n)
        out[t0:end] += (syllable * np.hanning(n))[: end - t0]
        t0 = end
    return 0.5 * out / np.max(np.abs(out))


def synthetic_clips() -> dict[str, tuple[np.ndarray, int, str]]:
    """name -> (mono audio, sample rate, kind: "non-music" or "render")."""
    t = np.arange(int(SR * 30.0)) / SR
    clicks = np.zeros(t.size)
    clicks[:: SR // 2] = 0.9
    clips = {"white_noise": _noise("white", seed=0, level=0.3), "pink_noise": _noise("pink", seed=1, level=0.3),
             "brown_noise": _noise("brown", seed=2, level=0.3), "hiss_-45dBFS": _noise("white", seed=3, level=0.02),
             "near_silence": _noise("white", seed=4, level=0.001),
             "sine_sweep": 0.5 * signal.chirp(t, 40.0, 30.0, 10000.0, method="logarithmic"),
             "tone_440": 0.5 * np.sin(2 * np.pi * 440 * t), "tone_110": 0.5 * np.sin(2 * np.pi * 110 * t),
             "clicks_120bpm": 0.3 * signal.lfilter([1], [1, -0.95], clicks),
             "speechlike_1": _speechlike(seed=0), "speechlike_2": _speechlike(seed=5)}
    out = {k: (v.astype(np.float32), SR, "non-music") for k, v in clips.items()}
    for f in sorted((ROOT / "assets" / "examples").glob("*.ogg")):
        y, sr = sf.read(f, dtype="float32", always_2d=True)
        out[f"render_{f.stem.removeprefix('example_')}"] = (y.mean(axis=1), sr, "render")
    song = known_song(bars=16, tempo_bpm=100.0)
    out["known_song"] = (song.audio, song.sample_rate, "render")
    audio, sr, _ = form_track(seed=0)
    out["form_track"] = (audio.mean(axis=1), sr, "render")
    return out


def synthetic(model_dir: Path, descriptor=None, calibration=None) -> dict:
    """Per clip the share of windows each model calls unknown (the product path)."""
    rows = []
    for name, (y, sr, kind) in synthetic_clips().items():
        track = track_from_array(y, sr, name=name)
        analysis = analyze(track)
        table = real_music_windows(track, analysis, model_dir=model_dir)
        row = {"clip": name, "kind": kind, "windows": len(table),
               "real_unknown_share": round(float(table["real_unknown"].mean()), 3),
               "real_genre_shown": str(table["real_genre"].value_counts().index[0])}
        if descriptor is not None and calibration is not None:
            pred = apply_calibration(descriptor, analysis.windows, descriptor.predict_windows(analysis.windows),
                                     calibration)
            row["descriptor_ood_share"] = round(float(pred["ood"].mean()), 3)
        rows.append(row)
        print(f"  {name:24s} {kind:9s} unknown {row['real_unknown_share']:.2f}"
              + (f"  descriptor ood {row['descriptor_ood_share']:.2f}" if "descriptor_ood_share" in row else ""),
              flush=True)
    frame = pd.DataFrame(rows)
    summary = {k: {c: round(float(g[c].mean()), 3) for c in frame.columns if c.endswith("_share") and c in g}
               for k, g in frame.groupby("kind")}
    return {"clips": rows, "mean_by_kind": summary}


# ---------------------------------------------------------------- descriptor
def _descriptor_figures(frame: pd.DataFrame) -> dict:
    clips = frame.groupby("track").agg(truth=("truth", "first"), genre=("genre", lambda g: g.mode().iloc[0]))
    top = frame["genre"].value_counts(normalize=True)
    return {"clips": int(len(clips)), "windows": int(len(frame)),
            "clip_accuracy_majority": round(float(np.mean(clips.truth == clips.genre)), 3),
            "window_accuracy": round(float(np.mean(frame.truth == frame.genre)), 3),
            "most_frequent_genre": str(top.index[0]), "most_frequent_share": round(float(top.iloc[0]), 3),
            "windows_per_genre": top.round(3).to_dict()}


def descriptor(dataset: Path, model_name: str, corpus: Path | None, cache: Path) -> tuple[dict, object, object]:
    labels = read_labels(dataset)
    cache.mkdir(parents=True, exist_ok=True)
    table = real_table(dataset, labels=labels, cache_dir=cache)
    model = load_model(model_name)
    forced = model.predict_windows(table, threshold=0.0)
    mapped = table["genre"].isin(TO_CATALOG).to_numpy()
    frame = pd.DataFrame({"track": table["track"], "truth": table["genre"].map(TO_CATALOG), "genre": forced["genre"]})
    own = model.predict_windows(table)
    out = {"model": model_name, "mapped": _descriptor_figures(frame[mapped]),
           "low_confidence_share_all": round(float(own["low_confidence"].mean()), 3)}
    if corpus is None:
        return out, model, None
    renders, _, _ = training_table(pd.read_parquet(corpus / "corpus.parquet"))
    ids = np.array(sorted(renders["render_id"].unique()))
    half = set(np.random.default_rng(0).permutation(ids)[: len(ids) // 2])
    fit_part, judge = renders[renders.render_id.isin(half)], renders[~renders.render_id.isin(half)]
    cal_half = fit_descriptor_calibration(model, fit_part.reset_index(drop=True))
    judge = judge.reset_index(drop=True)
    out["heldout_renders"] = {"renders_fit": len(half), "renders_judged": int(len(ids) - len(half)),
                              "before": descriptor_reliability(model, judge, None),
                              "after": descriptor_reliability(model, judge, cal_half),
                              "temperatures": cal_half.temperatures,
                              "ood_share_judged": round(float(cal_half.novelty.unknown(model._matrix(judge)).mean()), 4)}
    calibration = fit_descriptor_calibration(model, renders)
    real = table[mapped].assign(genre=table.loc[mapped, "genre"].map(TO_CATALOG))
    cal_pred = apply_calibration(model, table, own, calibration)
    known = mapped & ~cal_pred["ood"].to_numpy()
    kept = frame[known]
    out["calibrated"] = {"temperatures": calibration.temperatures, "novelty_threshold": calibration.novelty.threshold,
                         "ood_share_gtzan_all": round(float(cal_pred["ood"].mean()), 4),
                         "ood_share_gtzan_mapped": round(float(cal_pred["ood"].to_numpy()[mapped].mean()), 4),
                         "real_mapped_genre_reliability": {
                             when: descriptor_reliability(model, real, c)["genre"]
                             for when, c in (("before", None), ("after", calibration))},
                         "named_windows_mapped": _descriptor_figures(kept) if len(kept) else {}}
    return out, model, calibration


# ---------------------------------------------------------------------- main
def save_bundle(windows, labels, folder: Path, report: dict) -> None:
    x, y, g = _stack(windows, labels, np.arange(len(labels)))
    fit = fit_genre_model(x, y, groups=g)
    valid, cv = report["sturm_valid"], report["artist_grouped_cv5"]
    save_genre_model(fit, folder, metrics={
        "valid_accuracy": valid["accuracy_mean_prob"], "artist_grouped_cv_accuracy": cv["accuracy_mean_prob"],
        "artist_grouped_cv_majority_accuracy": cv["accuracy_majority"],
        "catalog_genre_accuracy": cv["catalog_accuracy_mapped"], "clips": int(len(labels)), "windows": int(len(x)),
        "heldout_ece_raw": cv["ece_raw"], "heldout_ece_calibrated": cv["ece_calibrated"],
        "heldout_unknown_share": cv["unknown_share"]})
    load_genre_model.cache_clear()
    print(f"saved to {folder} (temperature {fit.temperature}, novelty threshold {fit.novelty.threshold:.2f})")


def _print(report: dict) -> None:
    for name, r in report["gtzan10"].items():
        print(f"GTZAN-10 {name}: {r['clips']} clips, accuracy {r['accuracy_mean_prob']:.3f} (mean prob.) / "
              f"{r['accuracy_majority']:.3f} (majority of known windows); catalog {r['catalog_accuracy_mapped']:.3f}; "
              f"ECE {r['ece_raw']:.3f} -> {r['ece_calibrated']:.3f}; NLL {r['nll_raw']:.3f} -> {r['nll_calibrated']:.3f}; "
              f"unknown {r['unknown_share']:.3f}; most frequent {r['most_frequent_genre']} {r['most_frequent_share']:.2f}")
    d = report.get("descriptor")
    if d:
        m = d["mapped"]
        print(f"descriptor {d['model']}: mapped clips {m['clips']}, majority {m['clip_accuracy_majority']:.3f}, "
              f"windows {m['window_accuracy']:.3f}, most frequent {m['most_frequent_genre']} {m['most_frequent_share']:.2f}")
        if "heldout_renders" in d:
            h = d["heldout_renders"]
            print("  ECE on held-out renders before -> after: " + ", ".join(
                f"{t} {h['before'][t]['ece']:.3f}->{h['after'][t]['ece']:.3f}" for t in h["before"]))
            c = d["calibrated"]
            print(f"  ood: {c['ood_share_gtzan_all']:.3f} of all gtzan-dev windows, {h['ood_share_judged']:.3f} of "
                  f"held-out render windows")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "cache" / "gtzan_embedding")
    ap.add_argument("--features-cache", type=Path, default=ROOT / "build" / "cache" / "compare_gtzan")
    ap.add_argument("--model", default="mlp", help="the descriptor model")
    ap.add_argument("--corpus", type=Path, default=None, help="held-out renders to calibrate the descriptor model")
    ap.add_argument("--model-dir", type=Path, default=GENRE_MODEL_DIR, help="the GTZAN-10 bundle for the synthetic clips")
    ap.add_argument("--save-bundle", type=Path, default=None, help="refit GTZAN-10 on every clip and write the bundle")
    ap.add_argument("--save-calibration", type=Path, default=None, help="write the descriptor calibration here")
    ap.add_argument("--skip-descriptor", action="store_true")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if not (args.dataset / "labels.csv").exists():
        print(f"The dataset folder {args.dataset} is absent: nothing to measure.", file=sys.stderr)
        return 2
    labels = read_labels(args.dataset)
    windows = [clip_windows(args.dataset / f, args.cache) for f in labels["file"]]
    report = {"dataset": str(args.dataset), "gtzan10": gtzan10(windows, labels)}
    if args.save_bundle:
        save_bundle(windows, labels, args.save_bundle, report["gtzan10"])
    model = calibration = None
    if not args.skip_descriptor:
        report["descriptor"], model, calibration = descriptor(args.dataset, args.model, args.corpus,
                                                              args.features_cache)
        if calibration is not None and args.save_calibration:
            atomic_write(args.save_calibration, calibration.to_bytes())
    _print(report)
    if not args.skip_synthetic:
        report["synthetic"] = synthetic(args.save_bundle or args.model_dir, model, calibration)
        print("mean unknown share by kind:", report["synthetic"]["mean_by_kind"])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1, default=str))
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
