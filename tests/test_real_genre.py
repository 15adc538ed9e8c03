"""The real-music genre model (core.embed.genre) and what it hears per window (core.embed.hear)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.analysis.analyze import analyze
from core.audio.grid import WindowGrid
from core.audio.load import track_from_array
from core.embed.genre import EMBED_MODEL, GENRE_MODEL_DIR, TO_CATALOG, UNKNOWN, load_genre_model
from core.embed.hear import STORE_KIND, real_music_windows
from core.embed.musicnn import column_names, window_table
from core.embed.weights import EmbeddingError, weights_present
from core.store.store import Store

needs_weights = pytest.mark.skipif(not weights_present("MSD_musicnn"), reason="musicnn weights not fetched (make weights)")


def test_the_shipped_bundle_loads_with_trusted_types_and_says_what_it_learnt():
    model = load_genre_model()
    assert len(model.genres) == 10 and len(model.columns) == 250
    assert {"valid_accuracy", "artist_grouped_cv_accuracy", "clips"} <= set(model.metrics)
    assert model.temperature > 1.0 and model.novelty is not None and model.novelty.centre.shape == (250,)
    assert {"heldout_ece_raw", "heldout_ece_calibrated", "heldout_unknown_share"} <= set(model.metrics)
    out = model.predict(np.zeros((3, 250)))
    assert list(out.columns[:5]) == ["real_genre", "real_genre_prob", "catalog_genre", "real_unknown", "real_distance"]
    assert np.allclose(out[[f"p_{g}" for g in model.genres]].sum(axis=1), 1.0)
    assert all(c == TO_CATALOG.get(g, "") for g, c in zip(out["real_genre"], out["catalog_genre"]))
    assert out["real_unknown"].all() and (out["real_genre"] == UNKNOWN).all()  # all-zero windows: nothing it knows
    with pytest.raises(EmbeddingError, match="250 musicnn columns"):
        model.predict(np.zeros((3, 12)))


def test_a_missing_or_damaged_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(EmbeddingError, match="missing"):
        load_genre_model(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    shutil.copytree(GENRE_MODEL_DIR, broken)
    (broken / "model.skops").write_bytes(b"not a model")
    with pytest.raises(EmbeddingError, match="cannot be read"):
        load_genre_model(broken)


@needs_weights
def test_every_window_gets_a_genre_and_tags_and_a_second_look_is_a_lookup(abac_piece, tmp_path):
    audio, sr, _ = abac_piece
    track = track_from_array(audio[: 20 * sr], sr, name="clip")
    store = Store(tmp_path / "s")
    analysis = analyze(track, store=store)
    table = real_music_windows(track, analysis, store=store)
    assert len(table) == len(analysis.windows)
    assert np.allclose(table["start_s"], analysis.windows["start_s"])
    assert table["real_genre_prob"].between(0, 1).all() and table["tags"].str.count(",").eq(2).all()
    assert len(list((store.root / STORE_KIND).glob("*.json"))) == 1
    again = real_music_windows(track, analysis, store=store)
    assert again.equals(table) or np.allclose(again["real_genre_prob"], table["real_genre_prob"])


def _unknown_share(y: np.ndarray, sr: int) -> float:
    starts, ends, _ = WindowGrid().windows(len(y) / sr)
    table = window_table(y, sr, starts_s=starts, ends_s=ends, model=EMBED_MODEL, prefix="")
    features = np.stack([table[c] for c in column_names(EMBED_MODEL, prefix="")], axis=1)
    return float(load_genre_model().predict(features)["real_unknown"].mean())


@needs_weights
def test_noise_and_a_tone_are_unknown_and_a_generated_piece_mostly_is_not(abac_piece):
    sr = 22050
    t = np.arange(20 * sr) / sr
    noise = 0.3 * np.random.default_rng(0).standard_normal(t.size)
    assert _unknown_share(noise.astype(np.float32), sr) == 1.0
    assert _unknown_share((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr) == 1.0
    audio, rate, _ = abac_piece
    assert _unknown_share(audio[: 40 * rate].mean(axis=1), rate) <= 0.25
