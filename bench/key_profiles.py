"""Which key profile, chroma compression and context weight find the key best.

    .venv/bin/python bench/key_profiles.py

Three corpora in random keys: 12 ground-truth form pieces of 30 s (core.generate.groundtruth:
piano/strings/guitar textures, alternating major and minor), 24 render-engine pieces of 30 s
from random catalog descriptors (drums, dense bands, all genres), and 12 modulations (two
regions of one descriptor, the second a 2nd, 4th, 5th or 6th away: half are 20 s + 20 s, half
a 45 s piece with a 15 s bridge; a window's truth is the key at its centre), which is where a
strong pull towards the track's key costs. For every combination of chroma range,
compression, profile and context weight: the share of 10 s windows whose tonic is right, per
corpus, and their mean. The chosen default comes from this table (see README, Key estimation).
"""

from __future__ import annotations

import numpy as np

import core  # noqa: E402
from core.analysis.key import PITCH_CLASSES, estimate_keys, load_profiles  # noqa: E402
from core.audio.grid import WindowGrid, window_mean_var  # noqa: E402
from core.generate.catalog import load_catalog  # noqa: E402
from core.generate.compose import compose  # noqa: E402
from core.generate.groundtruth import form_track  # noqa: E402
from core.generate.render import _region_audio, master  # noqa: E402

COMPRESSIONS = {
    "energy": lambda c: c,
    "log": lambda c: np.log1p(100 * c / max(float(c.max()), 1e-12)),
    "log10": lambda c: np.log1p(10 * c / max(float(c.max()), 1e-12)),
    "sqrt": lambda c: np.sqrt(c / max(float(c.max()), 1e-12)),
}
WEIGHTS = (0, 0.6, 1.0, 1.5, 2.5)


RANGES = {"all": (0, 7), "C2-B5": (1, 5), "C2-B4": (1, 4), "C3-B6": (2, 6), "C3-B7": (2, 7)}


def _frames(audio, sr):
    """Chroma of each octave range, and the window frame bounds."""
    import librosa

    track = core.track_from_array(audio, sr)
    y = track.mono()
    cqt = np.abs(librosa.cqt(y, sr=22050, hop_length=512, n_bins=252, bins_per_octave=36))
    chromas = {}
    for name, (lo, hi) in RANGES.items():
        part = np.zeros_like(cqt)
        part[lo * 36 : hi * 36] = cqt[lo * 36 : hi * 36]
        chromas[name] = librosa.feature.chroma_cqt(C=part, sr=22050, bins_per_octave=36, norm=None)
    f0, f1 = WindowGrid().frame_bounds(track.duration_s, sr=22050, hop_length=512, n_frames=cqt.shape[1])
    return chromas, f0, f1


def corpora():
    rng = np.random.default_rng(7)
    forms = []
    for i in range(12):
        tonic = PITCH_CLASSES[rng.integers(12)]
        mode = ("major", "minor")[i % 2]
        form = "".join(rng.choice(list("ABCD"), 4))
        audio, sr, _ = form_track(form=form, tempo_bpm=float(rng.integers(70, 160)), tonic=tonic, mode=mode,
                                  seed=i, bars_per_section=4)
        forms.append((*_frames(audio, sr), tonic))
    catalog = load_catalog()
    names = catalog.names()
    renders = []
    for i in range(24):
        d = catalog.get(names[int(rng.integers(len(names)))])
        tonic = PITCH_CLASSES[int(rng.integers(12))]
        arr = compose(d, duration_s=30, tempo_bpm=float(rng.uniform(*d.tempo_bpm)), tonic=tonic, seed=i)
        audio, _, _ = master(_region_audio(arr, d, 44100)[: 30 * 44100], 44100)
        renders.append((*_frames(audio, 44100), tonic))
    # modulations: two regions of one descriptor, the second in another key: 20 s + 20 s, or a
    # 45 s piece with a 15 s bridge (where a strong pull towards the track's key costs most);
    # the truth of a window is the key at its centre.
    from core.generate.render import render
    from core.generate.timeline import multi_region

    modulations = []
    for i in range(12):
        name = names[int(rng.integers(len(names)))]
        d = catalog.get(name)
        first = int(rng.integers(12))
        second = (first + int(rng.choice([2, 5, 7, 9]))) % 12
        tempo = round(float(rng.uniform(*d.tempo_bpm)), 1)
        cut_s, end_s = (20.0, 40.0) if i % 2 == 0 else (45.0, 60.0)
        timeline = multi_region([
            {"start_s": 0.0, "end_s": cut_s, "descriptor": name, "tempo_bpm": tempo, "tonic": PITCH_CLASSES[first]},
            {"start_s": cut_s, "end_s": end_s, "descriptor": name, "tempo_bpm": tempo,
             "tonic": PITCH_CLASSES[second]},
        ])
        r = render(timeline, seed=i, parallel=False)
        chromas, f0, f1 = _frames(r.audio, r.sample_rate)
        centre_s = (f0 + f1) / 2 * 512 / 22050
        truth = np.where(centre_s < cut_s, PITCH_CLASSES[first], PITCH_CLASSES[second])
        modulations.append((chromas, f0, f1, truth))
    return {"form pieces": forms, "renders": renders, "modulations": modulations}


def main() -> None:
    _, profiles = load_profiles()
    sets = corpora()
    print(f"{'range':6s} {'chroma':7s} {'profile':24s} " + "  ".join(f"ctx={w:<3} form/render/modul/mean " for w in WEIGHTS))
    for rname in RANGES:
        for cname, compress in COMPRESSIONS.items():
            for pname in profiles:
                cells = []
                for weight in WEIGHTS:
                    scores = []
                    for pieces in sets.values():
                        acc = []
                        for chromas, f0, f1, tonic in pieces:
                            c = compress(chromas[rname])
                            win, _ = window_mean_var(c, f0, f1)
                            k = estimate_keys(win, profile=pname, context=c.sum(axis=1), context_weight=weight)
                            acc.append(np.mean(np.array(k.tonic_names()) == tonic))
                        scores.append(float(np.mean(acc)))
                    cells.append("/".join(f"{x:.3f}" for x in scores + [float(np.mean(scores))]) + "   ")
                print(f"{rname:6s} {cname:7s} {pname:24s} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
