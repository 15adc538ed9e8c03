"""An honest "unknown": temperature scaling, the novelty distance and their bundles
(core.embed.genre's tools, core.describe.calibrate for the descriptor models)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.describe import calibrate as dcal
from core.describe.models import TARGETS, UNKNOWN, DescriptorModel, fit_hierarchy
from core.embed.genre import (
    GenreFit,
    ece,
    fit_genre_model,
    fit_novelty,
    fit_temperature,
    load_genre_model,
    nll,
    save_genre_model,
    temper,
)
from core.errors import OptionError


def _overconfident(n: int = 4000, k: int = 5, *, true_t: float = 3.0, seed: int = 0):
    """Labels drawn from softmax(z), reported as softmax(true_t * z): a model 3x too sure."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.2, size=(n, k))
    p_true = temper(np.exp(z), 1.0)
    y = np.array([rng.choice(k, p=p) for p in p_true])
    return temper(np.exp(z), 1.0 / true_t), y


def test_temperature_scaling_lowers_nll_and_ece_of_an_overconfident_model():
    proba, y = _overconfident()
    t = fit_temperature(proba, y)
    assert 2.6 < t < 3.4  # it finds how much too sure the model was
    fixed = temper(proba, t)
    assert nll(fixed, y) < nll(proba, y) - 0.1
    assert ece(fixed, y) < 0.03 < ece(proba, y)
    assert np.array_equal(fixed.argmax(1), proba.argmax(1))  # never changes a label
    assert np.allclose(fixed.sum(1), 1.0)


def test_a_calibrated_model_keeps_its_temperature_near_one():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3000, 4))
    p = temper(np.exp(z), 1.0)
    y = np.array([rng.choice(4, p=row) for row in p])
    assert 0.85 < fit_temperature(p, y) < 1.15


def test_novelty_flags_about_the_percentile_of_unseen_windows_and_far_ones():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(12, 12))
    x = rng.normal(size=(1200, 12)) @ mix
    novelty, heldout = fit_novelty(x, groups=np.repeat(np.arange(60), 20), percentile=97.5)
    assert np.isclose(np.mean(heldout > novelty.threshold), 0.025, atol=0.01)
    fresh = rng.normal(size=(2000, 12)) @ mix
    assert novelty.unknown(fresh).mean() < 0.05
    assert novelty.unknown(fresh * 0.2 + 60.0).all()
    with pytest.raises(OptionError, match="percentile"):
        fit_novelty(x, percentile=100.0)


