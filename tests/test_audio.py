"""Audio loading: every format, and every kind of bad input gets a clear message."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import core
from core import AudioError, load_track
from tests.conftest import wav_bytes

SR = 44100


def tone(seconds=2.0, sr=SR, channels=2, freq=440.0):
    t = np.arange(int(seconds * sr)) / sr
    y = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([y] * channels, axis=1) if channels > 1 else y


@pytest.mark.parametrize(
    "fmt,subtype,ext",
    [("WAV", "PCM_16", ".wav"), ("FLAC", "PCM_16", ".flac"), ("OGG", "VORBIS", ".ogg"),
     ("MP3", "MPEG_LAYER_III", ".mp3"), ("AIFF", "PCM_16", ".aiff")],
)
def test_every_supported_format_loads_from_path_and_bytes(tmp_path, fmt, subtype, ext):
    path = tmp_path / f"piece{ext}"
    sf.write(path, tone(), SR, format=fmt, subtype=subtype)
    from_path = load_track(path)
    from_bytes = load_track(path.read_bytes(), name="piece")
    for tr in (from_path, from_bytes):
        assert tr.name == "piece"
        assert tr.sample_rate == SR and tr.channels == 2
        assert tr.samples.dtype == np.float32 and tr.samples.shape[1] == 2
        assert abs(tr.duration_s - 2.0) < 0.1  # MP3 adds encoder padding
        assert not tr.warnings
    assert from_path.content_hash == from_bytes.content_hash
    mono = from_path.mono()
    assert mono.ndim == 1 and abs(mono.size - 2.0 * 22050) < 0.1 * 22050


def test_content_hash_is_identity():
    a = wav_bytes(tone(), SR)
    b = wav_bytes(tone(freq=441.0), SR)
    assert load_track(a).content_hash == load_track(a).content_hash
    assert load_track(a).content_hash != load_track(b).content_hash


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_track(p)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        load_track(tmp_path / "nope.wav")


def test_pdf_renamed_to_wav(tmp_path):
    p = tmp_path / "mix.wav"
    p.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n" * 20)
    with pytest.raises(AudioError, match="PDF"):
        load_track(p)


def test_random_bytes_are_not_audio():
    rng = np.random.default_rng(0)
    with pytest.raises(AudioError, match="could not be decoded"):
        load_track(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(), name="noise.wav")


def test_header_without_samples():
    data = wav_bytes(tone(), SR)[:44]
    with pytest.raises(AudioError):
        load_track(data, name="header-only")


def test_truncated_wav_is_analysed_with_a_warning():
    data = wav_bytes(tone(4.0), SR)
    cut = data[: len(data) // 2]
    tr = load_track(cut, name="cut")
    assert 1.8 < tr.duration_s < 2.2
    assert any("ends early" in w for w in tr.warnings)


def test_corrupt_flac_body():
    import io

    buf = io.BytesIO()
    sf.write(buf, tone(3.0), SR, format="FLAC")
    data = bytearray(buf.getvalue())
    rng = np.random.default_rng(1)
    start = len(data) // 3
    data[start:] = rng.integers(0, 256, len(data) - start, dtype=np.uint8).tobytes()
    try:
        tr = load_track(bytes(data), name="damaged")
    except AudioError as exc:
        assert "damaged" in str(exc) or "decoded" in str(exc)
    else:  # libsndfile may stop at the damage: then we must say the file ends early
        assert tr.duration_s < 3.0
        assert tr.warnings


def test_nan_and_inf_samples_are_repaired_with_a_warning():
    y = tone(2.0).copy()
    y[100, 0] = np.nan
    y[200, 1] = np.inf
    tr = load_track(wav_bytes(y, SR, subtype="FLOAT"), name="nan")
    assert np.isfinite(tr.samples).all()
    assert any("NaN" in w for w in tr.warnings)


def test_mostly_nan_is_refused():
    y = np.full((SR, 2), np.nan, dtype=np.float32)
    with pytest.raises(AudioError, match="not numbers"):
        load_track(wav_bytes(y, SR, subtype="FLOAT"), name="nan")


def test_more_than_two_channels_is_refused_with_advice():
    y = np.tile(tone(1.0, channels=1)[:, None], (1, 6))
    with pytest.raises(AudioError, match="6 channels.*stereo"):
        load_track(wav_bytes(y, SR), name="surround")


def test_too_long_is_refused_before_decoding():
    data = wav_bytes(tone(5.0), SR)
    with pytest.raises(AudioError, match="limit"):
        load_track(data, name="long", max_duration_s=3.0)


def test_long_file_limit_comes_from_the_environment(monkeypatch, tmp_path):
    from core.store.store import Store

    monkeypatch.setenv("STUDIO_MAX_DURATION_S", "3")
    with pytest.raises(AudioError, match="minutes long"):
        Store(tmp_path / "s").add_track(wav_bytes(tone(5.0), SR), name="long")


@pytest.mark.parametrize("sr", [8000, 96000])
def test_odd_sample_rates_load_and_resample(sr):
    tr = load_track(wav_bytes(tone(2.0, sr=sr), sr), name=f"sr{sr}")
    assert tr.sample_rate == sr
    mono = tr.mono()
    assert abs(mono.size - 2 * 22050) <= 2
    if sr < 16000:
        assert any("Low sample rate" in w for w in tr.warnings)
    else:
        assert not tr.warnings


def test_silence_is_flagged_not_refused():
    tr = load_track(wav_bytes(np.zeros((SR * 3, 2), np.float32), SR), name="silence")
    assert tr.is_silent
    assert any("silent" in w for w in tr.warnings)


def test_track_from_array_rejects_bad_shapes():
    with pytest.raises(AudioError):
        core.track_from_array(np.zeros((10, 3)), SR)


@pytest.mark.parametrize("rate", [384_000, 655_350])
def test_hi_res_previews_do_not_crash_the_encoder(rate):
    """libvorbis segfaulted from about 256 kHz up and took the whole server with it: previews of
    hi-res audio are resampled first. Run in a child process, so a crash fails this test only."""
    import subprocess
    import sys

    code = (
        "import io, numpy as np, soundfile as sf\n"
        "from core.audio.load import to_ogg_bytes, PREVIEW_RATE_HZ\n"
        f"rate = {rate}\n"
        "t = np.arange(int(rate * 1.5)) / rate\n"
        "y = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2, 1)\n"
        "out, sr = sf.read(io.BytesIO(to_ogg_bytes(y, rate)))\n"
        "assert sr == PREVIEW_RATE_HZ, sr\n"
        "assert abs(out.shape[0] / sr - 1.5) < 0.02, out.shape\n"
        "assert out.shape[1] == 2\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-800:]}"
    assert done.stdout.strip() == "ok"


def test_previews_keep_ordinary_rates():
    import io

    import soundfile as sf

    from core.audio.load import ogg_rate, to_ogg_bytes

    assert ogg_rate(44_100) == 44_100 and ogg_rate(192_000) == 192_000 and ogg_rate(384_000) == 48_000
    y = np.zeros((8_000, 1), dtype=np.float32)
    _, sr = sf.read(io.BytesIO(to_ogg_bytes(y, 8_000)))
    assert sr == 8_000


# ---- issue 16: decompression bombs, extreme samples, hostile inputs and names -------------------------

def _flac_bytes(seconds: float, rate: int, channels: int = 2) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, np.zeros((int(seconds * rate), channels), np.float32), rate, format="FLAC")
    return buf.getvalue()


def _declare_flac_frames(data: bytes, frames: int) -> bytes:
    """Rewrite STREAMINFO's 36-bit total-samples field: a small file that claims to be long."""
    assert data[:4] == b"fLaC"
    info = bytearray(data)
    pos = 8 + 13  # "fLaC", block header, then 2+2+3+3 bytes of block/frame sizes, 20+3+5 bits before it
    packed = ((info[pos] & 0xF0) << 32) | (frames & 0xFFFFFFFFF)
    info[pos : pos + 5] = packed.to_bytes(5, "big")
    return bytes(info)


