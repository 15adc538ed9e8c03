"""Descriptor classifiers: the hierarchy of the Amper study, trained on the render corpus.

Targets and their hierarchy: genre and sentiment are predicted first (one-vs-rest binary
classifiers); subgenre is predicted given the genre, mood given the subgenre, valence and
momentum given the sentiment (one classifier per parent value). Estimators: ``knn``,
``mlp`` (max_iter 800, as the study needed), ``hgb`` (histogram gradient boosting, the
stronger one), ``svm`` (RBF kernel, Platt-calibrated probabilities), ``rf`` (random forest; with the SVM the
UT deck's shallow learners) and ``logreg`` (a linear baseline); features are scaled inside each pipeline. They sit in a registry,
:data:`ESTIMATORS` (name -> :class:`Estimator`): a new kind of classifier is one function that
builds its unfitted scikit-learn pipeline and one line in the registry.

Evaluation splits by render, never by window: no window of a test render is seen in
training (a window split leaks: neighbouring windows overlap by 80 %).

A model is a directory: ``model.skops`` (the fitted estimators), ``meta.json`` (label sets,
the feature columns it expects, training configuration, metrics, library versions) and
``extras.npz`` (plain arrays). ``model.skops`` is read with ``skops.io.load`` and an explicit
list of trusted types (:data:`TRUSTED_TYPES` and :data:`TRUSTED_FOREST_SVM_TYPES`, never
``trusted=True``): loading it builds only scikit-learn, numpy and scipy objects, it cannot run
code; gradient-boosting and random-forest trees (types skops does not trust by default) are
checked node by node before use. Models are only
loaded from the project's own model directories (assets/models and the store's models folder).

Bundles saved before this format hold ``model.joblib`` (a pickle: loading one runs code). A
joblib bundle in the store's models folder is converted once, on its first load
(:func:`migrate_legacy_bundle`; ``model.joblib`` is replaced by ``model.skops``): that folder is
the user's own (``python -m core train`` writes there) and the studio unpickled it on every
load before; after the conversion it is never unpickled again. A joblib bundle anywhere else
(assets/models ships skops bundles) is refused.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from core.analysis.features import feature_columns
from core.embed.genre import EMBED_MODEL
from core.embed.weights import weights_present
from core.errors import OptionError, StudioError, check_choice
from core.generate.catalog import load_catalog
from core.io import atomic_write
from core.paths import ASSETS
from core.store.db import default_data_dir

log = logging.getLogger(__name__)

TARGETS = ("genre", "subgenre", "mood", "sentiment", "valence", "momentum")
PARENT = {"genre": None, "sentiment": None, "subgenre": "genre", "mood": "subgenre", "valence": "sentiment",
          "momentum": "sentiment"}
DEFAULT_FEATURE_SETS = ("amper21", "gtzan", "tonal")
ASSET_MODELS = ASSETS / "models"
UNKNOWN = "unknown"
MODEL_VERSION = 1
MODEL_FILE = "model.skops"
LEGACY_MODEL_FILE = "model.joblib"  # pickles of older bundles, converted by migrate_legacy_bundle
#: Types a bundle may hold beyond those skops trusts by default (scikit-learn estimators, numpy,
#: scipy): gradient-boosting trees, whose node indices _check_trees verifies before any use.
TRUSTED_TYPES = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)
#: And those of the random forest and the SVM: forest trees (``Tree``, checked node by node the
#: same way) and the SVM's probability calibration (``_CalibratedClassifier`` holding
#: ``_SigmoidCalibration``: two numbers per label; neither runs code when loaded).
TRUSTED_FOREST_SVM_TYPES = ("sklearn.tree._tree.Tree", "sklearn.calibration._CalibratedClassifier",
                            "sklearn.calibration._SigmoidCalibration")
META_KEYS = ("name", "kind", "columns", "feature_sets", "labels", "descriptors", "threshold", "metrics", "config",
             "versions")


class ModelError(StudioError):
    """A model cannot be trained, found, loaded or applied."""


def model_dirs() -> list[Path]:
    """Where models may be loaded from: the shipped ones, then the store's."""
    return [ASSET_MODELS, default_data_dir() / "models"]


def knn_pipeline(*, seed: int, n_rows: int, min_class_rows: int = 1):
    """k-NN on scaled features; PCA and brute force keep the stored neighbours small enough to ship."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), PCA(n_components=max(1, min(12, n_rows - 1)), random_state=seed),
                         KNeighborsClassifier(n_neighbors=min(15, n_rows), weights="distance", algorithm="brute"))


def mlp_pipeline(*, seed: int, n_rows: int, min_class_rows: int = 1):
    """One hidden layer of 256 units on scaled features.

    256 hidden units with stronger L2 (alpha 1e-2) beat 64 / 1e-3 and 128 on held-out renders
    (README "Measured"); early stopping needs a validation split worth the name (500 rows).
    """
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(256,), max_iter=800, alpha=1e-2,
                                                         early_stopping=n_rows >= 500, random_state=seed))


def hgb_pipeline(*, seed: int, n_rows: int, min_class_rows: int = 1):
    """Histogram gradient boosting (150 iterations) on scaled features."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1,
                                                                          random_state=seed))


