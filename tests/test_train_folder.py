"""Training a real-music model on your own labelled folder (core.describe.folder, `python -m core
train-folder`, the Models page form): generated clips per label, the refusals, the bundle the
Analyze lane reads."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from core.analysis.analyze import analyze
from core.audio.load import load_track
from core.cli.main import main
from core.covers.songs import known_song
from core.describe import folder as tf
from core.describe.folder import (
    FolderError,
    folder_from_uploads,
    folder_from_zip,
    list_real_models,
    model_folder,
    scan_folder,
    train_folder,
)
from core.embed.genre import load_genre_model
from core.embed.hear import real_music_windows
from core.embed.weights import weights_present
from core.store.store import Store

pytestmark = pytest.mark.skipif(not weights_present("MSD_musicnn"), reason="musicnn weights not fetched (make weights)")
SR = 22050
ROOT = Path(__file__).resolve().parent.parent


def _noise(seed: int) -> np.ndarray:
    """12 s of coloured noise, a different colour and level per seed."""
    rng = np.random.default_rng(seed)
    y = np.cumsum(rng.standard_normal(12 * SR)) * (seed + 1)
    y -= np.convolve(y, np.ones(100 + 150 * seed) / (100 + 150 * seed), "same")
    return (y / np.abs(y).max() * 0.5).astype(np.float32)


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """song/ (3 known songs: other instruments and tempi), noise/ (3 clips) and one song in both."""
    root = tmp_path_factory.mktemp("examples")
    for label in ("song", "noise"):
        (root / label).mkdir()
    for i, (program, tempo_bpm) in enumerate([(0, 100.0), (24, 120.0), (48, 90.0)]):
        song = known_song(bars=5 if tempo_bpm < 120 else 6, tempo_bpm=tempo_bpm, seed=i, chord_program=program)
        sf.write(root / "song" / f"song{i}.wav", song.audio, song.sample_rate)
        sf.write(root / "noise" / f"noise{i}.flac", _noise(i), SR)
    shutil.copy(root / "song" / "song0.wav", root / "noise" / "also_noise.wav")
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module: every clip is heard once, later trainings are lookups."""
    return Store(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def trained(examples, store):
    return train_folder(examples, out="mine", store=store, seed=0, data_dir=store.root)


def test_a_folder_trains_a_bundle_the_analyze_lane_reads(trained, examples, store):
    m = trained.metrics
    assert trained.folder == store.root / "real_models" / "mine"
    assert m.labels == ("noise", "song") and m.tracks == 6 and m.multi_label_tracks == 1
    assert m.tracks_per_label == {"noise": 4, "song": 3} and m.folds == 3
    assert m.track_accuracy >= 0.8 and m.window_accuracy >= 0.8
    assert 0 < m.track_lrap <= 1 and m.track_coverage >= m.best_coverage > 1
    assert list(m.table().columns) == ["accuracy", "macro F1", "LRAP", "coverage error"]
    model = load_genre_model(trained.folder)
    assert model.genres == ("noise", "song") and model.metrics["cv"]["folds"] == 3
    assert model.metrics["track_accuracy"] == round(m.track_accuracy, 3)
    choices = list_real_models(data_dir=store.root)
    assert choices[0].shipped and [c.name for c in choices[1:]] == ["mine"]
    assert choices[1].labels == ("noise", "song") and "yours" in choices[1].title()
    track = load_track(examples / "song" / "song1.wav")
    table = real_music_windows(track, analyze(track), store=store, model_dir=trained.folder)
    assert set(table.columns) >= {"real_genre", "p_noise", "p_song"}
    assert (table["real_genre"] == "song").mean() >= 0.5


def test_same_seed_same_model_and_figures_and_retraining_is_a_lookup(trained, examples, store, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a stored track was heard again")

    monkeypatch.setattr(tf, "window_table", never)
    again = train_folder(examples, out="again", store=store, seed=0, data_dir=store.root)
    assert again.metrics == trained.metrics
    x = np.random.default_rng(1).standard_normal((4, 250))
    assert np.allclose(load_genre_model(again.folder).pipeline.predict_proba(x),
                       load_genre_model(trained.folder).pipeline.predict_proba(x))
    assert len(list((store.root / tf.STORE_KIND).glob("*.json"))) == 6


def test_a_bundle_is_replaced_only_when_asked_and_never_half_written(trained, examples, store):
    before = (trained.folder / "model.skops").read_bytes()
    with pytest.raises(FolderError, match="already exists.*--force"):
        train_folder(examples, out="mine", store=store, data_dir=store.root)
    assert (trained.folder / "model.skops").read_bytes() == before
    train_folder(examples, out="mine", store=store, data_dir=store.root, seed=1, force=True)
    assert load_genre_model(trained.folder).genres == ("noise", "song")
    assert not [p.name for p in (store.root / "real_models").iterdir() if p.name.startswith(".")]
    other = store.root / "not_a_model"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FolderError, match="is not a model"):
        train_folder(examples, out=str(other), store=store, force=True)
    assert (other / "notes.txt").read_text() == "mine"
    with pytest.raises(FolderError, match="cannot name a model"):
        model_folder("my model!")


def _folder(tmp_path, layout: dict, examples) -> str:
    for rel, source in layout.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(examples / source, tmp_path / rel)
    return str(tmp_path)


@pytest.mark.parametrize("layout, said", [
    ({"song/a.wav": "song/song0.wav", "song/b.wav": "song/song1.wav", "song/c.wav": "song/song2.wav"},
     "one label only"),
    ({"song/a.wav": "song/song0.wav", "song/b.wav": "song/song1.wav", "song/c.wav": "song/song2.wav",
      "noise/a.flac": "noise/noise0.flac", "noise/b.flac": "noise/noise1.flac", "noise/c.flac": "noise/noise1.flac"},
     "at least 3 different tracks .noise has 2"),
    ({"loose.wav": "song/song0.wav"}, "No audio files"),
])
def test_folders_that_cannot_train_say_why_before_any_listening(tmp_path, examples, layout, said, monkeypatch):
    monkeypatch.setattr(tf, "window_table", lambda *a, **k: pytest.fail("listened to a folder it must refuse"))
    with pytest.raises(FolderError, match=said):
        train_folder(_folder(tmp_path / "in", layout, examples), out="x", data_dir=tmp_path)
    assert main(["train-folder", str(tmp_path / "in"), "--out", "x", "--data-dir", str(tmp_path), "--quiet"]) == 2
    assert not (tmp_path / "real_models" / "x").exists()
    with pytest.raises(FolderError, match="not a folder"):
        scan_folder(tmp_path / "nowhere")


def test_unreadable_files_are_listed_and_skipped_and_the_command_exits_1(tmp_path, examples, store, capsys):
    shutil.copytree(examples, tmp_path / "in")
    (tmp_path / "in" / "song" / "broken.mp3").write_bytes(b"not audio at all")
    shutil.copy(examples / "song" / "song2.wav", tmp_path / "in" / "outside.wav")
    code = main(["train-folder", str(tmp_path / "in"), "--out", "cli", "--data-dir", str(store.root), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1 and "song/broken.mp3" in err and "outside.wav is not inside a label folder" in err
    assert "per track" in out and (store.root / "real_models" / "cli" / "meta.json").is_file()


def test_uploads_and_a_zip_become_one_folder_per_label(tmp_path, examples):
    wav = (examples / "song" / "song0.wav").read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in ("mine/rock/a.wav", "mine/rock/b.WAV", "mine/jazz/c.wav", "mine/notes.txt",
                     "mine/__MACOSX/rock/._a.wav", "../evil.wav", "/abs/evil.wav"):
            z.writestr(name, wav)
    root = folder_from_zip(buf.getvalue(), tmp_path / "z")
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "jazz/c.wav", "rock/a.wav", "rock/b.wav"]
    with pytest.raises(FolderError, match="not a zip"):
        folder_from_zip(b"PK nothing", tmp_path / "bad")
    root = folder_from_uploads({"dreamy/sad": [("x.wav", wav), ("x.wav", wav), ("n.txt", b"")]}, tmp_path / "u")
    assert sorted(p.name for p in (root / "dreamy_sad").iterdir()) == ["x-2.wav", "x.wav"]
    with pytest.raises(FolderError, match="name"):
        folder_from_uploads({" ": [("x.wav", wav)]}, tmp_path / "v")


def test_the_models_page_trains_from_uploads_and_says_where_to_pick_it(examples, store, monkeypatch):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(store.root))  # the clips were heard already: a lookup
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/models.py")
    at.run()
    for i, (label, files) in enumerate({"song": sorted((examples / "song").iterdir()),
                                        "noise": sorted((examples / "noise").iterdir())}.items()):
        at.text_input(key=f"tf_label_{i}").set_value(label)
        at.file_uploader(key=f"tf_files_{i}").set_value([(p.name, p.read_bytes(), "audio/wav") for p in files])
    at.text_input(key="tf_name").set_value("from_page")
    at.run()
    at.button(key="tf_train").click()
    at.run()
    assert not at.exception and not at.error
    assert any("from_page" in s.value.replace("\\", "") and "Analyze" in s.value for s in at.success)
    assert any("label (held-out windows" in c.proto.spec for c in at.get("plotly_chart"))
    assert (store.root / "real_models" / "from_page" / "model.skops").is_file()
