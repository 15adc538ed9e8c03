"""Taste profiles (the Leiden paper): what a library of tracks leans towards, and cover targets.

Every track of a library (:mod:`core.workflow.taste_library`: files, folders, zips, stored
tracks) is heard twice on the ONE window grid:

- by the **real-music genre model** (:mod:`core.embed.genre`, GTZAN's 10 genres, trained on real
  recordings): the MSD_musicnn tags and embedding of every window
  (:func:`core.embed.musicnn.window_table`), classified per window. The track's ``genre`` is the
  majority of its windows' most likely genres (ties to the higher mean probability) over its
  sounding windows the model knows; when the model flags most windows as unlike anything it
  learnt (a ``real_unknown`` column, where the model has one) the track is ``unknown``.
  ``genre_prob`` is that genre's mean probability over those windows (for ``unknown``: the
  share of unknown windows); ``catalog_genre`` is its catalog genre (:data:`TO_CATALOG`, or the
  label itself where a model's label is a catalog genre; '' where none);
- by the **descriptor model** (:func:`core.describe.describe.describe`, the shipped ``mlp`` by
  default, vocals kept in by default for speed): ``descriptor`` is its most frequent window
  descriptor, as ``python -m core analyze --model`` reports it.

**Cover targets.** Each track's windows give a mean probability per genre; mapped onto the
catalog (summing the genres of one catalog genre) they say how near the track sounds to each
catalog genre, ``c_t``. The library's *taste* is the mean of those over its tracks, ``T``: the
catalog genres weighted by how much of the library's listening lies near them (not only by the
winning genre of each track, so a library of rock tracks with a pop side gives pop weight). A
track's cover target is the catalog genre with the highest ``(T + c_t) / 2`` other than its own
catalog genre: near the library's taste and near the track itself, so the cover stays
plausible for both. The library's cover targets are the catalog genres by ``T``, leaving out
the genre most of its tracks already are. Catalog genres with no counterpart in the genre
model's labels (``documentary``, ``electronic`` for GTZAN's 10) get no weight and are never
suggested.

Per track everything is cached in the store by content (:func:`track_key`: the track, the
grid, the embedding and its weights, the genre model's files and the complete description
key), and the window features under their own key (a new genre model does not hear the track
again): a second run over the same library reads one small JSON per track.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core.analysis.analyze import AnalysisOptions
from core.audio.load import content_hash, load_track
from core.cachekey import fingerprint, stage_key
from core.describe.describe import describe, description_key
from core.describe.models import DEFAULT_MODEL_NAME, DescriptorModel, load_model
from core.embed.genre import EMBED_MODEL, GENRE_MODEL_DIR, TO_CATALOG, GenreModel, load_genre_model
from core.embed.hear import heard_windows
from core.embed.musicnn import tag_names
from core.embed.weights import EMBED_VERSION, weights_fingerprint
from core.errors import AudioError, StudioError
from core.generate.catalog import load_catalog
from core.progress import scaled
from core.store.db import max_duration_s
from core.store.store import Store
from core.workflow.taste_library import Library, LibraryItem, Skipped

LOG = logging.getLogger(__name__)
#: Bump when a stored row or the profile changes.
TASTE_VERSION = 1
FORMAT = "music-studio taste profile"
ROW_KIND = "taste"
#: A track shorter than one musicnn patch (3 s) is too short to profile.
MIN_TRACK_S = 3.0
UNKNOWN = "unknown"
TOP_DESCRIPTORS = 5
#: Worker processes start only for this many tracks to hear or more (each worker takes several
#: seconds to load torch and the models; fewer tracks are heard sooner in this process).
PARALLEL_MIN_TRACKS = 8
TOP_TARGETS = 3
#: tracks.csv columns, in order (the issue's five first).
COLUMNS = ("file", "genre", "genre_prob", "catalog_genre", "descriptor", "cover_target", "duration_s", "tempo_bpm",
           "key", "n_windows", "unknown_share", "content_hash", "error")


class TasteError(StudioError):
    """A library that cannot be profiled (nothing in it could be read); ``skipped`` says why for
    each file."""

    def __init__(self, message: str, *, skipped=()):
        super().__init__(message)
        self.skipped = tuple(skipped)


@dataclass(frozen=True, kw_only=True)
class TasteOptions:
    """How a library is heard: the descriptor ``model`` (a name), the real-music genre model's
    bundle folder, the vocal mode of the descriptor model and the analysis options (the grid)."""

    model: str = DEFAULT_MODEL_NAME
    genre_model_dir: Path = GENRE_MODEL_DIR
    remove_vocals: str = "off"
    analysis: AnalysisOptions = field(default_factory=AnalysisOptions)


@dataclass(frozen=True)
class TasteModels:
    """The two models of a profile, loaded once (:func:`load_taste_models`)."""

    options: TasteOptions
    descriptor: DescriptorModel
    genre: GenreModel
    genre_fingerprint: str


def load_taste_models(options: TasteOptions | None = None, *, descriptor: DescriptorModel | None = None) -> TasteModels:
    """Both models of ``options`` (``descriptor``: an already loaded descriptor model to use instead)."""
    opts = options or TasteOptions()
    folder = Path(opts.genre_model_dir)
    return TasteModels(options=opts, descriptor=descriptor or load_model(opts.model), genre=load_genre_model(folder),
                       genre_fingerprint=fingerprint(folder / "model.skops", folder / "meta.json"))


@dataclass(frozen=True)
class TrackTaste:
    """One profiled track: what both models hear (see the module docstring), its mean genre
    probabilities (``genre_probs``, label -> 0..1) and its mean musicnn embedding (200 values)."""

    file: str
    content_hash: str
    genre: str
    genre_prob: float
    catalog_genre: str
    descriptor: str
    duration_s: float
    tempo_bpm: float | None
    key: str
    n_windows: int
    unknown_share: float
    genre_probs: dict = field(repr=False)
    embedding: tuple = field(repr=False)

    def to_json(self) -> dict:
        doc = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "file"}
        return dict(doc, embedding=list(self.embedding))

    @classmethod
    def from_json(cls, doc: dict, *, file: str) -> TrackTaste:
        return cls(file=file, **dict(doc, embedding=tuple(doc["embedding"])))


# ------------------------------------------------------------------ one track
def _grid_parts(options: AnalysisOptions) -> tuple[float, float]:
    return float(options.grid.window_s), float(options.grid.hop_s)


def windows_key(track_hash: str, options: AnalysisOptions) -> str:
    """The store key of a track's musicnn window features (the track, the grid, the embedding)."""
    return stage_key("taste-windows", f"{TASTE_VERSION}.{EMBED_VERSION}", track_hash, *_grid_parts(options),
                     weights_fingerprint(EMBED_MODEL))