def test_a_flac_bomb_is_refused_from_its_header_before_decoding():
    """19.8 min at 384 kHz stereo needs about 3.7 GB decoded: refused by the budget, without decoding."""
    import tracemalloc

    bomb = _declare_flac_frames(_flac_bytes(1.0, 384_000), int(19.8 * 60 * 384_000))
    assert sf.info(__import__("io").BytesIO(bomb)).frames == int(19.8 * 60 * 384_000)
    tracemalloc.start()
    with pytest.raises(AudioError, match=r"(?s)MB.*STUDIO_MAX_DECODED_MB"):
        load_track(bomb, name="bomb")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6, peak


def test_the_decoded_size_budget_is_a_setting_and_checked_before_decoding(monkeypatch):
    import tracemalloc

    data = _flac_bytes(30.0, 384_000)  # 92 MB of float32 samples from 48 KB
    monkeypatch.setenv("STUDIO_MAX_DECODED_MB", "50")
    tracemalloc.start()
    with pytest.raises(AudioError, match=r"(?s)would need 9\d MB.*limit is 50 MB.*STUDIO_MAX_DECODED_MB"):
        load_track(data, name="hires")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10e6, peak
    monkeypatch.setenv("STUDIO_MAX_DECODED_MB", "500")
    assert load_track(data, name="hires").sample_rate == 384_000


