"""Train a real-music model on your own labelled folder: ``DIR/<label>/*.wav|mp3|flac|ogg|aiff``.

One level of folders is one label (files deeper inside a label's folder count for that label);
the same recording (by content) in two label folders has both labels: its windows count for
each, and the figures add the multi-label ranking ones beside accuracy (LRAP and coverage error,
``sklearn.metrics``). Every track is heard by musicnn on the ONE window grid
(:func:`core.embed.musicnn.window_table`, as the Analyze page's real-music lane hears an upload),
its windows' features kept in the store under the track's content hash, so retraining is a
lookup. The estimator is the real-music genre model's (:func:`core.embed.genre.fit_genre_model`:
the musicnn embedding and a standardised linear model). Cross-validated figures are grouped by
track (a track's windows never sit on both sides of a fold). The bundle has the genre model's
format, is written to a temporary folder and renamed into place, and is listed at once by
:func:`list_real_models` (the Analyze page's "Real-music model" picker).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from core.audio.grid import WindowGrid
from core.audio.load import AUDIO_TYPES, content_hash, load_track, max_file_bytes, read_audio_file, safe_track_name
from core.cachekey import stage_key
from core.embed.genre import EMBED_MODEL, GENRE_MODEL_DIR, fit_genre_model, load_genre_model, save_genre_model
from core.embed.musicnn import column_names, window_table
from core.embed.weights import EMBED_VERSION, weights_fingerprint
from core.errors import AudioError, StudioError
from core.progress import scaled
from core.store.db import default_data_dir, max_duration_s

LOG = logging.getLogger(__name__)

#: Fewest different tracks a label needs (cross-validation holds one out per fold).
MIN_TRACKS = 3
MAX_FOLDS = 5
#: Shortest example heard (musicnn listens in 3 s patches; a shorter clip is padded with silence).
MIN_DURATION_S = 1.0
#: The store kind of a track's window features, and their version.
STORE_KIND = "realmusic_windows"
WINDOWS_VERSION = 1
#: User bundles live in ``<data dir>/real_models/<name>``.
USER_MODELS = "real_models"
SHIPPED_NAME = "gtzan10"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SKIP_PARTS = ("__MACOSX",)


class FolderError(StudioError):
    """A folder of examples (or a model name) the training cannot use, said in the musician's words."""


