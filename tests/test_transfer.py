"""Descriptor models that transfer to real music (core.describe.transfer): the real-mix chain and
a hierarchy on the musicnn embedding, used through describe() like any other model."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from core.analysis.analyze import AnalysisOptions, analyze, window_feature_table
from core.audio.grid import WindowGrid
from core.audio.load import track_from_array
from core.describe import predict as predict_module
from core.describe.calibrate import fit_descriptor_calibration
from core.describe.describe import describe, description_key
from core.describe.models import (
    DEFAULT_MODEL_NAME,
    GATE,
    STUDIO,
    STUDIO_GENRE,
    ModelError,
    _proba,
    default_model_name,
    load_model,
)
from core.describe.predict import predict
from core.describe.transfer import musicnn_columns, needs_musicnn, real_mix, transfer_model, with_musicnn
from core.embed import hear
from core.embed.genre import EMBED_MODEL
from core.embed.hear import real_music_windows
from core.embed.musicnn import window_table
from core.embed.weights import musicnn_folder, weights_present
from core.errors import OptionError
from core.generate.catalog import load_catalog
from core.generate.render import render
from core.generate.timeline import single_region
from core.store.store import Store
from core.workflow.loop import loop_key

needs_weights = pytest.mark.skipif(not weights_present("MSD_musicnn"), reason="musicnn weights not fetched (make weights)")
SR = 22050
DESCRIPTORS = ("rock_indie_driving", "cinematic_ambient_dreamy")


def test_the_real_mix_is_drawn_from_its_seed_and_never_clips():
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    tone = 0.9 * np.sin(2 * np.pi * 220 * t)
    audio = np.stack([tone, 0.5 * tone + 0.01 * rng.standard_normal(t.size)], axis=1).astype(np.float32)
    a, b, c = real_mix(audio, SR, seed=1), real_mix(audio, SR, seed=1), real_mix(audio, SR, seed=2)
    assert a.shape == audio.shape and np.isfinite(a).all() and np.abs(a).max() <= 1.0
    assert np.array_equal(a, b)
    assert not np.allclose(a, c, atol=1e-3)
    assert real_mix(audio[:, :1], SR, seed=3).shape == (audio.shape[0], 1)


@pytest.fixture(scope="module")
def heard_renders():
    """Three 12 s renders of each of two descriptors of different genres, heard by musicnn."""
    catalog = load_catalog()
    assert all(d in catalog.descriptors for d in DESCRIPTORS)
    rows, tracks = [], {}
    for name in DESCRIPTORS:
        for i in range(3):
            result = render(single_region(name, duration_s=12.0), seed=i, parallel=False, sample_rate=SR)
            track = track_from_array(result.audio, result.sample_rate, name=f"{name}-{i}")
            tracks[(name, i)] = track
            starts, ends, _ = WindowGrid().windows(track.duration_s)
            frame = with_musicnn(pd.DataFrame({"start_s": starts, "end_s": ends}), track)
            for k, v in catalog.get(name).labels().items():
                frame[k] = str(v)
            frame["render_id"] = f"{name}-{i}"
            rows.append(frame)
    return pd.concat(rows, ignore_index=True), tracks


@needs_weights
def test_a_transfer_model_learns_the_embedding_and_classifies_an_upload_through_describe(heard_renders, tmp_path,
                                                                                         monkeypatch):
    table, tracks = heard_renders
    train = table[~table.render_id.str.endswith("-2")]
    model = transfer_model(train, kind="logreg", seed=0, name="t")
    assert needs_musicnn(model) and model.columns == musicnn_columns()
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    model.save(tmp_path / "data" / "models" / "t")
    loaded = load_model("t")
    assert loaded.feature_sets == ("musicnn",)
    for name in DESCRIPTORS:  # the held-out render of each descriptor is heard as its genre
        d = describe(tracks[(name, 2)], model=loaded, remove_vocals="off")
        genre = load_catalog().get(name).labels()["genre"]
        assert (d.windows["genre"] == genre).mean() >= 0.5, d.windows["genre"].tolist()
        assert set(musicnn_columns()).isdisjoint(d.windows.columns)  # the analysis' columns and predictions only
    with pytest.raises(OptionError, match="musicnn"):
        predict(d.analysis, loaded)  # no track to hear


@needs_weights
def test_real_windows_teach_the_genre_head_only(heard_renders):
    table, _ = heard_renders
    real = table[table.render_id.str.startswith("rock")].assign(genre="jazz")
    plain = transfer_model(table, kind="logreg", seed=0)
    taught = transfer_model(table, real=real, kind="logreg", seed=0, real_weight=2)
    assert "jazz" in taught.estimators["genre"].classes_ and "jazz" not in plain.estimators["genre"].classes_
    assert "jazz" in taught.labels["genre"]  # what calibration and the pages list
    assert sorted(taught.estimators["subgenre"]) == sorted(plain.estimators["subgenre"])  # rock and cinematic only


@needs_weights
def test_a_musicnn_model_keys_its_descriptions_by_the_embeddings_weights(heard_renders, tmp_path, monkeypatch):
    table, _ = heard_renders
    model = transfer_model(table, kind="logreg", seed=0)
    before = description_key("track", options=AnalysisOptions(), model=model, remove_vocals="off")
    copy = tmp_path / "weights" / "musicnn" / EMBED_MODEL
    shutil.copytree(musicnn_folder(EMBED_MODEL), copy)
    monkeypatch.setenv("STUDIO_WEIGHTS_DIR", str(tmp_path / "weights"))
    assert description_key("track", options=AnalysisOptions(), model=model, remove_vocals="off") == before
    loop_before = loop_key("track", model=model, variations=1, seed=0, remove_vocals="off")
    with open(copy / "model.index", "ab") as f:
        f.write(b"retrained")
    assert description_key("track", options=AnalysisOptions(), model=model, remove_vocals="off") != before
    assert loop_key("track", model=model, variations=1, seed=0, remove_vocals="off") != loop_before


def test_without_musicnn_weights_the_default_falls_back_and_a_musicnn_model_says_why(heard_renders, monkeypatch):
    assert default_model_name(["hybrid", "mlp", "knn"], musicnn_ready=True) == "hybrid"
    assert default_model_name(["hybrid", "mlp", "knn"], musicnn_ready=False) == "mlp"
    assert default_model_name(["hybrid", "knn"], musicnn_ready=False) == "knn"
    table, tracks = heard_renders
    model = transfer_model(table, kind="logreg", seed=0)
    track = tracks[("rock_indie_driving", 0)]
    analysis = analyze(track)
    with pytest.raises(OptionError, match="the track it should hear"):  # accompaniment features, full-mix track
        predict(analysis, model, features=analysis.windows, track=track)
    monkeypatch.setattr(predict_module, "weights_present", lambda *a, **k: False)
    with pytest.raises(ModelError, match="make weights.*mlp"):
        predict(analysis, model, track=track)
    with pytest.raises(ModelError, match="not calibrated"):
        fit_descriptor_calibration(model, table)


@needs_weights
def test_the_shipped_hybrid_weighs_its_genre_heads_by_how_much_a_window_sounds_like_a_studio_render(heard_renders):
    _, tracks = heard_renders
    model = load_model(DEFAULT_MODEL_NAME)
    assert default_model_name() == DEFAULT_MODEL_NAME == model.name and GATE in model.estimators
    assert {"real_music", "by_soundfont"} <= set(model.metrics)
    assert model.metrics["real_music"]["majority_accuracy"] >= 0.7 and model.metrics["real_music"]["top_share"] <= 0.35
    track = tracks[("rock_indie_driving", 0)]
    analysis = analyze(track)
    studio = with_musicnn(analysis.windows, track)
    mixed_track = track_from_array(real_mix(track.samples, track.sample_rate, seed=4), track.sample_rate, name="m")
    mixed = with_musicnn(window_feature_table(mixed_track), mixed_track)
    gate = {name: _proba(model.estimators[GATE], model._matrix(t))[STUDIO].mean() for name, t in
            (("studio", studio), ("mixed", mixed))}
    assert gate["studio"] > 0.8 and gate["studio"] > gate["mixed"] + 0.1, gate  # the real mix moves it away
    probs = model.probabilities(studio)["genre"]
    assert np.allclose(probs.sum(axis=1), 1.0)
    x = model._matrix(studio)
    w = _proba(model.estimators[GATE], x)[STUDIO].to_numpy()[:, None]
    by_hand = (w * _proba(model.estimators[STUDIO_GENRE], x).reindex(columns=probs.columns, fill_value=0).to_numpy()
               + (1 - w) * _proba(model.estimators["genre"], x).reindex(columns=probs.columns, fill_value=0).to_numpy())
    assert np.allclose(probs.to_numpy(), by_hand)
    assert (predict(analysis, model, track=track)["genre"] == "rock").mean() >= 0.5


@needs_weights
def test_the_hybrid_and_the_real_music_lane_hear_a_track_once(heard_renders, tmp_path, monkeypatch):
    _, tracks = heard_renders
    track = tracks[("cinematic_ambient_dreamy", 1)]
    store = Store(tmp_path / "store")
    calls = []
    monkeypatch.setattr(hear, "window_table", lambda *a, **k: calls.append(1) or window_table(*a, **k))
    described = describe(track, model=DEFAULT_MODEL_NAME, remove_vocals="off", store=store)
    lane = real_music_windows(track, described.analysis, store=store)
    assert calls == [1] and len(lane) == len(described.windows)