def track_key(track_hash: str, models: TasteModels) -> str:
    """The store key of a profiled track: its windows' key, the genre model's files and the
    complete description key (descriptor model, analysis options, vocal mode, versions)."""
    opts = models.options
    described = description_key(track_hash, options=opts.analysis, model=models.descriptor,
                                remove_vocals=opts.remove_vocals)
    return stage_key("taste-track", TASTE_VERSION, windows_key(track_hash, opts.analysis), models.genre_fingerprint,
                     described)


@dataclass(frozen=True)
class TrackGenre:
    """A track's genre by its windows' majority (see the module docstring)."""

    genre: str
    prob: float
    unknown_share: float
    probs: dict


def track_genre(table: pd.DataFrame, genres, *, sounding: np.ndarray | None = None) -> TrackGenre:
    """The majority genre of a genre model's window ``table`` (``p_<genre>`` columns and, where
    the model has one, ``real_unknown``) over its ``sounding`` windows (all by default)."""
    proba = np.stack([table[f"p_{g}"].to_numpy(dtype=float) for g in genres], axis=1)
    keep = np.ones(len(table), bool) if sounding is None or not np.any(sounding) else np.asarray(sounding, bool)
    unknown = table["real_unknown"].to_numpy(dtype=bool) if "real_unknown" in table else np.zeros(len(table), bool)
    unknown_share = float(unknown[keep].mean()) if keep.any() else 0.0
    known = keep & ~unknown
    rows = proba[known] if known.any() else proba[keep]
    mean = rows.mean(axis=0) if len(rows) else np.zeros(len(genres))
    probs = {g: round(float(p), 6) for g, p in zip(genres, mean)}
    if unknown_share > 0.5 or not len(rows):
        return TrackGenre(UNKNOWN, round(unknown_share, 6), round(unknown_share, 6), probs)
    votes = np.bincount(rows.argmax(axis=1), minlength=len(genres)) + 0.5 * mean  # mean < 1: it only breaks ties
    best = int(np.argmax(votes))
    return TrackGenre(str(genres[best]), round(float(mean[best]), 6), round(unknown_share, 6), probs)


