"""Window and render accuracy of the MLP hierarchy on held-out renders, by render length.

    .venv/bin/python bench/render_breakdown.py build/corpus build/corpus-s1

The same split and seed as ``python -m core train`` (its "all" row repeats train's figures);
then the 10, 30 and 60 s renders apart. A 10 s render is one window, so its render accuracy is
its window accuracy; the longer renders show what the majority of a render's windows adds.
About 5 minutes on 2 cores.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd


def main() -> None:
    from core.describe.corpus import load_corpora
    from core.describe.models import (
        DEFAULT_FEATURE_SETS,
        TARGETS,
        DescriptorModel,
        fit_hierarchy,
        split_by_render,
        training_table,
    )

    t, cols, x = training_table(load_corpora(sys.argv[1:] or ['build/corpus']))
    tr, te = split_by_render(t, test_size=0.3, seed=0)
    labels = {k: sorted(t[k].astype(str).unique()) for k in TARGETS}
    m = DescriptorModel(name='h', kind='mlp', columns=cols, feature_sets=tuple(DEFAULT_FEATURE_SETS), labels=labels,
                        descriptors=[], threshold=0.4, estimators=fit_hierarchy('mlp', x[tr], t.iloc[tr], 0))
    test = t.iloc[te].reset_index(drop=True)
    pred = m.predict_windows(test)
    for dur in (None, 10.0, 30.0, 60.0):
        sel = np.ones(len(test), bool) if dur is None else (test.render_duration_s == dur).to_numpy()
        out = [f"{'all' if dur is None else f'{dur:g} s':6s}"]
        for k in TARGETS:
            truth = test[k].astype(str).to_numpy()[sel]
            guess = pred[k].astype(str).to_numpy()[sel]
            f = pd.DataFrame({'r': test.render_id.to_numpy()[sel], 't': truth, 'g': guess})
            pr = f.groupby('r').agg(t=('t', 'first'), g=('g', lambda s: s.value_counts().index[0]))
            out.append(f"{k} {np.mean(truth == guess):.3f}/{np.mean(pr.t == pr.g):.3f}")  # window/render
        print('  '.join(out), f"renders {test.render_id[sel].nunique()} windows {sel.sum()}", flush=True)


if __name__ == "__main__":
    main()
