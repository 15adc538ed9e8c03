"""Every registered estimator side by side on the same split and the same features.

:func:`compare` trains each estimator of :data:`core.describe.models.ESTIMATORS` on one target
(``genre`` by default) and measures it on held-out windows: accuracy and macro F1
(``sklearn.metrics``), coverage error and label-ranking average precision (the NYU thesis's
ranking figures; with one true label per window, coverage 1 is perfect and the number of labels
the worst), per window and per track (a track's probabilities are the mean of its windows'),
train seconds, predict milliseconds per window and the fitted model's bundle size. The split is
never by window (neighbouring windows overlap by 80 %):

- ``split="render"``: one split of the render corpus with every render wholly on one side
  (:func:`core.describe.models.split_by_render`);
- ``split="group"``: grouped k-fold cross-validation (``StratifiedGroupKFold``) on the table's
  ``group`` column (the artist of a real recording), every window tested once.

:func:`real_table` turns a folder of labelled recordings (``labels.csv``: ``file``, ``genre`` or
``label``, optionally ``artist``) into such a table on the studio's one window grid, caching the
features of each file by its content; with ``musicnn=True`` it also hears each file with
musicnn (``core.embed``), so the comparison can run on ``feature_sets=("musicnn",)``, the
embedding real music is best described by. :meth:`Comparison.write` writes ``table.csv``,
``table.md``, ``confusion_<model>.csv`` (windows) and ``summary.json``.

``backend="dask"`` with a ``scheduler`` address trains the estimators as separate tasks on a
Dask cluster (joblib's dask backend, as the corpus does); the default runs them here, one after
another, with progress inside each.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.analysis.analyze import ANALYSIS_VERSION, window_feature_table
from core.audio.load import load_track
from core.cachekey import library_versions, stage_key
from core.describe.models import (
    DEFAULT_FEATURE_SETS,
    ESTIMATORS,
    MUSICNN_SET,
    estimator_bytes,
    fit_estimator,
    split_by_render,
)
from core.describe.transfer import set_columns, with_musicnn
from core.embed.hear import musicnn_versions
from core.errors import OptionError, StudioError, check_choice
from core.io import atomic_write
from core.paths import ASSETS

SPLITS = ("render", "group")
BACKENDS = ("local", "dask")
#: The columns of :attr:`Comparison.table`, in order (one row per estimator).
TABLE_COLUMNS = ("model", "window_accuracy", "window_macro_f1", "window_coverage", "window_lrap", "track_accuracy",
                 "track_vote_accuracy", "track_macro_f1", "track_coverage", "track_lrap", "train_s",
                 "predict_ms_per_window", "size_bytes")
COMPARE_VERSION = 2
#: The comparisons the studio ships (one folder each, as :meth:`Comparison.write` makes them),
#: shown on the Models page; ``README.md`` says which command made each.
SHIPPED_COMPARISONS = ASSETS / "comparisons"


class CompareError(StudioError):
    """A comparison cannot be run on the given table or folder."""


@dataclass
class Comparison:
    """The comparison's figures: one row per estimator, and each one's confusion matrices."""

    table: pd.DataFrame
    labels: list[str]
    confusion: dict[str, pd.DataFrame]  # model -> windows: rows true labels, columns predicted
    track_confusion: dict[str, pd.DataFrame]  # model -> tracks (mean probability)
    split: dict = field(default_factory=dict)

    def markdown(self) -> str:
        """The table as markdown (shares to 3 decimals, sizes in kB)."""
        shown = self.table.copy()
        shown["size_kb"] = (shown.pop("size_bytes") / 1000).round(1)
        head = "| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns) + "\n"
        rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
        return head + "\n".join(rows) + "\n"

    def write(self, folder: str | Path) -> Path:
        """``table.csv``, ``table.md``, ``confusion_<model>.csv``, ``confusion_<model>_tracks.csv``
        and ``summary.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "table.csv", self.table.to_csv(index=False, float_format="%.6g").encode())
        atomic_write(folder / "table.md", self.markdown().encode())
        for name, matrix in self.confusion.items():
            atomic_write(folder / f"confusion_{name}.csv", matrix.to_csv().encode())
            atomic_write(folder / f"confusion_{name}_tracks.csv", self.track_confusion[name].to_csv().encode())
        summary = {"labels": self.labels, "split": self.split, "models": self.table.to_dict(orient="records"),
                   "version": COMPARE_VERSION}
        atomic_write(folder / "summary.json", (json.dumps(summary, indent=1, default=_plain) + "\n").encode())
        return folder


