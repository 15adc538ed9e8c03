"""The estimator comparison: new estimators in the registry and their bundles, the comparison's
split and figures, real-recording windows cached by content, the CLI, and the MFCC-tile CNNs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from core.analysis.features import feature_columns
from core.cli.compare import main as compare_main
from core.describe.cnn import (
    CNNError,
    CNNOptions,
    cross_validate,
    logmel_tiles,
    mfcc_tiles,
    multilabel_scores,
    train_bagged,
    train_softmax,
)
from core.describe.compare import (
    TABLE_COLUMNS,
    CompareError,
    compare,
    comparison_folders,
    plan_folds,
    read_comparison,
    real_table,
)
from core.describe.models import (
    DEFAULT_FEATURE_SETS,
    ESTIMATORS,
    TARGETS,
    DescriptorModel,
    ModelError,
    _check_trees,
    fit_estimator,
    fit_hierarchy,
    load_model,
)
from core.describe.transfer import musicnn_columns
from core.embed.weights import weights_present
from core.errors import OptionError
from core.generate.catalog import load_catalog

needs_musicnn = pytest.mark.skipif(not weights_present("MSD_musicnn"), reason="musicnn weights not fetched (make weights)")

DESCRIPTORS = ("cinematic_ambient_sad", "cinematic_percussion_tense", "rock_indie_angry", "rock_post_rock_hopeful")
COLUMNS = [c for s in DEFAULT_FEATURE_SETS for c in feature_columns(s)]


def synthetic_corpus(*, renders_per_descriptor: int = 4, windows: int = 5, seed: int = 0) -> pd.DataFrame:
    """A corpus-shaped table: each descriptor's windows shifted along its own feature columns."""
    rng = np.random.default_rng(seed)
    catalog = load_catalog()
    parts = []
    for d, name in enumerate(DESCRIPTORS):
        labels = catalog.get(name).labels()
        for r in range(renders_per_descriptor):
            x = rng.normal(size=(windows, len(COLUMNS)))
            x[:, d::len(DESCRIPTORS)] += 2.0
            parts.append(pd.DataFrame(x, columns=COLUMNS).assign(
                **labels, render_id=f"{name}-{r}", silent=False, group=f"band{r % 3}-{d // 2}",
                track=f"{name}-{r}"))
    return pd.concat(parts, ignore_index=True)


def test_the_registry_has_svm_and_rf():
    assert {"knn", "mlp", "hgb", "svm", "rf", "logreg"} <= set(ESTIMATORS)


@pytest.mark.parametrize("kind", ["svm", "rf", "logreg"])
def test_new_estimators_train_save_load_and_predict_the_same(kind, tmp_path, monkeypatch):
    """The hierarchy of ``kind`` (as ``train`` fits it) through the skops bundle and back."""
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    table = synthetic_corpus()
    x = table[COLUMNS].to_numpy()
    labels = {t: sorted(table[t].astype(str).unique()) for t in TARGETS}
    model = DescriptorModel(name=f"tiny-{kind}", kind=kind, columns=COLUMNS, feature_sets=DEFAULT_FEATURE_SETS,
                            estimators=fit_hierarchy(kind, x, table, 0), labels=labels, descriptors=[])
    assert (model.predict_windows(table, threshold=0).genre == table.genre).mean() >= 0.9
    model.save(tmp_path / "data" / "models" / f"tiny-{kind}")
    back = load_model(f"tiny-{kind}")
    a, b = model.probabilities(table), back.probabilities(table)
    pd.testing.assert_frame_equal(a["genre"], b["genre"])
    for parent, frame in a["mood"].items():
        pd.testing.assert_frame_equal(frame, b["mood"][parent])
    assert model.predict_windows(table).equals(back.predict_windows(table))


def test_a_damaged_forest_tree_is_refused(tmp_path):
    table = synthetic_corpus()
    forest = fit_estimator("rf", table[COLUMNS].to_numpy(), table.genre.to_numpy(), seed=0)
    _check_trees(forest, tmp_path)  # a sound one passes
    tree = forest.steps[-1][1].estimators_[0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][np.flatnonzero(nodes["left_child"] != -1)[0]] = 10**6  # points outside the tree
    state["nodes"] = nodes
    tree.__setstate__(state)
    with pytest.raises(ModelError, match="damaged"):
        _check_trees({"genre": forest}, tmp_path)