def svm_pipeline(*, seed: int, n_rows: int, min_class_rows: int = 3):
    """An RBF support-vector machine on scaled features with calibrated probabilities: Platt
    (sigmoid) scaling fitted on out-of-fold decision values (``CalibratedClassifierCV``,
    ``ensemble=False``: one SVM on every row; ``SVC(probability=True)`` is deprecated)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if min_class_rows < 2:
        raise ModelError("The SVM calibrates its probabilities on held-out windows, so every label needs at least "
                         "2 windows; one has only 1. Add examples of it or choose another estimator.")
    svm = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=10.0, gamma="scale", random_state=seed))
    return CalibratedClassifierCV(svm, method="sigmoid", cv=min(3, min_class_rows), ensemble=False)


def rf_pipeline(*, seed: int, n_rows: int, min_class_rows: int = 1):
    """A random forest of 100 trees; leaves of at least ``max(2, n_rows // 2000)`` windows keep a
    bundle of the full corpus small."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RandomForestClassifier(
        n_estimators=100, min_samples_leaf=max(2, n_rows // 2000), max_features="sqrt", n_jobs=1, random_state=seed))


def logreg_pipeline(*, seed: int, n_rows: int, min_class_rows: int = 1):
    """Multinomial logistic regression on scaled features, strongly regularised (C 0.1): the
    fast linear baseline (on gtzan-dev's artist-disjoint folds it matched the MLP, README)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=seed))


@dataclass(frozen=True)
class Estimator:
    """A kind of classifier the hierarchy can be trained with.

    build : ``build(*, seed, n_rows, min_class_rows)`` -> an unfitted scikit-learn classifier
        (with ``predict_proba``), ``n_rows`` being the number of training windows and
        ``min_class_rows`` those of the rarest label.
    one_vs_rest : wrap it in ``OneVsRestClassifier`` for the top-level targets (genre, sentiment).
    """

    build: Callable[..., object]
    one_vs_rest: bool = True


#: Estimators by name (``train(kind=...)``, ``python -m core train --estimator``).
ESTIMATORS: dict[str, Estimator] = {
    "knn": Estimator(knn_pipeline, one_vs_rest=False),  # k-NN votes are the same either way
    "mlp": Estimator(mlp_pipeline),
    "hgb": Estimator(hgb_pipeline),
    "svm": Estimator(svm_pipeline, one_vs_rest=False),  # libsvm's pairwise coupling gives the probabilities
    "rf": Estimator(rf_pipeline, one_vs_rest=False),  # forests are multi-class by nature
    "logreg": Estimator(logreg_pipeline, one_vs_rest=False),  # softmax over the labels
}


def _estimator(kind: str) -> Estimator:
    check_choice(kind, ESTIMATORS, what="estimator")
    return ESTIMATORS[kind]


class _Constant:
    """Unpickles the single-class classifier of models saved before ``DummyClassifier`` took
    its place (their pickles name this class; new bundles never contain it, nor do the shipped
    ones). ``classes_`` comes from the pickle."""

    def predict_proba(self, x):
        return np.ones((len(x), 1))


#: Below this many rows a classifier is fitted on one OpenMP thread (see ``_fit``).
SMALL_FIT_ROWS = 20_000


def _fit(kind: str, x: np.ndarray, y: np.ndarray, seed: int, *, one_vs_rest: bool):
    """One fitted classifier of ``y`` from ``x``: a constant one when ``y`` has a single class
    (the classifier of a parent value with one child), else the estimator ``kind``."""
    from sklearn.dummy import DummyClassifier
    from sklearn.multiclass import OneVsRestClassifier

    if np.unique(y).size == 1:
        return DummyClassifier(strategy="prior").fit(x, y)
    spec = _estimator(kind)
    sizes = {"seed": seed, "n_rows": len(y)}
    if "min_class_rows" in inspect.signature(spec.build).parameters:  # builders written before it still work
        sizes["min_class_rows"] = int(np.unique(y, return_counts=True)[1].min())
    est = spec.build(**sizes)
    if one_vs_rest and spec.one_vs_rest:
        est = OneVsRestClassifier(est)
    # OpenMP on small fits: starting its threads on busy cores cost 150x the fit itself (a
    # 60-window gradient-boosting hierarchy took 31 s instead of 0.2 s while other work ran)
    with threadpool_limits(limits=1 if len(y) < SMALL_FIT_ROWS else None, user_api="openmp"):
        est.fit(x, y)
    for mlp in _mlps(est):  # float32 weights ship half the bytes, same predictions to 1e-6
        mlp.coefs_ = [w.astype(np.float32) for w in mlp.coefs_]
        mlp.intercepts_ = [b.astype(np.float32) for b in mlp.intercepts_]
    return est


def fit_estimator(kind: str, x: np.ndarray, y: np.ndarray, *, seed: int):
    """One flat classifier of labels ``y`` (the comparison's and the top-level targets' way:
    one-vs-rest where the estimator wants it)."""
    return _fit(kind, x, np.asarray(y).astype(str), seed, one_vs_rest=True)


def estimator_bytes(est) -> int:
    """How many bytes ``est`` takes in a bundle (compressed skops, as :meth:`DescriptorModel.save`
    writes it)."""
    import skops.io as sio

    _slim(est)
    return len(sio.dumps(est, compression=zipfile.ZIP_DEFLATED, compresslevel=9))


def _mlps(est) -> list:
    """The fitted MLPs inside a pipeline or a one-vs-rest wrapper of pipelines."""
    parts = getattr(est, "estimators_", [est])
    out = []
    for p in parts:
        last = p.steps[-1][1] if hasattr(p, "steps") else p
        if hasattr(last, "coefs_"):
            out.append(last)
    return out


#: The feature set of models on the musicnn embedding (``core.describe.transfer``; the network
#: is the real-music genre model's, ``core.embed.genre.EMBED_MODEL``).
MUSICNN_SET = "musicnn"

#: A gated model (``core.describe.transfer.gated_model``) holds two genre heads and a gate: the
#: gate's P(studio) says how much a window sounds like the renders the studio head learnt from.
GATE = "gate"
STUDIO_GENRE = "genre_studio"
STUDIO = "studio"


def gated_genre(estimators: dict, x: np.ndarray, genre: pd.DataFrame) -> pd.DataFrame:
    """P(genre) = P(studio) P_studio-head(genre) + (1 - P(studio)) P_genre-head(genre), per window."""
    gate = _proba(estimators[GATE], x)
    studio = _proba(estimators[STUDIO_GENRE], x)
    w = gate[STUDIO].to_numpy()[:, None] if STUDIO in gate else np.zeros((len(x), 1))
    labels = sorted(set(genre.columns) | set(studio.columns))
    return pd.DataFrame(w * studio.reindex(columns=labels, fill_value=0.0).to_numpy()
                        + (1 - w) * genre.reindex(columns=labels, fill_value=0.0).to_numpy(), columns=labels)


def _proba(model, x: np.ndarray) -> pd.DataFrame:
    p = model.predict_proba(x)
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)  # one-vs-rest scores sum to 1 here
    return pd.DataFrame(p, columns=[str(c) for c in model.classes_])


@dataclass
class DescriptorModel:
    """A trained hierarchy of classifiers plus everything needed to use and judge it."""

    name: str
    kind: str
    columns: list[str]
    feature_sets: tuple[str, ...]
    estimators: dict  # target -> model (top-level) or {parent value: model}
    labels: dict[str, list[str]]
    descriptors: list[dict]  # catalog entries the model knows: name + labels
    threshold: float = 0.4
    metrics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    #: views for the Models page: a 2-D map of training windows and descriptor distances
    extras: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ predict
    @property
    def fingerprint(self) -> str:
        """A short hash that changes whenever the model is retrained (its config, metrics,
        columns and threshold): part of the cache keys of results made with it."""
        payload = json.dumps({"name": self.name, "kind": self.kind, "config": self.config, "metrics": self.metrics,
                              "columns": self.columns, "threshold": self.threshold}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def _matrix(self, table: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise ModelError(
                f"Model '{self.name}' expects the feature set {'+'.join(self.feature_sets)}; these windows lack "
                f"{len(missing)} of its columns (e.g. {', '.join(missing[:3])}). Re-analyse the track, or retrain "
                "the model on the current features."
            )
        return np.nan_to_num(table[self.columns].to_numpy(dtype=float), nan=0.0)

    def probabilities(self, table: pd.DataFrame) -> dict[str, object]:
        """Per target: a DataFrame of class probabilities (top-level) or, for a conditional
        target, {parent value: DataFrame of P(child | parent)}."""
        x = self._matrix(table)
        out = {}
        for target in TARGETS:
            est = self.estimators[target]
            if PARENT[target] is None:
                out[target] = _proba(est, x)
            else:
                out[target] = {parent: _proba(m, x) for parent, m in est.items()}
        if GATE in self.estimators:
            out["genre"] = gated_genre(self.estimators, x, out["genre"])
        return out

    def predict_windows(self, table: pd.DataFrame, *, top: int = 3, threshold: float | None = None) -> pd.DataFrame:
        """Label and probability per target per window, the top descriptors, and a low-confidence flag.

        Conditional targets follow the predicted parent (subgenre given the predicted genre...).
        A target whose probability is below ``threshold`` (default: the model's) is ``unknown``;
        ``threshold=0`` forces every window into a class.
        """
        cut = self.threshold if threshold is None else float(threshold)
        probs = self.probabilities(table)
        n = len(table)
        res: dict[str, np.ndarray] = {}
        raw: dict[str, np.ndarray] = {}
        for target in TARGETS:
            parent = PARENT[target]
            if parent is None:
                p = probs[target]
                raw[target] = p.columns.to_numpy()[p.to_numpy().argmax(axis=1)]
                conf = p.to_numpy().max(axis=1)
            else:
                raw[target] = np.empty(n, dtype=object)
                conf = np.zeros(n)
                for parent_value, p in probs[target].items():
                    rows = raw[parent] == parent_value
                    if rows.any():
                        arr = p.to_numpy()[rows]
                        raw[target][rows] = p.columns.to_numpy()[arr.argmax(axis=1)]
                        conf[rows] = arr.max(axis=1)
            res[target] = np.where(conf >= cut, raw[target], UNKNOWN)
            res[f"{target}_prob"] = np.round(conf, 3)
        out = pd.DataFrame(res, index=table.index)
        out["low_confidence"] = (out[[t for t in TARGETS]] == UNKNOWN).any(axis=1)
        joint = self._joint(probs, n)
        order = np.argsort(-joint, axis=1)[:, :top]
        names = [d["name"] for d in self.descriptors]
        for k in range(min(top, len(names))):
            out[f"top{k + 1}_descriptor"] = [names[i] for i in order[:, k]]
            out[f"top{k + 1}_prob"] = np.round(joint[np.arange(n), order[:, k]], 3)
        return out

    def _joint(self, probs: dict, n: int) -> np.ndarray:
        """P(genre) P(subgenre | genre) P(mood | subgenre) of every known descriptor, per window."""
        joint = np.zeros((n, len(self.descriptors)))
        for j, d in enumerate(self.descriptors):
            g = probs["genre"].get(d["genre"])
            s = probs["subgenre"].get(d["genre"], pd.DataFrame()).get(d["subgenre"])
            m = probs["mood"].get(d["subgenre"], pd.DataFrame()).get(d["mood"])
            if g is not None and s is not None and m is not None:
                joint[:, j] = g.to_numpy() * s.to_numpy() * m.to_numpy()
        return joint

    def descriptor_probabilities(self, table: pd.DataFrame) -> np.ndarray:
        """(n_windows, n_descriptors) joint probabilities, columns in ``self.descriptors`` order."""
        return self._joint(self.probabilities(table), len(table))

    # --------------------------------------------------------------------- save
    def save(self, folder: str | Path) -> Path:
        """Write the bundle (``model.skops``, ``meta.json``, ``extras.npz``) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _slim(self.estimators)
        _write_estimators(folder, self.estimators)
        meta = {"name": self.name, "kind": self.kind, "columns": self.columns, "feature_sets": list(self.feature_sets),
                "labels": self.labels, "descriptors": self.descriptors, "threshold": self.threshold,
                "metrics": self.metrics, "config": self.config, "versions": self.versions,
                "model_version": MODEL_VERSION}
        atomic_write(folder / "meta.json", json.dumps(meta, indent=1).encode())
        if self.extras:
            buf = io.BytesIO()
            np.savez_compressed(buf, **self.extras)
            atomic_write(folder / "extras.npz", buf.getvalue())
        return folder


def _write_estimators(folder: Path, estimators: dict) -> None:
    import skops.io as sio

    atomic_write(folder / MODEL_FILE, sio.dumps(estimators, compression=zipfile.ZIP_DEFLATED, compresslevel=9))


def _slim(obj) -> None:
    """Drop what prediction never uses (an MLP's optimizer state and best-weights copy, its
    loss curve): a third of a bundle's size."""
    if isinstance(obj, dict):
        for v in obj.values():
            _slim(v)
        return
    for part in getattr(obj, "estimators_", []) or []:
        _slim(part)
    for _, step in getattr(obj, "steps", []):
        _slim(step)
    for attr in ("_optimizer", "_best_coefs", "_best_intercepts", "loss_curve_", "validation_scores_"):
        if hasattr(obj, attr):
            setattr(obj, attr, None)


def _allowed(path: Path) -> bool:
    p = path.resolve()
    return any(p.is_relative_to(root.resolve()) for root in model_dirs())


def find_model(name: str) -> Path:
    """The folder of model ``name`` (a name in the model directories, or a path inside them)."""
    candidates = [Path(name)] if ("/" in str(name) or Path(name).is_absolute()) else \
        [root / name for root in model_dirs()]
    for c in candidates:
        if (c / "meta.json").is_file():
            if not _allowed(c):
                raise ModelError(f"{c} is outside the studio's model folders ({', '.join(map(str, model_dirs()))}); "
                                 "models are only loaded from there.")
            return c
    known = list_models()
    raise ModelError(f"No model called '{name}'. Known models: {', '.join(known) or 'none (train one)'}.")


#: The descriptor model pages and commands use unless told otherwise: the gated model
#: (``core.describe.transfer.gated_model``: right on real recordings and on the studio's renders).
DEFAULT_MODEL_NAME = "hybrid"


#: The user's pick of the default model (Models page), in ``$STUDIO_DATA_DIR/models``.
CHOSEN_DEFAULT_FILE = "default_model.json"


def _chosen_path() -> Path:
    return default_data_dir() / "models" / CHOSEN_DEFAULT_FILE


def chosen_default() -> str:
    """The model the user made the default on the Models page ("" when none was chosen, or the
    file is unreadable: then the shipped default applies, with a warning in the log)."""
    path = _chosen_path()
    if not path.is_file():
        return ""
    try:
        name = json.loads(path.read_text()).get("model", "")
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("The default-model choice %s is unreadable (%s): the shipped default applies.", path, exc)
        return ""
    return name if isinstance(name, str) else ""


def choose_default(name: str) -> None:
    """Make ``name`` (a known model) the default of every page, for this data folder (the
    commands keep :data:`DEFAULT_MODEL_NAME` unless ``--model`` says otherwise)."""
    if name not in list_models():
        raise ModelError(f"No model called '{name}'. Known models: {', '.join(list_models()) or 'none'}.")
    path = _chosen_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"model": name}).encode())


