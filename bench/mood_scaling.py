"""How mood accuracy grows with the number of training renders.

    .venv/bin/python bench/mood_scaling.py build/corpus [build/corpus-s1 ...] [--fractions 0.5 1.0]

The mood classifiers of the shipped hierarchy (mood given the subgenre, one MLP per
subgenre) trained on a share of the training renders of the usual held-out split (30 % of
the renders, stratified by descriptor) and measured on the held-out windows with the true
subgenre given, so that only mood is measured. About 15 s per fraction on 2 cores.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("corpora", nargs="+")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.5, 1.0])
    args = p.parse_args()
    from joblib import Parallel, delayed

    from core.describe.corpus import load_corpora
    from core.describe.models import _fit, split_by_render, training_table

    t, _, x = training_table(load_corpora(args.corpora))
    train_idx, test_idx = split_by_render(t, test_size=0.3, seed=0)
    subgenre, mood = t.subgenre.to_numpy(), t.mood.astype(str).to_numpy()

    def one(sg, tr):
        a, b = tr[subgenre[tr] == sg], test_idx[subgenre[test_idx] == sg]
        model = _fit("mlp", x[a], mood[a], 0, one_vs_rest=False)
        guess = np.asarray(model.classes_)[model.predict_proba(x[b]).argmax(axis=1)]
        return int((guess == mood[b]).sum()), b.size

    for frac in args.fractions:
        rng = np.random.default_rng(1)
        renders = t.render_id.iloc[train_idx].unique()
        keep = set(rng.choice(renders, int(len(renders) * frac), replace=False))
        tr = train_idx[t.render_id.iloc[train_idx].isin(keep).to_numpy()]
        res = Parallel(n_jobs=2)(delayed(one)(sg, tr) for sg in sorted(set(subgenre)))
        right, total = np.sum(res, axis=0)
        print(f"{len(keep):5d} training renders ({frac:.0%}): mood window accuracy {right / total:.3f} "
              f"(true subgenre given, {total} held-out windows)", flush=True)


if __name__ == "__main__":
    main()