def _blobs(labels=("mine", "yours", "theirs"), *, per: int = 8, windows: int = 6, seed: int = 0):
    """Windows of tracks in 3 user labels (any names: the model is label-agnostic)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(len(labels), 16))
    x, y, g = [], [], []
    for li, lab in enumerate(labels):
        for t in range(per):
            track = centres[li] + rng.normal(scale=0.7, size=16)
            x.append(track + rng.normal(scale=0.5, size=(windows, 16)))
            y += [lab] * windows
            g += [f"{lab}-{t}"] * windows
    return np.concatenate(x), np.array(y), np.array(g)


def test_fit_save_load_is_label_agnostic_and_says_unknown_far_from_the_training_windows(tmp_path):
    x, y, g = _blobs()
    fit = fit_genre_model(x, y, groups=g)
    assert isinstance(fit, GenreFit) and set(fit.classes_) == {"mine", "yours", "theirs"}
    assert fit.novelty is not None and {"ece_raw", "ece_calibrated", "temperature"} - set(fit.report) == {"temperature"}
    cols = [f"c{i}" for i in range(16)]
    save_genre_model(fit, tmp_path / "b", metrics={"clips": 24}, columns=cols)
    model = load_genre_model(tmp_path / "b")
    assert model.temperature == fit.temperature and model.columns == tuple(cols)
    near = model.predict(x[:30])
    assert not near["real_unknown"].any() and (near["real_genre"] != UNKNOWN).all()
    far = model.predict(np.full((3, 16), 40.0), silent=np.array([False, False, True]))
    assert far["real_unknown"].all() and (far["real_genre"] == UNKNOWN).all() and (far["catalog_genre"] == "").all()
    assert list(far.columns[:5]) == ["real_genre", "real_genre_prob", "catalog_genre", "real_unknown", "real_distance"]
    silent = model.predict(x[:2], silent=np.array([True, False]))
    assert silent["real_unknown"].tolist() == [True, False]


def test_a_bare_pipeline_bundle_never_says_unknown(tmp_path):
    x, y, g = _blobs(seed=2)
    fit = fit_genre_model(x, y, calibrate=False)
    assert fit.novelty is None and fit.temperature == 1.0
    save_genre_model(fit.pipeline, tmp_path / "bare", metrics={}, columns=[f"c{i}" for i in range(16)])
    out = load_genre_model(tmp_path / "bare").predict(np.full((2, 16), 40.0))
    assert not out["real_unknown"].any() and out["real_distance"].isna().all()
    with pytest.raises(OptionError, match="two labels"):
        fit_genre_model(x[:5], np.array(["a"] * 5))


# ------------------------------------------------------------ descriptor models
def _tiny_descriptor_model(seed: int = 0, n: int = 240):
    rng = np.random.default_rng(seed)
    cols = [f"f{i}" for i in range(10)]
    genre = rng.choice(["rock", "cinematic"], n)
    y = pd.DataFrame({"genre": genre, "subgenre": np.where(genre == "rock", "indie", "ambient"),
                      "mood": rng.choice(["sad", "fun"], n), "sentiment": rng.choice(["pos", "neg"], n),
                      "valence": rng.choice(["0", "1"], n), "momentum": rng.choice(["0", "1"], n)})
    x = rng.normal(size=(n, len(cols))) + 1.5 * (genre == "rock")[:, None]
    labels = {t: sorted(set(y[t])) for t in TARGETS}
    model = DescriptorModel(name="tinycal", kind="logreg", columns=cols, feature_sets=("amper21",),
                            estimators=fit_hierarchy("logreg", x, y, seed), labels=labels,
                            descriptors=[{"name": "rock_indie_sad", "genre": "rock", "subgenre": "indie", "mood": "sad"}])
    table = pd.DataFrame(x, columns=cols).assign(render_id=[f"r{i // 8}" for i in range(n)], **y)
    return model, table


@pytest.fixture(scope="module")
def tiny():
    return _tiny_descriptor_model()


def test_descriptor_calibration_round_trips_and_marks_far_windows_unknown(tmp_path, tiny):
    model, table = tiny
    cal = dcal.fit_descriptor_calibration(model, table)
    assert set(cal.temperatures) == set(TARGETS) and all(0.05 <= t <= 20 for t in cal.temperatures.values())
    path = tmp_path / "calibration.npz"
    path.write_bytes(cal.to_bytes())
    again = dcal.load_calibration(model, path)
    assert again is not None and again.temperatures == cal.temperatures and again.fingerprint == cal.fingerprint
    far = pd.DataFrame(np.full((4, 10), 30.0), columns=model.columns)
    probe = pd.concat([table[model.columns].iloc[:6], far], ignore_index=True)
    out = dcal.apply_calibration(model, probe, model.predict_windows(probe), cal)
    assert out["ood"].tolist()[6:] == [True] * 4 and (out.loc[6:, list(TARGETS)] == UNKNOWN).all().all()
    assert out["ood"].iloc[:6].mean() < 0.5 and out.loc[6:, "low_confidence"].all()
    before, after = (dcal.descriptor_reliability(model, table, c) for c in (None, cal))
    assert after["genre"]["nll"] <= before["genre"]["nll"] + 1e-6


def test_a_stale_or_damaged_calibration_is_ignored(tmp_path, tiny):
    model, table = tiny
    other, _ = _tiny_descriptor_model(seed=1, n=120)
    other.threshold = 0.5  # another model: another fingerprint
    path = tmp_path / "calibration.npz"
    path.write_bytes(dcal.fit_descriptor_calibration(other, table).to_bytes())
    assert dcal.load_calibration(model, path) is None  # made for another model
    path.write_bytes(b"not a calibration")
    assert dcal.load_calibration(model, path) is None
    assert dcal.load_calibration(model, tmp_path / "none.npz") is None
    with pytest.raises(OptionError, match="render"):
        dcal.fit_descriptor_calibration(model, table.drop(columns="render_id"))