def _read_matrix(path: Path) -> pd.DataFrame:
    matrix = pd.read_csv(path, index_col=0)
    if not all(pd.api.types.is_numeric_dtype(t) for t in matrix.dtypes):
        raise ValueError(f"{path.name} holds cells that are not counts")
    return matrix


def read_comparison(folder: str | Path) -> Comparison:
    """The comparison :meth:`Comparison.write` put in ``folder``, checked (a clear
    :class:`CompareError` when a file is missing or malformed)."""
    folder = Path(folder)
    try:
        summary = json.loads((folder / "summary.json").read_text())
        table = pd.read_csv(folder / "table.csv")
        if not isinstance(summary, dict) or not isinstance(summary.get("labels"), list) or \
                not isinstance(summary.get("split", {}), dict):
            raise ValueError("summary.json needs a list of labels and a split")
        missing = [c for c in TABLE_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"table.csv lacks the columns {', '.join(missing)}")
        confusion, tracks = {}, {}
        for name in table["model"].astype(str):
            for out, suffix in ((confusion, ""), (tracks, "_tracks")):
                path = folder / f"confusion_{name}{suffix}.csv"
                if path.is_file():
                    out[name] = _read_matrix(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # JSON, CSV and empty-file errors are ValueErrors
        raise CompareError(f"{folder.name} is not a readable comparison (summary.json, table.csv and the "
                           f"confusion CSVs python -m core compare writes): {exc}") from None
    return Comparison(table=table, labels=[str(v) for v in summary["labels"]], confusion=confusion,
                      track_confusion=tracks, split=dict(summary.get("split") or {}))


def comparison_folders(*, root: str | Path = SHIPPED_COMPARISONS) -> list[Path]:
    """The comparison folders under ``root`` (those holding a ``summary.json``), by name."""
    root = Path(root)
    return sorted(p.parent for p in root.glob("*/summary.json")) if root.is_dir() else []


def _cell(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _plain(v):
    return v.item() if hasattr(v, "item") else str(v)


def plan_folds(table: pd.DataFrame, y: np.ndarray, *, split: str, folds: int, test_size: float, seed: int) -> list:
    """(train rows, test rows) pairs: one render split (``test_size`` of each descriptor's
    renders held out), or ``folds`` grouped folds stratified by ``y``; no render (group) is ever
    on both sides."""
    if split == "render":
        return [split_by_render(table, test_size=test_size, seed=seed)]
    from sklearn.model_selection import StratifiedGroupKFold

    groups = table["group"].astype(str).to_numpy()
    if np.unique(groups).size < folds:
        raise CompareError(f"Grouped cross-validation in {folds} folds needs at least {folds} groups (artists); "
                           f"this table has {np.unique(groups).size}. Add recordings or use fewer folds.")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def _check_table(table: pd.DataFrame, *, target: str, split: str, track: str) -> None:
    check_choice(split, SPLITS, what="split")
    needed = [target, track] + (["render_id", "descriptor"] if split == "render" else ["group"])
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise CompareError(f"The windows lack the column(s) {', '.join(missing)} a '{split}' comparison needs.")
    if table[target].nunique() < 2:
        raise CompareError(f"Every window has the same {target}; a comparison needs at least two labels.")


def _proba(est, x: np.ndarray, labels: list[str]) -> np.ndarray:
    """Probabilities in ``labels`` order (0 for a label the fold's training lacked), rows summing to 1."""
    p = est.predict_proba(x)
    out = np.zeros((len(x), len(labels)))
    where = {lab: j for j, lab in enumerate(labels)}
    for k, c in enumerate(est.classes_):
        out[:, where[str(c)]] = p[:, k]
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)


def _ranking(truth: np.ndarray, proba: np.ndarray, prefix: str, n_labels: int) -> dict:
    from sklearn.metrics import accuracy_score, coverage_error, f1_score, label_ranking_average_precision_score

    onehot = np.eye(n_labels, dtype=int)[truth]
    guess = proba.argmax(axis=1)
    return {f"{prefix}_accuracy": float(accuracy_score(truth, guess)),
            f"{prefix}_macro_f1": float(f1_score(truth, guess, labels=np.arange(n_labels), average="macro",
                                                 zero_division=0)),
            f"{prefix}_coverage": float(coverage_error(onehot, proba)),
            f"{prefix}_lrap": float(label_ranking_average_precision_score(onehot, proba))}


def scores(truth: np.ndarray, proba: np.ndarray, tracks: np.ndarray, labels: list[str]) -> dict:
    """Window and track figures of out-of-sample probabilities (``truth`` as label indices).

    A track's label is the argmax of its windows' mean probability (``track_accuracy``) or the
    most frequent window label (``track_vote_accuracy``, ties to the first label)."""
    n = len(labels)
    frame = pd.DataFrame(proba, columns=range(n)).assign(track=tracks, truth=truth, vote=proba.argmax(axis=1))
    per_track = frame.groupby("track", sort=True)
    mean = per_track[list(range(n))].mean().to_numpy()
    track_truth = per_track["truth"].first().to_numpy()
    votes = per_track["vote"].agg(lambda s: int(np.bincount(s, minlength=n).argmax())).to_numpy()
    out = {**_ranking(truth, proba, "window", n), **_ranking(track_truth, mean, "track", n)}
    out["track_vote_accuracy"] = float(np.mean(votes == track_truth))
    return out


def _confusion(truth: np.ndarray, guess: np.ndarray, labels: list[str]) -> pd.DataFrame:
    from sklearn.metrics import confusion_matrix

    m = confusion_matrix(truth, guess, labels=np.arange(len(labels)))
    return pd.DataFrame(m, index=pd.Index(labels, name="true"), columns=labels)


def confusion_table(truth: np.ndarray, proba: np.ndarray, tracks: np.ndarray,
                    labels: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Confusion matrices per window (argmax) and per track (argmax of the mean probability)."""
    mean = pd.DataFrame(proba).groupby(tracks).mean()
    first = pd.Series(truth).groupby(tracks).first().loc[mean.index]
    return (_confusion(truth, proba.argmax(axis=1), labels),
            _confusion(first.to_numpy(), mean.to_numpy().argmax(axis=1), labels))


def _one_model(kind: str, x: np.ndarray, y: np.ndarray, folds: list, labels: list[str], *, seed: int,
               progress) -> tuple[np.ndarray, dict]:
    """Out-of-fold probabilities of estimator ``kind`` (NaN rows never tested) and its costs."""
    proba = np.full((len(y), len(labels)), np.nan)
    train_s = predict_s = 0.0
    est = None
    for i, (train_idx, test_idx) in enumerate(folds):
        progress(i / len(folds), f"{kind}: fold {i + 1} of {len(folds)}")
        t0 = time.perf_counter()
        est = fit_estimator(kind, x[train_idx], y[train_idx], seed=seed)
        t1 = time.perf_counter()
        proba[test_idx] = _proba(est, x[test_idx], labels)
        train_s += t1 - t0
        predict_s += time.perf_counter() - t1
    tested = sum(len(t) for _, t in folds)
    return proba, {"train_s": train_s / len(folds), "predict_ms_per_window": 1000 * predict_s / max(tested, 1),
                   "size_bytes": estimator_bytes(est)}


def _quiet(fraction: float, message: str = "") -> None:
    """No progress from inside a Dask task (a plain function: it travels to the workers by name)."""


def connect(scheduler: str | None):
    """A ``distributed.Client`` of the Dask scheduler at ``scheduler`` (``tcp://HOST:8786``), or a
    :class:`CompareError` that says it could not be reached."""
    from distributed import Client

    if not scheduler:
        raise OptionError("The dask backend needs the scheduler's address (--scheduler tcp://HOST:8786).")
    try:
        return Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise CompareError(f"The Dask scheduler at {scheduler} could not be reached ({exc}). Start it with "
                           "`dask scheduler` and workers that can import this project, or drop --backend dask.") from None


def _run_estimators(kinds: list[str], x, y, plan, labels, *, seed: int, backend: str, scheduler, report) -> list:
    """``_one_model`` of every estimator: here one after another, or as tasks on a Dask cluster."""
    if backend == "local":
        return [_one_model(kind, x, y, plan, labels, seed=seed, progress=lambda f, m, i=i: report((i + f) / len(kinds), m))
                for i, kind in enumerate(kinds)]
    from distributed import Client
    from joblib import Parallel, delayed, parallel_config

    client = scheduler if isinstance(scheduler, Client) else connect(scheduler)
    try:
        with parallel_config(backend="dask", wait_for_workers_timeout=60):
            runner = Parallel(n_jobs=-1, return_as="generator")
            out = []
            for i, result in enumerate(runner(delayed(_one_model)(kind, x, y, plan, labels, seed=seed,
                                                                  progress=_quiet) for kind in kinds)):
                out.append(result)
                report((i + 1) / len(kinds), f"{kinds[i]} done")
            return out
    except TimeoutError:
        raise CompareError("No Dask worker joined the scheduler within a minute: start workers (`dask worker "
                           "ADDRESS`) that can import this project.") from None
    finally:
        if not isinstance(scheduler, Client):
            client.close()


def compare(table: pd.DataFrame, *, estimators=None, target: str = "genre", split: str = "render", folds: int = 5,
            test_size: float = 0.3, seed: int = 0, feature_sets: tuple[str, ...] = DEFAULT_FEATURE_SETS,
            backend: str = "local", scheduler=None, progress=None) -> Comparison:
    """Train and measure every estimator in ``estimators`` (default: all registered) on the same
    split of ``table`` (windows with feature columns, ``target`` and a track column: ``render_id``
    for ``split="render"``, ``track`` for ``split="group"``, whose groups are the ``group`` column).

    ``train_s`` is the mean over folds; ``size_bytes`` that of the last fold's model.
    ``backend="dask"`` trains each estimator as a task on the cluster at ``scheduler`` (an
    address or a ``distributed.Client``); the figures are the same as here.
    """
    kinds = list(estimators or ESTIMATORS)
    for kind in kinds:
        check_choice(kind, ESTIMATORS, what="estimator")
    check_choice(backend, BACKENDS, what="backend")
    if split == "group" and not 2 <= folds <= 20:
        raise OptionError(f"folds must be 2-20 (got {folds}).")
    track = "render_id" if split == "render" else "track"
    _check_table(table, target=target, split=split, track=track)
    report = progress or (lambda f, m="": None)
    table = table[~table.get("silent", pd.Series(False, index=table.index)).astype(bool)].reset_index(drop=True)
    cols = set_columns(tuple(feature_sets))
    missing = [c for c in cols if c not in table.columns]
    if missing:
        hint = ("they were not heard with musicnn: give --real with --features musicnn (a render corpus holds "
                "the Amper-study sets only)" if MUSICNN_SET in feature_sets else "rebuild the corpus")
        raise CompareError(f"The windows lack {len(missing)} feature columns (e.g. {missing[0]}): {hint}.")
    x = np.nan_to_num(table[cols].to_numpy(dtype=float), nan=0.0)
    labels = sorted(table[target].astype(str).unique())
    y = table[target].astype(str).to_numpy()
    truth = np.searchsorted(labels, y)
    plan = plan_folds(table, y, split=split, folds=folds, test_size=test_size, seed=seed)
    tested = np.concatenate([t for _, t in plan])
    results = _run_estimators(kinds, x, y, plan, labels, seed=seed, backend=backend, scheduler=scheduler,
                              report=report)
    rows, confusion, track_confusion = [], {}, {}
    tracks = table[track].astype(str).to_numpy()[tested]
    for kind, (proba, costs) in zip(kinds, results):
        p, t = proba[tested], truth[tested]
        rows.append({"model": kind, **scores(t, p, tracks, labels), **costs})
        confusion[kind], track_confusion[kind] = confusion_table(t, p, tracks, labels)
    report(1.0, "Done")
    info = {"kind": split, "folds": len(plan), "target": target, "feature_sets": list(feature_sets),
            "columns": len(cols), "windows": int(len(table)), "tracks": int(table[track].nunique()),
            "tested_windows": int(tested.size), "seed": seed, "backend": backend}
    return Comparison(table=pd.DataFrame(rows, columns=list(TABLE_COLUMNS)), labels=labels, confusion=confusion,
                      track_confusion=track_confusion, split=info)


# ------------------------------------------------------------------------ real recordings
def read_labels(folder: str | Path) -> pd.DataFrame:
    """``folder/labels.csv`` with ``file`` and a label (``genre`` or ``label``; kept as
    ``genre``), ``artist`` as the group (the file itself where it is missing)."""
    path = Path(folder) / "labels.csv"
    if not path.is_file():
        raise CompareError(f"No labels.csv in {folder}: give a folder with labels.csv (columns file and genre or "
                           "label, optionally artist) beside its recordings.")
    labels = pd.read_csv(path)
    target = "genre" if "genre" in labels.columns else "label"
    if "file" not in labels.columns or target not in labels.columns:
        raise CompareError(f"{path} needs the columns file and genre (or label).")
    labels = labels.rename(columns={target: "genre"}).dropna(subset=["file", "genre"])
    artist = labels["artist"] if "artist" in labels.columns else pd.Series(np.nan, index=labels.index)
    return labels.assign(group=artist.fillna(labels["file"]).astype(str))


def _clip_features(path: Path, cache_dir: Path | None, *, musicnn: bool) -> pd.DataFrame:
    """The per-window features of one file (and its musicnn columns), cached under
    ``cache_dir`` by its content."""
    data = path.read_bytes()
    heard = musicnn_versions() if musicnn else None
    key = stage_key("compare-features", COMPARE_VERSION, hashlib.sha256(data).hexdigest(), ANALYSIS_VERSION,
                    library_versions("librosa", "numpy"), heard)
    cached = cache_dir / f"{key}.parquet" if cache_dir else None
    if cached is not None and cached.is_file():
        return pd.read_parquet(cached)
    track = load_track(data, name=path.stem)
    table = window_feature_table(track)
    if musicnn:
        table = with_musicnn(table, track)
    if cached is not None:
        atomic_write(cached, table.to_parquet(index=False))
    return table


def real_table(folder: str | Path, *, labels: pd.DataFrame | None = None, cache_dir: str | Path | None = None,
               musicnn: bool = False, progress=None) -> pd.DataFrame:
    """Windows of the labelled recordings in ``folder`` (``labels`` defaults to
    :func:`read_labels`), with ``genre``, ``group`` and ``track`` (the file) columns, and the
    musicnn columns too with ``musicnn=True`` (about 3 s per minute of audio on 2 cores)."""
    folder = Path(folder)
    labels = read_labels(folder) if labels is None else labels
    if labels.empty:
        raise CompareError(f"{folder} lists no labelled recordings.")
    report = progress or (lambda f, m="": None)
    cache = Path(cache_dir) if cache_dir else None
    parts = []
    for i, row in enumerate(labels.itertuples(index=False)):
        report(i / len(labels), f"Features of {row.file}")
        path = folder / str(row.file)
        if not path.is_file():
            raise CompareError(f"{path} is listed in labels.csv but is not there.")
        parts.append(_clip_features(path, cache, musicnn=musicnn).assign(genre=row.genre, group=row.group,
                                                                         track=str(row.file)))
    report(1.0, "Features done")
    return pd.concat(parts, ignore_index=True)