def default_model_name(names: list[str] | None = None, *, musicnn_ready: bool | None = None) -> str:
    """The user's pick (:func:`choose_default`) when installed and runnable, else
    :data:`DEFAULT_MODEL_NAME`, else ``mlp``, else the first known model ("" if none). A model
    that listens with musicnn is runnable only with its weights (``musicnn_ready``: default,
    whether ``make weights`` has fetched them)."""
    names = list_models() if names is None else list(names)
    if musicnn_ready is None:
        musicnn_ready = weights_present(EMBED_MODEL)
    usable = [n for n in names if musicnn_ready or MUSICNN_SET not in _feature_sets_of(n)]
    for n in (chosen_default(), DEFAULT_MODEL_NAME, "mlp"):
        if n in usable:
            return n
    return usable[0] if usable else (names[0] if names else "")


def _feature_sets_of(name: str) -> tuple[str, ...]:
    """A bundle's feature sets from its meta.json (none when it cannot be read: loading that model
    then says what is wrong with it)."""
    try:
        return tuple(json.loads((find_model(name) / "meta.json").read_text()).get("feature_sets", ()))
    except (ModelError, OSError, ValueError):
        return ()


def list_models() -> list[str]:
    names = []
    for root in model_dirs():
        if root.is_dir():
            names += sorted(p.name for p in root.iterdir() if (p / "meta.json").is_file())
    return list(dict.fromkeys(names))


