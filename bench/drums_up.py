"""Do the classifiers collapse onto one class when drums dominate (the Amper study's KNN did)?

    .venv/bin/python bench/drums_up.py [MODEL ...]     (default: mlp knn)

Six descriptors rendered (40 s) with their drums pushed up 9 dB, analysed, and classified:
the two most frequent genre_subgenre answers and the share of windows with the right genre.
"""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
import pretty_midi

import core  # noqa: E402
from core.describe.models import load_model  # noqa: E402
from core.describe.predict import predict  # noqa: E402
from core.generate.catalog import load_catalog  # noqa: E402
from core.generate.compose import compose  # noqa: E402
from core.generate.render import _group_audio, master  # noqa: E402


def main() -> None:
    cat = load_catalog()
    models = {n: load_model(n) for n in sys.argv[1:] or ["mlp", "knn"]}
    for name in ("pop_corporate_happy", "folk_acoustic_hopeful", "jazz_bossa_romantic", "electronic_tropical_house_fun",
                 "rock_post_rock_hopeful", "hiphop_orchestral_cool"):
        d = cat.get(name)
        arr = compose(d, duration_s=40, tempo_bpm=d.default_tempo_bpm, tonic="D", seed=5)
        parts = []
        for roles, gain_db, rv in ((("drums",), 9.0, None), (tuple(r for r in arr.roles if r != "drums"), 0.0, d.reverb)):
            pm = pretty_midi.PrettyMIDI(); pm.instruments = [arr.roles[r] for r in roles if r in arr.roles]
            a = _group_audio(pm, 44100, arr.drum_kit)[: 40 * 44100]
            parts.append(a * 10 ** (gain_db / 20))
        n = min(len(p) for p in parts)
        y, _, _ = master(sum(p[:n] for p in parts), 44100)
        analysis_track = core.track_from_array(y, 44100)
        analysis = core.analyze(analysis_track)
        for mname, m in models.items():
            w = predict(analysis, m, track=analysis_track)
            top = Counter(w.genre + "_" + w.subgenre).most_common(2)
            print(f"{name:32s} {mname}: {top}  right genre {np.mean(w.genre == d.genre):.2f}", flush=True)


if __name__ == "__main__":
    main()