@dataclass(frozen=True)
class Example:
    """One recording of the folder: its content, where it lies (relative paths) and its labels."""

    content_hash: str
    name: str
    files: tuple[str, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class FolderScan:
    """What a folder holds: labels (sorted), one :class:`Example` per distinct recording, the
    files that could not be read (``"path: why"``) and the audio files outside any label folder."""

    folder: Path
    labels: tuple[str, ...]
    examples: tuple[Example, ...]
    unreadable: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()


def _is_audio(name: str) -> bool:
    return not name.startswith(".") and name.rsplit(".", 1)[-1].lower() in AUDIO_TYPES and "." in name


def _label_files(label_dir: Path) -> list[Path]:
    """The audio files under one label's folder (sub-folders too, symlinked folders not followed)."""
    found = []
    for here, dirs, files in os.walk(label_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_PARTS)
        found += [Path(here) / f for f in sorted(files) if _is_audio(f)]
    return found


def scan_folder(folder: str | os.PathLike) -> FolderScan:
    """Every audio file of ``folder``'s label folders, read once and grouped by content."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FolderError(f"'{folder}' is not a folder: give a folder with one sub-folder per label "
                          "(e.g. examples/rock/*.wav, examples/jazz/*.mp3).")
    by_hash: dict[str, dict] = {}
    unreadable, ignored = [], [p.name for p in sorted(folder.iterdir()) if p.is_file() and _is_audio(p.name)]
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in _label_files(label_dir):
            rel = str(path.relative_to(folder))
            try:
                digest = content_hash(read_audio_file(path))
            except AudioError as exc:
                unreadable.append(f"{rel}: {exc}")
                continue
            entry = by_hash.setdefault(digest, {"files": [], "labels": []})
            entry["files"].append(rel)
            if label_dir.name not in entry["labels"]:
                entry["labels"].append(label_dir.name)
    examples = tuple(Example(content_hash=h, name=Path(e["files"][0]).stem, files=tuple(e["files"]),
                             labels=tuple(sorted(e["labels"]))) for h, e in by_hash.items())
    examples = tuple(sorted(examples, key=lambda e: (e.labels, e.files)))
    labels = tuple(sorted({lab for e in examples for lab in e.labels}))
    return FolderScan(folder=folder, labels=labels, examples=examples, unreadable=tuple(unreadable),
                      ignored=tuple(ignored))


def check_examples(examples, *, folder: Path, unreadable=()) -> tuple[str, ...]:
    """The labels of ``examples`` when they can train a model (two labels or more, each with
    :data:`MIN_TRACKS` different tracks); a :class:`FolderError` saying what is missing otherwise."""
    if not examples:
        if unreadable:
            raise FolderError(f"None of the audio files in '{folder}' could be read ({len(unreadable)} tried; "
                              f"the first: {unreadable[0]}).")
        raise FolderError(f"No audio files in '{folder}': put your examples in one folder per label, e.g. "
                          f"{folder}/rock/*.wav and {folder}/jazz/*.mp3 (WAV, FLAC, OGG, MP3, AIFF).")
    counts = pd.Series([lab for e in examples for lab in e.labels]).value_counts().sort_index()
    if len(counts) < 2:
        raise FolderError(f"'{folder}' has one label only ({counts.index[0]}): a model tells labels apart, so it "
                          "needs at least two folders of examples.")
    few = counts[counts < MIN_TRACKS]
    if len(few):
        said = ", ".join(f"{lab} has {n}" for lab, n in few.items())
        skipped = f" {len(unreadable)} file(s) could not be used (the first: {unreadable[0]})." if unreadable else ""
        raise FolderError(f"Every label needs at least {MIN_TRACKS} different tracks ({said}). Add examples to "
                          f"those folders or take them out.{skipped}")
    return tuple(counts.index)


# ------------------------------------------------------------------------------- the windows
def windows_key(track_hash: str, *, grid: WindowGrid) -> str:
    """The store key of a track's window features: the track, the grid, the embedding and its weights."""
    return stage_key("folder-windows", f"{WINDOWS_VERSION}.{EMBED_VERSION}", track_hash, grid.window_s, grid.hop_s,
                     weights_fingerprint(EMBED_MODEL))


def track_windows(path: Path, *, track_hash: str, store=None, grid: WindowGrid | None = None) -> np.ndarray:
    """(n_windows, 250) musicnn tags and embedding of the audio file at ``path`` on the window
    grid, from the store when it was heard before (an AudioError when it cannot be used)."""
    grid = grid or WindowGrid()
    key = windows_key(track_hash, grid=grid)
    found = store.get_json(STORE_KIND, key) if store is not None else None
    if found is not None:
        return np.asarray(found["features"], dtype=float)
    track = load_track(read_audio_file(path), name=path.stem, max_duration_s=max_duration_s())
    if track.is_silent or track.duration_s < MIN_DURATION_S:
        raise AudioError(f"it is silent or shorter than {MIN_DURATION_S:g} s: there is nothing to learn from.")
    starts, ends, _ = grid.windows(track.duration_s)
    table = window_table(track.samples.mean(axis=1), track.sample_rate, starts_s=starts, ends_s=ends,
                         model=EMBED_MODEL, prefix="")
    features = np.stack([table[c] for c in column_names(EMBED_MODEL, prefix="")], axis=1)
    if store is not None:
        store.put_json(STORE_KIND, key, {"start_s": starts.tolist(), "features": features.tolist()})
    return features


@dataclass(frozen=True)
class FolderWindows:
    """The usable examples of a scan, each with its window features (in the same order)."""

    labels: tuple[str, ...]
    examples: tuple[Example, ...]
    features: tuple[np.ndarray, ...] = field(repr=False)
    unreadable: tuple[str, ...] = ()


def folder_windows(scan: FolderScan, *, store=None, grid: WindowGrid | None = None, progress=None) -> FolderWindows:
    """Hear every example of ``scan`` (a file that cannot be decoded joins ``unreadable``)."""
    report = progress or (lambda f, m="": None)
    kept, features, unreadable = [], [], list(scan.unreadable)
    for i, ex in enumerate(scan.examples):
        report(i / max(len(scan.examples), 1), f"Listening to {ex.name} ({i + 1} of {len(scan.examples)})")
        try:
            features.append(track_windows(scan.folder / ex.files[0], track_hash=ex.content_hash, store=store,
                                          grid=grid))
        except AudioError as exc:
            unreadable += [f"{f}: {exc}" for f in ex.files]
            continue
        kept.append(ex)
    labels = check_examples(kept, folder=scan.folder, unreadable=unreadable)
    report(1.0, "Every track heard")
    return FolderWindows(labels=labels, examples=tuple(kept), features=tuple(features), unreadable=tuple(unreadable))


def training_rows(windows: FolderWindows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows ``x``, labels ``y`` and the example index ``groups``: a window of a track with two
    labels stands once for each."""
    x, y, groups = [], [], []
    for i, (ex, feats) in enumerate(zip(windows.examples, windows.features)):
        for lab in ex.labels:
            x.append(feats)
            y += [lab] * len(feats)
            groups += [i] * len(feats)
    return np.concatenate(x), np.asarray(y), np.asarray(groups)


# ------------------------------------------------------------------------------- the figures
@dataclass(frozen=True)
class FolderMetrics:
    """Cross-validated figures grouped by track (every track tested by a model that never heard it).

    Per window: each window on its own (right when its top label is one of the track's). Per
    track: the majority of its windows (ties to the higher mean probability); LRAP and coverage
    error rank the mean probabilities (best coverage: ``best_coverage``, the mean number of true
    labels). ``chance_accuracy`` is the share of the most common label's tracks.
    """

    labels: tuple[str, ...]
    folds: int
    tracks: int
    windows: int
    multi_label_tracks: int
    tracks_per_label: dict
    window_accuracy: float
    window_macro_f1: float
    window_lrap: float
    window_coverage: float
    track_accuracy: float
    track_macro_f1: float
    track_lrap: float
    track_coverage: float
    best_coverage: float
    chance_accuracy: float
    window_confusion: tuple = field(repr=False)
    track_confusion: tuple = field(repr=False)

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def table(self) -> pd.DataFrame:
        """Two rows (per window, per track): accuracy, macro F1, LRAP, coverage error."""
        rows = {level: {"accuracy": getattr(self, f"{level}_accuracy"), "macro F1": getattr(self, f"{level}_macro_f1"),
                        "LRAP": getattr(self, f"{level}_lrap"), "coverage error": getattr(self, f"{level}_coverage")}
                for level in ("window", "track")}
        return pd.DataFrame(rows).T.rename(index={"window": "per window", "track": "per track"})


def _level(truth: np.ndarray, proba: np.ndarray, guess: np.ndarray) -> dict:
    """accuracy, macro_f1, lrap, coverage and confusion of one level (rows: windows or tracks)."""
    from sklearn.metrics import confusion_matrix, coverage_error, f1_score, label_ranking_average_precision_score

    n = truth.shape[1]
    right = truth[np.arange(len(guess)), guess] == 1
    single = np.where(right, guess, truth.argmax(axis=1))  # the true label nearest the guess
    return {"accuracy": float(right.mean()),
            "macro_f1": float(f1_score(single, guess, labels=np.arange(n), average="macro", zero_division=0)),
            "lrap": float(label_ranking_average_precision_score(truth, proba)),
            "coverage": float(coverage_error(truth, proba)),
            "confusion": tuple(tuple(int(v) for v in row) for row in confusion_matrix(single, guess,
                                                                                        labels=np.arange(n)))}


def folder_metrics(window_proba: list[np.ndarray], example_labels, labels) -> FolderMetrics:
    """The figures of out-of-fold window probabilities (one array per example, columns ``labels``)."""
    index = {lab: j for j, lab in enumerate(labels)}
    truth = np.zeros((len(window_proba), len(labels)), dtype=int)
    for i, labs in enumerate(example_labels):
        truth[i, [index[lab] for lab in labs]] = 1
    mean = np.stack([p.mean(axis=0) for p in window_proba])
    votes = np.stack([np.bincount(p.argmax(axis=1), minlength=len(labels)) for p in window_proba])
    per_window = np.concatenate(window_proba)
    w = _level(np.repeat(truth, [len(p) for p in window_proba], axis=0), per_window, per_window.argmax(axis=1))
    t = _level(truth, mean, (votes + 0.5 * mean).argmax(axis=1))
    per_label = {lab: int(truth[:, j].sum()) for j, lab in enumerate(labels)}
    return FolderMetrics(
        labels=tuple(labels), folds=0, tracks=len(truth), windows=int(len(per_window)),
        multi_label_tracks=int((truth.sum(axis=1) > 1).sum()), tracks_per_label=per_label,
        **{f"{level}_{k}": v for level, d in (("window", w), ("track", t)) for k, v in d.items() if k != "confusion"},
        best_coverage=float(truth.sum(axis=1).mean()), chance_accuracy=max(per_label.values()) / len(truth),
        window_confusion=w["confusion"], track_confusion=t["confusion"])


def _ordered_proba(model, x: np.ndarray, labels) -> np.ndarray:
    """``model``'s probabilities in ``labels`` order (0 for a label its training lacked)."""
    p = model.predict_proba(x)
    out = np.zeros((len(x), len(labels)))
    where = {lab: j for j, lab in enumerate(labels)}
    for k, c in enumerate(model.classes_):
        out[:, where[str(c)]] = p[:, k]
    return out


def cross_validate(windows: FolderWindows, *, seed: int = 0, groups=None, progress=None) -> FolderMetrics:
    """Grouped by track (scikit-learn's StratifiedGroupKFold, shuffled by ``seed``): up to
    :data:`MAX_FOLDS` folds, never more than the fewest tracks a label has. ``groups`` (one key per
    example, e.g. the artist) keeps the examples of a group on one side of every fold too."""
    from sklearn.model_selection import StratifiedGroupKFold

    report = progress or (lambda f, m="": None)
    x, y, example = training_rows(windows)
    keys = np.unique(np.asarray(groups if groups is not None else np.arange(len(windows.examples))),
                     return_inverse=True)[1]
    fewest = min(len({keys[i] for i, e in enumerate(windows.examples) if lab in e.labels}) for lab in windows.labels)
    folds = max(2, min(MAX_FOLDS, fewest))
    proba: list[np.ndarray | None] = [None] * len(windows.examples)
    splits = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y, keys[example])
    for k, (train_rows, test_rows) in enumerate(splits):
        report(k / folds, f"Cross-validation: fold {k + 1} of {folds}")
        model = fit_genre_model(x[train_rows], y[train_rows], seed=seed, calibrate=False)  # scored by accuracy only
        for i in np.unique(example[test_rows]):
            proba[i] = _ordered_proba(model, windows.features[i], windows.labels)
    report(1.0, "Cross-validation done")
    metrics = folder_metrics(proba, [e.labels for e in windows.examples], windows.labels)
    return replace(metrics, folds=folds)


# ------------------------------------------------------------------------------- the bundle
def user_models_dir(*, data_dir: str | os.PathLike | None = None) -> Path:
    """Where your trained real-music models live: ``<data dir>/real_models``."""
    return (Path(data_dir).expanduser() if data_dir else default_data_dir()) / USER_MODELS


def model_folder(out: str | os.PathLike, *, data_dir: str | os.PathLike | None = None) -> Path:
    """``out`` as a bundle folder: a name (letters, digits, ``_ . -``) goes into
    :func:`user_models_dir`; anything with a ``/`` (or starting with ``.`` or ``~``) is a path."""
    text = str(out).strip()
    if "/" in text or os.sep in text or text.startswith((".", "~")):
        return Path(text).expanduser()
    if not _NAME.fullmatch(text):
        raise FolderError(f"'{text}' cannot name a model: use up to 64 letters, digits, '_', '.' or '-' "
                          "(starting with a letter or digit), or give a folder path.")
    return user_models_dir(data_dir=data_dir) / text


def _is_bundle(folder: Path) -> bool:
    return (folder / "meta.json").is_file() and (folder / "model.skops").is_file()


def check_target(target: Path, *, force: bool) -> None:
    """Refuse to overwrite an existing bundle (unless ``force``) or any folder that is not one."""
    if not target.exists():
        return
    if not _is_bundle(target):
        raise FolderError(f"'{target}' already exists and is not a model: choose another name or folder.")
    if not force:
        raise FolderError(f"A model named '{target.name}' already exists ({target}): choose another name, or "
                          "replace it (--force on the command line, 'Replace' on the Models page).")


def save_bundle(model, target: Path, *, metrics: dict, force: bool = False) -> None:
    """Write the bundle to a temporary folder beside ``target``, check it loads, then rename it
    into place (an old bundle of that name is replaced only with ``force``, and only once the new
    one is whole)."""
    check_target(target, force=force)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; a model folder is an ordinary one
    except OSError as exc:
        raise FolderError(f"Cannot write the model to {target}: {exc.strerror or exc}.") from None
    old = tmp.with_name(tmp.name[:-4] + ".old")
    try:
        save_genre_model(model, tmp, metrics=metrics)
        load_genre_model(tmp)  # a bundle that cannot be read back never replaces anything
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    except OSError as exc:
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise FolderError(f"Cannot write the model to {target}: {exc.strerror or exc}.") from None
    finally:  # load_genre_model is keyed by the bundle's content: a replaced bundle is read again
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class FolderModel:
    """A trained and saved model: its name and folder, the cross-validated figures, the files
    that were skipped (``unreadable``: not usable; ``ignored``: outside any label folder)."""

    name: str
    folder: Path
    metrics: FolderMetrics
    unreadable: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    train_s: float = 0.0

    def confusion_view(self) -> ConfusionView:
        """What :func:`core.plots.confusion_figure` draws (target ``"label"``): the held-out windows."""
        rows = [list(r) + [0] for r in self.metrics.window_confusion]  # the model never says "unknown" here
        return ConfusionView(name=self.name, metrics={"label": {"labels": list(self.metrics.labels),
                                                                "confusion": rows}})


@dataclass(frozen=True)
class ConfusionView:
    """A model's name and its confusion matrix, in the shape the Models page's figure reads."""

    name: str
    metrics: dict


def train_folder(folder: str | os.PathLike, *, out: str | os.PathLike, store=None, seed: int = 0,
                 force: bool = False, data_dir: str | os.PathLike | None = None, grid: WindowGrid | None = None,
                 progress=None) -> FolderModel:
    """Hear every example of ``folder`` (one sub-folder per label), cross-validate grouped by
    track, fit on all of it and save the bundle as ``out`` (a name in :func:`user_models_dir` or
    a path). Deterministic for a ``seed``; an existing bundle is replaced only with ``force``."""
    report = progress or (lambda f, m="": None)
    start = time.perf_counter()
    target = model_folder(out, data_dir=data_dir)
    check_target(target, force=force)  # before any work
    report(0.0, "Reading the folder")
    scan = scan_folder(folder)
    check_examples(scan.examples, folder=scan.folder, unreadable=scan.unreadable)
    windows = folder_windows(scan, store=store, grid=grid, progress=scaled(report, 0.02, 0.85))
    metrics = cross_validate(windows, seed=seed, progress=scaled(report, 0.85, 0.95))
    report(0.95, "Training on every track")
    x, y, tracks = training_rows(windows)
    grid = grid or WindowGrid()
    summary = {"source": "your folder", "track_accuracy": round(metrics.track_accuracy, 3),
               "window_accuracy": round(metrics.window_accuracy, 3), "tracks": metrics.tracks,
               "windows": int(len(x)), "seed": int(seed), "grid": {"window_s": grid.window_s, "hop_s": grid.hop_s},
               "cv": metrics.as_dict()}
    save_bundle(fit_genre_model(x, y, seed=seed, groups=tracks), target, metrics=summary, force=force)
    report(1.0, "Saved")
    return FolderModel(name=target.name, folder=target, metrics=metrics, unreadable=windows.unreadable,
                       ignored=scan.ignored, train_s=time.perf_counter() - start)


# ------------------------------------------------------------------------ the Analyze picker
@dataclass(frozen=True)
class RealModelChoice:
    """A real-music model the Analyze page can use: the shipped GTZAN-10 one or one of yours."""

    name: str
    folder: Path
    shipped: bool
    labels: tuple[str, ...]
    track_accuracy: float | None = None

    def title(self) -> str:
        if self.shipped:
            return "GTZAN 10 genres (shipped)"
        return f"{self.name} (yours: {', '.join(self.labels[:4])}{' ...' if len(self.labels) > 4 else ''})"


def _choice(folder: Path, *, shipped: bool) -> RealModelChoice | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        metrics = meta.get("metrics", {})
        accuracy = metrics.get("artist_grouped_cv_accuracy" if shipped else "track_accuracy")
        return RealModelChoice(name=SHIPPED_NAME if shipped else folder.name, folder=folder, shipped=shipped,
                               labels=tuple(str(g) for g in meta["genres"]),
                               track_accuracy=None if accuracy is None else float(accuracy))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        LOG.warning("The real-music model in %s cannot be listed (%s).", folder, exc)
        return None


def list_real_models(*, data_dir: str | os.PathLike | None = None) -> list[RealModelChoice]:
    """The shipped GTZAN-10 model first, then your bundles in :func:`user_models_dir` by name."""
    found = [_choice(GENRE_MODEL_DIR, shipped=True)]
    mine = user_models_dir(data_dir=data_dir)
    if mine.is_dir():
        found += [_choice(p, shipped=False) for p in sorted(mine.iterdir())
                  if p.is_dir() and not p.name.startswith(".") and _is_bundle(p)]
    return [c for c in found if c is not None]


# ------------------------------------------------------------------- uploads (the Models page)
def _write_example(root: Path, label: str, name: str, data: bytes) -> None:
    folder = root / safe_track_name(label)
    stem, suffix = safe_track_name(PurePosixPath(name).stem), PurePosixPath(name).suffix.lower()
    path, n = folder / f"{stem}{suffix}", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}{suffix}"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def folder_from_uploads(groups: dict, root: str | os.PathLike) -> Path:
    """Write ``{label: [(file name, bytes), ...]}`` as ``root/<label>/<file>`` (names made safe);
    files that are not audio by their name are left out."""
    root = Path(root)
    for label, files in groups.items():
        if files and not str(label).strip():
            raise FolderError("Give every label that has examples a name.")
        for name, data in files:
            if _is_audio(PurePosixPath(name).name):
                _write_example(root, str(label).strip(), name, data)
    return root


def folder_from_zip(data: bytes, root: str | os.PathLike) -> Path:
    """Unpack a zip with one folder per label (an outer folder around them is fine) into ``root``;
    only audio files are written, under safe names (nothing lands outside ``root``)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise FolderError("The upload is not a zip file: zip one folder per label (rock/..., jazz/...).") from None
    members = [(PurePosixPath(i.filename).parts, i) for i in archive.infolist()
               if not i.is_dir() and not PurePosixPath(i.filename).is_absolute()]
    members = [(p, i) for p, i in members if _is_audio(p[-1]) and not any(s.startswith(".") or s in _SKIP_PARTS
                                                                          for s in p)]
    while members and all(len(p) >= 3 for p, _ in members) and len({p[0] for p, _ in members}) == 1:
        members = [(p[1:], i) for p, i in members]  # one outer folder around the label folders
    limit = max_file_bytes()
    if sum(i.file_size for _, i in members) > 4 * limit or any(i.file_size > limit for _, i in members):
        raise FolderError(f"The zip unpacks to more than the studio reads ({limit >> 20} MB a file, "
                          f"{4 * limit >> 20} MB in all): split it or compress the audio.")
    root = Path(root)
    for parts, info in members:
        if len(parts) >= 2:
            with archive.open(info) as fh:
                _write_example(root, parts[0], parts[-1], fh.read(limit + 1))
    return root
