"""The torch musicnn port: the real checkpoints, the TensorFlow reference, shapes, errors."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from bench.musicnn_reference import REFERENCE, SR, compare, reference_clips
from core.audio.grid import WindowGrid
from core.embed.fetch import unpack_musicnn_checkpoints
from core.embed.musicnn import (
    PATCH_S,
    Musicnn,
    column_names,
    embed,
    fill_network,
    load_musicnn,
    tag_names,
    variable_table,
    window_table,
)
from core.embed.weights import (
    CHECKPOINT_FILES,
    MODELS,
    EmbeddingError,
    musicnn_folder,
    weights_fingerprint,
    weights_present,
)
from core.errors import AudioError, OptionError
from core.separation.tfcheckpoint import list_checkpoint, read_checkpoint

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
needs_weights = pytest.mark.skipif(
    not all(weights_present(m) for m in MODELS),
    reason="musicnn weights absent: run `make weights` (python -m core.embed.fetch WHEEL weights/musicnn)",
)


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


@needs_weights
@pytest.mark.parametrize("model", MODELS)
def test_checkpoint_fills_every_weight(model):
    net = load_musicnn(model)
    assert load_musicnn(model) is net  # built once per process
    table = variable_table(net)
    ckpt = list_checkpoint(musicnn_folder(model) / "model")
    weights = {n for n in ckpt if "/Adam" not in n and not n.endswith("_power")}
    assert set(table) == weights  # every trained variable has a torch home, and nothing else is read
    assert all(tuple(ckpt[n].shape) == shape for n, (shape, _) in table.items())
    assert len(tag_names(model)) == 50


@needs_weights
def test_matches_the_tensorflow_original():
    assert REFERENCE.is_file()
    for model, (d_tag, d_emb) in compare().items():
        assert d_tag < 1e-4, model
        assert d_emb < 1e-3, model


@needs_weights
def test_shapes_ranges_and_patch_times():
    res = embed(_noise(7.0), SR, model="MSD_musicnn")
    assert res.tags.shape == (2, 50) and res.embedding.shape == (2, 200)
    assert np.all((res.tags >= 0) & (res.tags <= 1)) and np.isfinite(res.embedding).all()
    assert np.allclose(res.start_s, [0.0, PATCH_S]) and np.allclose(res.end_s - res.start_s, PATCH_S)
    assert res.tag_names[0] == "rock"
    short = embed(_noise(1.0), SR)  # shorter than a patch: padded to one
    assert short.tags.shape == (1, 50)
    dense = embed(_noise(7.0), SR, hop_s=1.0)
    assert dense.tags.shape[0] == 5
    # a patch does not depend on what else is in the batch
    assert np.allclose(dense.tags[0], embed(_noise(7.0), SR).tags[0], atol=1e-6)


@needs_weights
def test_deterministic_and_resampled_input_agrees():
    y = reference_clips()["chord_c_major"]
    a, b = embed(y, SR), embed(y, SR)
    assert np.array_equal(a.tags, b.tags) and np.array_equal(a.embedding, b.embedding)
    at_44k = embed(librosa.resample(y, orig_sr=SR, target_sr=44100), 44100)
    assert np.max(np.abs(at_44k.tags - a.tags)) < 0.05
    stereo = np.stack([y, y], axis=1)  # (n_samples, channels), as a Track holds it
    assert np.allclose(embed(stereo, SR).tags, a.tags, atol=1e-6)
    assert np.allclose(embed(stereo.T, SR).tags, a.tags, atol=1e-6)


@needs_weights
def test_window_table_on_the_one_grid():
    y = _noise(15.0, seed=3)
    starts, ends, _ = WindowGrid().windows(15.0)
    table = window_table(y, SR, starts_s=starts, ends_s=ends)
    assert list(table) == column_names() and len(table) == 250
    assert column_names("MSD_musicnn", prefix="")[:2] == ["tag_rock", "tag_pop"]
    assert len(set(column_names("MSD_musicnn"))) == 250  # "female vocalists" vs "female vocalist" stay apart
    assert "musicnn.tag_rock" in table and "musicnn.tag_no_vocals" in table and "musicnn.emb_199" in table
    assert all(v.shape == (starts.size,) and np.isfinite(v).all() for v in table.values())
    res = embed(y, SR)
    centres = (res.start_s + res.end_s) / 2
    inside = (centres >= starts[0]) & (centres < ends[0])
    assert np.isclose(table["musicnn.tag_rock"][0], res.tags[inside, tag_names().index("rock")].mean())


@needs_weights
@pytest.mark.parametrize("example, expected", [("electronic", {"techno", "electronic", "synth"}),
                                               ("folk", {"piano", "guitar"})])
def test_renders_get_musical_tags(example, expected):
    y, sr = sf.read(EXAMPLES / f"example_{example}.ogg", dtype="float32")
    top = {tag for tag, _ in embed(y, sr).top_tags(3)}
    assert top & expected, top


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(EmbeddingError, match="make weights"):
        load_musicnn("MTT_musicnn", weights_dir=str(tmp_path))
    with pytest.raises(OptionError, match="musicnn model"):
        load_musicnn("MTT_vggish", weights_dir=str(tmp_path))
    with pytest.raises(OptionError):
        embed(_noise(1.0), SR, hop_s=0.0)
    with pytest.raises(AudioError, match="empty"):
        embed(np.zeros(0, dtype=np.float32), SR)


@needs_weights
def test_damaged_checkpoint_is_refused_plainly(tmp_path):
    folder = musicnn_folder("MTT_musicnn", weights_dir=tmp_path)
    folder.mkdir(parents=True)
    for name in CHECKPOINT_FILES:
        shutil.copy(musicnn_folder("MTT_musicnn") / name, folder / name)
    data = folder / CHECKPOINT_FILES[1]
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    assert weights_fingerprint("MTT_musicnn", weights_dir=tmp_path) != weights_fingerprint("MTT_musicnn")
    with pytest.raises(EmbeddingError, match="could not be read.*make weights"):
        load_musicnn("MTT_musicnn", weights_dir=str(tmp_path))


@needs_weights
def test_missing_or_misshapen_variable_is_refused():
    folder = musicnn_folder("MTT_musicnn")
    tensors = read_checkpoint(folder / "model")
    without = {k: v for k, v in tensors.items() if k != "dense_1/kernel"}
    with pytest.raises(EmbeddingError, match="dense_1/kernel is missing.*make weights"):
        fill_network(Musicnn(), without, folder=folder)
    wrong = dict(tensors, **{"conv2d/kernel": tensors["conv2d/kernel"][:, :30]})
    with pytest.raises(EmbeddingError, match=r"conv2d/kernel has shape \(7, 30, 1, 204\), expected \(7, 38, 1, 204\)"):
        fill_network(Musicnn(), wrong, folder=folder)


def test_fetch_unpacks_the_wheel_layout(tmp_path):
    wheel = tmp_path / "musicnn-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for m in MODELS:
            for member in (".index", ".data-00000-of-00001", "config.json"):
                zf.writestr(f"musicnn/{m}/{member}", f"{m}{member}")
    assert not weights_present("MSD_musicnn", weights_dir=tmp_path / "w")
    written = unpack_musicnn_checkpoints(wheel, tmp_path / "w" / "musicnn")
    assert (tmp_path / "w" / "musicnn" / "MSD_musicnn" / "model.index").read_text() == "MSD_musicnn.index"
    assert len(written) == 6 and all(weights_present(m, weights_dir=tmp_path / "w") for m in MODELS)
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("musicnn/__init__.py", "")
    with pytest.raises(EmbeddingError, match="does not contain"):
        unpack_musicnn_checkpoints(empty, tmp_path / "out2")
    (tmp_path / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(EmbeddingError, match="not a readable wheel"):
        unpack_musicnn_checkpoints(tmp_path / "junk.whl", tmp_path / "out3")
