"""Separation benchmark: speed per model, quality on known parts, and the voice detector.

    .venv/bin/python bench/separate.py [--seconds 60] [--demucs-seconds 30] [--skip-demucs]

1. Speed: seconds per minute of stereo 44.1 kHz audio on this machine, for the 2-stem model
   and for Demucs (the installed htdemucs weights, or, without them, a default-size HTDemucs
   with random weights: the same computation, so the same speed).
2. Quality: a mixture built from known parts (a rendered accompaniment plus a synthetic sung
   line at the same loudness, core.generate.groundtruth.sung_voice); SDR of both estimates (mir_eval).
3. Voice detector (``core.describe.predict.voice_share``): its value on instrumental renders of
   several genres and on the same renders with a voice 6 dB below the backing, against the
   threshold.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from core.audio.load import track_from_array  # noqa: E402
from core.describe.predict import VOICE_FRAMES_MIN, voice_share  # noqa: E402
from core.generate.groundtruth import sung_voice  # noqa: E402
from core.generate.render import render  # noqa: E402
from core.generate.timeline import single_region  # noqa: E402
from core.separation import SeparationOptions, compute_stems, default_weights_dir  # noqa: E402
from core.separation.demucs_backend import local_weights_present  # noqa: E402
from core.separation.quality import sdr_db  # noqa: E402

SR = 44100
#: Instrumentals for the voice detector, lead-heavy ones included (sax, flute, strings, synth leads).
GENRES = ("cinematic_ambient_dreamy", "electronic_synthwave_driving", "jazz_bossa_romantic",
          "pop_corporate_carefree", "hiphop_trap_cool", "rock_indie_determined", "jazz_noir_romantic",
          "folk_acoustic_hopeful", "cinematic_percussion_triumphant", "documentary_idiophonic_curious",
          "pop_dance_happy", "electronic_techno_exciting")


def accompaniment(descriptor: str, seconds: float, seed: int) -> np.ndarray:
    timeline = single_region(descriptor, duration_s=seconds)
    return render(timeline, seed=seed).audio


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(sdr_db([reference], [estimate])[0])


def with_voice(acc: np.ndarray, *, seed: int, vocal_db: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(voice, mixture): a sung line at ``vocal_db`` relative to the accompaniment's RMS."""
    n = acc.shape[0]
    voice = sung_voice(duration_s=n / SR, sample_rate=SR, seed=seed)[:n]
    voice2 = np.stack([voice, voice], axis=1)
    voice2 *= np.sqrt(np.mean(acc ** 2) / np.mean(voice2 ** 2)) * 10 ** (vocal_db / 20)
    return voice2, acc + voice2


def mixture_with_voice(seconds: float, *, descriptor: str, seed: int):
    acc = accompaniment(descriptor, seconds, seed)
    voice, mix = with_voice(acc, seed=seed)
    return acc, voice, mix


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
    print(f"  SDR vocals {sdr(voice[excerpt], stems['vocals'][excerpt]):.2f} dB, "
          f"accompaniment {sdr(acc[excerpt], stems['accompaniment'][excerpt]):.2f} dB "
          f"(baseline mixture/2: vocals {sdr(voice[excerpt], mix[excerpt] / 2):.2f} dB)")


def bench_long(minutes: float) -> None:
    """A long track in chunks: time and peak memory (the result has the track's length)."""
    import resource

    acc = accompaniment("pop_corporate_carefree", 60.0, seed=5)
    mix = np.tile(acc, (int(np.ceil(minutes)), 1))[: int(minutes * 60 * SR)]
    track = track_from_array(mix, SR, name="long")
    start = time.perf_counter()
    stems = compute_stems(track, options=SeparationOptions())
    elapsed = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    assert stems["vocals"].shape == mix.shape
    print(f"spleeter-2stems on a {minutes:.0f}-minute track: {elapsed:.1f} s ({elapsed / minutes:.2f} s per minute), "
          f"peak RSS of the process {peak_gb:.2f} GB")


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
        print(f"  SDR vocals {sdr(voice, stems['vocals']):.2f} dB")
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
    levels = (0.0, -6.0)
    right, total = 0, 0
    print(f"voice detector: share of seconds with a voice (threshold {VOICE_FRAMES_MIN}); "
          f"instrumental, then a sung line at {', '.join(f'{db:+.0f} dB' for db in levels)} against the backing")
    for i, name in enumerate(GENRES):
        acc = accompaniment(name, seconds, seed=10 + i)
        shares = [voice_share(compute_stems(track_from_array(acc, SR), options=SeparationOptions()))]
        for db in levels:
            _, mix = with_voice(acc, seed=i, vocal_db=db)
            shares.append(voice_share(compute_stems(track_from_array(mix, SR), options=SeparationOptions())))
        verdicts = [shares[0] < VOICE_FRAMES_MIN] + [s >= VOICE_FRAMES_MIN for s in shares[1:]]
        right += sum(verdicts[:2])  # instrumental and 0 dB
        total += 2
        print(f"  {name:34s} " + "   ".join(f"{s:.2f}{'' if ok else ' (wrong)'}" for s, ok in zip(shares, verdicts)))
    print(f"voice detector: {right}/{total} right on instrumentals and voices at 0 dB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--demucs-seconds", type=float, default=30.0)
    p.add_argument("--detector-seconds", type=float, default=20.0)
    p.add_argument("--skip-demucs", action="store_true")
    p.add_argument("--long-minutes", type=float, default=0.0, help="also separate a track this long (e.g. 20)")
    args = p.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_spleeter(args.seconds)
    if not args.skip_demucs:
        bench_demucs(args.demucs_seconds)
    bench_voice_detector(args.detector_seconds)
    if args.long_minutes:
        bench_long(args.long_minutes)


if __name__ == "__main__":
    main()
