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
