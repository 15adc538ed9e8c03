"""What models trained on real music hear in a track, per window of the ONE grid: the
real-music genre (core.embed.genre, GTZAN's 10 genres, calibrated, "unknown" for windows unlike
what it learnt from and for silent windows) and musicnn's strongest tags.

``real_music_windows(track, analysis, store=...)`` embeds the track once (MSD_musicnn, about
3 s per minute of audio on 2 cores) and keeps the table in the store under a key of the track,
the window grid, the embedding version, the weights and the genre model: a second look is a
lookup.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.analysis.analyze import analyze
from core.cachekey import digest, fingerprint, stage_key
from core.embed.genre import EMBED_MODEL, GENRE_MODEL_DIR, NOVELTY_FILE, load_genre_model
from core.embed.musicnn import column_names, tag_names, window_table
from core.embed.weights import EMBED_VERSION, weights_fingerprint

#: Bumped when the stored table's columns change (2: calibrated, real_unknown and real_distance).
TABLE_VERSION = 2
#: How many of the 50 tags each window lists.
TOP_TAGS = 3
STORE_KIND = "realmusic"


HEARD_KIND = "musicnn-windows"


def musicnn_versions() -> dict:
    """What a cache key of anything heard with musicnn must hold: the embedding's version and its
    weights, by content."""
    return {"version": EMBED_VERSION, "weights": weights_fingerprint(EMBED_MODEL)}


def heard_key(track_hash: str, starts_s, ends_s) -> str:
    """The store key of a track's musicnn window features: the track, the windows (their start and
    end times), the embedding's version and weights."""
    grid = digest([np.round(np.asarray(starts_s, dtype=float), 3).tolist(),
                   np.round(np.asarray(ends_s, dtype=float), 3).tolist()])
    return stage_key(HEARD_KIND, EMBED_VERSION, track_hash, grid, weights_fingerprint(EMBED_MODEL))


def heard_windows(track, starts_s, ends_s, *, store=None) -> np.ndarray:
    """(n_windows, 250) MSD_musicnn tags and embedding per window (``column_names`` order), heard
    once per track and window grid: with a ``store`` every later caller (the real-music lane, the
    hybrid descriptor model, Taste) reads them back instead of listening again."""
    key = heard_key(track.content_hash, starts_s, ends_s)
    found = store.get_json(HEARD_KIND, key) if store is not None else None
    if found is not None and len(found["features"]) == len(starts_s):
        return np.asarray(found["features"], dtype=float)
    mono = track.samples.mean(axis=1) if track.samples.ndim == 2 else track.samples
    table = window_table(mono, track.sample_rate, starts_s=np.asarray(starts_s, dtype=float),
                         ends_s=np.asarray(ends_s, dtype=float), model=EMBED_MODEL, prefix="")
    features = np.stack([table[c] for c in column_names(EMBED_MODEL, prefix="")], axis=1)
    if store is not None:
        store.put_json(HEARD_KIND, key, {"features": features.tolist()})
    return features


def real_music_key(track_hash: str, *, window_s: float, hop_s: float, model_dir: Path = GENRE_MODEL_DIR) -> str:
    """The stored table's key: the track, the grid, the embedding's version and weights and the
    genre model (``model_dir``: its estimator, its meta with the temperature, its novelty), all by
    content (``core.cachekey``)."""
    folder = Path(model_dir)
    return stage_key("realmusic", f"{EMBED_VERSION}.{TABLE_VERSION}", track_hash, window_s, hop_s,
                     weights_fingerprint(EMBED_MODEL),
                     fingerprint(*(folder / f for f in ("model.skops", "meta.json", NOVELTY_FILE))))


def _top_tags(tags: np.ndarray) -> list[str]:
    names = tag_names(EMBED_MODEL)
    order = np.argsort(-tags, axis=1)[:, :TOP_TAGS]
    return [", ".join(f"{names[j]} {tags[i, j]:.2f}" for j in row) for i, row in enumerate(order)]


def real_music_windows(track, analysis, *, store=None, progress=None,
                       model_dir: Path = GENRE_MODEL_DIR) -> pd.DataFrame:
    """Per window of ``analysis.windows``: start_s, end_s, real_genre ("unknown" where
    real_unknown), real_genre_prob (calibrated), catalog_genre, real_unknown, real_distance, tags
    (the strongest three with their probabilities) and p_<genre>, from the genre-model bundle in
    ``model_dir`` (the shipped GTZAN-10 model by default). Silent windows are unknown."""
    grid = analysis.options.grid
    key = real_music_key(track.content_hash, window_s=grid.window_s, hop_s=grid.hop_s, model_dir=model_dir)
    found = store.get_json(STORE_KIND, key) if store is not None else None
    if found is not None:
        if progress:
            progress(1.0, "Loaded from the store")
        return pd.DataFrame(found)
    model = load_genre_model(Path(model_dir))
    if progress:
        progress(0.05, "Listening with musicnn (trained on the Million Song Dataset)")
    w = analysis.windows
    features = heard_windows(track, w["start_s"].to_numpy(), w["end_s"].to_numpy(), store=store)
    silent = w["silent"].to_numpy(dtype=bool) if "silent" in w else None
    out = pd.concat([w[["start_s", "end_s"]].reset_index(drop=True), model.predict(features, silent=silent)], axis=1)
    out.insert(int(out.columns.get_loc("real_distance")) + 1, "tags", _top_tags(features[:, :len(tag_names(EMBED_MODEL))]))
    if store is not None:
        store.put_json(STORE_KIND, key, out.to_dict(orient="list"))
    if progress:
        progress(1.0, "Done")
    return out


def heard_catalog_genres(track, *, store=None) -> pd.Series:
    """The catalog genre ('' where the GTZAN genre has none) of each window of ``track`` that the
    real-music model knows (the windows it flags unknown are left out): what the track sounds like
    to a model that learnt from real recordings."""
    table = real_music_windows(track, analyze(track, store=store), store=store)
    if "real_unknown" in table:
        table = table[~table["real_unknown"].astype(bool)]
    return table["catalog_genre"].reset_index(drop=True)

