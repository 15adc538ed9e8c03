"""The training corpus: planned deterministically, rendered in parallel, resumable, on Dask too."""

from __future__ import annotations

import pandas as pd
import pytest

from core.describe.corpus import CorpusSpec, build_corpus, load_corpora, load_corpus, plan
from core.errors import OptionError, StudioError

TINY = CorpusSpec(per_descriptor=1, durations_s=(5.0,), descriptors=("pop_corporate_happy", "rock_indie_angry"))


def test_plan_is_deterministic_and_within_the_descriptor():
    from core.generate.catalog import load_catalog

    a, b = plan(TINY), plan(TINY)
    assert a == b and len(a) == 2
    d = load_catalog().get(a[0].descriptor)
    assert d.tempo_bpm[0] <= a[0].tempo_bpm <= d.tempo_bpm[1] and a[0].band in d.bands
    other = plan(CorpusSpec(per_descriptor=1, durations_s=(5.0,), descriptors=TINY.descriptors, seed=1))
    assert [j.seed for j in other] != [j.seed for j in a]


def test_corpus_is_built_labelled_and_resumable(tmp_path):
    seen = []
    result = build_corpus(TINY, out_dir=tmp_path / "c", n_jobs=2, progress=lambda f, m: seen.append(f))
    assert result.n_renders == 2 and result.rendered_now == 2 and not result.failures
    table = load_corpus(tmp_path / "c")
    assert set(table.descriptor) == set(TINY.descriptors)
    row = table[table.descriptor == "rock_indie_angry"].iloc[0]
    assert (row.genre, row.subgenre, row.mood, row.sentiment) == ("rock", "indie", "angry", "negative")
    assert {"amper21.mfcc_1", "gtzan.tempo", "render_id", "band"} <= set(table.columns)
    assert seen[-1] == 1.0
    # a killed run: one part lost; the next run renders only that one
    part = next((tmp_path / "c" / "parts").glob("*.parquet"))
    part.unlink()
    again = build_corpus(TINY, out_dir=tmp_path / "c")
    assert again.rendered_now == 1 and again.n_renders == 2
    pd.testing.assert_frame_equal(load_corpus(tmp_path / "c").sort_values("render_id").reset_index(drop=True),
                                  table.sort_values("render_id").reset_index(drop=True))


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    build_corpus(TINY, out_dir=tmp_path / "c")
    with pytest.raises(OptionError, match="other settings"):
        build_corpus(CorpusSpec(per_descriptor=2, durations_s=(5.0,), descriptors=TINY.descriptors),
                     out_dir=tmp_path / "c")


def test_dask_backend_on_a_local_cluster(tmp_path):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        result = build_corpus(TINY, out_dir=tmp_path / "d", backend="dask", scheduler=cluster.scheduler_address)
        assert result.n_renders == 2 and not result.failures
        assert client.run(lambda: 1)  # the workers are real processes of the cluster
    assert len(load_corpus(tmp_path / "d")) == 2


def test_bad_settings():
    with pytest.raises(OptionError):
        CorpusSpec(per_descriptor=0)
    with pytest.raises(OptionError, match="scheduler"):
        build_corpus(TINY, out_dir="/tmp/never", backend="dask")


def test_corpora_of_other_seeds_are_trained_on_together(tmp_path):
    build_corpus(TINY, out_dir=tmp_path / "a")
    other = CorpusSpec(per_descriptor=1, durations_s=(5.0,), descriptors=TINY.descriptors, seed=1)
    build_corpus(other, out_dir=tmp_path / "b")
    both = load_corpora([tmp_path / "a", tmp_path / "b"])
    assert both.render_id.nunique() == 4 and all(r.endswith("-s1") for r in load_corpus(tmp_path / "b").render_id)
    with pytest.raises(OptionError, match="given twice"):
        load_corpora([tmp_path / "a", tmp_path / "a"])
    import shutil

    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    with pytest.raises(StudioError, match="other seeds"):
        load_corpora([tmp_path / "a", tmp_path / "copy"])


def test_a_corpus_of_another_engine_version_is_not_resumed_or_mixed(tmp_path):
    import json

    build_corpus(TINY, out_dir=tmp_path / "a")
    other = CorpusSpec(per_descriptor=1, durations_s=(5.0,), descriptors=TINY.descriptors, seed=1)
    build_corpus(other, out_dir=tmp_path / "b")
    spec_path = tmp_path / "b" / "spec.json"
    spec = json.loads(spec_path.read_text())
    assert spec["versions"]["render"] >= 5
    spec["versions"]["render"] -= 1  # as if rendered by the previous engine
    spec_path.write_text(json.dumps(spec))
    with pytest.raises(OptionError, match="another version of the engine"):
        build_corpus(other, out_dir=tmp_path / "b")
    with pytest.raises(StudioError, match="different versions"):
        load_corpora([tmp_path / "a", tmp_path / "b"])