def catalog_genres() -> tuple[str, ...]:
    """The catalog's genres, in its order."""
    return tuple(load_catalog().tree())


def to_catalog(label: str) -> str:
    """A genre model's label as a catalog genre (:data:`TO_CATALOG`, or the label itself when it
    is a catalog genre; '' where none)."""
    return TO_CATALOG.get(label) or (label if label in catalog_genres() else "")


def _check_usable(track) -> None:
    if track.is_silent:
        raise AudioError("it is silent: there is nothing to hear.")
    if track.duration_s < MIN_TRACK_S:
        raise AudioError(f"it lasts {track.duration_s:.1f} s; a track needs at least {MIN_TRACK_S:.0f} s to be "
                         "profiled.")


def taste_of_track(track, *, models: TasteModels, store=None, progress=None, file: str | None = None) -> TrackTaste:
    """Hear one decoded track with both models (stored under :func:`track_key` with a store)."""
    _check_usable(track)
    key = track_key(track.content_hash, models)
    found = store.get_json(ROW_KIND, key) if store is not None else None
    if found is not None:
        return TrackTaste.from_json(found, file=file or track.name)
    opts = models.options
    described = describe(track, model=models.descriptor, options=opts.analysis, remove_vocals=opts.remove_vocals,
                         store=store, progress=scaled(progress, 0.0, 0.45))
    analysis = described.analysis
    if progress:
        progress(0.5, "Listening with musicnn")
    features = heard_windows(track, analysis.windows["start_s"].to_numpy(), analysis.windows["end_s"].to_numpy(),
                             store=store)
    heard = track_genre(models.genre.predict(features), models.genre.genres,
                        sounding=~analysis.windows["silent"].to_numpy(dtype=bool))
    tempo = float(analysis.tempo_bpm)
    taste = TrackTaste(
        file=file or track.name, content_hash=track.content_hash, genre=heard.genre, genre_prob=heard.prob,
        catalog_genre=to_catalog(heard.genre), descriptor=described.fallback_descriptor,
        duration_s=round(float(track.duration_s), 3), tempo_bpm=round(tempo, 2) if np.isfinite(tempo) else None,
        key=analysis.key or "", n_windows=int(len(analysis.windows)), unknown_share=heard.unknown_share,
        genre_probs=heard.probs, embedding=tuple(round(float(v), 6) for v in features[:, len(tag_names(EMBED_MODEL)):]
                                                 .mean(axis=0)))
    if store is not None:
        store.put_json(ROW_KIND, key, taste.to_json())
    if progress:
        progress(1.0, "Done")
    return taste


def _decoded(item: LibraryItem, data: bytes | None, *, store):
    if data is None:
        track = store.get_track(item.content_hash, name=item.stem) if store is not None else None
        if track is None:
            raise AudioError("this track's audio is no longer in the store; upload it again.")
        return track
    if store is not None:
        return store.add_track(data, name=item.stem, suffix=item.suffix)
    return load_track(data, name=item.stem, max_duration_s=max_duration_s())


def taste_of_item(item: LibraryItem, *, models: TasteModels, store=None, progress=None) -> TrackTaste:
    """One library item: its stored row when its content was profiled with these models (no
    decoding), else the track decoded (kept in the store) and heard (:func:`taste_of_track`).
    An item that cannot be used raises an AudioError (a StudioError) saying why; with a store,
    that reason is kept under the content's key too, so the next run does not decode it again."""
    found, data = _stored_row(item, models=models, store=store)
    if isinstance(found, Skipped):
        raise AudioError(found.reason)
    if found is not None:
        return found
    try:
        track = _decoded(item, data, store=store)
        return taste_of_track(track, models=models, store=store, progress=progress, file=item.name)
    except AudioError as exc:
        if store is not None:
            digest = item.content_hash if data is None else content_hash(data)
            store.put_json(ROW_KIND, track_key(digest, models), {"skipped": str(exc)})
        raise


