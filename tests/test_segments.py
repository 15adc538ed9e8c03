"""Edited segments: core/edits.py, the stored edit history, the Segments page under AppTest and
one real-browser test (edit a descriptor in the table, render, see a new player appear)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from core.describe.predict import majority_spans
from core.generate.catalog import load_catalog
from core.span import Span
from core.store.store import Store
from core.workflow.edits import (
    EditedSegment,
    EditError,
    current_segments,
    describe_edit,
    edits_key,
    machine_segments,
    merge_segments,
    reconcile_edit,
    save_edit,
    segments_from_form,
    segments_from_json,
    segments_from_records,
    segments_table,
    segments_to_csv,
    segments_to_json,
    split_segment,
    timeline_from_segments,
    validate_segments,
)
from core.workflow.loop import multi_region_timeline
from tests.conftest import ROOT, wav_bytes

APP = str(ROOT / "app.py")
PAGE = "pages/segments.py"


def seg(start, end, descriptor="jazz_bossa_relaxed", tempo=90.0, tonic="D", band=None, label=""):
    return EditedSegment(start_s=start, end_s=end, descriptor=descriptor, tempo_bpm=tempo, tonic=tonic, band=band,
                         label=label)


FORM = [seg(0.0, 10.0, "jazz_bossa_relaxed", 90.0, "D", label="A"),
        seg(10.0, 22.5, "electronic_synthwave_driving", 112.0, "A", band="night_drive", label="B"),
        seg(22.5, 30.0, "cinematic_percussion_ominous", 100.0, "F#", label="A")]


# ------------------------------------------------------------------ validation
def test_a_valid_form_is_kept_and_normalised():
    out = validate_segments([replace(FORM[0], tonic="Bb", tempo_bpm=90.04), replace(FORM[1], band=""), FORM[2]])
    assert out[0].tonic == "A#" and out[0].tempo_bpm == 90.0
    assert out[1].band is None  # empty: the seed chooses
    assert [(s.start_s, s.end_s) for s in out] == [(0.0, 10.0), (10.0, 22.5), (22.5, 30.0)]
    assert validate_segments(FORM) == FORM


@pytest.mark.parametrize("change, words", [
    (lambda f: [replace(f[0], end_s=12.0), *f[1:]], ["Segment 1", "segment 2", "overlap"]),
    (lambda f: [f[0], replace(f[1], start_s=11.0), f[2]], ["gap", "segments 1 and 2"]),
    (lambda f: [replace(f[0], start_s=2.0), *f[1:]], ["Segment 1", "gap", "start at 0 s"]),
    (lambda f: [f[0], replace(f[1], end_s=8.0), f[2]], ["Segment 2", "ends before it starts"]),
    (lambda f: [f[0], replace(f[1], end_s=10.0), f[2]], ["Segment 2", "zero length"]),
    (lambda f: [replace(f[0], start_s=-1.0), *f[1:]], ["Segment 1", "negative"]),
    (lambda f: [f[0], f[1], replace(f[2], start_s=29.5, end_s=30.0)], ["Segment 3", "at least 1 s"]),
    (lambda f: [f[0], replace(f[1], descriptor="jazz_bosa_relaxed"), f[2]],
     ["Segment 2", "Unknown descriptor 'jazz_bosa_relaxed'", "jazz_bossa_relaxed"]),
    (lambda f: [f[0], replace(f[1], descriptor=""), f[2]], ["Segment 2", "needs a descriptor"]),
    (lambda f: [replace(f[0], band="night_drive"), *f[1:]],
     ["Segment 1", "'night_drive' is not a band of jazz_bossa_relaxed", "nylon_and_flute"]),
    (lambda f: [f[0], f[1], replace(f[2], tempo_bpm=250.0)], ["Segment 3", "between 20 and 200 BPM", "250"]),
    (lambda f: [f[0], f[1], replace(f[2], tempo_bpm=12.0)], ["Segment 3", "between 20 and 200 BPM"]),
    (lambda f: [f[0], f[1], replace(f[2], tempo_bpm=float("nan"))], ["Segment 3", "tempo must be a number"]),
    (lambda f: [replace(f[0], tonic="H"), *f[1:]], ["Segment 1", "not a pitch name"]),
    (lambda f: [], ["no segments"]),
])
def test_invalid_edits_are_refused_naming_the_segment_and_the_problem(change, words):
    with pytest.raises(EditError) as err:
        validate_segments(change(FORM))
    for word in words:
        assert word in str(err.value), str(err.value)


def test_a_segment_past_the_end_of_the_track_is_refused():
    with pytest.raises(EditError, match="Segment 3 .*after the end of the track"):
        validate_segments(FORM, duration_s=25.0)
    validate_segments(FORM, duration_s=30.0)


def test_table_rows_are_read_with_clear_messages():
    table = segments_table(FORM)
    assert list(table.columns) == ["segment", "start_s", "end_s", "duration_s", "label", "descriptor", "tempo_bpm",
                                   "tonic", "band"]
    assert table["band"].tolist() == ["", "night_drive", ""]
    assert segments_from_records(table) == FORM
    table.loc[1, "tempo_bpm"] = np.nan
    with pytest.raises(EditError, match="Segment 2 needs a tempo"):
        segments_from_records(table)


# ------------------------------------------------------------------ split, merge, table edits
def test_split_and_merge():
    split = split_segment(FORM, index=1, at_s=16.0)
    assert [(s.start_s, s.end_s) for s in split] == [(0.0, 10.0), (10.0, 16.0), (16.0, 22.5), (22.5, 30.0)]
    assert split[1].descriptor == split[2].descriptor == "electronic_synthwave_driving"
    assert split[1].band == split[2].band == "night_drive"
    assert merge_segments(split, index=1) == FORM  # merging the halves gives the segment back
    kept = merge_segments(FORM, index=0, keep="second")
    assert (kept[0].start_s, kept[0].end_s, kept[0].descriptor) == (0.0, 22.5, "electronic_synthwave_driving")
    assert merge_segments(FORM, index=0)[0].descriptor == "jazz_bossa_relaxed"
    with pytest.raises(EditError, match="Cannot split segment 2 .* at 10.5 s"):
        split_segment(FORM, index=1, at_s=10.5)  # a half would last less than 1 s
    with pytest.raises(EditError, match="inside the segment"):
        split_segment(FORM, index=0, at_s=25.0)
    with pytest.raises(EditError, match="no segment 9"):
        split_segment(FORM, index=8, at_s=5.0)
    with pytest.raises(EditError, match="Segment 3 is the last one"):
        merge_segments(FORM, index=2)


def test_a_table_edit_moves_shared_boundaries_and_clears_a_foreign_band():
    moved = reconcile_edit(FORM, [replace(FORM[0], end_s=12.0), FORM[1], FORM[2]])
    assert (moved[0].end_s, moved[1].start_s) == (12.0, 12.0)
    moved = reconcile_edit(FORM, [FORM[0], FORM[1], replace(FORM[2], start_s=20.0)])
    assert (moved[1].end_s, moved[2].start_s) == (20.0, 20.0)
    swapped = reconcile_edit(FORM, [FORM[0], replace(FORM[1], descriptor="pop_dance_happy"), FORM[2]])
    assert swapped[1].band is None  # night_drive is not a pop_dance_happy band: the seed chooses
    assert "Segment 2 descriptor electronic_synthwave_driving -> pop_dance_happy" in describe_edit(FORM, swapped)


# ------------------------------------------------------------------ files
def test_json_round_trip_and_csv():
    text = segments_to_json(FORM)
    assert json.loads(text)["segments"][1]["band"] == "night_drive"
    assert segments_from_json(text) == FORM
    assert segments_from_json(text.encode()) == FORM
    assert segments_from_json(json.dumps([s.to_dict() for s in FORM])) == FORM  # a bare list too
    csv = pd.read_csv(pd.io.common.StringIO(segments_to_csv(FORM)), keep_default_na=False)
    assert csv["descriptor"].tolist() == [s.descriptor for s in FORM]
    assert csv["duration_s"].tolist() == [10.0, 12.5, 7.5]
    assert segments_from_records(csv) == FORM  # the CSV reads back as the same form


@pytest.mark.parametrize("text, words", [
    ('{"segments": [', ["not valid JSON", "line 1"]),
    ("", ["not valid JSON"]),
    (b"\xff\xfe{", ["UTF-8"]),
    ('{"timeline": {"spans": []}}', ["'segments' list", "Render page"]),
    ('{"segments": {"start_s": 0}}', ["list of segments"]),
    ("[1, 2]", ["Segment 1 must be an object"]),
    ('[{"start_s": 0, "end_s": NaN, "descriptor": "jazz_bossa_relaxed", "tempo_bpm": 90}]', ["NaN"]),
    ('[{"start_s": "zero", "end_s": 10, "descriptor": "jazz_bossa_relaxed", "tempo_bpm": 90}]',
     ["Segment 1", "start", "number"]),
    ('[{"start_s": 0, "end_s": 10, "descriptor": "jazz_bossa_relaxed", "tempo_bpm": 90, "mood": "sad"}]',
     ["Segment 1", "unknown field 'mood'"]),
    ('[{"start_s": 0, "end_s": 10, "descriptor": "jazz_bossa_relaxed"}]', ["Segment 1 needs a tempo"]),
    ('{"version": 7, "segments": []}', ["version 7"]),
])
def test_malformed_segment_files_get_a_clear_message(text, words):
    with pytest.raises(EditError) as err:
        segments_from_json(text)
    for word in words:
        assert word in str(err.value), str(err.value)


# ------------------------------------------------------------------ timeline and the machine's version
def test_timeline_has_the_regions_on_the_beat():
    tl = timeline_from_segments(FORM)
    assert [r.descriptor for r in tl.regions] == [s.descriptor for s in FORM]
    assert [r.tempo_bpm for r in tl.regions] == [90.0, 112.0, 100.0]
    assert [r.tonic for r in tl.regions] == ["D", "A", "F#"]
    assert [r.band for r in tl.regions] == [None, "night_drive", None]
    previous_end = 0.0
    for region, s in zip(tl.regions, FORM):
        assert region.start_s == pytest.approx(previous_end)
        beat_s = 60.0 / region.tempo_bpm
        beats = region.duration_s / beat_s
        assert abs(beats - round(beats)) < 1e-3  # whole beats: every boundary on a beat
        assert abs(region.end_s - s.end_s) <= beat_s
        previous_end = region.end_s
    assert tl.duration_s == tl.regions[-1].end_s
    assert '"instrument_group": "night_drive"' in tl.to_json()
    # the same beat grid as the loop's stitched timelines (one code path)
    form = [Span(start_s=s.start_s, end_s=s.end_s, descriptor=s.descriptor, tempo_bpm=s.tempo_bpm, tonic=s.tonic)
            for s in FORM]
    stitched = multi_region_timeline(SimpleNamespace(duration_s=30.0, tonic="D"), form, fallback_descriptor="x")
    assert [(r.start_s, r.end_s) for r in stitched.regions] == [(r.start_s, r.end_s) for r in tl.regions]
    with pytest.raises(EditError, match="Segment 2"):
        timeline_from_segments([FORM[0], replace(FORM[1], tempo_bpm=300.0), FORM[2]])


def test_machine_version_from_a_majority_table():
    majority = pd.DataFrame({
        "start_s": [0.0, 12.0, 24.0], "end_s": [12.0, 24.0, 31.0], "label": ["A", "B", "A"],
        "descriptor": ["jazz_bossa_relaxed", "", "electronic_synthwave_driving"],
        "tempo_bpm": [96.0, float("nan"), 110.0], "key": ["D minor", "", "Bb major"]})
    analysis = SimpleNamespace(duration_s=30.25, tonic="E")
    form = majority_spans(majority)
    assert [(s.tempo_bpm, s.tonic) for s in form] == [(96.0, "D"), (None, None), (110.0, "Bb")]
    out = segments_from_form(analysis, form, fallback_descriptor="pop_dance_happy")
    assert [(s.start_s, s.end_s) for s in out] == [(0.0, 12.0), (12.0, 24.0), (24.0, 30.25)]  # ends with the track
    assert [s.descriptor for s in out] == ["jazz_bossa_relaxed", "pop_dance_happy", "electronic_synthwave_driving"]
    from core.generate.catalog import load_catalog

    assert out[1].tempo_bpm == load_catalog().get("pop_dance_happy").default_tempo_bpm  # unknown tempo: the default
    assert [s.tonic for s in out] == ["D", "E", "A#"]
    assert [s.label for s in out] == ["A", "B", "A"]
    assert all(s.band is None for s in out)


# ------------------------------------------------------------------ the stored history
def test_edits_persist_across_a_store_restart_with_undo_redo_and_reset(tmp_path):
    machine = FORM
    history = Store(tmp_path).edits("abc123", edits_key())
    assert current_segments(history, machine) == machine and not history.can_undo()
    one = [FORM[0], replace(FORM[1], descriptor="pop_dance_happy", band=None), FORM[2]]
    assert save_edit(history, machine, one) == one
    two = split_segment(one, index=0, at_s=5.0)
    save_edit(history, one, two, note="Split segment 1 at 5 s")
    assert save_edit(history, two, two) is None  # no change: nothing written
    with pytest.raises(EditError):
        save_edit(history, two, [replace(two[0], tempo_bpm=500.0), *two[1:]])
    assert history.count() == 2

    again = Store(tmp_path).edits("abc123", edits_key())  # a new process on the same folder
    assert current_segments(again, machine) == two
    assert again.notes() == ["Segment 2 descriptor electronic_synthwave_driving -> pop_dance_happy; "
                             "segment 2 band night_drive -> (by seed)", "Split segment 1 at 5 s"]
    again.undo()
    assert current_segments(Store(tmp_path).edits("abc123", edits_key()), machine) == one
    again.redo()
    assert current_segments(again, machine) == two
    again.reset()  # one more step in the history: nothing is dropped
    assert current_segments(Store(tmp_path).edits("abc123", edits_key()), machine) == machine
    assert again.notes()[-1] == "reset to the analysis"
    again.undo()
    assert current_segments(again, machine) == two
    again.reset()
    save_edit(again, machine, one)  # an edit after a reset keeps the edits before the reset
    again.undo()
    again.undo()
    assert current_segments(again, machine) == two


# ------------------------------------------------------------------ a prepared store for the pages
@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A data folder holding the 30 s ABAC piece with its analysis, stems and the WAV file."""
    from core.describe.models import load_model
    from core.generate.groundtruth import form_track

    audio, sr, _ = form_track(form="ABAC", tempo_bpm=96, tonic="D", mode="minor", bars_per_section=3)
    folder = tmp_path_factory.mktemp("prepared")
    wav = folder / "abac.wav"
    wav.write_bytes(wav_bytes(audio, sr))
    store = Store(folder / "data")
    track = store.add_track(wav.read_bytes(), name="abac", suffix=".wav")
    machine = machine_segments(track, store=store, model=load_model("mlp"))
    return SimpleNamespace(data=folder / "data", wav=wav, content_hash=track.content_hash, machine=machine)