def _read_meta(folder: Path) -> dict:
    """``meta.json`` of a bundle, with every key :func:`load_model` needs, or a ModelError."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"The model in {folder} has an unreadable meta.json ({exc}); retrain it or copy it "
                         "again.") from None
    if not isinstance(meta, dict):
        raise ModelError(f"The model in {folder} has a meta.json that is not a JSON object; retrain it.")
    if meta.get("model_version") != MODEL_VERSION:
        raise ModelError(f"The model in {folder} was saved by another version of the studio; retrain it.")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ModelError(f"The model in {folder} has a meta.json without the key(s) {', '.join(missing)}; it is "
                         "incomplete or damaged. Retrain it or copy it again.")
    return meta


def _check_trees(obj, folder: Path) -> None:
    """Every gradient-boosting tree's node indices in range, children after parents (no loops):
    a damaged or crafted tree would make prediction read out of bounds."""
    if isinstance(obj, dict):
        for v in obj.values():
            _check_trees(v, folder)
        return
    calibrated = [c.estimator for c in getattr(obj, "calibrated_classifiers_", None) or []]
    for part in list(getattr(obj, "estimators_", None) or []) + [step for _, step in getattr(obj, "steps", [])] + \
            calibrated:
        _check_trees(part, folder)
    n_features = getattr(obj, "n_features_in_", 0)
    if getattr(obj, "tree_", None) is not None:
        _check_forest_tree(obj.tree_, n_features, folder)
    for tree in [t for trees in getattr(obj, "_predictors", None) or [] for t in trees]:
        nodes = tree.nodes
        idx = np.arange(len(nodes))
        inner = ~nodes["is_leaf"].astype(bool)
        ok = (np.all(nodes["left"][inner] > idx[inner]) and np.all(nodes["right"][inner] > idx[inner])
              and np.all(nodes["left"][inner] < len(nodes)) and np.all(nodes["right"][inner] < len(nodes))
              and np.all(nodes["feature_idx"][inner] < n_features)
              and np.all(nodes["bitset_idx"][nodes["is_categorical"].astype(bool)] < len(tree.raw_left_cat_bitsets)))
        if len(nodes) == 0 or not ok:
            raise ModelError(f"The model in {folder} is damaged (a decision tree points outside itself); retrain it.")


def _check_forest_tree(tree, n_features: int, folder: Path) -> None:
    """A random-forest tree's children after their parents and inside the tree, its split
    features inside the feature vector (leaves have both children -1)."""
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    idx = np.arange(tree.node_count)
    inner = left != -1
    ok = (tree.node_count > 0 and len(left) == len(right) == len(feature) == tree.node_count
          and np.all(right[~inner] == -1) and np.all(left[inner] > idx[inner]) and np.all(right[inner] > idx[inner])
          and np.all(left[inner] < tree.node_count) and np.all(right[inner] < tree.node_count)
          and np.all((feature[inner] >= 0) & (feature[inner] < n_features))
          and tree.value.shape[0] == tree.node_count)
    if not ok:
        raise ModelError(f"The model in {folder} is damaged (a decision tree points outside itself); retrain it.")


def _load_estimators(folder: Path) -> dict:
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    path = folder / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"The model in {folder} has no {MODEL_FILE} (the fitted classifiers); retrain it or copy it "
                         "again.")
    try:
        estimators = sio.load(path, trusted=list(TRUSTED_TYPES + TRUSTED_FOREST_SVM_TYPES))
    except UntrustedTypesFoundException as exc:
        raise ModelError(f"The model in {folder} holds objects a model file may not contain ({exc}); it was not "
                         "made by the studio. Retrain it.") from None
    except Exception as exc:  # noqa: BLE001 - a damaged zip or schema: report it as a model problem
        raise ModelError(f"The model file {path} is damaged ({type(exc).__name__}: {str(exc)[:200]}); retrain it "
                         "or copy it again.") from None
    if not isinstance(estimators, dict) or any(t not in estimators for t in TARGETS):
        raise ModelError(f"The model file {path} does not hold the studio's classifiers; retrain it.")
    _check_trees(estimators, folder)
    return estimators


def load_model(name: str) -> DescriptorModel:
    """Load a model by name (see :func:`find_model`); checks the bundle's format version and keys.

    A bundle of an older studio (``model.joblib``) in the store's models folder is converted
    first (:func:`migrate_legacy_bundle`); anywhere else it is refused.
    """
    folder = find_model(name)
    meta = _read_meta(folder)
    if (folder / LEGACY_MODEL_FILE).is_file() and not (folder / MODEL_FILE).is_file():
        migrate_legacy_bundle(folder)
    estimators = _load_estimators(folder)
    extras = {}
    if (folder / "extras.npz").is_file():
        try:
            with np.load(folder / "extras.npz", allow_pickle=False) as z:
                extras = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ModelError(f"The model in {folder} has a damaged extras.npz ({exc}); retrain it.") from None
    return DescriptorModel(name=meta["name"], kind=meta["kind"], columns=meta["columns"],
                           feature_sets=tuple(meta["feature_sets"]), estimators=estimators, labels=meta["labels"],
                           descriptors=meta["descriptors"], threshold=meta["threshold"], metrics=meta["metrics"],
                           config=meta["config"], versions=meta["versions"], extras=extras)


def migrate_legacy_bundle(folder: str | Path) -> Path:
    """Convert a ``model.joblib`` bundle in the store's models folder to ``model.skops`` (once).

    Only there: that folder is the user's own and unpickling its bundles was what the studio did
    before. The pickle's single-class classifiers (``_Constant``) become ``DummyClassifier``; the
    predictions stay the same. Returns the new file; a bundle elsewhere is refused.
    """
    import joblib

    folder = Path(folder)
    store_models = (default_data_dir() / "models").resolve()
    if not folder.resolve().is_relative_to(store_models):
        raise ModelError(f"The model in {folder} is an old joblib bundle (a pickle, which can run code); only "
                         f"bundles in {store_models} are converted. Retrain it, or move it there and load it once.")
    meta = _read_meta(folder)
    try:
        estimators = joblib.load(folder / LEGACY_MODEL_FILE)
    except Exception as exc:  # noqa: BLE001 - a damaged pickle: report it as a model problem
        raise ModelError(f"The old model file {folder / LEGACY_MODEL_FILE} could not be read ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); retrain the model.") from None
    if not isinstance(estimators, dict):
        raise ModelError(f"{folder / LEGACY_MODEL_FILE} does not hold the studio's classifiers; retrain the model.")
    estimators = _without_constants(estimators, n_features=len(meta["columns"]))
    _slim(estimators)
    _write_estimators(folder, estimators)
    (folder / LEGACY_MODEL_FILE).unlink()
    return folder / MODEL_FILE


def _without_constants(obj, *, n_features: int):
    """``_Constant`` (pickles of older bundles) replaced by the equivalent ``DummyClassifier``."""
    from sklearn.dummy import DummyClassifier

    if isinstance(obj, dict):
        return {k: _without_constants(v, n_features=n_features) for k, v in obj.items()}
    if isinstance(obj, _Constant):
        return DummyClassifier(strategy="prior").fit(np.zeros((1, n_features)), np.asarray(obj.classes_)[:1])
    return obj


# ----------------------------------------------------------------------- training
def feature_columns_of(table: pd.DataFrame, sets: tuple[str, ...]) -> list[str]:
    cols = [c for s in sets for c in feature_columns(s)]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ModelError(f"The corpus lacks {len(missing)} feature columns (e.g. {missing[0]}); rebuild it.")
    return cols


def fit_hierarchy(kind: str, x: np.ndarray, y: pd.DataFrame, seed: int, progress=None) -> dict:
    estimators = {}
    for i, target in enumerate(TARGETS):
        if progress:
            progress(i / len(TARGETS), f"Training {target}")
        parent = PARENT[target]
        labels = y[target].astype(str).to_numpy()
        if parent is None:
            estimators[target] = _fit(kind, x, labels, seed, one_vs_rest=True)
        else:
            parents = y[parent].astype(str).to_numpy()
            estimators[target] = {p: _fit(kind, x[parents == p], labels[parents == p], seed, one_vs_rest=False)
                                  for p in np.unique(parents)}
    return estimators


def training_table(corpus: pd.DataFrame, *, feature_sets: tuple[str, ...] = DEFAULT_FEATURE_SETS,
                   window_step: int = 1) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """The windows a model learns from (silent ones dropped, every ``window_step``-th of a
    render kept), their feature columns and the feature matrix (NaN read as 0)."""
    table = corpus[~corpus.get("silent", pd.Series(False, index=corpus.index)).astype(bool)]
    if window_step > 1:
        table = table[table.groupby("render_id").cumcount() % window_step == 0]
    table = table.reset_index(drop=True)
    cols = feature_columns_of(table, feature_sets)
    return table, cols, np.nan_to_num(table[cols].to_numpy(dtype=float), nan=0.0)


def split_by_render(table: pd.DataFrame, *, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices with every render wholly on one side (stratified by descriptor).

    Per descriptor, ``round(test_size * renders)`` of its renders (at least one when it has two
    or more) are held out, drawn with ``numpy.random.default_rng(seed)``. This is a stratified
    group split where each render is a group of one descriptor; scikit-learn has no splitter
    that draws the same held-out renders: ``GroupShuffleSplit`` is not stratified,
    ``StratifiedGroupKFold`` holds out 1/k (not ``test_size``), and ``train_test_split(renders,
    stratify=descriptors)`` draws another set (on the shipped corpus, 5,580 renders: 1,674
    held out instead of 1,705, only 30 % of them the same, chance level) and refuses a
    descriptor with a single render. The README's held-out figures were measured on this split.
    """
    renders = table.groupby("render_id")["descriptor"].first()
    rng = np.random.default_rng(seed)
    test_renders = []
    for _, group in renders.groupby(renders):
        ids = group.index.to_numpy()
        rng.shuffle(ids)
        n_test = max(1, int(round(test_size * ids.size))) if ids.size > 1 else 0
        test_renders += list(ids[:n_test])
    is_test = table.render_id.isin(set(test_renders)).to_numpy()
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def evaluate(model: DescriptorModel, table: pd.DataFrame) -> dict:
    """Per target: window accuracy, render accuracy (majority of its windows), report, confusion."""
    from sklearn.metrics import classification_report, confusion_matrix

    pred = model.predict_windows(table)
    forced = model.predict_windows(table, threshold=0.0)
    metrics = {}
    for target in TARGETS:
        truth = table[target].astype(str).to_numpy()
        guess = pred[target].to_numpy().astype(str)
        best = forced[target].to_numpy().astype(str)
        sure = guess != UNKNOWN
        labels = sorted(set(truth))
        frame = pd.DataFrame({"render": table.render_id.to_numpy(), "truth": truth, "guess": guess})
        per_render = frame.groupby("render").agg(truth=("truth", "first"),
                                                 guess=("guess", lambda s: s.value_counts().index[0]))
        metrics[target] = {
            "window_accuracy": round(float(np.mean(truth == guess)), 4),
            "render_accuracy": round(float(np.mean(per_render.truth == per_render.guess)), 4),
            "unknown_share": round(float(np.mean(guess == UNKNOWN)), 4),
            # every window forced into its most likely class (no "unknown")
            "forced_accuracy": round(float(np.mean(truth == best)), 4),
            # accuracy over the windows the model is sure of (coverage = 1 - unknown_share)
            "confident_accuracy": round(float(np.mean(truth[sure] == guess[sure])), 4) if sure.any() else 0.0,
            "labels": labels,
            # rows: true labels; columns: predicted labels then "unknown"
            "confusion": confusion_matrix(truth, guess, labels=labels + [UNKNOWN])[: len(labels)].tolist(),
            "report": classification_report(truth, guess, labels=labels, output_dict=True, zero_division=0),
        }
    return metrics