# ------------------------------------------------------------------ the library
def taste_weights(tracks) -> dict[str, float]:
    """The library's taste ``T``: per catalog genre, the mean over tracks of the track's mean
    window probabilities mapped onto the catalog (see the module docstring)."""
    weights = dict.fromkeys(catalog_genres(), 0.0)
    for t in tracks:
        for label, p in t.genre_probs.items():
            if to_catalog(label):
                weights[to_catalog(label)] += float(p) / len(tracks)
    return {g: round(w, 6) for g, w in weights.items()}


def track_catalog_affinity(track: TrackTaste) -> dict[str, float]:
    """``c_t``: the track's mean window probabilities summed per catalog genre."""
    out = dict.fromkeys(catalog_genres(), 0.0)
    for label, p in track.genre_probs.items():
        if to_catalog(label):
            out[to_catalog(label)] += float(p)
    return out


def cover_target(track: TrackTaste, weights: dict[str, float]) -> str:
    """The catalog genre with the highest ``(T + c_t) / 2`` other than the track's own ('' when
    none has any weight); ties go to the catalog's order."""
    near = track_catalog_affinity(track)
    scores = {g: (weights[g] + near[g]) / 2 for g in weights if g != track.catalog_genre}
    best = max(scores, key=lambda g: (scores[g], -list(weights).index(g)), default="")
    return best if best and scores[best] > 0 else ""


@dataclass(frozen=True)
class TasteProfile:
    """A profiled library: its tracks (input order) with their cover targets, the files that
    were skipped (could not be used) and ignored (not audio), and the library's taste."""

    tracks: tuple[TrackTaste, ...]
    cover_targets: tuple[str, ...]
    weights: dict
    skipped: tuple[Skipped, ...] = ()
    ignored: tuple[Skipped, ...] = ()
    descriptor_model: str = ""
    genre_model: str = ""

    def table(self) -> pd.DataFrame:
        """tracks.csv: one row per profiled track (:data:`COLUMNS`), then one per skipped file
        with its ``error`` (its other cells empty: None, so numeric columns stay numeric)."""
        rows = [dict({c: getattr(t, c, "") for c in COLUMNS}, cover_target=target, error="")
                for t, target in zip(self.tracks, self.cover_targets)]
        rows += [dict(dict.fromkeys(COLUMNS, None), file=s.file, error=s.reason) for s in self.skipped]
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def genre_shares(self) -> list[dict]:
        """The genre model's labels (and ``unknown``) by the share of tracks, most first."""
        return _shares([t.genre for t in self.tracks], key="genre")

    def summary(self) -> dict:
        """profile.json (see the README, Taste profiles)."""
        counts = pd.Series([t.catalog_genre for t in self.tracks], dtype=object).value_counts()
        n = len(self.tracks)
        own = next((row["genre"] for row in _shares([t.catalog_genre for t in self.tracks], key="genre")
                    if row["genre"]), "")
        catalog = [{"genre": g, "tracks": int(counts.get(g, 0)), "share": round(int(counts.get(g, 0)) / n, 4),
                    "taste_weight": self.weights[g]} for g in self.weights]
        targets = [g for g in sorted(self.weights, key=lambda g: -self.weights[g]) if g != own and self.weights[g] > 0]
        return {
            "format": FORMAT, "version": TASTE_VERSION, "tracks": n, "descriptor_model": self.descriptor_model,
            "genre_model": self.genre_model, "genres": self.genre_shares(), "catalog_genres": catalog,
            "unmapped_tracks": int(counts.get("", 0)),
            "descriptors": _shares([t.descriptor for t in self.tracks if t.descriptor], key="descriptor",
                                   total=n)[:TOP_DESCRIPTORS],
            "cover_targets": [{"genre": g, "taste_weight": self.weights[g],
                               "tracks": sum(1 for c in self.cover_targets if c == g)} for g in targets[:TOP_TARGETS]],
            "cover_target_rule": COVER_RULE, "library_genre": own,
            "skipped": [{"file": s.file, "error": s.reason} for s in self.skipped],
            "ignored": [{"file": s.file, "reason": s.reason} for s in self.ignored],
        }

    def tracks_csv(self) -> bytes:
        return self.table().to_csv(index=False, float_format="%.4g").encode()

    def profile_json(self) -> bytes:
        return (json.dumps(self.summary(), indent=2) + "\n").encode()

    def map_points(self) -> pd.DataFrame:
        """The library in embedding space: the first two principal components of the tracks'
        mean musicnn embeddings (``pc1``, ``pc2``; zeros where there are too few tracks), with
        file, genre, descriptor and cover target per point; ``attrs["explained"]`` holds the
        share of variance of each component."""
        xy, explained = principal_components(np.array([t.embedding for t in self.tracks], dtype=float))
        out = pd.DataFrame({"file": [t.file for t in self.tracks], "genre": [t.genre for t in self.tracks],
                            "descriptor": [t.descriptor for t in self.tracks], "cover_target": list(self.cover_targets),
                            "pc1": xy[:, 0], "pc2": xy[:, 1]})
        out.attrs["explained"] = explained
        return out


