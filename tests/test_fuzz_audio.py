"""Fuzzing the audio loader (issue 16): mutated WAV, FLAC, OGG and AIFF files, from bytes and from a
file, give a Track or a StudioError: never another exception, never a crash, bounded memory.

The cases run in a child process, so a segfault fails this test (naming the seed that did it)
instead of killing the test run. Seeded: the same cases every run.
"""

from __future__ import annotations

import subprocess
import sys

#: Cases per run, and the peak resident memory the child may reach (MB).
CASES = 1000
MAX_RSS_MB = 700

CHILD = r'''
import io, os, resource, sys, tempfile, traceback
import numpy as np
import soundfile as sf
from core.audio.load import MAX_SR_HZ, MIN_SR_HZ, decoded_bytes, load_track, max_decoded_bytes
from core.errors import StudioError

def encode(fmt, subtype, sr, channels):
    t = np.arange(int(0.4 * sr)) / sr
    y = np.stack([0.4 * np.sin(2 * np.pi * 330 * t)] * channels, 1)
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()

BASES = [encode("WAV", "PCM_16", 22050, 2), encode("WAV", "FLOAT", 8000, 1), encode("WAV", "PCM_U8", 11025, 1),
         encode("FLAC", "PCM_16", 44100, 2), encode("FLAC", "PCM_24", 16000, 1), encode("OGG", "VORBIS", 22050, 2),
         encode("AIFF", "PCM_16", 22050, 1)]
INTERESTING = [0, 1, 2, 3, 255, 3999, 4000, 65535, 768000, 768001, 2**31 - 1, 2**31, 2**32 - 1]

def fields(data):
    """(offset, size in bytes) of header fields worth breaking: sizes, rates, channels, lengths."""
    out = [(4, 4)]
    if data[:4] == b"RIFF":
        out += [(20, 2), (22, 2), (24, 4), (28, 4), (32, 2), (34, 2), (16, 4)]
        at = data.find(b"data")
        out += [(at + 4, 4)] if at > 0 else []
    elif data[:4] == b"fLaC":
        out += [(8 + 4 + i, 1) for i in range(18)]
    elif data[:4] == b"OggS":
        at = data.find(b"\x01vorbis")
        out += [(at + 11, 1), (at + 12, 4), (at + 16, 4), (at + 24, 4), (26, 4), (22, 4)]
    elif data[:4] == b"FORM":
        at = data.find(b"COMM")
        out += [(at + 4, 4), (at + 8, 2), (at + 10, 4), (at + 14, 2), (at + 16, 10)]
    return [(o, n) for o, n in out if 0 <= o and o + n <= len(data)]

def mutate(data, rng):
    b = bytearray(data)
    kind = int(rng.integers(0, 8))
    if kind == 0:  # bit flips
        for _ in range(int(rng.integers(1, 40))):
            i = int(rng.integers(0, len(b)))
            b[i] ^= 1 << int(rng.integers(0, 8))
    elif kind == 1:  # truncation, down to nothing
        b = b[: int(rng.integers(0, len(b)))]
    elif kind == 2:  # a header field set to an interesting or random value
        for _ in range(int(rng.integers(1, 4))):
            off, n = fields(data)[int(rng.integers(0, len(fields(data))))]
            value = INTERESTING[int(rng.integers(0, len(INTERESTING)))] if rng.random() < 0.7 else int(rng.integers(0, 2**63))
            order = "little" if data[:4] == b"RIFF" or data[:4] == b"OggS" else "big"
            b[off : off + n] = (value % (1 << (8 * n))).to_bytes(n, order)
    elif kind == 3:  # random bytes over a region
        i = int(rng.integers(0, len(b)))
        n = int(rng.integers(1, 256))
        b[i : i + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    elif kind == 4:  # a header with a huge declared size and nothing after it
        b = b[: int(rng.integers(8, 80))]
        if len(b) >= 8:
            b[4:8] = b"\xff\xff\xff\x7f"
    elif kind == 5:  # a spliced or repeated body
        i, j = sorted(int(x) for x in rng.integers(0, len(b), 2))
        b = b[:j] + b[i:j] * int(rng.integers(1, 4)) + b[j:]
    elif kind == 6:  # a huge declared length: FLAC's total samples (36 bits), WAV's and AIFF's frame counts
        huge = int(rng.integers(1 << 28, 1 << 36))
        if data[:4] == b"fLaC":
            b[21:26] = (((b[21] & 0xF0) << 32) | huge).to_bytes(5, "big")
        else:
            for off, n in fields(data)[-3:]:
                b[off : off + n] = (huge % (1 << (8 * n))).to_bytes(n, "little")
    else:  # pure noise after a valid magic
        b = b[:4] + rng.integers(0, 256, int(rng.integers(0, 4000)), dtype=np.uint8).tobytes()
    return bytes(b)

first, count = int(sys.argv[1]), int(sys.argv[2])
tmp = tempfile.mkdtemp()
outcomes = {"track": 0, "refused": 0}
for seed in range(first, first + count):
    print("case", seed, flush=True)
    rng = np.random.default_rng(seed)
    data = mutate(BASES[seed % len(BASES)], rng)
    path = os.path.join(tmp, "case.bin")
    with open(path, "wb") as fh:
        fh.write(data)
    for source in (data, path):
        try:
            track = load_track(source, name="fuzz")
            assert np.isfinite(track.samples).all() and track.samples.ndim == 2, "unusable track"
            assert MIN_SR_HZ <= track.sample_rate <= MAX_SR_HZ, f"sample rate {track.sample_rate}"
            assert decoded_bytes(frames=track.samples.shape[0], channels=track.channels,
                                 sample_rate=track.sample_rate) <= max_decoded_bytes(), "over the budget"
            assert float(np.abs(track.samples).max(initial=0)) <= 1.0 + 1e-4, "over full scale"
            outcomes["track"] += 1
        except StudioError:
            outcomes["refused"] += 1
        except BaseException:
            print("FAIL", seed, traceback.format_exc(), flush=True)
            sys.exit(3)
print("done", outcomes["track"], outcomes["refused"], int(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))) // 1024, flush=True)  # VmHWM: ru_maxrss would include the forking pytest process's peak
'''


def _run(first: int, count: int) -> list[str]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(first), str(count)], capture_output=True, text=True,
                          timeout=300)
    lines = done.stdout.strip().splitlines()
    seeds = [ln.split()[1] for ln in lines if ln.startswith("case ")]
    if done.returncode < 0:
        raise AssertionError(f"the loader crashed the process (signal {-done.returncode}) on seed {seeds[-1]}")
    failed = [ln for ln in lines if ln.startswith("FAIL")]
    assert done.returncode == 0, (failed or [done.stderr[-2000:]])[0] + "\n" + done.stdout[-3000:]
    return lines[-1].split()


def test_mutated_audio_gives_a_track_or_a_studio_error_with_bounded_memory():
    tag, tracks, refused, rss_mb = _run(0, CASES)
    assert tag == "done"
    assert int(tracks) > 0 and int(refused) > 0  # the mutations reach both outcomes
    assert int(rss_mb) < MAX_RSS_MB, f"peak RSS {rss_mb} MB"
