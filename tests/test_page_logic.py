"""The pages' logic in core (no Streamlit): the segment editor's table, the Listen page's version
list and blind round, the Render page's variations, the Loop page's titles and the study figures."""

from __future__ import annotations

import json

import pytest

from core.describe.models import TARGETS
from core.describe.study import STUDY_COLUMN, STUDY_FILE, StudyError, accuracy_table, amper_study
from core.generate.catalog import load_catalog
from core.span import Span
from core.workflow.audition import default_renders, pairs_to_vote, render_labels, render_name, version_names
from core.workflow.editor import BY_SEED, editor_table, open_edits, segment_label, segments_frame, segments_from_table
from core.workflow.listen import ORIGINAL, version_id
from core.workflow.loop import AMPER_MULTI, AMPER_SINGLE
from core.workflow.loop_report import unique_titles
from core.workflow.variations import variation_timelines

FORM = [Span(start_s=0.0, end_s=10.0, label="A", descriptor="jazz_bossa_relaxed", tempo_bpm=90.0, tonic="D"),
        Span(start_s=10.0, end_s=30.0, label="B", descriptor="electronic_synthwave_driving", tempo_bpm=112.0,
             tonic="A", band="night_drive")]


def test_the_study_figures_come_from_one_validated_file(tmp_path):
    study = amper_study()
    assert study.single_region["genre"] == 0.897 and study.multi_region["momentum"] == 0.413
    assert AMPER_SINGLE == study.single_region and AMPER_MULTI == study.multi_region  # the loop reads the same file
    bad = tmp_path / "study.json"
    doc = json.loads(STUDY_FILE.read_text())
    doc["single_region"]["mood"] = 1.5
    bad.write_text(json.dumps(doc))
    with pytest.raises(StudyError, match="single_region.mood"):
        amper_study(bad)
    del doc["multi_region"]["genre"]
    doc["single_region"]["mood"] = 0.7
    bad.write_text(json.dumps(doc))
    with pytest.raises(StudyError, match="multi_region"):
        amper_study(bad)
    bad.write_text("{")
    with pytest.raises(StudyError, match="not valid JSON"):
        amper_study(bad)


def test_the_accuracy_table_ends_with_the_study_column():
    class Model:
        name = "m"
        metrics = {t: {"window_accuracy": 0.5, "render_accuracy": 0.6} for t in TARGETS}

    table = accuracy_table([Model()])
    assert list(table.columns) == ["m windows", "m renders", STUDY_COLUMN]
    assert table.loc["subgenre", STUDY_COLUMN] == 0.858


def test_the_editor_table_round_trips_with_the_seed_band():
    catalog = load_catalog()
    table = editor_table(FORM)
    assert table["band"].tolist() == [BY_SEED, "night_drive"]
    rows = table.to_dict(orient="records")
    assert segments_from_table(rows, FORM, catalog=catalog) == FORM
    rows[0]["end_s"] = 12.0  # moving an end moves the next start too
    after = segments_from_table(rows, FORM, catalog=catalog)
    assert after[0].end_s == after[1].start_s == 12.0 and after[0].band is None
    assert segments_frame(FORM)["label"].tolist() == [s.descriptor for s in FORM]
    assert segments_frame(FORM, by="section")["label"].tolist() == ["A", "B"]
    assert segment_label(FORM, 1) == "2: 10.00-30.00 s (electronic_synthwave_driving)"


def test_the_editor_state_names_the_version():
    class History:
        def __init__(self, cursor, count):
            self._cursor, self._count = cursor, count

        def current(self):
            return None

        def cursor(self):
            return self._cursor

        def count(self):
            return self._count

        def notes(self):
            return ["Segment 1 tempo 90 -> 96"]

    assert open_edits(History(0, 1), FORM, duration_s=30.0, catalog=None).status.endswith("1 edit to redo")
    assert "Edit 1 of 1" in open_edits(History(1, 1), FORM, duration_s=30.0, catalog=None).status


def test_the_listen_page_names_and_orders_the_versions():
    linked = [{"render_key": "k1", "kind": "single", "label": "single_rock_v1"},
              {"render_key": "k2", "kind": "edit", "label": "edit 1 · seed 0"}]
    titles = {"k1": "rock", "k2": "edited", "k3": "someone else's"}
    labels = render_labels(linked, titles)
    assert labels == {"k1": "single: rock_v1", "k2": "edit: edit 1 · seed 0"}
    assert default_renders(linked, limit=3) == ["k2", "k1"]
    assert render_name("k3", labels, titles, other="other: ") == "other: someone else's"
    assert version_names(labels, titles)[version_id("k3")] == "someone else's"
    letters = {"A": ORIGINAL, "B": version_id("k1"), "C": version_id("k2")}
    votes = [{"version_a": ORIGINAL, "version_b": version_id("k2"), "session": "r1"},
             {"version_a": ORIGINAL, "version_b": version_id("k1"), "session": "another round"}]
    pairs, todo = pairs_to_vote(letters, votes, round_id="r1")
    assert pairs == [("A", "B"), ("A", "C"), ("B", "C")] and todo == [("A", "B"), ("B", "C")]


def test_variations_take_the_bands_in_turn_and_titles_are_unique():
    bands = sorted(load_catalog().get("electronic_synthwave_driving").bands)
    timelines = variation_timelines("electronic_synthwave_driving", duration_s=8.0, tempo_bpm=110.0, tonic="A",
                                    band=None, variations=3, seed=1)
    assert [t.regions[0].band for t in timelines] == [bands[(1 + i) % len(bands)] for i in range(3)]
    fixed = variation_timelines("electronic_synthwave_driving", duration_s=8.0, tempo_bpm=110.0, tonic="A",
                                band=bands[0], variations=2)
    assert {t.regions[0].band for t in fixed} == {bands[0]}
    library = [{"content_hash": "aaaaaaaa1", "name": "song"}, {"content_hash": "bbbbbbbb2", "name": "song"},
               {"content_hash": "cccccccc3", "name": "other"}]
    assert unique_titles(library) == {"aaaaaaaa1": "song (aaaaaa)", "bbbbbbbb2": "song (bbbbbb)",
                                      "cccccccc3": "other"}