COVER_RULE = ("taste weight of a catalog genre = mean over the tracks of their mean window probabilities mapped onto "
              "the catalog; a track's cover target = the catalog genre with the highest (taste weight + the track's "
              "own mapped probability) / 2, other than the track's own catalog genre; the library's = the catalog "
              "genres by taste weight, other than the genre most of its tracks already are")


def _shares(values, *, key: str, total: int | None = None) -> list[dict]:
    counts = pd.Series(list(values), dtype=object).value_counts()
    n = total if total is not None else max(int(counts.sum()), 1)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [{key: str(v), "tracks": int(c), "share": round(int(c) / max(n, 1), 4)} for v, c in ranked]


def principal_components(x: np.ndarray, *, k: int = 2) -> tuple[np.ndarray, list[float]]:
    """(n, k) coordinates of the rows of ``x`` on their first ``k`` principal components (SVD of
    the centred rows; each component's sign makes its largest loading positive, so the map is
    the same on every run) and the share of variance of each; zeros past the rank."""
    n = len(x)
    out = np.zeros((n, k))
    if n < 2:
        return out, [0.0] * k
    centred = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    m = min(k, int((s > 1e-9 * max(float(s[0]), 1e-300)).sum()))  # the rank: no component of rounding noise
    signs = np.sign(vt[np.arange(m), np.abs(vt[:m]).argmax(axis=1)])
    signs[signs == 0] = 1.0
    out[:, :m] = u[:, :m] * s[:m] * signs
    total = float((s ** 2).sum())
    explained = [round(float(s[i] ** 2 / total), 4) if total > 0 and i < m else 0.0 for i in range(k)]
    return out, explained


def build_profile(tracks, *, skipped=(), ignored=(), models: TasteModels | None = None) -> TasteProfile:
    """The profile of already heard ``tracks`` (at least one; a TasteError otherwise)."""
    tracks = tuple(tracks)
    if not tracks:
        first = f" (the first: {skipped[0].file}: {skipped[0].reason})" if skipped else ""
        raise TasteError(f"None of the {len(skipped)} files could be profiled{first}." if skipped else
                         "There is nothing to profile: give audio files (WAV, FLAC, OGG, MP3, AIFF), folders of "
                         "them or a zip.", skipped=skipped)
    weights = taste_weights(tracks)
    genre_model = Path(models.options.genre_model_dir).name if models else ""
    return TasteProfile(tracks=tracks, cover_targets=tuple(cover_target(t, weights) for t in tracks),
                        weights=weights, skipped=tuple(skipped), ignored=tuple(ignored),
                        descriptor_model=models.descriptor.name if models else "", genre_model=genre_model)


def _stored_row(item: LibraryItem, *, models: TasteModels, store) -> tuple[TrackTaste | Skipped | None, bytes | None]:
    """What the store holds for ``item``'s content with these models (a row, the reason it could
    not be used, or None), without decoding; and the bytes read to find it out (None for a
    stored track)."""
    data = item.read() if item.content_hash is None else None
    digest = item.content_hash if data is None else content_hash(data)
    found = store.get_json(ROW_KIND, track_key(digest, models)) if store is not None else None
    if found is None:
        return None, data
    if "skipped" in found:
        return Skipped(item.name, str(found["skipped"])), data
    return TrackTaste.from_json(found, file=item.name), data


