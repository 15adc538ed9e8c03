"""Judging a cover the two ways the covers issue asks: is it still the same song (the cover
detector ranks the original among other songs) and is it the target genre (the genre models'
majority over the cover's windows).

``cover_score(cover, original=..., others=...)`` ranks the original among ``others`` by its
similarity to the cover (:func:`core.covers.detect.rank_of`, Qmax by default), and classifies
the cover's windows with the real-music genre model (GTZAN's 10 genres, mapped to the catalog
where a genre has a counterpart) and, for genres it cannot say (electronic, documentary), with
the studio's descriptor model that learnt from renders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.audio.load import load_track, track_from_array
from core.cachekey import file_fingerprint, fingerprint, stage_key
from core.covers.detect import (
    DEFAULT_DETECTOR,
    DETECT_VERSION,
    STORE_KIND,
    CoverDetectionError,
    CoverFeatures,
    cover_features,
    features_key,
    rank_of,
    similarity,
)
from core.describe.describe import describe
from core.describe.models import default_model_name, list_models
from core.embed.genre import GENRE_MODEL_DIR, TO_CATALOG
from core.embed.hear import heard_catalog_genres
from core.errors import StudioError
from core.generate.synth import render_midi
from core.paths import ASSETS

EXAMPLES_DIR = ASSETS / "examples"
GENRE_MODEL_FILES = tuple(GENRE_MODEL_DIR / f for f in ("model.skops", "meta.json", "novelty.npz"))


@dataclass(frozen=True)
class Candidate:
    """A song the original is ranked among: its name and audio, or a ``load()`` that decodes it
    only when its cover features are not stored yet (by ``content_hash``), so a large library is
    never held in memory at once."""

    name: str
    samples: np.ndarray | None
    sample_rate: int
    content_hash: str = ""
    load: Callable[[], tuple[np.ndarray, int]] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class CoverScore:
    """rank: 1 when the original is the song most like the cover (among ``candidates`` songs, the
    original included); genre_share: the share of the cover's windows on the target genre by
    ``genre_model``; majority_genre: the genre most of its windows get."""

    rank: int | None
    candidates: int
    similarity: float | None
    nearest_other: str
    genre: str
    genre_share: float
    majority_genre: str
    genre_model: str
    note: str = ""

    @property
    def recognised(self) -> bool:
        return self.rank == 1

    @property
    def in_genre(self) -> bool:
        return self.majority_genre == self.genre


def _features(c: Candidate, store):
    if store is not None and c.content_hash:
        stored = store.get_json(STORE_KIND, features_key(c.content_hash))
        if stored is not None:
            try:
                return CoverFeatures.from_dict(stored)
            except (KeyError, TypeError, ValueError):
                pass  # damaged: computed again below
    samples, sr = (c.samples, c.sample_rate) if c.load is None else c.load()
    return cover_features(samples, sr, track_hash=c.content_hash or None, store=store)


def _rank(cover_track, original: Candidate, others: list[Candidate], *, store, method: str, progress=None):
    """(rank, similarity to the original, the closest other song's name, songs compared, a note why not)."""
    report = progress or (lambda f, m: None)
    try:
        query = cover_features(cover_track.samples, cover_track.sample_rate, track_hash=cover_track.content_hash,
                               store=store)
        reference = _features(original, store)
    except CoverDetectionError as exc:
        return None, None, "", 0, str(exc)
    feats, names = [], []
    for i, other in enumerate(others):
        report(0.8 * i / max(len(others), 1), f"Listening to {other.name} ({i + 1} of {len(others)})")
        try:
            feats.append(_features(other, store))
            names.append(other.name)
        except CoverDetectionError:
            continue  # a song without a pulse cannot be compared: left out of the ranking
    rank = rank_of(query, reference, feats, method=method)
    nearest = ""
    if feats:
        from_others = [similarity(query, f, method=method) for f in feats]
        nearest = names[int(np.argmax(from_others))]
    return rank, similarity(query, reference, method=method), nearest, 1 + len(feats), ""


def _real_genre(cover_track, genre: str, *, store) -> tuple[float, str] | None:
    """Share of the known windows on ``genre`` and their majority catalog genre by the real-music
    model ("unknown" when it knows none), or None when no GTZAN genre maps onto ``genre``."""
    if genre not in TO_CATALOG.values():
        return None
    catalog = heard_catalog_genres(cover_track, store=store).replace("", "(no catalog genre)")
    if catalog.empty:
        return 0.0, "unknown"
    return float((catalog == genre).mean()), str(catalog.mode().iloc[0])


def descriptor_genre(cover_track, genre: str, *, store) -> tuple[float, str]:
    """Share of windows on ``genre`` and the majority genre by the shipped descriptor model (learnt from renders)."""
    names = list_models()
    if not names:
        raise StudioError("No descriptor model is installed to judge the cover's genre (see README: train).")
    windows = describe(cover_track, model=default_model_name(names), store=store,
                       remove_vocals="off").windows
    return float((windows["genre"] == genre).mean()), str(windows["genre"].mode().iloc[0])


def cover_score(cover, *, original: Candidate, others: list[Candidate], store=None,
                method: str = DEFAULT_DETECTOR, progress=None) -> CoverScore:
    """How recognisable ``cover`` (a :class:`core.covers.cover.Cover`) is as ``original`` among
    ``others``, and how much of it the genre models hear as its target genre."""
    audio, sr = cover.render.audio, cover.render.sample_rate
    cover_track = track_from_array(audio, sr, name="cover")
    report = progress or (lambda f, m: None)
    rank, sim, nearest, compared, note = _rank(cover_track, original, others, store=store, method=method,
                                               progress=progress)
    genre = cover.recipe["genre"]
    report(0.85, f"Listening for {genre}")
    real = _real_genre(cover_track, genre, store=store)
    if real is not None:
        share, majority, model = *real, "real-music genre model (GTZAN 10 genres)"
    else:
        share, majority = descriptor_genre(cover_track, genre, store=store)
        model = f"descriptor model ({default_model_name()})"
    report(1.0, "Judged")
    return CoverScore(rank=rank, candidates=compared, similarity=sim, nearest_other=nearest, genre=genre,
                      genre_share=share, majority_genre=majority, genre_model=model, note=note)


def _stored_loader(store, content_hash: str):
    def load():
        track = store.get_track(content_hash)
        if track is None:
            raise CoverDetectionError("This stored track can no longer be read.")
        return track.samples, track.sample_rate
    return load


def _example_loader(path):
    def load():
        track = load_track(path.read_bytes(), name=path.stem)
        return track.samples, track.sample_rate
    return load


def library_candidates(store, *, exclude: str) -> list[Candidate]:
    """The other songs a cover's original is ranked among: every track in the store (not
    ``exclude``, the original) and the studio's shipped examples (assets/examples: one piece per
    genre). Nothing is decoded here: each is read only if its cover features are not stored."""
    out = [Candidate(row["name"], None, 0, row["content_hash"], load=_stored_loader(store, row["content_hash"]))
           for row in store.list_tracks() if row["content_hash"] != exclude]
    for path in sorted(EXAMPLES_DIR.glob("*.ogg")):
        digest = "example-" + file_fingerprint(path)  # by content, re-read only when the file changes
        out.append(Candidate(path.stem, None, 0, digest, load=_example_loader(path)))
    return out


def candidates_key(original: Candidate, others: list[Candidate], *, method: str = DEFAULT_DETECTOR) -> str:
    """The key of a stored score: the original, every candidate, the detector and its version,
    and the genre models by content (a changed library or model is judged again)."""
    return stage_key("cover_score", DETECT_VERSION, method, original.content_hash,
                     sorted(c.content_hash for c in others), fingerprint(*GENRE_MODEL_FILES), list_models())


def melody_audio(sheet, *, sample_rate: int = 22050, program: int = 11) -> np.ndarray:
    """The lead sheet's melody alone (on a vibraphone by default), mono, for the player."""
    pm = sheet.to_midi()
    pm.instruments = [i for i in pm.instruments if i.name == "melody"]
    pm.instruments[0].program = program
    audio = render_midi(pm, sr=sample_rate, tail_s=0.5)
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    return (mono / max(float(np.max(np.abs(mono))), 1e-9) * 0.7).astype(np.float32) if mono.size else mono