def test_the_decoded_size_setting_must_be_a_number(monkeypatch):
    from core.errors import OptionError

    monkeypatch.setenv("STUDIO_MAX_DECODED_MB", "lots")
    with pytest.raises(OptionError, match="STUDIO_MAX_DECODED_MB"):
        load_track(wav_bytes(tone(0.5), SR), name="x")


def test_a_20_minute_96k_stereo_master_fits_the_default_budget():
    from core.audio.load import decoded_bytes, max_decoded_bytes

    assert decoded_bytes(frames=20 * 60 * 96_000, channels=2, sample_rate=96_000) < max_decoded_bytes()


@pytest.mark.parametrize("rate", [1, 1000, 1_000_000])
def test_sample_rates_outside_4k_to_768k_are_refused(rate):
    data = wav_bytes(np.zeros((1200, 1), np.float32), rate)
    with pytest.raises(AudioError, match=r"(?s)sample rate.*4,000.*768,000"):
        load_track(data, name="odd")


def _run_child(code: str, timeout: float = 60.0):
    import subprocess
    import sys

    def limit():  # the old code reads /dev/zero until memory runs out: keep that from hurting the machine
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limit)


_REFUSED_QUICKLY = (
    "import sys, time\n"
    "from core.audio.load import load_track\n"
    "from core.errors import AudioError\n"
    "t = time.monotonic()\n"
    "try:\n"
    "    load_track(sys.argv[-1] if len(sys.argv) > 1 else PATH)\n"
    "except AudioError as exc:\n"
    "    print('refused', round(time.monotonic() - t, 3), exc)\n"
)


def test_dev_zero_is_refused_at_once():
    done = _run_child("PATH = '/dev/zero'\n" + _REFUSED_QUICKLY)
    assert done.stdout.startswith("refused"), done.stderr[-500:]
    assert "not a regular file" in done.stdout
    assert float(done.stdout.split()[1]) < 1.0


