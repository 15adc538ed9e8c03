"""The feedback loop: timelines from an analysis, renders, and the two dog-food tables."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import soundfile as sf

from core.analysis.analyze import analyze
from core.audio.load import track_from_array
from core.describe.describe import describe
from core.describe.models import TARGETS, load_model
from core.describe.predict import predict
from core.generate.catalog import load_catalog
from core.generate.render import render
from core.generate.timeline import multi_region
from core.workflow.loop import (
    multi_region_table,
    multi_region_timeline,
    plan_loop,
    single_region_table,
    single_region_timelines,
    top_tempi,
)
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def reference():
    """A two-region reference (synthwave then bossa) with its analysis, predictions and majority table."""
    timeline = multi_region([
        {"start_s": 0.0, "end_s": 20.0, "descriptor": "electronic_synthwave_driving", "tempo_bpm": 112, "tonic": "A"},
        {"start_s": 20.0, "end_s": 40.0, "descriptor": "jazz_bossa_relaxed", "tempo_bpm": 90, "tonic": "F"},
    ])
    audio = render(timeline, seed=3).audio
    track = track_from_array(audio, 44100, name="reference")
    description = describe(track, model=load_model("mlp"), remove_vocals="off")
    return track, description.analysis, description.windows, description


def test_the_loop_reads_the_reference_through_describe(reference):
    _, analysis, windows, description = reference
    assert windows.equals(predict(analysis, load_model("mlp")))  # the same table as predict's
    assert [s.end_s for s in description.form] == list(description.majority["end_s"])
    assert description.fallback_descriptor == windows["top1_descriptor"].value_counts().index[0]


def test_single_region_timelines_cover_every_combination(reference):
    _, analysis, windows, _ = reference
    timelines = single_region_timelines(analysis, windows, descriptors=1, tempi=2, tonics=2)
    tempi, tonics = top_tempi(windows, n=2), windows["tonic"].value_counts().index[:2]
    assert len(timelines) == len(tempi) * len(tonics)
    for tl in timelines:
        (region,) = tl.regions
        assert region.start_s == 0.0 and abs(region.end_s - analysis.duration_s) < 1e-3
        assert region.descriptor == windows["top1_descriptor"].value_counts().index[0]
    assert {tl.regions[0].tempo_bpm for tl in timelines} == set(tempi)


def test_multi_region_timeline_follows_the_form_on_the_beat(reference):
    _, analysis, _, description = reference
    catalog, majority = load_catalog(), description.majority
    tl = multi_region_timeline(analysis, description.form, fallback_descriptor="pop_dance_happy")
    assert len(tl.regions) == len(majority)
    previous_end = 0.0
    for region, seg in zip(tl.regions, majority.itertuples()):
        assert region.start_s == pytest.approx(previous_end)
        beat_s = 60.0 / region.tempo_bpm
        beats = (region.end_s - region.start_s) / beat_s
        assert abs(beats - round(beats)) < 1e-3  # whole beats: every boundary on a beat
        assert abs(region.end_s - (seg.end_s if seg.Index < len(majority) - 1 else analysis.duration_s)) <= beat_s
        if seg.descriptor:
            assert region.descriptor == seg.descriptor
        assert region.descriptor in catalog.descriptors
        previous_end = region.end_s
    # the reference is synthwave then bossa: the stitched timeline keeps both genres in order
    genres = [catalog.get(r.descriptor).genre for r in tl.regions]
    assert genres[0] == "electronic" and genres[-1] == "jazz"


def test_plan_varies_bands_and_seeds_and_is_reproducible(reference):
    description = reference[3]
    plan = plan_loop("ref", description, variations=3, seed=10)
    singles = [p for p in plan if p.kind == "single"]
    multis = [p for p in plan if p.kind == "multi"]
    assert len(multis) == 3 and len(singles) % 3 == 0
    assert [m.seed for m in multis] == [10, 11, 12]
    assert len({m.timeline.regions[0].band for m in multis}) == 3  # each variation another band
    again = plan_loop("ref", description, variations=3, seed=10)
    assert [p.timeline.to_json() for p in again] == [p.timeline.to_json() for p in plan]


def test_tables_score_renders_against_the_request_and_the_reference(reference):
    description = reference[3]
    majority = description.majority
    model = load_model("mlp")
    plan = plan_loop("ref", description, variations=1, tempi=1, tonics=1)
    results = []
    for item in plan:
        audio = render(item.timeline, seed=item.seed).audio
        results.append((item, predict(analyze(track_from_array(audio, 44100)), model)))
    single = single_region_table(results)
    multi = multi_region_table(results, majority)
    assert len(single) == 1 and len(multi) == len(majority)
    for t in TARGETS:
        assert single[t].between(0, 1).all() and multi[t].isin([0, 1]).all()
    assert single["genre"].iloc[0] >= 0.8  # the model hears the genre it asked for
    assert multi["genre"].mean() >= 0.5


def test_loop_cli_writes_both_tables_and_the_renders(tmp_path):
    audio = render(multi_region([{"start_s": 0.0, "end_s": 24.0, "descriptor": "rock_indie_driving",
                                  "tempo_bpm": 120, "tonic": "E"}]), seed=1).audio
    src = tmp_path / "refs" / "rocker.wav"
    src.parent.mkdir()
    sf.write(src, audio, 44100, subtype="PCM_16")
    (tmp_path / "refs" / "notes.txt").write_text("not audio, ignored in a folder")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "core", "loop", str(src.parent), "--variations", "2", "--out",
                           str(out), "--data-dir", str(tmp_path / "data"), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    single = pd.read_csv(out / "single_region.csv")
    multi = pd.read_csv(out / "multi_region.csv")
    assert set(TARGETS) <= set(single.columns) and set(TARGETS) <= set(multi.columns)
    assert set(single["variation"]) == {0, 1}
    summary = pd.read_csv(out / "single_region_summary.csv")
    assert list(summary["title"]) == ["rocker", "mean"]
    wavs = sorted((out / "rocker").glob("*.wav"))
    assert len(wavs) == len(single) + 2  # + one multi-region render per variation
    record = json.loads((out / "rocker" / "multi_v1.json").read_text())
    assert record["seed"] == 1 and record["timeline"]["timeline"]["spans"]
    assert "single-region accuracy" in proc.stdout


# ---------------------------------------------------------------------------- page
@pytest.fixture(scope="module")
def short_reference_wav(tmp_path_factory):
    audio = render(multi_region([{"start_s": 0.0, "end_s": 16.0, "descriptor": "pop_dance_happy",
                                  "tempo_bpm": 118, "tonic": "G"}]), seed=2).audio
    path = tmp_path_factory.mktemp("loopref") / "dance.wav"
    sf.write(path, audio, 44100, subtype="PCM_16")
    return path


def test_loop_page_runs_shows_charts_and_exports(short_reference_wav):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("pages/loop.py")
    at.run()
    assert not at.exception
    assert "Upload reference tracks" in at.info[0].value
    at.file_uploader(key="loop_upload").set_value(("dance.wav", short_reference_wav.read_bytes(), "audio/wav"))
    at.run()
    at.number_input(key="loop_variations").set_value(1)
    at.run()
    at.button(key="loop_run").click()
    at.run()
    assert not at.exception and not at.error
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("judged by the same model" in s for s in specs)
    assert any("Stitched render keeps each section's style, per track" in s for s in specs)
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"One-style renders CSV", "Stitched renders CSV"} <= set(labels)
    # a fresh session reads the stored tables: no button, charts at once
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    again.run()
    again.switch_page("pages/loop.py")
    again.run()
    again.number_input(key="loop_variations").set_value(1)
    again.run()
    assert not again.exception and len(again.get("plotly_chart")) == 3
    assert not [b for b in again.button if b.key == "loop_run"]
