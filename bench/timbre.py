"""Timbre transfer measured: is the melody kept, and do the instruments sound different?

    nice -n 10 .venv/bin/python bench/timbre.py                        # 4 songs, 2 real clips, 3-minute timing
    nice -n 10 .venv/bin/python bench/timbre.py --songs 2 --real 0 --no-timing
    nice -n 10 .venv/bin/python bench/timbre.py --out /tmp/timbre_bench.json

Generated lead lines (``core.covers.songs.known_song(..., accompaniment=False, drums=False)``: 8
bars, a lead melody alone on a GM program): each line re-played on every instrument of
``assets/timbres.json``; pesto runs again on the result, and ``mir_eval.melody`` scores its f0
against the original's (raw pitch accuracy within 50 cents on the original's voiced frames)
and against the written melody. Per instrument: the spectral centroid (median over voiced
frames, Hz) and the odd/even ratio (energy of harmonics 3, 5, 7, 9 over 2, 4, 6, 8, 10, dB, read
from the STFT at multiples of the f0): they should differ between instruments.

Real clips (``../shared/datasets/gtzan-dev``): the vocal stem (Spleeter 2-stem, when its weights
are in ``weights/``) re-played on a few instruments, scored the same way against pesto on the
vocal stem; WAVs (the stem and each instrument) go to ``/tmp/timbre`` for listening.

Timing: a 3-minute line at 44.1 kHz (a real vocal stem looped, or a generated line), wall and
CPU seconds: pesto over the whole line, the whole transfer (pesto only on the audible stretches)
and the synthesis alone (f0 given).
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
import soundfile as sf

from core.audio.load import load_track, read_audio_file
from core.covers.notes import VOICING_THRESHOLD, pesto_f0
from core.covers.songs import PROGRESSIONS, known_song
from core.covers.timbre import FRAME_HZ, instruments, melody_controls, timbre_transfer
from core.separation import DEFAULT_MODEL, model_availability, separate
from core.store.store import Store

STORE = Store(tempfile.mkdtemp(prefix="timbre_bench_"))
DATASET = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "gtzan-dev"
REAL_CLIPS = ("pop.00003", "country.00003", "pop.00045")
REAL_INSTRUMENTS = ("violin", "trumpet", "flute", "saxophone")
LEADS = (73, 56, 81, 40)  # flute, trumpet, saw lead, violin
LISTEN = Path("/tmp/timbre")


def _cents(midi: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(midi) & (midi > 0), 100.0 * (midi - 69.0) + 1200.0 * np.log2(440.0 / 10.0), 0.0)


def pitch_accuracy(ref_midi, ref_voiced, est_midi, est_voiced) -> float:
    """mir_eval's raw pitch accuracy (50 cents) of an estimate against a reference, both per 10 ms
    frame: the estimate's pitch counts on every voiced reference frame, whatever its own voicing
    (mir_eval's convention: a negative frequency is an unvoiced frame's pitch guess)."""
    n = min(len(ref_midi), len(est_midi))
    t = np.arange(n) / FRAME_HZ
    ref_f = np.where(ref_voiced[:n], 440.0 * 2 ** ((ref_midi[:n] - 69) / 12), 0.0)
    est_f = 440.0 * 2 ** ((est_midi[:n] - 69) / 12) * np.where(est_voiced[:n], 1.0, -1.0)  # < 0: unvoiced guess
    rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(t, ref_f, t, est_f)
    return round(float(mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec)), 3)


def written_f0(notes, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The written melody as a pitch per 10 ms frame (0 between notes)."""
    midi = np.zeros(n_frames)
    for n in notes:
        midi[int(n.start_s * FRAME_HZ):int(n.end_s * FRAME_HZ)] = n.pitch
    return midi, midi > 0


def colour(y: np.ndarray, sr: int, midi: np.ndarray, voiced: np.ndarray) -> dict:
    """Spectral centroid (Hz) and odd/even harmonic ratio (dB) over the voiced frames."""
    hop = int(round(sr / FRAME_HZ))
    spec = np.abs(librosa.stft(y, n_fft=4096, hop_length=hop))
    n = min(spec.shape[1], len(midi))
    spec, midi, voiced = spec[:, :n], midi[:n], voiced[:n]
    freqs = librosa.fft_frequencies(sr=sr, n_fft=4096)
    centroid = librosa.feature.spectral_centroid(S=spec, sr=sr)[0]
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    bins = np.clip(np.round(f0[None, :] * np.arange(2, 11)[:, None] / freqs[1]).astype(int), 0, len(freqs) - 1)
    power = np.take_along_axis(spec, bins, axis=0) ** 2  # harmonics 2..10
    odd, even = power[1::2][:, voiced].sum(), power[0::2][:, voiced].sum()
    return {"centroid_hz": int(np.median(centroid[voiced])), "odd_even_db": round(float(10 * np.log10(odd / max(even, 1e-12))), 1)}


def score(out: np.ndarray, sr: int, ref_midi, ref_voiced) -> float:
    _, midi, conf = pesto_f0(out, sr)
    return pitch_accuracy(ref_midi, ref_voiced, midi, conf >= VOICING_THRESHOLD)