def train(
    corpus: pd.DataFrame,
    *,
    kind: str = "mlp",
    name: str | None = None,
    feature_sets: tuple[str, ...] = DEFAULT_FEATURE_SETS,
    test_size: float = 0.3,
    seed: int = 0,
    threshold: float = 0.4,
    window_step: int = 1,
    progress=None,
) -> DescriptorModel:
    """Train the hierarchy, measure it on held-out renders, then refit on every render.

    ``window_step`` keeps every n-th window of each render (neighbouring windows overlap by
    80 %, so 3 loses little and makes k-NN models a third of the size).
    """
    import sklearn

    _estimator(kind)  # an unknown kind is refused before any work
    if not (0.05 <= test_size <= 0.5):
        raise OptionError(f"test_size must be 0.05-0.5 (got {test_size}).")
    report = progress or (lambda f, m: None)
    table, cols, x = training_table(corpus, feature_sets=feature_sets, window_step=window_step)
    if table.render_id.nunique() < 4:
        raise ModelError("The corpus is too small to train and test on (fewer than 4 renders).")
    train_idx, test_idx = split_by_render(table, test_size=test_size, seed=seed)
    labels = {t: sorted(table[t].astype(str).unique()) for t in TARGETS}
    catalog = load_catalog()
    known = sorted(set(table.descriptor))
    descriptors = [{"name": n, **{k: str(v) for k, v in catalog.get(n).labels().items() if k != "descriptor"}}
                   for n in known if n in catalog.descriptors]
    name = name or kind
    base = dict(name=name, kind=kind, columns=cols, feature_sets=tuple(feature_sets), labels=labels,
                descriptors=descriptors, threshold=threshold)
    held_out = DescriptorModel(estimators=fit_hierarchy(kind, x[train_idx], table.iloc[train_idx], seed,
                                                         lambda f, m: report(0.45 * f, m)), **base)
    report(0.45, "Measuring on held-out renders")
    metrics = evaluate(held_out, table.iloc[test_idx])
    metrics["split"] = {"train_renders": int(table.iloc[train_idx].render_id.nunique()),
                        "test_renders": int(table.iloc[test_idx].render_id.nunique()),
                        "train_windows": int(train_idx.size), "test_windows": int(test_idx.size)}
    report(0.47, "Maps of the windows and the descriptors")
    extras = model_views(held_out, table, x, test_idx, seed)
    report(0.5, "Refitting on every render")
    final = fit_hierarchy(kind, x, table, seed, lambda f, m: report(0.5 + 0.5 * f, m))
    report(1.0, "Done")
    return DescriptorModel(estimators=final, metrics=metrics, extras=extras,
                           config={"test_size": test_size, "seed": seed, "window_step": window_step,
                                   "renders": int(table.render_id.nunique()), "windows": len(table),
                                   "corpus_versions": corpus.attrs.get("versions")},
                           versions={"scikit-learn": sklearn.__version__, "numpy": np.__version__}, **base)