def test_a_fifo_is_refused_at_once_and_never_opened(tmp_path):
    import os
    import subprocess

    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    try:
        done = _run_child(f"PATH = {str(fifo)!r}\n" + _REFUSED_QUICKLY, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("load_track blocked on a FIFO")
    assert done.stdout.startswith("refused"), done.stderr[-500:]
    assert "not a regular file" in done.stdout


def test_the_file_size_read_into_memory_is_capped(monkeypatch, tmp_path):
    p = tmp_path / "big.wav"
    p.write_bytes(wav_bytes(tone(3.0), SR))  # about 0.5 MB
    monkeypatch.setenv("STUDIO_MAX_FILE_MB", "0.1")
    with pytest.raises(AudioError, match=r"(?s)MB.*STUDIO_MAX_FILE_MB"):
        load_track(p)
    with pytest.raises(AudioError, match="STUDIO_MAX_FILE_MB"):
        load_track(p.read_bytes(), name="big")


def test_float_masters_a_little_over_full_scale_load_scaled_with_a_warning():
    y = tone(2.0) * 80.0  # peaks at +32 dBFS: common in float masters
    tr = load_track(wav_bytes(y, SR, subtype="FLOAT"), name="hot")
    assert np.isfinite(tr.samples).all()
    assert abs(float(np.max(np.abs(tr.samples))) - 1.0) < 1e-3
    assert any("full scale" in w for w in tr.warnings)
    mono = tr.mono()
    assert np.isfinite(mono).all() and np.isfinite(np.sum(mono.astype(np.float64) ** 2))


def test_a_clip_just_at_full_scale_is_left_alone():
    y = tone(1.0) * 2.0  # peak 1.0
    tr = load_track(wav_bytes(y, SR, subtype="FLOAT"), name="full")
    assert not tr.warnings


@pytest.mark.parametrize("peak", [1e5, 1e30, 3e38])
def test_absurd_finite_samples_are_refused_as_damaged(peak):
    y = tone(1.0).copy()
    y[1000, 0] = peak
    with pytest.raises(AudioError, match="damaged"):
        load_track(wav_bytes(y, SR, subtype="FLOAT"), name="absurd")


def test_a_hot_float_master_analyses_without_error():
    from core.analysis.analyze import analyze

    y = tone(6.0) * 50.0
    analysis = analyze(load_track(wav_bytes(y, SR, subtype="FLOAT"), name="hot"))
    assert analysis.duration_s > 5.0


@pytest.mark.parametrize("source", [None, 3, 2.5, ["a.wav"], {"x": 1}, object()])
def test_a_source_that_is_not_a_file_or_bytes_gets_a_studio_error(source):
    with pytest.raises(AudioError, match="path.*bytes"):
        load_track(source)


@pytest.mark.parametrize(
    "raw", ["..", ".", "...", "a/b", "../../etc", "a\\b", "x\x00y\n\x1b[31m", "x" * 1000, "", " . ", "é" * 300, "/"],
)
def test_track_names_are_always_safe_for_a_folder(raw):
    name = load_track(wav_bytes(tone(0.2), SR), name=raw).name
    assert name and name not in (".", "..") and not name.startswith(".")
    assert "/" not in name and "\\" not in name
    assert all(ch.isprintable() for ch in name)
    assert len(name.encode()) <= 200


def test_hostile_file_names_give_safe_names(tmp_path):
    for fname in ("...wav", "..wav", ".wav", "a\x07b.wav"):
        p = tmp_path / fname
        p.write_bytes(wav_bytes(tone(0.2), SR))
        name = load_track(p).name
        assert name not in (".", "..") and "/" not in name and name.isprintable(), (fname, name)
    assert load_track(tmp_path / "a\x07b.wav").name == "a_b"


# ---- the store's side of it (issue 16, items 6 and 9) ----------------------------------------------

def _stored_file(store, digest):
    return store._track_file(digest)[1]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other audio"])
def test_a_damaged_stored_copy_is_replaced_by_uploading_the_good_file_again(tmp_path, damage):
    from core.store.store import Store

    store = Store(tmp_path / "s")
    good = wav_bytes(tone(1.0), SR)
    digest = store.keep(good, name="song", suffix=".wav")
    stored = _stored_file(store, digest)
    stored.write_bytes({"garbage": b"\x00" * 100, "truncated": good[:30],
                        "other audio": wav_bytes(tone(1.0, freq=220.0), SR)}[damage])
    if damage != "other audio":
        with pytest.raises(AudioError):
            store.get_track(digest)
    assert store.keep(good, name="song", suffix=".wav") == digest  # the page's upload path
    assert stored.read_bytes() == good
    stored.write_bytes(b"\x00" * 100)
    track = store.add_track(good, name="song", suffix=".wav")  # the CLI's path
    assert track.content_hash == digest and stored.read_bytes() == good
    assert store.get_track(digest).duration_s == pytest.approx(1.0)
    stored.write_bytes(b"\x00" * 100)
    track = store.add_track(good, name="song", suffix=".flac")  # under another extension: one file stays
    assert len([p for p in (store.root / "audio").rglob("*") if p.is_file()]) == 1
    assert store.get_track(digest).duration_s == pytest.approx(1.0)


def test_a_bad_upload_does_not_replace_a_stored_copy(tmp_path):
    from core.store.store import Store

    store = Store(tmp_path / "s")
    with pytest.raises(AudioError):
        store.add_track(b"\x00" * 100, name="junk")
    assert store.list_tracks() == []


@pytest.mark.parametrize("suffix", ["../../evil.wav", "/tmp/x", "a/b.wav", ".exe", "wav/..", ".", "x" * 300])
def test_add_track_suffix_must_be_an_audio_extension(tmp_path, suffix):
    from core.errors import OptionError
    from core.store.store import Store

    store = Store(tmp_path / "s")
    with pytest.raises(OptionError, match="extension"):
        store.add_track(wav_bytes(tone(0.2), SR), name="x", suffix=suffix)
    with pytest.raises(OptionError, match="extension"):
        store.keep(wav_bytes(tone(0.2), SR), name="x", suffix=suffix)
    assert not any(p.is_file() for p in (tmp_path).rglob("*") if p.suffix != ".sqlite3" and "studio" not in p.name)


@pytest.mark.parametrize("suffix", ["wav", ".WAV", ".flac", "aif", ""])
def test_add_track_takes_extensions_with_or_without_a_dot(tmp_path, suffix):
    from core.store.store import Store

    store = Store(tmp_path / "s")
    digest = store.keep(wav_bytes(tone(0.2), SR), name="x", suffix=suffix)
    assert _stored_file(store, digest).suffix == "." + (suffix.lstrip(".").lower() or "wav")


def test_stale_temporary_files_are_swept_when_a_store_opens(tmp_path):
    import os
    import time

    from core.store.store import Store

    root = tmp_path / "s"
    Store(root)
    old = root / "audio" / "ab" / ".abc.wav.x1y2.tmp"
    fresh = root / "renders" / ".k.flac.z9.tmp"
    keep = root / "audio" / "ab" / "notes.tmp"  # not one of atomic_write's names
    for p in (old, fresh, keep):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"partial")
    hour_ago = time.time() - 2 * 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(keep, (hour_ago, hour_ago))
    Store(root)
    assert not old.exists()
    assert fresh.exists()  # may be a live write in another process
    assert keep.exists()


def _store_raw(store, data: bytes, name: str) -> str:
    """A file kept in the store as an older version of the loader let it in (no checks)."""
    from core.audio.load import Track, content_hash

    digest = content_hash(data)
    track = Track(samples=np.zeros((SR, 2), np.float32), sample_rate=SR, channels=2, content_hash=digest, name=name)
    store._keep(track, data, __import__("pathlib").Path("audio") / digest[:2] / f"{digest}.wav")
    return digest


def test_stored_tracks_with_extreme_samples_give_studio_errors_or_usable_tracks(tmp_path):
    from core.store.store import Store

    store = Store(tmp_path / "s")
    absurd = tone(1.0).copy()
    absurd[10, 0] = 1e30
    bad = _store_raw(store, wav_bytes(absurd, SR, subtype="FLOAT"), "absurd")
    with pytest.raises(AudioError, match="damaged"):
        store.get_track(bad)
    hot = _store_raw(store, wav_bytes(tone(1.0) * 30.0, SR, subtype="FLOAT"), "hot")
    track = store.get_track(hot)
    assert np.isfinite(track.mono()).all() and float(np.max(np.abs(track.samples))) <= 1.0 + 1e-6