def one_song(i: int) -> dict:
    progression = list(PROGRESSIONS)[i % len(PROGRESSIONS)]
    song = known_song(progression=progression, bars=8, tempo_bpm=90.0 + 10 * (i % 4), seed=i,
                      lead_program=LEADS[i % len(LEADS)], accompaniment=False, drums=False)
    y, sr = song.audio, song.sample_rate
    _, midi, conf = pesto_f0(y, sr)
    voiced = conf >= VOICING_THRESHOLD
    truth_midi, truth_voiced = written_f0(song.melody, len(midi))
    row = {"song": i, "progression": progression, "lead_program": LEADS[i % len(LEADS)],
           "original_vs_written": pitch_accuracy(truth_midi, truth_voiced, midi, voiced), "instruments": {}}
    controls = melody_controls(y, sr, store=STORE)
    for name in instruments():
        out = timbre_transfer(y, sr, instrument=name, store=STORE)
        _, o_midi, o_conf = pesto_f0(out, sr)
        o_voiced = o_conf >= VOICING_THRESHOLD
        row["instruments"][name] = {"vs_original": pitch_accuracy(midi, voiced, o_midi, o_voiced),
                                    "voicing_recall": round(float(np.mean(o_voiced[:len(voiced)][voiced[:len(o_voiced)]])), 3),
                                    "vs_written": pitch_accuracy(truth_midi, truth_voiced, o_midi, o_voiced),
                                    **colour(out, sr, controls.midi, controls.voiced)}
    return row


def vocal_stem(clip: str) -> tuple[np.ndarray, int]:
    track = load_track(read_audio_file(DATASET / "audio" / f"{clip}.ogg"), name=clip)
    stems = separate(track, store=STORE)
    return stems["vocals"].mean(axis=1).astype(np.float32), track.sample_rate


def one_clip(clip: str) -> dict:
    y, sr = vocal_stem(clip)
    LISTEN.mkdir(parents=True, exist_ok=True)
    sf.write(LISTEN / f"{clip}_vocals.wav", y, sr)
    _, midi, conf = pesto_f0(y, sr)
    voiced = conf >= VOICING_THRESHOLD
    row = {"clip": clip, "voiced_share": round(float(voiced.mean()), 3), "instruments": {}}
    for name in REAL_INSTRUMENTS:
        out = timbre_transfer(y, sr, instrument=name, store=STORE)
        sf.write(LISTEN / f"{clip}_{name}.wav", out, sr)
        row["instruments"][name] = {"vs_original": score(out, sr, midi, voiced)}
    return row


def _spleeter_missing() -> str:
    """Why the default separation cannot run here ("" when its weights are present)."""
    return model_availability().get(DEFAULT_MODEL, f"{DEFAULT_MODEL} is not registered")


def _timed(fn) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, round(time.perf_counter() - wall, 1), round(time.process_time() - cpu, 1)


def timing(real: bool) -> dict:
    """A 3-minute line at 44.1 kHz (wall and CPU seconds): pesto over the whole line, the whole
    transfer (pesto on the audible stretches, then the synthesis) and the synthesis alone."""
    if real:
        y, sr = vocal_stem(REAL_CLIPS[0])
    else:
        song = known_song(bars=16, tempo_bpm=100.0, seed=3, accompaniment=False, drums=False)
        y, sr = song.audio, song.sample_rate
    y = librosa.resample(y, orig_sr=sr, target_sr=44100)
    y = np.tile(y, int(np.ceil(180 * 44100 / len(y))))[: 180 * 44100]
    (_, midi, conf), pesto_wall, pesto_cpu = _timed(lambda: pesto_f0(y, 44100))
    _, transfer_wall, transfer_cpu = _timed(lambda: timbre_transfer(y, 44100, instrument="violin"))
    f0 = np.where(conf >= VOICING_THRESHOLD, 440.0 * 2 ** ((midi - 69) / 12), 0.0)
    _, synth_wall, synth_cpu = _timed(lambda: timbre_transfer(y, 44100, instrument="violin", f0_hz=f0))
    return {"source": "real vocal stem, looped" if real else "generated lead, looped", "audio_s": 180.0,
            "pesto_whole_line": [pesto_wall, pesto_cpu], "transfer": [transfer_wall, transfer_cpu],
            "synthesis_only": [synth_wall, synth_cpu], "units": "[wall s, CPU s]"}


def summary(songs: list[dict]) -> dict:
    names = instruments()
    per = {n: {k: round(float(np.mean([s["instruments"][n][k] for s in songs])), 3)
               for k in ("vs_original", "vs_written", "voicing_recall", "centroid_hz", "odd_even_db")} for n in names}
    centroids = sorted(per[n]["centroid_hz"] for n in names)
    return {"per_instrument": per, "original_vs_written": round(float(np.mean([s["original_vs_written"] for s in songs])), 3),
            "mean_vs_original": round(float(np.mean([per[n]["vs_original"] for n in names])), 3),
            "closest_centroids_hz": int(np.min(np.diff(centroids))) if len(centroids) > 1 else None}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--songs", type=int, default=4)
    p.add_argument("--real", type=int, default=2)
    p.add_argument("--no-timing", action="store_true")
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    songs = [one_song(i) for i in range(a.songs)]
    result = {"generated": summary(songs) if songs else {}, "songs": songs, "real": [], "timing": None}
    spleeter = _spleeter_missing()
    if a.real and not DATASET.is_dir():
        print(f"The dataset folder {DATASET} is absent: no real clips measured.")
    elif a.real and spleeter:
        print(f"Spleeter weights are missing ({spleeter}): no real clips measured.")
    elif a.real:
        with open(DATASET / "labels.csv") as fh:
            known = {r["clip"] for r in csv.DictReader(fh)}
        result["real"] = [one_clip(c) for c in REAL_CLIPS[: a.real] if c in known]
    if not a.no_timing:
        result["timing"] = timing(real=DATASET.is_dir() and not spleeter)
    text = json.dumps(result, indent=1, default=float)
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