def test_machine_version_without_separation_weights(prepared, monkeypatch, tmp_path):
    """Without the separation weights (a real empty weights folder), "auto" classifies the full
    mix and still gives the machine's version; "on" says the weights are missing."""
    from core.describe.models import load_model
    from core.errors import SeparationError

    monkeypatch.setenv("STUDIO_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    store = _copy_store(prepared, Path(os.environ["STUDIO_DATA_DIR"]))
    track = store.get_track(prepared.content_hash)
    assert machine_segments(track, store=store, model=load_model("mlp")) == prepared.machine  # no voice here
    with pytest.raises(SeparationError, match="make weights"):
        machine_segments(track, store=store, model=load_model("mlp"), remove_vocals="on")


def _copy_store(prepared, to: Path) -> Store:
    shutil.copytree(prepared.data, to, dirs_exist_ok=True)
    return Store(to)


def _segments_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def _edit_cell(at, row: int, column: str, value):
    editor = at.data_editor[0]
    at.session_state[editor.key] = {"edited_rows": {row: {column: value}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception


def test_segments_page_edits_undo_reset_and_render(prepared):
    store = _copy_store(prepared, Path(os.environ["STUDIO_DATA_DIR"]))
    history = store.edits(prepared.content_hash, edits_key())
    at = _segments_page()
    assert at.title[0].value == "Segments" and not at.error
    table = at.data_editor[0].value
    assert table["descriptor"].tolist() == [s.descriptor for s in prepared.machine]
    assert any("The machine's version" in m.value for m in at.markdown)
    new = "jazz_bossa_relaxed" if prepared.machine[0].descriptor != "jazz_bossa_relaxed" else "pop_dance_happy"

    # change a descriptor in the table: saved in the store at once
    _edit_cell(at, 0, "descriptor", new)
    assert at.data_editor[0].value["descriptor"][0] == new
    assert any("Saved" in s.value and new in s.value.replace("\\", "") for s in at.success)  # shown escaped
    assert history.count() == 1 and json.loads(history.current())["segments"][0]["descriptor"] == new

    # an invalid edit is refused with a message, and nothing saved is lost
    _edit_cell(at, 0, "tempo_bpm", 250.0)
    assert any("Not saved" in e.value and "Segment 1" in e.value and "20 and 200 BPM" in e.value for e in at.error)
    assert history.count() == 1 and json.loads(history.current())["segments"][0]["descriptor"] == new
    at.button(key="segments_discard").click()
    at.run()
    assert not at.error and at.data_editor[0].value["tempo_bpm"][0] == prepared.machine[0].tempo_bpm

    # undo, redo, reset to the analysis
    at.button(key="segments_undo").click()
    at.run()
    assert at.data_editor[0].value["descriptor"][0] == prepared.machine[0].descriptor and history.cursor() == 0
    at.button(key="segments_redo").click()
    at.run()
    assert at.data_editor[0].value["descriptor"][0] == new
    at.button(key="segments_reset").click()
    at.run()
    assert at.data_editor[0].value["descriptor"][0] == prepared.machine[0].descriptor
    at.button(key="segments_undo").click()  # the reset is one step: undo brings the edit back
    at.run()
    assert at.data_editor[0].value["descriptor"][0] == new

    # split the first segment, then a malformed segments file is refused
    at.button(key="split_go").click()
    at.run()
    assert len(at.data_editor[0].value) == len(prepared.machine) + 1 and history.count() == 2
    assert at.file_uploader(key="segments_json_upload").proto.max_upload_size_mb == 5  # the JSON text budget
    at.file_uploader(key="segments_json_upload").set_value(("bad.json", b'{"segments": [', "application/json"))
    at.run()
    assert not at.exception
    assert any("bad.json" in e.value.replace("\\", "") and "not valid JSON" in e.value for e in at.error)
    assert len(at.data_editor[0].value) == len(prepared.machine) + 1
    # a good one replaces the segments (one more edit in the history)
    good = json.loads(history.current())
    good["segments"][0]["tonic"] = "C#"
    at.file_uploader(key="segments_json_upload").set_value(("good.json", json.dumps(good).encode(), "application/json"))
    at.run()
    assert at.data_editor[0].value["tonic"][0] == "C#" and history.count() == 3
    assert any("Uploaded good.json" in s.value.replace("\\", "") for s in at.success)
    # a band: one of the descriptor's, "(by seed)" shown for none
    assert at.data_editor[0].value["band"].tolist()[-1] == "(by seed)"
    band = sorted(load_catalog().get(prepared.machine[-1].descriptor).bands)[1]
    _edit_cell(at, len(prepared.machine), "band", band)
    assert at.data_editor[0].value["band"].tolist()[-1] == band and history.count() == 4

    # render the edited form: a player and the downloads appear, linked to the track
    assert len(at.get("audio")) == 0
    at.button(key="segments_render").click()
    at.run()
    assert not at.exception
    assert not at.error
    assert len(at.get("audio")) == 1
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Segments JSON", "Segments CSV", "WAV", "MIDI", "Timeline"} <= set(labels)
    linked = [r for r in store.renders_of(prepared.content_hash) if r["kind"] == "edit"]
    assert len(linked) == 1
    rendered = store.get_render(linked[0]["render_key"])
    assert rendered.timeline.regions[0].descriptor == new and rendered.timeline.regions[-1].band == band
    assert rendered.regions[-1].band == band

    # a new session (a refresh, or a server restart) finds the edits and the render
    again = _segments_page()
    assert again.data_editor[0].value["descriptor"][0] == new
    assert len(again.data_editor[0].value) == len(prepared.machine) + 1
    assert len(again.get("audio")) == 1


# ------------------------------------------------------------------ the real browser
#: A fresh server imports torch and the synthesiser on its first request, and may compile numba code.
SLOW_MS = 180_000


def _column_widths() -> dict:
    """The page's COLUMN_WIDTHS, read from its source (importing a page would run it)."""
    import ast

    tree = ast.parse((ROOT / PAGE).read_text())
    node = next(n for n in tree.body
                if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "COLUMN_WIDTHS")
    return ast.literal_eval(node.value)


@pytest.mark.browser
def test_browser_edit_a_descriptor_render_and_hear_it(prepared, tmp_path, tmp_path_factory):
    tb = pytest.importorskip("tests.test_browser")  # skips when Playwright or Chromium is missing
    _copy_store(prepared, tmp_path / "server-data")
    new = "jazz_bossa_relaxed" if prepared.machine[-1].descriptor != "jazz_bossa_relaxed" else "pop_dance_happy"
    with tb._serve(tmp_path_factory, data_dir=tmp_path / "server-data") as url, tb.sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=tb.CHROMIUM, args=tb.CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1400}).new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{url}/segments")
            page.get_by_role("heading", name="Segments").first.wait_for(timeout=60_000)
            page.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files(str(prepared.wav))
            table = page.locator("[data-testid=stDataFrame]").first
            table.wait_for(timeout=SLOW_MS)
            page.get_by_text("The machine's version", exact=True).wait_for(timeout=SLOW_MS)
            assert page.locator("audio").count() == 0

            # the last row's descriptor cell (the grid is a canvas; the page fixes its column widths)
            widths = _column_widths()
            box = table.bounding_box()
            left = sum(widths[c] for c in list(widths)[: list(widths).index("descriptor")])
            rows = len(prepared.machine)
            page.mouse.dblclick(box["x"] + left + 40, box["y"] + 35 + 35 * (rows - 1) + 17)
            # the descriptor list opens (155 names; the tonic list has 12, the band list 61)
            page.locator("#portal").get_by_text("155 results available").wait_for(state="attached")
            page.keyboard.type(new.split("_", 1)[1])  # search: "bossa_relaxed"
            page.keyboard.press("Enter")
            page.get_by_text(f"Saved: Segment {rows} descriptor").wait_for(timeout=60_000)
            page.locator("[data-testid=stMarkdownContainer]", has_text="Edit 1 of 1").first.wait_for()

            page.get_by_role("button", name="Render", exact=True).click()
            page.locator("audio").first.wait_for(state="attached", timeout=SLOW_MS)
            page.get_by_role("button", name="MIDI", exact=True).wait_for(timeout=SLOW_MS)
            assert page.locator("audio").count() == 1
            assert page.locator("audio").first.get_attribute("src")
            assert page.get_by_role("button", name="WAV", exact=True).count() == 1, \
                page.get_by_role("button").all_inner_texts()
            body = page.locator("body").inner_text()
            assert "Traceback" not in body and page.locator("[data-testid=stException]").count() == 0, body[-2000:]
        finally:
            browser.close()


# ------------------------------------------------------------------ input budgets (issue 16, item 3)
def _long_form(n: int) -> list[dict]:
    return [{"start_s": i * 0.5, "end_s": (i + 1) * 0.5, "descriptor": "jazz_bossa_relaxed", "tempo_bpm": 90}
            for i in range(n)]


def test_too_many_segments_are_refused_naming_the_limit():
    import time

    from core.workflow import edits
    from core.workflow.editor import segments_from_table

    n = edits.MAX_SEGMENTS + 1
    started = time.perf_counter()
    for read in (lambda: segments_from_json(json.dumps({"segments": _long_form(20_000)})),  # 1.9 MB
                 lambda: segments_from_records(_long_form(n)),
                 lambda: validate_segments([FORM[0]] * n),
                 lambda: segments_from_table([{**r, "band": None} for r in _long_form(n)], FORM,
                                             catalog=load_catalog())):
        with pytest.raises(EditError) as err:
            read()
        assert f"{edits.MAX_SEGMENTS:,}" in str(err.value) and "segments" in str(err.value), str(err.value)
    assert time.perf_counter() - started < 3.0


def test_segment_text_over_the_size_budget_is_refused_before_parsing(monkeypatch):
    monkeypatch.setenv("STUDIO_MAX_JSON_MB", "0.01")
    with pytest.raises(EditError, match="MB.*STUDIO_MAX_JSON_MB"):
        segments_from_json(json.dumps(_long_form(200)))
    monkeypatch.delenv("STUDIO_MAX_JSON_MB")
    with pytest.raises(EditError, match="6.0 MB"):
        segments_from_json("[" + "{}," * 2_000_000 + "{}]")


@pytest.mark.parametrize("change", [
    {"descriptor": "jazz_" * 20_000}, {"band": "kazoo" * 20_000}, {"tonic": "H" * 100_000},
    {"label": "A" * 100_000}, {"z" * 100_000: 1}, {"tempo_bpm": list(range(100_000))},
    {"start_s": "x" * 100_000}, {"end_s": {"deep": [1] * 100_000}},
])
def test_segment_messages_are_short_whatever_the_input(change):
    row = {**FORM[0].to_dict(), **change}
    with pytest.raises(EditError) as err:
        segments_from_json(json.dumps({"segments": [row]}))
    assert len(str(err.value)) <= 300, str(err.value)[:400]
    with pytest.raises(EditError) as err:
        segments_from_json(json.dumps([list(range(100_000))]))
    assert len(str(err.value)) <= 300


@pytest.mark.parametrize("text, words", [
    ('[{"start_s": 0, "end_s": 1' + "0" * 5000 + ', "descriptor": "jazz_bossa_relaxed", "tempo_bpm": 90}]',
     ["too large"]),
    ('[{"start_s": 0, "end_s": 1e999, "descriptor": "jazz_bossa_relaxed", "tempo_bpm": 90}]', ["too large"]),
    ('[{"start_s": 0, "end_s": 10, "descriptor": "jazz_bossa_relaxed", "tempo_bpm": 90, "label": '
     + "[" * 900 + "]" * 900 + "}]", ["nested too deeply"]),
])
def test_huge_numbers_and_deep_nesting_in_segments_are_edit_errors(text, words):
    with pytest.raises(EditError) as err:
        segments_from_json(text)
    for word in words:
        assert word in str(err.value), str(err.value)


# ------------------------------------------------------------------ half/double tempo (issue 17)
def test_half_and_double_tempo_change_every_segment_and_one_undo_restores(tmp_path):
    from core.workflow.edits import at_tempo_level, tempo_level

    machine = validate_segments(FORM)
    history = Store(tmp_path).edits("abc123", edits_key())
    halved, note = at_tempo_level(machine, machine, level="half")
    assert [s.tempo_bpm for s in halved] == [45.0, 56.0, 50.0] and note == "Tempo halved"
    assert tempo_level(halved, machine) == "half" and tempo_level(machine, machine) == "as analysed"
    save_edit(history, machine, halved, note=note)
    assert Store(tmp_path).edits("abc123", edits_key()).notes() == ["Tempo halved"]  # one step in the history
    # the stitched render follows: its timeline is built from the segments, at the new tempi
    assert [r.tempo_bpm for r in timeline_from_segments(current_segments(history, machine)).regions] == [45, 56, 50]
    # a tempo changed by hand moves with the others; "as analysed" brings the analysis' reading back
    tweaked = [replace(halved[0], tempo_bpm=46.0), *halved[1:]]
    assert tempo_level(tweaked, machine) == "half"
    back, note = at_tempo_level(tweaked, machine, level="as analysed")
    assert [s.tempo_bpm for s in back] == [92.0, 112.0, 100.0] and note == "Tempo doubled"
    history.undo()
    assert current_segments(history, machine) == machine


def test_doubling_past_the_fastest_tempo_is_refused_and_changes_nothing(tmp_path):
    from core.workflow.edits import at_tempo_level

    machine = validate_segments(FORM)
    history = Store(tmp_path).edits("abc123", edits_key())
    with pytest.raises(EditError) as err:  # 112 BPM doubled is 224: never clamped to 200
        at_tempo_level(machine, machine, level="double")
    text = str(err.value)
    assert "segment 2" in text and "224 BPM" in text and "20-200 BPM" in text and "nothing was changed" in text
    slow = [replace(s, tempo_bpm=30.0) for s in machine]
    with pytest.raises(EditError, match="Halving the tempo would take segment 1 .* to 15 BPM"):
        at_tempo_level(slow, slow, level="half")
    with pytest.raises(EditError, match="half, as analysed, double"):
        at_tempo_level(machine, machine, level="triple")
    assert history.count() == 0


def test_segments_page_halves_the_tempo_as_one_undoable_edit(prepared):
    store = _copy_store(prepared, Path(os.environ["STUDIO_DATA_DIR"]))
    history = store.edits(prepared.content_hash, edits_key())
    at = _segments_page()
    assert at.button(key="tempo_analysed").disabled and not at.button(key="tempo_half").disabled
    at.button(key="tempo_half").click()
    at.run()
    assert not at.exception and not at.error
    tempi = at.data_editor[0].value["tempo_bpm"].tolist()
    assert tempi == [round(s.tempo_bpm / 2, 1) for s in prepared.machine]
    assert history.count() == 1 and history.notes() == ["Tempo halved"]
    assert any("Tempo halved" in s.value for s in at.success)
    assert at.button(key="tempo_half").disabled
    at.button(key="segments_undo").click()
    at.run()
    assert at.data_editor[0].value["tempo_bpm"].tolist() == [s.tempo_bpm for s in prepared.machine]
