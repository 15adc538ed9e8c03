"""Separation benchmark: speed per model, quality on known parts, and the voice detector.

    .venv/bin/python bench/separate.py [--seconds 60] [--demucs-seconds 30] [--skip-demucs]

1. Speed: seconds per minute of stereo 44.1 kHz audio on this machine, for the 2-stem model
   and for Demucs (the installed htdemucs weights, or, without them, a default-size HTDemucs
   with random weights: the same computation, so the same speed).
2. Quality: a mixture built from known parts (a rendered accompaniment plus a synthetic sung
   line, core.groundtruth.sung_voice); SDR of both estimates (mir_eval).
3. Voice detector (``core.predict.voice_share``): its value on instrumental renders of
   several genres and on the same renders with a voice added, against the threshold.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.audio import track_from_array  # noqa: E402
from core.groundtruth import sung_voice  # noqa: E402
from core.predict import VOICE_FRAMES_MIN, voice_share  # noqa: E402
from core.render import render  # noqa: E402
from core.separation import SeparationOptions, compute_stems, default_weights_dir  # noqa: E402
from core.separation.demucs_backend import local_weights_present  # noqa: E402
from core.timeline import single_region  # noqa: E402

SR = 44100
#: Instrumentals for the voice detector, lead-heavy ones included (sax, flute, strings, synth leads).
GENRES = ("cinematic_ambient_dreamy", "electronic_synthwave_driving", "jazz_bossa_romantic",
          "pop_corporate_carefree", "hiphop_trap_cool", "rock_indie_determined", "jazz_noir_romantic",
          "folk_acoustic_hopeful", "cinematic_percussion_triumphant", "documentary_idiophonic_curious",
          "pop_dance_happy", "electronic_techno_exciting")


def accompaniment(descriptor: str, seconds: float, seed: int) -> np.ndarray:
    timeline = single_region(descriptor, duration_s=seconds)
    return render(timeline, seed=seed).audio


def sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    import mir_eval

    sdr, _, _, _ = mir_eval.separation.bss_eval_sources(reference.mean(axis=1)[None], estimate.mean(axis=1)[None])
    return float(sdr[0])


def mixture_with_voice(seconds: float, *, descriptor: str, seed: int, voice_gain: float = 1.0):
    acc = accompaniment(descriptor, seconds, seed)
    n = acc.shape[0]
    voice = sung_voice(duration_s=n / SR, sample_rate=SR, seed=seed)[:n] * voice_gain
    voice2 = np.stack([voice, voice], axis=1)
    return acc, voice2, acc + voice2


def bench_spleeter(seconds: float) -> None:
    acc, voice, mix = mixture_with_voice(seconds, descriptor="pop_corporate_carefree", seed=3)
    track = track_from_array(mix, SR, name="bench")
    opts = SeparationOptions()
    compute_stems(track_from_array(mix[: SR * 5], SR), options=opts)  # warm-up (load, threads)
    start = time.perf_counter()
    stems = compute_stems(track, options=opts)
    elapsed = time.perf_counter() - start
    print(f"spleeter-2stems: {elapsed:.2f} s for {seconds:.0f} s -> {elapsed / seconds * 60:.2f} s per minute "
          f"(target <= 5)")
    excerpt = slice(0, SR * 30)
    print(f"  SDR vocals {sdr_db(voice[excerpt], stems['vocals'][excerpt]):.2f} dB, "
          f"accompaniment {sdr_db(acc[excerpt], stems['accompaniment'][excerpt]):.2f} dB "
          f"(baseline mixture/2: vocals {sdr_db(voice[excerpt], mix[excerpt] / 2):.2f} dB)")


def bench_demucs(seconds: float) -> None:
    import torch

    weights = default_weights_dir()
    acc, voice, mix = mixture_with_voice(seconds, descriptor="pop_corporate_carefree", seed=4)
    track = track_from_array(mix, SR, name="bench")
    if local_weights_present("htdemucs", weights / "demucs"):
        label = "htdemucs (installed weights)"
        start = time.perf_counter()
        stems = compute_stems(track, options=SeparationOptions(model="htdemucs"), weights_dir=weights)
        elapsed = time.perf_counter() - start
        print(f"  SDR vocals {sdr_db(voice, stems['vocals']):.2f} dB")
    else:
        from demucs.apply import apply_model
        from demucs.htdemucs import HTDemucs

        label = "htdemucs-size model, random weights (no weights installed: speed only)"
        torch.manual_seed(0)
        model = HTDemucs(sources=["drums", "bass", "other", "vocals"], segment=7.8, bottom_channels=512).eval()
        wav = torch.from_numpy(mix.T.copy())[None]
        start = time.perf_counter()
        apply_model(model, wav, shifts=0, split=True, overlap=0.25)
        elapsed = time.perf_counter() - start
    print(f"{label}: {elapsed:.2f} s for {seconds:.0f} s -> {elapsed / seconds * 60:.1f} s per minute "
          f"({elapsed / seconds:.2f}x the audio length)")


def bench_voice_detector(seconds: float) -> None:
    rows = []
    for i, name in enumerate(GENRES):
        acc = accompaniment(name, seconds, seed=10 + i)
        n = acc.shape[0]
        voice = sung_voice(duration_s=n / SR, sample_rate=SR, seed=i)[:n]
        plain = voice_share(compute_stems(track_from_array(acc, SR), options=SeparationOptions()))
        sung = voice_share(compute_stems(track_from_array(acc + 0.7 * voice[:, None], SR),
                                         options=SeparationOptions()))
        rows.append((name, plain, sung))
        print(f"  {name:34s} instrumental {plain:.2f}   with voice {sung:.2f}")
    wrong = sum(p >= VOICE_FRAMES_MIN for _, p, _ in rows) + sum(s < VOICE_FRAMES_MIN for _, _, s in rows)
    print(f"voice detector (threshold {VOICE_FRAMES_MIN}): {2 * len(rows) - wrong}/{2 * len(rows)} right")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--demucs-seconds", type=float, default=30.0)
    p.add_argument("--detector-seconds", type=float, default=20.0)
    p.add_argument("--skip-demucs", action="store_true")
    args = p.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_spleeter(args.seconds)
    if not args.skip_demucs:
        bench_demucs(args.demucs_seconds)
    bench_voice_detector(args.detector_seconds)


if __name__ == "__main__":
    main()
