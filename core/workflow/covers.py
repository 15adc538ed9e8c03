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

from dataclasses import dataclass

import numpy as np
import pretty_midi

from core.analysis.analyze import analyze
from core.audio.load import load_track, track_from_array
from core.covers.detect import DEFAULT_DETECTOR, CoverDetectionError, cover_features, rank_of, similarity
from core.describe.describe import describe
from core.describe.models import list_models
from core.embed.genre import TO_CATALOG
from core.embed.hear import real_music_windows
from core.errors import StudioError
from core.generate.synth import render_midi
from core.paths import ASSETS

EXAMPLES_DIR = ASSETS / "examples"


@dataclass(frozen=True)
class Candidate:
    """A song the original is ranked among: its name and audio (and content hash, to cache its features)."""

    name: str
    samples: np.ndarray
    sample_rate: int
    content_hash: str = ""


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
    return cover_features(c.samples, c.sample_rate, track_hash=c.content_hash or None, store=store)


def _rank(cover_track, original: Candidate, others: list[Candidate], *, store, method: str):
    """(rank, similarity to the original, the closest other song's name) or a note why not."""
    try:
        query = cover_features(cover_track.samples, cover_track.sample_rate, track_hash=cover_track.content_hash,
                               store=store)
        reference = _features(original, store)
    except CoverDetectionError as exc:
        return None, None, "", str(exc)
    feats, names = [], []
    for other in others:
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
    return rank, similarity(query, reference, method=method), nearest, ""


def _real_genre(cover_track, genre: str, *, store) -> tuple[float, str] | None:
    """Share of windows on ``genre`` and the majority catalog genre by the real-music model, or
    None when no GTZAN genre maps onto ``genre``."""
    if genre not in TO_CATALOG.values():
        return None
    analysis = analyze(cover_track, store=store)
    table = real_music_windows(cover_track, analysis, store=store)
    if "real_unknown" in table:
        table = table[~table["real_unknown"].astype(bool)] if (~table["real_unknown"].astype(bool)).any() else table
    catalog = table["catalog_genre"].replace("", "(no catalog genre)")
    return float((catalog == genre).mean()), str(catalog.mode().iloc[0])


def descriptor_genre(cover_track, genre: str, *, store) -> tuple[float, str]:
    """Share of windows on ``genre`` and the majority genre by the shipped descriptor model (learnt from renders)."""
    names = list_models()
    if not names:
        raise StudioError("No descriptor model is installed to judge the cover's genre (see README: train).")
    windows = describe(cover_track, model="mlp" if "mlp" in names else names[0], store=store,
                       remove_vocals="off").windows
    return float((windows["genre"] == genre).mean()), str(windows["genre"].mode().iloc[0])


def cover_score(cover, *, original: Candidate, others: list[Candidate], store=None,
                method: str = DEFAULT_DETECTOR) -> CoverScore:
    """How recognisable ``cover`` (a :class:`core.covers.cover.Cover`) is as ``original`` among
    ``others``, and how much of it the genre models hear as its target genre."""
    audio, sr = cover.render.audio, cover.render.sample_rate
    cover_track = track_from_array(audio, sr, name="cover")
    rank, sim, nearest, note = _rank(cover_track, original, others, store=store, method=method)
    genre = cover.recipe["genre"]
    real = _real_genre(cover_track, genre, store=store)
    if real is not None:
        share, majority, model = *real, "real-music genre model (GTZAN 10 genres)"
    else:
        share, majority = descriptor_genre(cover_track, genre, store=store)
        model = "descriptor model (learnt from renders)"
    return CoverScore(rank=rank, candidates=1 + len(others), similarity=sim, nearest_other=nearest, genre=genre,
                      genre_share=share, majority_genre=majority, genre_model=model, note=note)


def library_candidates(store, *, exclude: str, limit: int = 200) -> list[Candidate]:
    """The other songs a cover's original is ranked among: the store's tracks (not ``exclude``,
    the original) and the studio's shipped examples (assets/examples: one piece per genre)."""
    out = []
    for row in store.list_tracks()[:limit]:
        if row["content_hash"] == exclude:
            continue
        track = store.get_track(row["content_hash"])
        if track is not None:
            out.append(Candidate(track.name, track.samples, track.sample_rate, track.content_hash))
    for path in sorted(EXAMPLES_DIR.glob("*.ogg")):
        track = load_track(path.read_bytes(), name=path.stem)
        out.append(Candidate(path.stem, track.samples, track.sample_rate, track.content_hash))
    return out


def melody_audio(sheet, *, sample_rate: int = 22050, program: int = 11) -> np.ndarray:
    """The lead sheet's melody alone (on a vibraphone by default), mono, for the player."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=float(sheet.tempo_bpm or 120.0))
    inst = pretty_midi.Instrument(program=program, name="melody")
    inst.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start_s, n.end_s) for n in sheet.melody]
    pm.instruments.append(inst)
    audio = render_midi(pm, sr=sample_rate, tail_s=0.5)
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    return (mono / max(float(np.max(np.abs(mono))), 1e-9) * 0.7).astype(np.float32) if mono.size else mono