def taste_or_skip(item: LibraryItem, *, models: TasteModels, store=None, progress=None) -> TrackTaste | Skipped:
    """:func:`taste_of_item`, or the reason the item was skipped (a page's loop over a library)."""
    return _safely(item.name, lambda: taste_of_item(item, models=models, store=store, progress=progress))


def _safely(name: str, work) -> TrackTaste | Skipped:
    """``work()``, or the reason it failed as a :class:`Skipped` (a bug is logged, and said)."""
    try:
        return work()
    except StudioError as exc:
        return Skipped(name, str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug in one track: its row says so, the others go on
        LOG.exception("Profiling %s failed", name)
        return Skipped(name, f"unexpected failure ({type(exc).__name__}: {exc})")


@lru_cache(maxsize=2)
def _process_models(options: TasteOptions) -> TasteModels:
    return load_taste_models(options)


def _hear_in_worker(index: int, item: LibraryItem, options: TasteOptions, store_root: str | None):
    """One track in a worker process (torch on one thread: two workers share two cores)."""
    torch.set_num_threads(1)
    store = Store(store_root) if store_root is not None else None
    return index, taste_or_skip(item, models=_process_models(options), store=store)


def _hear_parallel(items, misses, results: list, *, models: TasteModels, store, jobs: int, report) -> None:
    """The ``misses`` (indices of ``items``) heard on ``jobs`` worker processes, into ``results``."""
    from joblib import Parallel, delayed

    def calls():
        for i in misses:
            item = items[i]
            try:  # the bytes travel to the worker (a zip entry's reader does not)
                sent = item if item.content_hash is not None else LibraryItem(name=item.name, read=lambda d=item.read(): d)
            except StudioError as exc:
                results[i] = Skipped(item.name, str(exc))
                continue
            yield delayed(_hear_in_worker)(i, sent, models.options, None if store is None else str(store.root))

    for index, result in Parallel(n_jobs=jobs, return_as="generator_unordered")(calls()):
        results[index] = result
        done = sum(r is not None for r in results)
        report(done / len(items), f"{done}/{len(items)} {items[index].name}")


def profile_library(library: Library, *, models: TasteModels | None = None, options: TasteOptions | None = None,
                    store=None, progress=None, jobs: int = 1) -> TasteProfile:
    """Hear every item of ``library`` (:func:`taste_of_item`; one that cannot be used is
    skipped with its reason) and build the profile. ``progress(fraction, message)`` names the
    track being heard. Rows already stored are read first; with ``jobs`` > 1 and at least
    :data:`PARALLEL_MIN_TRACKS` others, those are heard on ``jobs`` worker processes (the
    descriptor model then loads by its name, ``options.model``)."""
    models = models or load_taste_models(options)
    items, report = library.items, progress or (lambda f, m="": None)
    n = max(len(items), 1)
    results: list = [_safely(item.name, lambda: _stored_row(item, models=models, store=store)[0]) for item in items]
    misses = [i for i, r in enumerate(results) if r is None]
    report(1 - len(misses) / n, f"{n - len(misses)} of {len(items)} tracks found in the store")
    if jobs > 1 and len(misses) >= PARALLEL_MIN_TRACKS:
        _hear_parallel(items, misses, results, models=models, store=store, jobs=jobs, report=report)
    for k, i in enumerate(m for m in misses if results[m] is None):
        part = scaled(report, (n - len(misses) + k) / n, (n - len(misses) + k + 1) / n)
        part(0.0, f"{i + 1}/{len(items)} {items[i].name}")
        results[i] = taste_or_skip(items[i], models=models, store=store, progress=part)
    tracks = [r for r in results if isinstance(r, TrackTaste)]
    skipped = [r for r in results if isinstance(r, Skipped)]
    report(1.0, f"{len(tracks)} of {len(items)} tracks profiled")
    return build_profile(tracks, skipped=skipped, ignored=library.ignored, models=models)
