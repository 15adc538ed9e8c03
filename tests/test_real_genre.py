"""The real-music genre model (core.embed.genre) and what it hears per window (core.embed.hear)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.analysis.analyze import analyze
from core.audio.load import track_from_array
from core.embed.genre import GENRE_MODEL_DIR, TO_CATALOG, load_genre_model
from core.embed.hear import STORE_KIND, real_music_windows
from core.embed.weights import EmbeddingError, weights_present
from core.store.store import Store

needs_weights = pytest.mark.skipif(not weights_present("MSD_musicnn"), reason="musicnn weights not fetched (make weights)")


def test_the_shipped_bundle_loads_with_trusted_types_and_says_what_it_learnt():
    model = load_genre_model()
    assert len(model.genres) == 10 and len(model.columns) == 250
    assert {"valid_accuracy", "artist_grouped_cv_accuracy", "clips"} <= set(model.metrics)
    out = model.predict(np.zeros((3, 250)))
    assert list(out.columns[:3]) == ["real_genre", "real_genre_prob", "catalog_genre"]
    assert np.allclose(out[[f"p_{g}" for g in model.genres]].sum(axis=1), 1.0)
    assert all(c == TO_CATALOG.get(g, "") for g, c in zip(out["real_genre"], out["catalog_genre"]))
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