@pytest.mark.parametrize("split", ["render", "group"])
def test_splits_never_put_a_render_or_group_on_both_sides(split):
    table = synthetic_corpus()
    column = "render_id" if split == "render" else "group"
    plan = plan_folds(table, table.genre.to_numpy(), split=split, folds=3, test_size=0.3, seed=1)
    assert len(plan) == (1 if split == "render" else 3)
    for train_idx, test_idx in plan:
        assert len(test_idx) and not set(table[column].iloc[train_idx]) & set(table[column].iloc[test_idx])
    if split == "group":  # every window tested exactly once
        assert sorted(np.concatenate([t for _, t in plan])) == list(range(len(table)))


def test_compare_writes_every_figure_in_range(tmp_path):
    table = synthetic_corpus()
    seen = []
    result = compare(table, estimators=["knn", "svm", "rf"], target="genre", split="render", seed=0,
                     progress=lambda f, m="": seen.append(f))
    t = result.table
    assert list(t.columns) == list(TABLE_COLUMNS) and list(t.model) == ["knn", "svm", "rf"]
    n_labels = len(result.labels)
    for level in ("window", "track"):
        assert t[f"{level}_accuracy"].between(0, 1).all() and t[f"{level}_macro_f1"].between(0, 1).all()
        assert t[f"{level}_coverage"].between(1, n_labels).all() and t[f"{level}_lrap"].between(1 / n_labels, 1).all()
    assert (t.window_accuracy >= 0.8).all()  # the descriptors are well apart
    assert (t.train_s > 0).all() and (t.predict_ms_per_window > 0).all() and (t.size_bytes > 1000).all()
    assert seen[-1] == 1.0 and seen == sorted(seen)
    folder = result.write(tmp_path / "out")
    assert {"table.csv", "table.md", "summary.json", "confusion_svm.csv", "confusion_rf_tracks.csv"} <= \
        {p.name for p in folder.iterdir()}
    confusion = pd.read_csv(folder / "confusion_knn.csv", index_col=0)
    assert confusion.to_numpy().sum() == result.split["tested_windows"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["split"]["kind"] == "render" and len(summary["models"]) == 3
    back = read_comparison(folder)  # what the Models page reads
    pd.testing.assert_frame_equal(back.confusion["rf"], result.confusion["rf"], check_dtype=False)
    assert back.labels == result.labels and back.split["tracks"] == result.split["tracks"]
    assert list(back.table.model) == ["knn", "svm", "rf"] and comparison_folders(root=tmp_path) == [folder]


def test_a_damaged_comparison_folder_is_refused_plainly(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text("{not json")
    with pytest.raises(CompareError, match="not a readable comparison"):
        read_comparison(tmp_path / "broken")
    (tmp_path / "broken" / "summary.json").write_text(json.dumps({"labels": ["a"]}))
    (tmp_path / "broken" / "table.csv").write_text("model,window_accuracy\nknn,0.5\n")
    with pytest.raises(CompareError, match="lacks the columns"):
        read_comparison(tmp_path / "broken")
    (tmp_path / "broken" / "table.csv").write_text("")  # an empty table
    with pytest.raises(CompareError, match="not a readable comparison"):
        read_comparison(tmp_path / "broken")
    assert comparison_folders(root=tmp_path / "nowhere") == []


def _tone_clips(folder, genres=("low", "high"), per_genre=3):
    """Short clips: 'low' ones are a 110 Hz buzz, 'high' ones noise bursts, one artist each."""
    rng = np.random.default_rng(0)
    rows = []
    sr = 22050
    t = np.arange(int(11 * sr)) / sr
    for g in genres:
        for i in range(per_genre):
            y = (np.sign(np.sin(2 * np.pi * 110 * (1 + 0.05 * i) * t)) * 0.3 if g == "low"
                 else rng.normal(scale=0.2, size=t.size) * (np.sin(2 * np.pi * 4 * t) > 0))
            name = f"{g}{i}.wav"
            sf.write(folder / name, y.astype(np.float32), sr)
            rows.append({"file": name, "genre": g, "artist": f"{g}-artist{i}"})
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)


@pytest.fixture(scope="module")
def real_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real")
    _tone_clips(folder)
    return folder


def test_real_recordings_are_featurised_once_and_compared_by_artist(real_folder, tmp_path):
    windows = real_table(real_folder, cache_dir=tmp_path / "cache")
    assert set(windows.track) == {f"{g}{i}.wav" for g in ("low", "high") for i in range(3)}
    assert len(list((tmp_path / "cache").iterdir())) == 6
    again = real_table(real_folder, cache_dir=tmp_path / "cache")  # from the cache
    pd.testing.assert_frame_equal(windows, again)
    result = compare(windows, estimators=["knn"], split="group", folds=3, seed=0)
    assert result.split["tested_windows"] == len(windows[~windows.silent]) and result.split["tracks"] == 6
    assert result.table.track_accuracy.iloc[0] >= 0.8


def test_cli_compares_a_labelled_folder(real_folder, tmp_path, capsys):
    code = compare_main(["--real", str(real_folder), "--out", str(tmp_path / "out"), "--estimators", "knn,rf",
                         "--folds", "3", "--quiet"])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(tmp_path / "out" / "real" / "table.csv")
    assert list(table.model) == ["knn", "rf"] and "real ->" in capsys.readouterr().out


def test_cli_refuses_a_missing_corpus_plainly(tmp_path, capsys):
    code = compare_main(["--corpus", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "No corpus at" in err and "Traceback" not in err
    assert compare_main(["--out", str(tmp_path / "out")]) == 2
    with pytest.raises(SystemExit) as exit_info:  # an unknown estimator is a usage error
        compare_main(["--corpus", "x", "--out", "y", "--estimators", "svm,nope"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):  # and an unknown feature set
        compare_main(["--corpus", "x", "--out", "y", "--features", "amper21,mfccs"])
    assert compare_main(["--corpus", "x", "--out", "y", "--backend", "dask"]) == 2
    assert "--scheduler" in capsys.readouterr().err
    assert compare_main(["--corpus", "x", "--out", "y", "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert "--backend dask" in capsys.readouterr().err
    assert compare_main(["--corpus", "x", "--out", "y", "--features", "musicnn"]) == 2
    assert "--real only" in capsys.readouterr().err


def test_compare_on_a_dask_cluster_gives_the_figures_it_gives_here():
    from distributed import LocalCluster

    table = synthetic_corpus(renders_per_descriptor=3, windows=4)
    here = compare(table, estimators=["knn", "logreg"], split="render", seed=0)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:  # pickled
        there = compare(table, estimators=["knn", "logreg"], split="render", seed=0, backend="dask",
                        scheduler=cluster.scheduler_address)
    figures = [c for c in TABLE_COLUMNS if c not in ("train_s", "predict_ms_per_window", "size_bytes")]
    pd.testing.assert_frame_equal(here.table[figures], there.table[figures])
    assert there.split["backend"] == "dask" and (there.table.size_bytes > 1000).all()
    with pytest.raises(OptionError, match="scheduler"):
        compare(table, estimators=["knn"], backend="dask")


@needs_musicnn
def test_real_recordings_heard_with_musicnn_compare_on_the_embedding(real_folder, tmp_path):
    windows = real_table(real_folder, cache_dir=tmp_path / "cache", musicnn=True)
    assert set(musicnn_columns()) <= set(windows.columns)
    result = compare(windows, estimators=["logreg"], split="group", folds=3, seed=0, feature_sets=("musicnn",))
    assert result.split["columns"] == 250 and result.table.track_accuracy.iloc[0] >= 0.8
    plain = real_table(real_folder, cache_dir=tmp_path / "cache")  # another cache entry, no musicnn columns
    assert not set(musicnn_columns()) & set(plain.columns)
    with pytest.raises(CompareError, match="not heard with musicnn"):
        compare(plain, estimators=["logreg"], split="group", folds=3, feature_sets=("musicnn",))


def _tiles(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    tiles = rng.normal(size=(n, 40, 100)).astype(np.float32)
    tiles[:, :6, :] += y[:, None, None] * 1.5
    return tiles, y


def test_cnns_train_deterministically_on_tiny_tiles():
    tiles, y = _tiles()
    labels = ["a", "b", "c"]
    options = CNNOptions(epochs=20, channels=(8, 16), dense=16, batch_size=8, learning_rate=3e-3)
    a = train_softmax(tiles, y, labels, options=options).scores(tiles)
    b = train_softmax(tiles, y, labels, options=options).scores(tiles)
    np.testing.assert_array_equal(a, b)
    assert np.allclose(a.sum(axis=1), 1) and (a.argmax(axis=1) == y).mean() > 0.6
    short = CNNOptions(epochs=8, channels=(8, 16), dense=16, batch_size=8, learning_rate=3e-3)
    bag = train_bagged(tiles, y, labels, validation=(tiles, y), options=short)
    s = bag.scores(tiles)
    assert s.shape == (len(y), 3) and ((s >= 0) & (s <= 1)).all() and len(bag.nets) == 3
    np.testing.assert_array_equal(s, train_bagged(tiles, y, labels, validation=(tiles, y), options=short).scores(tiles))
    assert bag.tags(tiles).any(axis=0).all()  # every label is tagged somewhere


def test_cnn_cross_validation_reports_every_network():
    tiles, y = _tiles(n=36)
    tracks = np.arange(len(y)) // 2
    options = CNNOptions(epochs=2, channels=(4,), dense=4)
    logmel = tiles[:, :20, :] * 2.0
    result = cross_validate(tiles, y, tracks, tracks % 6, labels=["a", "b", "c"], logmel=logmel, folds=3, options=options)
    assert list(result.table.model) == ["cnn_softmax", "cnn_bagged", "cnn_logmel"]
    assert result.table.track_coverage.between(1, 3).all() and result.table.tag_recall.between(0, 1).all()
    assert (result.table.size_bytes > 0).all()
    with pytest.raises(CNNError, match="cut alike"):
        cross_validate(tiles, y, tracks, tracks % 6, labels=["a", "b", "c"], logmel=logmel[:-1], folds=3, options=options)


def test_bagged_ensemble_learns_several_labels_per_tile():
    rng = np.random.default_rng(1)
    n = 60
    genre = np.arange(n) % 2  # labels 0/1: one of two "genres"
    mood = (np.arange(n) // 2) % 2  # labels 2/3: one of two "moods", independent of the genre
    truth = np.zeros((n, 4), dtype=bool)
    truth[np.arange(n), genre] = True
    truth[np.arange(n), 2 + mood] = True
    tiles = rng.normal(size=(n, 40, 100)).astype(np.float32)
    tiles[:, :5, :] += genre[:, None, None] * 2.0  # genre lives in the low coefficients
    tiles[:, 30:35, :] += mood[:, None, None] * 2.0  # mood in the high ones
    options = CNNOptions(epochs=15, channels=(8, 16), dense=16, batch_size=8, learning_rate=3e-3)
    bag = train_bagged(tiles, truth, ["rock", "jazz", "calm", "angry"], validation=(tiles, truth), options=options)
    score = bag.scores(tiles)
    figures = multilabel_scores(truth, score, np.arange(n) // 3)
    assert figures["best_coverage"] == 2.0 and figures["tracks"] == 20
    assert figures["tile_lrap"] > 0.9 and figures["tile_coverage"] < 2.6
    with pytest.raises(CNNError, match="columns"):
        train_bagged(tiles, truth[:, :3], ["rock", "jazz", "calm", "angry"], options=options)
    lonely = np.column_stack([truth, np.zeros(n, dtype=bool)])  # a label no training tile carries
    five = train_bagged(tiles[:20], lonely[:20], ["rock", "jazz", "calm", "angry", "harp"],
                        options=CNNOptions(epochs=1, channels=(4,), dense=4))
    assert five.nets[4] is None and (five.scores(tiles)[:, 4] == 0).all() and not five.tags(tiles)[:, 4].any()


def test_multilabel_scores_of_perfect_and_reversed_rankings():
    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=bool)
    perfect = multilabel_scores(truth, truth.astype(float), np.array(["a", "a", "b"]))
    assert perfect["tile_lrap"] == 1.0 and perfect["tile_coverage"] == perfect["best_coverage"]
    worst = multilabel_scores(truth, 1.0 - truth, np.array(["a", "b", "c"]))
    assert worst["tile_lrap"] < 0.6 and worst["tile_coverage"] == 3.0


def test_mfcc_tiles_are_40_by_100():
    sr = 22050
    y = np.random.default_rng(0).normal(size=sr * 10).astype(np.float32) * 0.1
    tiles = mfcc_tiles(y, sr)
    assert tiles.shape[1:] == (40, 100) and len(tiles) >= 2
    assert mfcc_tiles(y[: sr], sr).shape == (0, 40, 100)
    mel = logmel_tiles(y, sr)
    assert mel.shape == (len(tiles), 64, 100) and np.isfinite(mel).all()
    assert logmel_tiles(y[: sr], sr).shape == (0, 64, 100)
