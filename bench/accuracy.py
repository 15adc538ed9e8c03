"""Segmentation, tempo and key accuracy against the baselines, in one pass.

    .venv/bin/python bench/accuracy.py                 # synthetic pieces with known truth
    .venv/bin/python bench/accuracy.py --songs DIR     # real annotated songs

For real songs, each audio file ``DIR/name.(wav|flac|mp3|ogg|aiff)`` may have:

* ``DIR/name.lab`` — reference sections, one per line: ``start_s end_s label``
  (the Isophonics / Beatles-TUT format; whitespace separated);
* ``DIR/name.json`` — ``{"tempo_bpm": 120.0, "tonic": "D", "mode": "minor"}`` (any subset).

Reported, ours next to the baselines: boundary hit-rate F at 0.5 s and 3 s (mir_eval,
trimmed) against the librosa gallery recipe (k = 5, boundaries where labels change);
tempo within 2 % (and within 2 % allowing octave errors) against librosa's default
tempo; global key right against a Krumhansl template on chroma_cqt; and, for the synthetic
pieces, the share of windows whose tonic and mode are right (ours vs per-window Krumhansl).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from bench.baselines import gallery_segments, krumhansl_key, krumhansl_window_keys, librosa_tempo  # noqa: E402

AUDIO = (".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif")


def synthetic_cases(n: int):
    from core.analysis.key import PITCH_CLASSES
    from core.generate.groundtruth import form_track

    rng = np.random.default_rng(2024)
    forms = ["ABAC", "ABCD", "ABACAD", "ABAB", "ABCA", "ABACA", "ABCBA", "ABBA"]
    for i in range(n):
        form = forms[i % len(forms)]
        tempo = float(rng.integers(70, 170))
        tonic = PITCH_CLASSES[int(rng.integers(12))]
        mode = ("major", "minor")[i % 2]
        bars = int(rng.integers(6, 10))
        audio, sr, truth = form_track(form=form, tempo_bpm=tempo, tonic=tonic, mode=mode, bars_per_section=bars,
                                      seed=i)
        # adjacent repeats (ABBA) have no audible boundary inside "BB": drop it from the truth
        b, labels = [truth.boundaries_s[0]], [truth.labels[0]]
        for t, lab in zip(truth.boundaries_s[1:-1], truth.labels[1:]):
            if lab != labels[-1]:
                b.append(t)
                labels.append(lab)
        b.append(truth.boundaries_s[-1])
        yield f"{form}@{tempo:.0f}{tonic}{mode[:3]}", audio, sr, dict(boundaries_s=b, tempo_bpm=tempo, tonic=tonic,
                                                                       mode=mode)


def real_cases(folder: Path):
    import core

    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in AUDIO:
            continue
        truth: dict = {}
        lab = path.with_suffix(".lab")
        if lab.exists():
            rows = [ln.split() for ln in lab.read_text().splitlines() if ln.strip()]
            starts = [float(r[0]) for r in rows]
            truth["boundaries_s"] = starts + [float(rows[-1][1])]
        meta = path.with_suffix(".json")
        if meta.exists():
            truth.update(json.loads(meta.read_text()))
        track = core.load_track(path)
        yield path.stem, track.samples, track.sample_rate, truth


def f_measures(ref_b, est_b):
    import mir_eval

    ref = np.array(list(zip(ref_b[:-1], ref_b[1:])))
    est = np.array(list(zip(est_b[:-1], est_b[1:])))
    return (mir_eval.segment.detection(ref, est, window=0.5, trim=True)[2],
            mir_eval.segment.detection(ref, est, window=3.0, trim=True)[2])


def tempo_ok(est, ref):
    if not np.isfinite(est):
        return False, False
    strict = abs(est / ref - 1) < 0.02
    octave = any(abs(est * m / ref - 1) < 0.02 for m in (0.5, 1, 2, 1 / 3, 3))
    return strict, octave


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--songs", type=Path, help="folder of annotated songs (see module docstring)")
    p.add_argument("-n", type=int, default=12, help="synthetic pieces (default 12)")
    args = p.parse_args()

    import core

    cases = real_cases(args.songs) if args.songs else synthetic_cases(args.n)
    rows = []
    for name, audio, sr, truth in cases:
        track = core.track_from_array(audio, sr, name=name)
        a = core.analyze(track)
        y = track.mono()
        r = {"name": name}
        if "boundaries_s" in truth:
            ours = np.concatenate([a.segments.start_s.to_numpy(), [a.duration_s]])
            r["ours_f05"], r["ours_f3"] = f_measures(truth["boundaries_s"], ours)
            r["base_f05"], r["base_f3"] = f_measures(truth["boundaries_s"], gallery_segments(y, 22050))
        if "tempo_bpm" in truth:
            r["ours_tempo"], r["ours_tempo_oct"] = tempo_ok(a.tempo_bpm, truth["tempo_bpm"])
            r["base_tempo"], r["base_tempo_oct"] = tempo_ok(librosa_tempo(y, 22050), truth["tempo_bpm"])
        if "tonic" in truth:
            want = (truth["tonic"], truth.get("mode", a.mode))
            r["ours_key"] = (a.tonic, a.mode) == want
            r["base_key"] = krumhansl_key(y, 22050) == want
            if not args.songs:
                wins = list(zip(a.windows.tonic, a.windows["mode"]))
                r["ours_win_key"] = np.mean([w == want for w in wins])
                base = krumhansl_window_keys(y, 22050, a.windows.start_s, a.windows.end_s)
                r["base_win_key"] = np.mean([w == want for w in base])
        rows.append(r)
        print("  ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()), flush=True)

    def mean(key):
        vals = [float(r[key]) for r in rows if key in r]
        return f"{np.mean(vals):.3f}" if vals else "-"

    print(f"\n{len(rows)} tracks                 ours    baseline")
    print(f"boundary F@0.5 s        {mean('ours_f05'):>7} {mean('base_f05'):>9}   (librosa gallery, k=5)")
    print(f"boundary F@3 s          {mean('ours_f3'):>7} {mean('base_f3'):>9}")
    print(f"tempo within 2 %        {mean('ours_tempo'):>7} {mean('base_tempo'):>9}   (librosa default tempo)")
    print(f"  allowing octaves      {mean('ours_tempo_oct'):>7} {mean('base_tempo_oct'):>9}")
    print(f"global key right        {mean('ours_key'):>7} {mean('base_key'):>9}   (Krumhansl on chroma_cqt)")
    if not args.songs:
        print(f"window key right        {mean('ours_win_key'):>7} {mean('base_win_key'):>9}")


if __name__ == "__main__":
    main()