def model_views(model: DescriptorModel, table: pd.DataFrame, x: np.ndarray, test_idx: np.ndarray, seed: int) -> dict:
    """A 2-D map (PCA and t-SNE) of a sample of windows, and descriptor distances as the
    held-out model sees them (1 - cosine similarity of their mean descriptor probabilities)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    sample = rng.choice(len(table), size=min(1500, len(table)), replace=False)
    z = StandardScaler().fit_transform(x[sample])
    pca = PCA(n_components=2, random_state=seed).fit_transform(z)
    tsne = TSNE(n_components=2, perplexity=min(30, max(2, len(sample) // 4)), random_state=seed,
                init="pca").fit_transform(z)
    test = table.iloc[test_idx]
    joint = model.descriptor_probabilities(test)
    names = [d["name"] for d in model.descriptors]
    profile = np.zeros((len(names), len(names)))
    for j, n in enumerate(names):
        rows = (test.descriptor == n).to_numpy()
        if rows.any():
            profile[j] = joint[rows].mean(axis=0)
    unit = profile / np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)
    distance = np.clip(1 - unit @ unit.T, 0, 1)
    return {"map_pca": pca.astype(np.float32), "map_tsne": tsne.astype(np.float32),
            "map_genre": np.array(table.genre.iloc[sample].tolist(), dtype=str),
            "map_descriptor": np.array(table.descriptor.iloc[sample].tolist(), dtype=str),
            "descriptor_names": np.array(names, dtype=str), "descriptor_distance": distance.astype(np.float32)}
