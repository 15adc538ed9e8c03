"""Cover detection measured: MAP and the rank of the first true version, per method (issue 19).

    nice -n 10 .venv/bin/python bench/cover_detect.py                    # engine versions + all gtzan-dev
    nice -n 10 .venv/bin/python bench/cover_detect.py --real 40          # quicker: 40 real clips
    nice -n 10 .venv/bin/python bench/cover_detect.py --real 0 --out /tmp/cover_bench.json

1. Engine versions: songs of ``core.covers.songs.known_song`` (every progression, several seeds:
   songs on the same chords differ only in their melody), each rendered in VERSIONS: other tempo
   (x0.85, x1.15), key (+2, -3, +5 semitones), chord and lead instruments, drums on or off. Every
   rendering queries all the others (leave one out); MAP over all queries and the mean rank of
   the first other version of the same song.
2. Real pseudo-versions: each gtzan-dev clip (``../shared/datasets/gtzan-dev``) made into a
   "version" with pedalboard (pitch shift of +-1..3 semitones and time stretch by 0.85-1.15 in
   one pass, a low and a high shelf of +-6 dB, a room reverb; seeded per clip), queried
   against all the originals (one true answer: MAP = mean reciprocal rank); and a 15 s excerpt
   of each version (from a seeded offset) queried the same way. Plus the real pairs of the set:
   clips that Sturm's index gives the same title (other excerpts of one song or recording).
The random baseline is the expected MAP of a random ranking of the same lists.
Features are cached in ``--cache`` (by clip, version and DETECT_VERSION).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import pedalboard

from core.audio.load import load_track, read_audio_file
from core.covers import detect
from core.covers.songs import PROGRESSIONS, known_song
from core.errors import StudioError

DATASET = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "gtzan-dev"
#: (tempo factor, semitones, chord program, lead program, drums) per engine version.
VERSIONS = (
    (1.0, 0, 0, 73, True),  # piano, flute
    (0.85, 2, 4, 11, False),  # electric piano, vibraphone
    (1.15, -3, 24, 81, True),  # nylon guitar, saw lead
    (1.0, 5, 48, 65, False),  # strings, alto sax
)
EXCERPT_S = 15.0


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> tuple[float, int]:
    """AP of one query and the rank of its first relevant item (ties: the stable order)."""
    order = np.argsort(-scores, kind="stable")
    hits = np.flatnonzero(relevant[order]) + 1
    return float(np.mean(np.arange(1, hits.size + 1) / hits)), int(hits[0])


def random_map(relevant_lists, *, draws: int = 200, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    return float(np.mean([np.mean([average_precision(rng.random(r.size), r)[0] for r in relevant_lists])
                          for _ in range(draws)]))


def _cached(cache: Path, name: str, make) -> detect.CoverFeatures | None:
    path = cache / f"{name}_v{detect.DETECT_VERSION}.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return None if data is None else detect.CoverFeatures.from_dict(data)
    try:
        features = make()
    except StudioError as exc:
        print(f"  {name}: {exc}")
        features = None
    path.write_text(json.dumps(None if features is None else features.to_dict()))
    return features


def engine_features(cache: Path, n_songs: int) -> tuple[list, np.ndarray]:
    songs = [(p, s) for s in range(max(1, -(-n_songs // len(PROGRESSIONS)))) for p in PROGRESSIONS][:n_songs]
    features, labels = [], []
    for i, (progression, seed) in enumerate(songs):
        base_bpm = 90.0 + 10 * ((i * 3) % 4)  # 90-120 BPM
        for v, (factor, semitones, chords, lead, drums) in enumerate(VERSIONS):
            def make():
                song = known_song(progression=progression, seed=seed, bars=16, tempo_bpm=base_bpm * factor,
                                  transpose_semitones=semitones, chord_program=chords, lead_program=lead,
                                  drums=drums)
                return detect.compute_features(song.audio, song.sample_rate)
            features.append(_cached(cache, f"engine_{progression}_{seed}_{v}", make))
            labels.append(i)
    return features, np.array(labels)


def leave_one_out(features: list, labels: np.ndarray, method: str) -> dict:
    S = detect.similarity_matrix(features, method=method)
    aps, ranks, rel_lists = [], [], []
    for i in range(len(features)):
        others = np.flatnonzero(np.arange(len(features)) != i)
        relevant = labels[others] == labels[i]
        ap, rank = average_precision(S[i, others], relevant)
        aps.append(ap)
        ranks.append(rank)
        rel_lists.append(relevant)
    return {"map": float(np.mean(aps)), "mean_rank": float(np.mean(ranks)), "top1": float(np.mean(np.array(ranks) == 1)),
            "random_map": random_map(rel_lists), "queries": len(features)}


def version_of(y: np.ndarray, sr: int, rng) -> tuple[np.ndarray, dict]:
    """A pseudo-version: pitch and tempo moved, EQ and reverb (pedalboard)."""
    semitones = int(rng.choice([-3, -2, -1, 1, 2, 3]))
    stretch = float(rng.uniform(0.85, 1.15))
    out = pedalboard.time_stretch(y[None, :].astype(np.float32), sr, stretch_factor=stretch,
                                  pitch_shift_in_semitones=float(semitones))
    board = pedalboard.Pedalboard([
        pedalboard.LowShelfFilter(cutoff_frequency_hz=200.0, gain_db=float(rng.uniform(-6, 6))),
        pedalboard.HighShelfFilter(cutoff_frequency_hz=4000.0, gain_db=float(rng.uniform(-6, 6))),
        pedalboard.Reverb(room_size=float(rng.uniform(0.2, 0.6)), wet_level=0.2, dry_level=0.8),
    ])
    out = board(out, sr)[0]
    return out / max(float(np.max(np.abs(out))), 1e-9) * 0.9, {"semitones": semitones, "stretch": stretch}


def real_features(cache: Path, n_clips: int) -> dict:
    rows = list(csv.DictReader(open(DATASET / "labels.csv")))[:n_clips]
    originals, versions, excerpts, names, titles = [], [], [], [], []
    for k, row in enumerate(rows):
        def load():
            track = load_track(read_audio_file(DATASET / row["file"]), name=row["clip"])
            return track.mono(sr=detect.FEATURE_SR), detect.FEATURE_SR
        state = {}

        def version():
            y, sr = load()
            state["v"] = version_of(y, sr, np.random.default_rng(1000 + k))[0], sr
            return state["v"]

        def excerpt():
            v, sr = state["v"] if "v" in state else version()
            start = int(np.random.default_rng(2000 + k).uniform(0, max(v.size / sr - EXCERPT_S, 0)) * sr)
            return v[start: start + int(EXCERPT_S * sr)], sr
        originals.append(_cached(cache, f"gtzan_{row['clip']}_orig", lambda: detect.compute_features(*load())))
        versions.append(_cached(cache, f"gtzan_{row['clip']}_version", lambda: detect.compute_features(*version())))
        excerpts.append(_cached(cache, f"gtzan_{row['clip']}_excerpt", lambda: detect.compute_features(*excerpt())))
        names.append(row["clip"])
        titles.append((row["artist"], row["title"]) if row["title"] else None)
    return {"originals": originals, "versions": versions, "excerpts": excerpts, "names": names, "titles": titles}


def query_against(queries: list, originals: list, method: str) -> dict:
    """Each query (version i of original i) against all usable originals."""
    keep = [i for i, f in enumerate(originals) if f is not None]
    refs = [originals[i] for i in keep]
    scorer = detect.DETECTORS[method]
    rr, ranks, rel_lists = [], [], []
    for i, q in enumerate(queries):
        if q is None or originals[i] is None:
            continue
        relevant = np.array([j == i for j in keep])
        ap, rank = average_precision(scorer(q, refs), relevant)
        rr.append(ap)
        ranks.append(rank)
        rel_lists.append(relevant)
    return {"map": float(np.mean(rr)), "mean_rank": float(np.mean(ranks)), "top1": float(np.mean(np.array(ranks) == 1)),
            "random_map": random_map(rel_lists), "queries": len(rr), "candidates": len(refs)}


def title_pairs(real: dict, method: str) -> dict:
    """Clips with the same (artist, title) query the other originals (leave one out)."""
    groups: dict = {}
    for i, t in enumerate(real["titles"]):
        if t is not None and real["originals"][i] is not None:
            groups.setdefault(t, []).append(i)
    groups = {t: g for t, g in groups.items() if len(g) > 1}
    feats = real["originals"]
    usable = [i for i, f in enumerate(feats) if f is not None]
    scorer = detect.DETECTORS[method]
    aps, ranks = [], []
    for members in groups.values():
        for i in members:
            others = [j for j in usable if j != i]
            ap, rank = average_precision(scorer(feats[i], [feats[j] for j in others]),
                                         np.array([j in members for j in others]))
            aps.append(ap)
            ranks.append(rank)
    if not aps:
        return {}
    return {"map": float(np.mean(aps)), "mean_rank": float(np.mean(ranks)), "queries": len(aps),
            "groups": [list(t) for t in groups]}


def speed(real: dict) -> dict:
    """Seconds for an N x N of up to 30 full clips (features from audio, then the matrix)."""
    rows = [r for r in csv.DictReader(open(DATASET / "labels.csv")) if r["full_clip"] == "1"][:30]
    t0 = time.perf_counter()
    feats = []
    for row in rows:
        track = load_track(read_audio_file(DATASET / row["file"]), name=row["clip"])
        feats.append(detect.compute_features(track.samples, track.sample_rate))
    t1 = time.perf_counter()
    out = {"clips": len(feats), "features_s": round(t1 - t0, 2)}
    for method in detect.DETECTORS:
        t = time.perf_counter()
        detect.similarity_matrix(feats, method=method)
        out[f"{method}_matrix_s"] = round(time.perf_counter() - t, 2)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--songs", type=int, default=12, help="engine songs (4 versions each; default 12)")
    p.add_argument("--real", type=int, default=168, help="gtzan-dev clips (default all 168; 0 skips)")
    p.add_argument("--cache", default="/tmp/cover_detect_cache", help="feature cache folder")
    p.add_argument("--no-speed", action="store_true", help="skip the 30-clip timing")
    p.add_argument("--out", default=None, help="write the figures as JSON")
    args = p.parse_args(argv)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    report: dict = {"detect_version": detect.DETECT_VERSION}
    feats, labels = engine_features(cache, args.songs)
    keep = [i for i, f in enumerate(feats) if f is not None]
    report["engine"] = {m: leave_one_out([feats[i] for i in keep], labels[keep], m) for m in detect.DETECTORS}
    for m, r in report["engine"].items():
        print(f"engine  {m:6s} MAP {r['map']:.3f}  mean rank {r['mean_rank']:.2f}  top-1 {r['top1']:.3f}  "
              f"(random {r['random_map']:.3f}; {r['queries']} renderings of {args.songs} songs)")
    if args.real and not DATASET.is_dir():
        print(f"gtzan-dev not found at {DATASET}: the real-music part is skipped")
    elif args.real:
        real = real_features(cache, args.real)
        for kind in ("versions", "excerpts"):
            report[f"gtzan_{kind}"] = {m: query_against(real[kind], real["originals"], m) for m in detect.DETECTORS}
            for m, r in report[f"gtzan_{kind}"].items():
                print(f"gtzan {kind[:-1]:8s} {m:6s} MAP {r['map']:.3f}  mean rank {r['mean_rank']:.2f}  "
                      f"top-1 {r['top1']:.3f}  (random {r['random_map']:.3f}; {r['queries']} queries, "
                      f"{r['candidates']} originals)")
        report["gtzan_title_pairs"] = {m: title_pairs(real, m) for m in detect.DETECTORS}
        for m, r in report["gtzan_title_pairs"].items():
            if r:
                print(f"gtzan same-title {m:6s} MAP {r['map']:.3f}  mean rank {r['mean_rank']:.2f}  "
                      f"({r['queries']} queries)")
        if not args.no_speed:
            report["speed"] = speed(real)
            print("speed", report["speed"])
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
