"""Algorithms behind registries with one contract: a new segmentation method, separation model or
estimator is one function (or module) and one registry line, used through the public entry point."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from core.analysis.features import feature_columns
from core.analysis.segment import BOUNDARY_METHODS, LABEL_METHODS, FormFeatures, SegmentOptions, segment
from core.audio.load import track_from_array
from core.describe import models
from core.describe.models import DEFAULT_FEATURE_SETS, ESTIMATORS, Estimator, train
from core.errors import OptionError
from core.generate.catalog import load_catalog
from core.separation import SeparationOptions, model_availability, separate
from core.separation.backends import BACKENDS, Backend, forget_loaded_networks

FRAME_S = 512 / 22050


# ------------------------------------------------------------------------ segmentation
def _two_part_features(duration_s: float = 60.0, seed: int = 0):
    """Frame-level CQT and MFCC of a track whose first and second halves differ."""
    rng = np.random.default_rng(seed)
    n = int(duration_s / FRAME_S)
    half = np.arange(n) >= n // 2
    cqt = rng.normal(0, 1, (84, n)) + np.where(half, 8.0, -8.0) * np.linspace(-1, 1, 84)[:, None]
    mfcc = rng.normal(0, 1, (20, n)) + np.where(half, 5.0, -5.0)
    beats = np.arange(0, n, int(round(0.5 / FRAME_S)))
    return cqt, mfcc, beats, n * FRAME_S


def thirds_boundaries(form: FormFeatures, *, labels: np.ndarray) -> list[int]:
    return [form.n_frames // 3, 2 * form.n_frames // 3]


def alternating_labels(form: FormFeatures, *, k_lo: int, k_hi: int):
    labels = (3 * np.arange(form.n_frames) // form.n_frames) % 2  # 0, 1, 0 by thirds
    return 2, labels, {2: 1.0}


def test_a_registered_boundary_method_is_used_by_segment(monkeypatch):
    monkeypatch.setitem(BOUNDARY_METHODS, "thirds", thirds_boundaries)
    cqt, mfcc, beats, duration_s = _two_part_features()
    seg = segment(cqt, mfcc, beats, frame_s=FRAME_S, duration_s=duration_s,
                  options=SegmentOptions(boundary_method="thirds", min_segment_s=0.0))
    assert len(seg.boundaries_s) == 4
    np.testing.assert_allclose(np.diff(seg.boundaries_s), duration_s / 3, atol=1.0)


def test_a_registered_label_method_is_used_by_segment(monkeypatch):
    monkeypatch.setitem(LABEL_METHODS, "alternating", alternating_labels)
    cqt, mfcc, beats, duration_s = _two_part_features()
    seg = segment(cqt, mfcc, beats, frame_s=FRAME_S, duration_s=duration_s,
                  options=SegmentOptions(label_method="alternating", boundary_method="labels", min_segment_s=0.0))
    assert seg.labels == ["A", "B", "A"] and seg.silhouette == {2: 1.0}


def test_the_shipped_methods_and_unknown_names():
    assert list(BOUNDARY_METHODS) == ["novelty", "labels", "structural", "fusion"] and list(LABEL_METHODS) == ["kmeans", "uniform"]
    cqt, mfcc, beats, duration_s = _two_part_features()
    seg = segment(cqt, mfcc, beats, frame_s=FRAME_S, duration_s=duration_s)
    cut = int(np.argmin(np.abs(seg.boundaries_s - duration_s / 2)))  # the two halves: two section types
    assert abs(seg.boundaries_s[cut] - duration_s / 2) < 2.0
    assert set(seg.labels[:cut]) == {"A"} and set(seg.labels[cut:]) == {"B"}
    uniform = segment(cqt, mfcc, beats, frame_s=FRAME_S, duration_s=duration_s,
                      options=SegmentOptions(label_method="uniform"))
    assert set(uniform.labels) == {"A"} and uniform.k == 1
    np.testing.assert_array_equal(uniform.boundaries_s, seg.boundaries_s)  # the same novelty cuts
    with pytest.raises(OptionError, match="novelty, labels, structural, fusion"):
        SegmentOptions(boundary_method="magic")
    with pytest.raises(OptionError, match="kmeans, uniform"):
        SegmentOptions(label_method="magic")


# -------------------------------------------------------------------------- separation
# This module is the runtime of the test backend: the two functions of the contract.
LOADS: list[str] = []


def load_network(model: str, folder):
    LOADS.append(model)
    return {"gain": float((folder / "gain.txt").read_text())}


def separate_network(network, mix: np.ndarray, *, options, progress=None) -> dict[str, np.ndarray]:
    if progress:
        progress(1.0, "Scaling")
    return {"quiet": mix * np.float32(network["gain"]), "rest": np.zeros_like(mix)}


@pytest.fixture
def scaling_backend(monkeypatch, tmp_path):
    backend = Backend(name="scaling-test", stems=("quiet", "rest"), runtime=__name__, weights_subdir="scaling",
                      remainder="rest")
    monkeypatch.setitem(BACKENDS, "scaling-test", backend)
    (tmp_path / "scaling").mkdir()
    (tmp_path / "scaling" / "gain.txt").write_text("0.25")
    LOADS.clear()
    forget_loaded_networks()
    return tmp_path


def test_a_registered_backend_separates_through_the_public_api(scaling_backend):
    rng = np.random.default_rng(0)
    track = track_from_array((0.1 * rng.standard_normal((44100, 1))).astype(np.float32), 44100, name="noise")
    stems = separate(track, options=SeparationOptions(model="scaling-test"), weights_dir=scaling_backend)
    assert stems.names == ("quiet", "rest") and stems["quiet"].shape == track.samples.shape
    np.testing.assert_allclose(stems.mixture(), track.samples, atol=1e-6)  # the remainder adds back exactly
    np.testing.assert_allclose(stems["quiet"], 0.25 * track.samples, atol=1e-6)
    assert model_availability(weights_dir=scaling_backend)["scaling-test"] == ""
    # the loaded network is kept: a second separation does not load it again ...
    separate(track, options=SeparationOptions(model="scaling-test"), weights_dir=scaling_backend)
    assert LOADS == ["scaling-test"]
    # ... until its weight files change
    (scaling_backend / "scaling" / "gain.txt").write_text("0.5 ")
    again = separate(track, options=SeparationOptions(model="scaling-test"), weights_dir=scaling_backend)
    assert LOADS == ["scaling-test"] * 2
    np.testing.assert_allclose(again["quiet"], 0.5 * track.samples, atol=1e-6)


def test_a_backend_without_weights_says_so(scaling_backend):
    (scaling_backend / "scaling" / "gain.txt").unlink()
    assert "no weights" in model_availability(weights_dir=scaling_backend)["scaling-test"]


# -------------------------------------------------------------------------- estimators
def nearest_mean_pipeline(*, seed: int, n_rows: int):
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), GaussianNB())


def _synthetic_corpus(descriptors: tuple[str, ...], *, renders: int = 4, windows: int = 5) -> pd.DataFrame:
    """Windows whose features sit apart by descriptor (no rendering: the estimators are under test)."""
    catalog = load_catalog()
    cols = [c for s in DEFAULT_FEATURE_SETS for c in feature_columns(s)]
    rng = np.random.default_rng(0)
    rows = []
    for j, name in enumerate(descriptors):
        centre = rng.normal(0, 3, len(cols))
        for r in range(renders):
            for _ in range(windows):
                rows.append({**dict(zip(cols, centre + rng.normal(0, 0.3, len(cols)))),
                             **catalog.get(name).labels(), "render_id": f"{name}-{r}"})
    return pd.DataFrame(rows)


def test_a_registered_estimator_is_trained_by_train(monkeypatch):
    monkeypatch.setitem(ESTIMATORS, "gnb", Estimator(nearest_mean_pipeline))
    # one mood for the ambient subgenre here: its mood classifier is a constant one
    table = _synthetic_corpus(("cinematic_ambient_sad", "rock_indie_angry", "rock_indie_fun"))
    model = train(table, kind="gnb", seed=0)
    assert model.kind == "gnb"
    genre = model.estimators["genre"]
    assert type(genre).__name__ == "OneVsRestClassifier"
    assert type(genre.estimators_[0].steps[-1][1]).__name__ == "GaussianNB"
    assert type(model.estimators["mood"]["ambient"]).__name__ == "DummyClassifier"
    assert model.metrics["genre"]["window_accuracy"] == 1.0
    pred = model.predict_windows(table)
    assert (pred.genre == table.genre).all() and (pred.mood_prob[table.subgenre == "ambient"] == 1.0).all()
    with pytest.raises(OptionError, match="gnb"):
        train(table, kind="nope")


def test_an_old_bundles_constant_classifier_still_unpickles():
    """Bundles saved before DummyClassifier hold ``models._Constant`` objects (the shipped ones do not)."""
    old = object.__new__(models._Constant)
    old.classes_ = np.array(["sad"])
    back = pickle.loads(pickle.dumps(old))
    proba = models._proba(back, np.zeros((3, 2)))
    assert list(proba.columns) == ["sad"] and (proba["sad"] == 1.0).all()


def test_every_registry_names_its_choices_when_a_name_is_unknown():
    from core.analysis.features import feature_set
    from core.analysis.segment import SegmentOptions
    from core.describe.models import ESTIMATORS
    from core.errors import OptionError
    from core.separation import SeparationOptions

    for make, what in ((lambda: SegmentOptions(boundary_method="nope"), "boundary method"),
                       (lambda: SegmentOptions(label_method="nope"), "label method"),
                       (lambda: SeparationOptions(model="nope"), "separation model"),
                       (lambda: feature_set("nope"), "feature set")):
        with pytest.raises(OptionError, match=f"Unknown {what} 'nope'. Choose one of: "):
            make()
    assert "mlp" in ESTIMATORS


@pytest.mark.parametrize("method", ["structural", "fusion"])
def test_structural_feature_boundaries_find_the_change(method):
    # Serra et al.'s structural features (and their fusion with the Laplacian novelty) cut the
    # two-part track in the middle (within 2 s), with no more cuts than the Laplacian novelty.
    cqt, mfcc, beats, duration_s = _two_part_features()
    seg = segment(cqt, mfcc, beats, frame_s=FRAME_S, duration_s=duration_s,
                  options=SegmentOptions(boundary_method=method))
    inner = seg.boundaries_s[1:-1]
    assert np.min(np.abs(inner - duration_s / 2)) < 2.0
    assert len(inner) <= len(segment(cqt, mfcc, beats, frame_s=FRAME_S, duration_s=duration_s).boundaries_s) - 2
