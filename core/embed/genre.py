"""A real-music genre model: GTZAN's 10 genres from the musicnn embedding, per window.

The descriptor models learnt from renders and read real recordings badly (the real-music
issue: 0.105 of GTZAN clips get the right catalog genre). This model learnt from real
recordings instead: the windows of the 168 gtzan-dev clips (10 genres, Sturm's artist-filtered
clips), each window the mean of the MSD_musicnn tags and penultimate embedding of the 3 s
patches inside it (``core.embed.musicnn.window_table`` on the ONE window grid). A standardised
logistic regression; probabilities per window, and the catalog genre where GTZAN's has one
(:data:`TO_CATALOG`). ``bench/gtzan_embedding.py`` measures it (artist-disjoint) and writes the
bundle; ``assets/real_models/gtzan10/card.md`` says what it was trained on.

A bundle is a folder: ``model.skops`` (read with skops and an explicit list of trusted types,
never ``trusted=True``: it can only build scikit-learn and numpy objects) and ``meta.json``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from core.embed.musicnn import column_names
from core.embed.weights import EmbeddingError
from core.io import atomic_write
from core.paths import ASSETS

#: The musicnn network whose outputs the genre model reads.
EMBED_MODEL = "MSD_musicnn"
GENRE_MODEL_DIR = ASSETS / "real_models" / "gtzan10"
#: GTZAN genre -> catalog genre (the real-music issue's mapping; blues and reggae have none).
TO_CATALOG = {"classical": "cinematic", "country": "folk", "disco": "pop", "hiphop": "hiphop", "jazz": "jazz",
              "metal": "rock", "pop": "pop", "rock": "rock"}
#: The regularisation chosen by artist-grouped cross-validation on gtzan-dev (0.01-0.3 within 0.03).
LOGREG_C = 0.05
TRUSTED_TYPES = ["sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler",
                 "sklearn.linear_model._logistic.LogisticRegression"]


def fit_genre_model(x: np.ndarray, y: np.ndarray, *, seed: int = 0):
    """The unfitted pipeline fitted on windows ``x`` (n, 250) with genre labels ``y``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=LOGREG_C, max_iter=5000, random_state=seed)).fit(x, y)


def save_genre_model(model, folder: Path, *, metrics: dict) -> None:
    import skops.io

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "model.skops", skops.io.dumps(model))
    meta = {"embedding": EMBED_MODEL, "columns": column_names(EMBED_MODEL, prefix=""),
            "genres": [str(c) for c in model.classes_], "metrics": metrics}
    atomic_write(folder / "meta.json", json.dumps(meta, indent=1).encode())


@dataclass(frozen=True)
class GenreModel:
    """A loaded real-music genre model."""

    pipeline: object
    genres: tuple[str, ...]
    columns: tuple[str, ...]
    metrics: dict

    def predict(self, features: np.ndarray) -> pd.DataFrame:
        """Per window (rows of ``features``, columns :attr:`columns`): ``real_genre``, its
        probability ``real_genre_prob``, its ``catalog_genre`` ('' where none) and one
        ``p_<genre>`` column per genre."""
        features = np.asarray(features, dtype=float)
        if features.ndim != 2 or features.shape[1] != len(self.columns):
            raise EmbeddingError(f"The genre model reads {len(self.columns)} musicnn columns per window; got an "
                                 f"array of shape {features.shape}.")
        proba = self.pipeline.predict_proba(features) if len(features) else np.zeros((0, len(self.genres)))
        best = proba.argmax(axis=1) if len(features) else np.zeros(0, dtype=int)
        genre = [self.genres[i] for i in best]
        out = pd.DataFrame({"real_genre": genre, "real_genre_prob": proba.max(axis=1) if len(features) else [],
                            "catalog_genre": [TO_CATALOG.get(g, "") for g in genre]})
        for i, g in enumerate(self.genres):
            out[f"p_{g}"] = proba[:, i]
        return out


@lru_cache(maxsize=2)
def load_genre_model(folder: Path = GENRE_MODEL_DIR) -> GenreModel:
    """The bundle in ``folder``, loaded once per process (EmbeddingError with what to do when it
    is missing or damaged)."""
    import skops.io

    folder = Path(folder)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        pipeline = skops.io.loads((folder / "model.skops").read_bytes(), trusted=TRUSTED_TYPES)
    except FileNotFoundError:
        raise EmbeddingError(f"The real-music genre model is missing from {folder.name}: run "
                             f"bench/gtzan_embedding.py --save {folder} (it needs the gtzan-dev clips).") from None
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise EmbeddingError(f"The real-music genre model in {folder.name} cannot be read ({exc}).") from None
    if meta.get("embedding") != EMBED_MODEL or list(pipeline.classes_) != meta.get("genres"):
        raise EmbeddingError(f"The real-music genre model in {folder.name} does not match its description.")
    return GenreModel(pipeline=pipeline, genres=tuple(meta["genres"]), columns=tuple(meta["columns"]),
                      metrics=dict(meta.get("metrics", {})))
