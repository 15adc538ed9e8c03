"""Boundary methods side by side on generated pieces whose section boundaries are known.

    nice -n 10 .venv/bin/python bench/form_methods.py        # about 5 minutes on 2 cores

Two sets: 6 ground-truth form pieces (core.generate.groundtruth.form_track: piano, strings and
guitar textures, forms ABAC ... ABCBA, random tempo and key) and 6 multi-region renders (4-5
regions of 16-32 s from catalog descriptors; half of them from one genre, so neighbouring
regions can sound alike; letters that repeat reuse descriptor, tempo and tonic). For every
method in ``BOUNDARY_METHODS`` (and a few prominence/kernel variants of the structural ones):
boundary hit-rate F at 0.5 s and 3 s (mir_eval, trimmed) and the mean number of boundaries.
Real songs with section annotations go through ``bench/accuracy.py --songs DIR``.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import mir_eval
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.analysis.analyze import AnalysisOptions, _form, _measure  # noqa: E402
from core.analysis.key import PITCH_CLASSES  # noqa: E402
from core.analysis.segment import SegmentOptions  # noqa: E402
from core.audio.grid import WindowGrid  # noqa: E402
from core.audio.load import load_track  # noqa: E402
from core.generate.catalog import load_catalog  # noqa: E402
from core.generate.groundtruth import form_track  # noqa: E402
from core.generate.render import render  # noqa: E402
from core.generate.timeline import multi_region  # noqa: E402

METHODS = {
    "novelty": SegmentOptions(),
    "labels": SegmentOptions(boundary_method="labels"),
    "structural": SegmentOptions(boundary_method="structural"),
    "fusion": SegmentOptions(boundary_method="fusion"),
    "structural, prominence 0.08": SegmentOptions(boundary_method="structural", peak_prominence=0.08),
    "fusion, prominence 0.2": SegmentOptions(boundary_method="fusion", peak_prominence=0.2),
    "structural, kernel 6 s": SegmentOptions(boundary_method="structural", kernel_s=6.0),
}


def _track(audio, sr, name):
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="WAV")
    return load_track(buf.getvalue(), name=name)


def ground_truth_pieces(rng):
    for i, form in enumerate(["ABAC", "ABCD", "ABACAD", "ABAB", "ABCA", "ABCBA"]):
        audio, sr, truth = form_track(form=form, tempo_bpm=float(rng.integers(70, 170)),
                                      tonic=PITCH_CLASSES[int(rng.integers(12))], mode=("major", "minor")[i % 2],
                                      bars_per_section=int(rng.integers(6, 10)), seed=i)
        yield f"form piece {form}", _track(audio, sr, form), list(truth.boundaries_s)


def multi_region_renders(rng):
    names = load_catalog().names()
    for i, form in enumerate(["ABAB", "ABCA", "AABA", "ABACB", "ABCBC", "ABCD"]):
        letters = sorted(set(form))
        pool = names
        if i % 2 == 0:  # one genre: neighbouring regions can sound alike
            genre = names[int(rng.integers(len(names)))].split("_")[0]
            pool = [n for n in names if n.startswith(genre)]
        desc = {x: pool[int(rng.integers(len(pool)))] for x in letters}
        tempo = {x: float(rng.integers(80, 150)) for x in letters}
        tonic = {x: PITCH_CLASSES[int(rng.integers(12))] for x in letters}
        t, regions = 0.0, []
        for x in form:
            d = float(rng.integers(16, 32))
            regions.append(dict(start_s=t, end_s=t + d, descriptor=desc[x], tempo_bpm=tempo[x], tonic=tonic[x]))
            t += d
        r = render(multi_region(regions), seed=i)
        truth = [x["start_s"] for x in regions] + [t]
        # adjacent repeats (AA) have no audible boundary: drop it from the truth
        keep = [0] + [j for j in range(1, len(form)) if form[j] != form[j - 1]]
        yield f"render {form}", _track(r.audio, r.sample_rate, form), [truth[j] for j in keep] + [t]


def _scores(truth, bounds):
    ref = np.array(list(zip(truth[:-1], truth[1:])))
    est = np.array(list(zip(bounds[:-1], bounds[1:])))
    return (mir_eval.segment.detection(ref, est, window=0.5, trim=True)[2],
            mir_eval.segment.detection(ref, est, window=3.0, trim=True)[2], len(bounds) - 2)


def main() -> int:
    rng = np.random.default_rng(7)
    results: dict[str, dict[str, list]] = {}
    for set_name, cases in (("form pieces", ground_truth_pieces(rng)), ("renders", multi_region_renders(rng))):
        for name, track, truth in cases:
            m = _measure(track, WindowGrid(), with_cqt=True)
            for method, options in METHODS.items():
                seg = _form(track, m, AnalysisOptions(segmentation=options))
                results.setdefault(method, {}).setdefault(set_name, []).append(_scores(truth, seg.boundaries_s))
            print(f"{name}: {len(truth) - 2} boundaries", flush=True)
    print("\n| method | form pieces F@0.5 / F@3 | renders F@0.5 / F@3 | boundaries per piece |")
    print("|---|---|---|---|")
    for method, sets in results.items():
        cells = []
        for set_name in ("form pieces", "renders"):
            v = np.array(sets[set_name])
            cells.append(f"{v[:, 0].mean():.3f} / {v[:, 1].mean():.3f}")
        n = np.mean([x[2] for s in sets.values() for x in s])
        print(f"| {method} | {cells[0]} | {cells[1]} | {n:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
