"""Deliverables of a render (core.generate.deliver): cut-downs on bar lines, a seamless loop,
stems that add up to the mix, tags that read back, one zip, cached and deterministic."""

from __future__ import annotations

import dataclasses
import io
import json
import time
import zipfile

import numpy as np
import pytest
import soundfile as sf

from core.generate.compose import ComposeOptions
from core.generate.deliver import (
    RULES_PATH,
    DeliverError,
    DeliverRulesError,
    bar_lines,
    cut_down,
    deliverables,
    load_rules,
    make_deliverables,
    make_loop,
    read_tags,
    render_options,
    render_stems,
)
from core.generate.mix import ROLES
from core.generate.render import compose_regions, render, render_key
from core.generate.timeline import single_region
from core.store.store import Store

TEMPO_BPM = 124.0
BAR_S = 240.0 / TEMPO_BPM
OPTIONS = ComposeOptions(intro_s=8.0, ending_s=4.0)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One 62 s render (just over the longest cut-down), kept in a store, and its deliverables."""
    store = Store(tmp_path_factory.mktemp("deliver"))
    timeline = single_region("rock_indie_brooding", duration_s=62.0, tempo_bpm=TEMPO_BPM, tonic="A")
    render(timeline, seed=4, options=OPTIONS, store=store)
    key = render_key(timeline, seed=4, options=OPTIONS)
    made = deliverables(store, key, title="Brooding demo")
    return store, key, store.get_render(key), made


def _near_a_bar_line(t: float, lines: np.ndarray, end_s: float) -> bool:
    return bool(np.min(np.abs(np.append(lines, end_s) - t)) < 1e-3)


@pytest.mark.parametrize("target_s", [60.0, 30.0, 15.0])
def test_cut_downs_land_within_a_bar_of_the_target_on_bar_lines(stored, target_s):
    _, _, result, _ = stored
    cut = cut_down(result, target_s=target_s)
    assert not isinstance(cut, str)
    assert abs(cut.duration_s - target_s) <= BAR_S
    lines = bar_lines(result)
    assert all(_near_a_bar_line(t, lines, result.duration_s) for span in cut.spans_s for t in span)
    assert cut.spans_s[0][0] == 0.0 and cut.spans_s[-1][1] == pytest.approx(result.duration_s)  # opening + ending
    if len(cut.spans_s) == 2:  # the jump lands in the ending section, which keeps its cadence
        assert cut.spans_s[1][0] >= result.duration_s - target_s / 2 - 1e-6


def test_the_join_of_a_cut_down_is_click_free(stored):
    _, _, result, _ = stored
    cut = cut_down(result, target_s=30.0)
    sr = cut.sample_rate
    join = int(round(cut.joins_s[0] * sr))
    (_, head_s), (tail_s, _) = cut.spans_s
    w = int(0.05 * sr)
    steps = np.abs(np.diff(cut.audio[join - w:join + w], axis=0)).max()
    source = [np.abs(np.diff(result.audio[i - w:i + w], axis=0)).max()
              for i in (int(round(head_s * sr)), int(round(tail_s * sr)))]
    assert steps <= 1.05 * max(source)  # no step the music itself does not have there
    hard = np.concatenate([result.audio[:int(round(head_s * sr))], result.audio[int(round(tail_s * sr)):]])
    assert np.abs(hard[join] - hard[join - 1]).max() >= np.abs(cut.audio[join] - cut.audio[join - 1]).max()


def test_the_loop_is_whole_bars_and_wraps_around_seamlessly(stored):
    _, _, result, _ = stored
    loop = make_loop(result, compose_regions(result.timeline, seed=result.seed, options=OPTIONS))
    assert loop.bars in load_rules().loop_bars
    assert loop.duration_s == pytest.approx(loop.bars * BAR_S, abs=2 / loop.sample_rate)
    a, sr = loop.audio, loop.sample_rate
    downbeats = [int(round(k * BAR_S * sr)) for k in range(1, loop.bars)]
    typical = max(np.percentile(np.abs(np.diff(a, axis=0)), 99.9), *(np.abs(a[i] - a[i - 1]).max() for i in downbeats))
    assert np.abs(a[0] - a[-1]).max() <= typical  # the wrap: no larger step than the music's own, or its downbeats'
    bar = int(round(BAR_S * sr))
    rms = [float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) for x in (a[-bar:], a[:bar])]
    assert abs(20 * np.log10(rms[1] / rms[0])) < 3.0  # the head holds the tail: the level carries over the wrap
    start_s = loop.spans_s[0][0]
    assert _near_a_bar_line(start_s, bar_lines(result), result.duration_s)


def test_stems_add_up_to_the_mix_and_are_deterministic(stored):
    _, _, result, made = stored
    stems = render_stems(result, options=OPTIONS)
    assert set(stems.stems) <= set(ROLES) and {"drums", "bass"} <= set(stems.stems)
    assert all(np.any(np.abs(s) > 1e-3) for s in stems.stems.values())
    assert stems.sum_max_error < 1e-3 and stems.sum_correlation > 0.9999
    assert stems.rebuild_correlation > 0.98  # the master limiter holds the lifted climax: 0.989 (0.99+ without the lift)
    stored_bass = sf.read(io.BytesIO(made.read(next(f.name for f in made.files if f.name.endswith("stem_bass.wav")))),
                          dtype="float32")[0]
    assert np.abs(stored_bass - stems.stems["bass"]).max() < 1e-4  # the same notes, the same mix: 24-bit apart


def test_stems_refuse_a_render_they_cannot_rebuild(stored):
    _, _, result, _ = stored
    with pytest.raises(DeliverError, match="cannot be rebuilt"):
        render_stems(dataclasses.replace(result, seed=result.seed + 1), options=OPTIONS)


def test_tags_read_back_from_every_wav_and_the_sidecar(stored):
    _, key, _, made = stored
    sidecar = json.loads(made.read(next(f.name for f in made.files if f.kind == "tags")))
    assert sidecar["bpm"] == TEMPO_BPM and sidecar["key"] == "A minor" and sidecar["genre"] == "rock"
    assert sidecar["title"] == "Brooding demo" and sidecar["render_key"] == key and sidecar["studio_version"]
    for f in made.files:
        if f.name.endswith(".wav"):
            tags = read_tags(made.read(f.name))
            assert tags["info"]["title"].startswith("Brooding demo") and tags["info"]["genre"] == "rock"
            assert "BPM 124" in tags["info"]["comment"] and "A minor" in tags["info"]["comment"]
            assert "BPM 124" in tags["bext"]["description"] and tags["bext"]["reference"] == key[:32]


def test_the_zip_lists_every_piece_and_a_second_look_is_a_lookup(stored):
    store, key, result, made = stored
    with zipfile.ZipFile(io.BytesIO(made.zip_data())) as z:
        names = z.namelist()
    kinds = [f.kind for f in made.files]
    assert names == [f.name for f in made.files] and "README.txt" in names
    assert kinds.count("cut") == 4 and kinds.count("loop") == 1 and kinds.count("midi") == 1
    assert kinds.count("stem") >= 3 and not made.notes
    readme = made.read("README.txt").decode()
    assert all(name in readme for name in names) and "124 BPM" in readme
    for f in made.files:
        if f.name.endswith(".wav"):
            assert sf.info(io.BytesIO(made.read(f.name))).duration == pytest.approx(f.duration_s, abs=1e-3)
    assert render_options(store, key) == OPTIONS
    start = time.monotonic()
    again = deliverables(store, key)
    assert time.monotonic() - start < 1.0 and again.zip_data() == made.zip_data()


def test_a_short_render_skips_the_longer_cut_downs_with_a_note():
    timeline = single_region("cinematic_ambient_dreamy", duration_s=20.0, tempo_bpm=120.0)
    result = render(timeline, seed=1)
    made = make_deliverables(result, render_key="short")
    cuts = {f.name.rsplit("_", 1)[-1] for f in made.files if f.kind == "cut"}
    assert cuts == {"full.wav", "15s.wav"}
    assert len(made.notes) == 2 and all("not longer" in n for n in made.notes)
    assert "No 30 s cut-down" in made.read("README.txt").decode()


def test_the_rules_file_is_checked(tmp_path):
    rules = json.loads(RULES_PATH.read_text())
    bad = tmp_path / "deliverables.json"
    bad.write_text(json.dumps({**rules, "loop_copies": 2}))
    with pytest.raises(DeliverRulesError, match="loop_copies"):
        load_rules(str(bad))
    bad.write_text(json.dumps({**rules, "targets_s": [30, "long"]}))
    with pytest.raises(DeliverRulesError, match="targets_s"):
        load_rules(str(bad))


def test_the_render_card_makes_the_deliverables_on_request_with_players_and_downloads():
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/render.py")
    at.run()
    at.number_input(key="duration_s").set_value(20.0)
    at.number_input(key="variations").set_value(1)
    at.button(key="generate").click()
    at.run()
    assert not at.exception and not at.error and len(at.get("audio")) == 1
    [make] = [b for b in at.button if b.label == "Make the deliverables"]
    make.click()
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("audio")) == 3  # the render, its 15 s cut-down and its loop
    labels = [b.proto.label for b in at.get("download_button")]
    assert "All as deliverables.zip" in labels and {"15 s cut-down", "full version", "seamless loop", "bass stem"} <= set(labels)
    assert any("No 30 s cut-down" in c.value for c in at.caption)
    at.run()  # a second look: found in the store, no button
    assert not [b for b in at.button if b.label == "Make the deliverables"] and len(at.get("audio")) == 3
