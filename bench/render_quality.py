"""Render quality probes (issue 15): one 45 s render per genre plus the multi-region example.

    nice -n 10 .venv/bin/python bench/render_quality.py [--out FILE.json] [--seconds 45]
        [--classify] [--real ../shared/datasets/gtzan-dev] [--genres rock,jazz]

Per render, next to the real-music ranges and the issue's targets:

* role levels: each role synthesised alone from the render's MIDI (its channel volume and pan),
  dB relative to all roles together, and the largest miss against the intended balance
  (compose's ROLE_TARGET_DB plus the mood's offsets, both relative to their own sum);
* side/mid energy of the mastered audio; share of power above 4 kHz and below 250 Hz;
* short-term loudness (pyloudnorm, 3 s windows, 1 s hop): range (95th minus 10th percentile
  of the gated windows, as EBU LRA) and climax lift (the loudest body section's median minus
  the body's median; body = every section but intro and ending);
* distinct one-bar rhythms of the lead in its first 20 bars (16th-note grid);
* median note length per pitched part (ms, from the MIDI); realtime factor.

``--classify`` adds the shipped MLP's share of windows that hear the requested genre and the
requested descriptor. ``--real DIR`` measures the spectral and loudness probes on real
recordings (GTZAN: mono, so no side/mid) for comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.generate.catalog import load_catalog  # noqa: E402
from core.generate.compose import ROLE_TARGET_DB  # noqa: E402
from core.generate.examples import EXAMPLES  # noqa: E402
from core.generate.render import render  # noqa: E402
from core.generate.synth import render_midi  # noqa: E402
from core.generate.timeline import load_timeline, single_region  # noqa: E402

#: The issue's real-music ranges and targets, printed beside the figures.
REAL = {
    "side_mid": "real orchestral 0.37-1.75, electronic 0.05-0.38; target median >= 0.15",
    "above_4k": "real 0.1-8 %; target <= 10 % in every render",
    "below_250": "real electronic 48-78 %; target >= 40 % for electronic and hip-hop",
    "lra_db": "real orchestral about 7 dB (4.4-12.2); target >= 5 dB",
    "climax_lift_db": "target >= 3 dB above the body",
    "lead_rhythms": "target >= 6 distinct one-bar rhythms in 20 bars",
    "median_note_ms": "target: no part under 120 ms unless staccato",
    "realtime_x": "target >= 25x on 2 cores",
}
SR = 44100


def side_mid(audio: np.ndarray) -> float:
    mid = (audio[:, 0] + audio[:, 1]) / 2
    side = (audio[:, 0] - audio[:, 1]) / 2
    return float(np.sum(side.astype(np.float64) ** 2) / max(np.sum(mid.astype(np.float64) ** 2), 1e-12))


def band_shares(audio: np.ndarray, sr: int) -> tuple[float, float]:
    """Share of power above 4 kHz and below 250 Hz (mono sum, 4096-sample Hann frames)."""
    y = audio.mean(axis=1) if audio.ndim == 2 else audio
    n = 4096
    frames = y[: (y.size // n) * n].reshape(-1, n) * np.hanning(n)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(axis=0)
    freqs = np.fft.rfftfreq(n, 1 / sr)
    total = max(float(power[freqs >= 20].sum()), 1e-12)
    return float(power[freqs >= 4000].sum() / total), float(power[(freqs >= 20) & (freqs < 250)].sum() / total)


def short_term(audio: np.ndarray, sr: int, *, window_s: float = 3.0, hop_s: float = 1.0):
    """(centres_s, LUFS) of the 3 s windows."""
    import pyloudnorm

    meter = pyloudnorm.Meter(sr)
    x = audio if audio.ndim == 2 else audio[:, None]
    w, h = int(window_s * sr), int(hop_s * sr)
    centres, values = [], []
    for start in range(0, max(1, x.shape[0] - w + 1), h):
        seg = x[start:start + w]
        values.append(float(meter.integrated_loudness(seg)) if seg.shape[0] == w else -np.inf)
        centres.append((start + w / 2) / sr)
    return np.array(centres), np.array(values)


def loudness_range(values: np.ndarray) -> float:
    v = values[np.isfinite(values) & (values > -70)]
    if v.size < 2:
        return 0.0
    power = np.mean(10 ** (v / 10))
    v = v[v > 10 * np.log10(power) - 20]
    return float(np.percentile(v, 95) - np.percentile(v, 10))


def climax_lift(centres, values, regions) -> float:
    """Loudest body section's median minus the body's median (dB)."""
    body, sections = [], []
    for r in regions:
        for s in r.sections:
            if s.name in ("intro", "ending"):
                continue
            a, b = r.start_s + s.start_s, r.start_s + s.end_s
            sel = values[(centres >= a) & (centres < b) & np.isfinite(values)]
            if sel.size:
                body.append(sel)
                sections.append(float(np.median(sel)))
    if not body:
        return 0.0
    return float(max(sections) - np.median(np.concatenate(body)))


def _region_parts(result, region_id: str) -> dict:
    return {inst.name.split(":", 1)[1]: inst for inst in result.midi.instruments
            if inst.name.split(":", 1)[0] == region_id}


def role_levels(result, catalog) -> list[dict]:
    """Per region: {role: dB relative to all roles}, and the largest miss against the intended balance."""
    import pretty_midi

    out = []
    for region in result.regions:
        d = catalog.get(region.descriptor)
        kit = d.bands[region.band].get("drums") or 0
        power = {}
        for role, inst in _region_parts(result, region.id).items():
            pm = pretty_midi.PrettyMIDI()
            pm.instruments = [inst]
            audio = render_midi(pm, sr=22050, tail_s=0.5, drum_kit=int(kit))
            power[role] = float(np.mean(audio.astype(np.float64) ** 2))
        total = sum(power.values()) or 1e-12
        levels = {r: float(10 * np.log10(max(p, 1e-15) / total)) for r, p in power.items()}
        target = {r: 10 ** ((ROLE_TARGET_DB[r] + d.mix_db.get(r, 0.0)) / 10) for r in power}
        t_total = sum(target.values())
        miss = {r: float(levels[r] - 10 * np.log10(target[r] / t_total)) for r in power}
        worst = max(miss, key=lambda r: abs(miss[r]))
        out.append({"region": region.id, "levels_db": {r: round(v, 1) for r, v in levels.items()},
                    "worst_role": worst, "worst_miss_db": round(miss[worst], 1)})
    return out


def lead_rhythms(result, *, bars: int = 20) -> int:
    """Distinct one-bar onset patterns (16th grid) in the lead's first ``bars`` bars that sound."""
    patterns = []
    for region in result.regions:
        lead = _region_parts(result, region.id).get("lead")
        if lead is None:
            continue
        bar_s = 240.0 / region.tempo_bpm
        by_bar: dict[int, set] = {}
        for n in lead.notes:
            rel = n.start - region.start_s
            b = int(rel // bar_s)
            by_bar.setdefault(b, set()).add(int(round((rel - b * bar_s) / bar_s * 16)) % 16)
        patterns += [frozenset(by_bar[b]) for b in sorted(by_bar)]
    return len(set(patterns[:bars]))


def note_lengths_ms(result) -> dict:
    lengths: dict[str, list] = {}
    for inst in result.midi.instruments:
        if inst.is_drum:
            continue
        role = inst.name.split(":", 1)[1]
        lengths.setdefault(role, []).extend(n.end - n.start for n in inst.notes)
    return {r: round(1000 * float(np.median(v)), 0) for r, v in lengths.items() if v}


def classify(result, genre: str, descriptor: str) -> dict:
    from core.analysis.analyze import analyze
    from core.audio.load import track_from_array
    from core.describe.models import load_model
    from core.describe.predict import predict

    windows = predict(analyze(track_from_array(result.audio, result.sample_rate)), load_model("mlp"))
    return {"genre_share": round(float((windows["genre"] == genre).mean()), 2),
            "descriptor_share": round(float((windows["top1_descriptor"] == descriptor).mean()), 2)}


def probe(name: str, timeline, *, genre: str | None, catalog, do_classify: bool) -> dict:
    t0 = time.perf_counter()
    result = render(timeline, seed=1)
    elapsed = time.perf_counter() - t0
    above, below = band_shares(result.audio, result.sample_rate)
    centres, values = short_term(result.audio, result.sample_rate)
    row = {"name": name, "genre": genre, "side_mid": round(side_mid(result.audio), 3),
           "above_4k": round(100 * above, 1), "below_250": round(100 * below, 1),
           "lra_db": round(loudness_range(values), 1), "climax_lift_db": round(climax_lift(centres, values,
                                                                                        result.regions), 1),
           "lead_rhythms": lead_rhythms(result), "median_note_ms": note_lengths_ms(result),
           "realtime_x": round(result.duration_s / elapsed, 1), "lufs": round(result.loudness_lufs, 2),
           "roles": role_levels(result, catalog)}
    if do_classify and genre:
        row |= classify(result, genre, timeline.regions[0].descriptor)
    return row


def real_music(folder: Path, *, per_genre: int = 4) -> list[dict]:
    """Spectral shares and loudness range of real recordings (labels.csv of gtzan-dev)."""
    import csv

    import soundfile as sf

    rows = list(csv.DictReader((folder / "labels.csv").open()))
    out = []
    for genre in sorted({r["genre"] for r in rows}):
        clips = [r for r in rows if r["genre"] == genre and r.get("full_clip") == "1"][:per_genre]
        for r in clips:
            audio, sr = sf.read(folder / r["file"], dtype="float32", always_2d=True)
            above, below = band_shares(audio, sr)
            _, values = short_term(audio, sr)
            out.append({"clip": r["clip"], "genre": genre, "above_4k": round(100 * above, 1),
                        "below_250": round(100 * below, 1), "lra_db": round(loudness_range(values), 1)})
    return out


def _print(rows: list[dict]) -> None:
    cols = ("side_mid", "above_4k", "below_250", "lra_db", "climax_lift_db", "lead_rhythms", "realtime_x")
    print(f"{'render':40s} " + " ".join(f"{c:>14s}" for c in cols) + "  worst role miss   shipped-MLP genre/desc")
    for r in rows:
        worst = max(r["roles"], key=lambda x: abs(x["worst_miss_db"]))
        cls = f"{r.get('genre_share', '-')}/{r.get('descriptor_share', '-')}"
        print(f"{r['name']:40s} " + " ".join(f"{r[c]:>14}" for c in cols)
              + f"  {worst['worst_role']:>8s} {worst['worst_miss_db']:+5.1f}   {cls}")
        print(f"{'':40s} median note ms: {r['median_note_ms']}  levels: {r['roles'][0]['levels_db']}")
    sm = [r["side_mid"] for r in rows if r["genre"]]
    print(f"\nmedian side/mid over the genres: {np.median(sm):.3f}")
    for key, text in REAL.items():
        print(f"  {key:15s} {text}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--seconds", type=float, default=45.0)
    ap.add_argument("--classify", action="store_true", help="add the shipped MLP's genre/descriptor shares")
    ap.add_argument("--real", type=Path, help="a gtzan-dev folder: probe real recordings too")
    ap.add_argument("--genres", default="", help="comma-separated subset of genres")
    args = ap.parse_args(argv)
    catalog = load_catalog()
    wanted = [g for g in args.genres.split(",") if g] or list(EXAMPLES)
    render(single_region(EXAMPLES["pop"][0], duration_s=20.0), seed=0)  # warm-up: worker processes, caches
    rows = []
    for genre in wanted:
        name, tonic = EXAMPLES[genre]
        d = catalog.get(name)
        tl = single_region(name, duration_s=args.seconds, tempo_bpm=d.default_tempo_bpm, tonic=tonic)
        rows.append(probe(name, tl, genre=genre, catalog=catalog, do_classify=args.classify))
    if not args.genres:
        multi = load_timeline(ROOT / "assets" / "examples" / "timeline_multi.json")
        rows.append(probe("timeline_multi.json", multi, genre=None, catalog=catalog, do_classify=False))
    _print(rows)
    result = {"renders": rows, "real_ranges": REAL}
    if args.real:
        if not (args.real / "labels.csv").is_file():
            print(f"\n{args.real} has no labels.csv: real recordings skipped")
        else:
            result["real_music"] = real_music(args.real)
            for key in ("above_4k", "below_250", "lra_db"):
                v = [r[key] for r in result["real_music"]]
                print(f"real {key}: median {np.median(v):.1f}, range {min(v):.1f}-{max(v):.1f} "
                      f"({len(v)} GTZAN clips)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
