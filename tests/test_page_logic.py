"""The pages' logic in core (no Streamlit): the segment editor's table, the Listen page's version
list and blind round, the Render page's variations, the Loop page's titles and the study figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
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
from core.workflow.variations import display_name, display_titles, variation_timelines
from pages.ui.text import message

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


# ------------------------------------------------------- readable charts (issue 17 item 3)
def _label_extents(fig, *, width_px: float):
    """Per label row (y, anchor, shift): each annotation's (left, right) in seconds, from its text
    and font as :func:`core.plots.place_labels` measures them."""
    import re

    CHAR_EM, BOLD_CHAR_EM = 0.62, 0.70  # glyph width per point of font size (sans-serif), as core.plots

    x0, x1 = fig.layout.xaxis.range
    px_per_s = width_px / (x1 - x0)
    rows: dict = {}
    for a in fig.layout.annotations:
        if a.xref not in (None, "x") or a.x is None:
            continue  # subplot titles and other paper-placed texts
        text, bold = re.sub(r"</?b>", "", a.text), "<b>" in a.text
        width_s = len(text) * (a.font.size or 12) * (BOLD_CHAR_EM if bold else CHAR_EM) / px_per_s
        left = a.x - {"left": 0.0, "right": width_s}.get(a.xanchor, width_s / 2)
        rows.setdefault((a.y, a.yanchor, a.yshift or 0), []).append((left, left + width_s, text))
    return rows


def _assert_no_overlap(rows) -> None:
    for row, spans in rows.items():
        spans = sorted(spans)
        for (_, end, text), (start, _, nxt) in zip(spans, spans[1:]):
            assert end <= start + 1e-9, f"{text!r} overlaps {nxt!r} in row {row}"


def test_labels_are_placed_in_rows_that_never_overlap():
    from core.plots import place_labels

    names = [f"electronic_synthwave_driving_{i}" for i in range(12)]
    starts = [0, 1, 2, 3, 4, 5, 20, 21, 40, 41, 42, 43]
    placed = place_labels(starts, names, duration_s=90.0, width_px=600, font_px=11, rows=3)
    assert [p.full for p in placed] == names and {p.row for p in placed} == {0, 1, 2}
    by_row: dict = {}
    for p in placed:
        by_row.setdefault(p.row, []).append((p.x_s, p.x_s + p.width_s, p.text))
    _assert_no_overlap(by_row)
    assert placed[-1].text == names[-1]  # the last of a crowd keeps its whole name
    assert any(p.text.endswith("\u2026") or p.text == "" for p in placed)  # the crowd's others are shortened
    assert all(p.x_s + p.width_s <= 90.0 for p in placed)  # nothing runs off the right edge


def test_overlay_and_render_charts_have_no_colliding_labels():
    from core.audio.load import track_from_array
    from core.generate.render import render
    from core.generate.timeline import multi_region
    from core.plots import overlay_figure, render_figure

    descriptors = ["electronic_synthwave_driving", "jazz_bossa_relaxed", "cinematic_ambient_dreamy"]
    regions = [{"start_s": 4.0 * i, "end_s": 4.0 * (i + 1), "descriptor": descriptors[i % 3], "tempo_bpm": 120,
                "tonic": "A"} for i in range(6)]
    result = render(multi_region(regions), seed=3)
    segments = pd.DataFrame({"start_s": [0.0, 3.0, 6.0, 9.0], "end_s": [3.0, 6.0, 9.0, 24.0],
                             "label": ["verse", "chorus", "bridge", "outro"]})
    reference = track_from_array(result.audio, result.sample_rate, name="ref")
    overlay = overlay_figure(reference, result, segments=segments)
    _assert_no_overlap(_label_extents(overlay, width_px=840))
    assert {a.hovertext for a in overlay.layout.annotations} >= {"electronic synthwave driving", "verse"}
    levels = render_figure(result)
    _assert_no_overlap(_label_extents(levels, width_px=300))
    assert levels.layout.xaxis.ticktext[1] == "0:05"  # times as m:ss


def test_the_player_labels_never_overlap():
    from core.audio.load import track_from_array
    from core.workflow.audition import PLAYER_FONT_PX, PLAYER_WIDTH_PX, waveform_config

    track = track_from_array(np.zeros((48_000 * 60, 2), dtype="float32"), 48_000, name="quiet")
    segments = pd.DataFrame({"start_s": [0.0, 2.0, 4.0, 6.0, 30.0], "end_s": [2.0, 4.0, 6.0, 30.0, 60.0],
                             "label": ["cinematic_ambient_dreamy", "jazz_bossa_relaxed", "rock_indie_brooding",
                                       "electronic_synthwave_driving", "A"]})
    config = waveform_config(track, segments, "")
    px_per_s, char_px = PLAYER_WIDTH_PX / 60.0, PLAYER_FONT_PX * 0.70
    rows: dict = {}
    for s in config["segments"]:
        left = s["start_s"] + 4 / px_per_s
        rows.setdefault(s["row"], []).append((left, left + len(s["text"]) * char_px / px_per_s, s["text"]))
    _assert_no_overlap(rows)
    assert [s["label"] for s in config["segments"]] == list(segments["label"])  # full names for the hover


def test_prediction_lanes_have_one_legend_each_and_words():
    from core.plots import LANE_TARGETS, prediction_lanes_figure

    n = 45
    starts = np.arange(n) * 2.0
    windows = pd.DataFrame({"start_s": starts, "end_s": starts + 10.0})
    for i, target in enumerate(LANE_TARGETS):
        windows[target] = [f"{target}{(j + i) % (3 + i)}" for j in range(n)]
        windows[f"{target}_prob"] = 0.8
    windows["valence"] = [j % 3 for j in range(n)]
    windows["momentum"] = [j % 5 for j in range(n)]
    fig = prediction_lanes_figure(windows, duration_s=100.0)
    legends = {}
    for trace in fig.data:
        legends.setdefault(trace.legend or "legend", []).append(trace)
    assert len(legends) == len(LANE_TARGETS)  # one legend per lane
    for traces in legends.values():
        assert len({t.y[0] for t in traces}) == 1  # a legend holds one lane's labels
        assert len({t.marker.color for t in traces}) == len(traces)  # and no colour twice
    names = {t.name for t in fig.data}
    assert {"dark", "balanced", "bright", "still", "intense"} <= names and "2" not in names
    assert any("bright (2)" in t.hovertemplate for t in fig.data)  # the number on hover
    assert any("1:33" in str(t.customdata) for t in fig.data)  # times as m:ss
    # each legend sits above its own lane and below the lane before it
    for i in range(1, len(LANE_TARGETS) + 1):
        suffix = str(i) if i > 1 else ""
        legend, axis = fig.layout[f"legend{suffix}"], fig.layout[f"yaxis{suffix}"]
        assert legend.y >= axis.domain[1]
        if i > 1:
            assert legend.y <= fig.layout[f"yaxis{i - 1 if i > 2 else ''}"].domain[0]
    # a track all one genre still shows its genre legend (plotly hides a lone first legend by itself)
    one = windows.assign(genre="rock")
    assert prediction_lanes_figure(one, duration_s=100.0).layout.showlegend is True


def test_descriptor_levels_are_words_with_the_numbers_on_hover():
    from core.plots import clock, describe_levels, level_word

    assert level_word("valence", 2) == "bright" and level_word("momentum", "0") == "still"
    assert level_word("mood", "happy") == "happy" and level_word("valence", "unknown") == "unknown"
    words, numbers = describe_levels(valence=0, momentum=3)
    assert "dark" in words and "driving" in words and "2/" not in words
    assert "valence 0 of 0-2" in numbers and "momentum 3 of 0-4" in numbers
    assert [clock(t) for t in (0, 59.6, 75.4, 3600)] == ["0:00", "1:00", "1:15", "60:00"]


def test_the_loop_page_says_what_a_run_will_do_and_then_what_it_did():
    from core.generate.timeline import multi_region
    from core.workflow.loop import LoopRender, LoopResult
    from core.workflow.loop_report import loop_done, loop_todo

    timeline = multi_region([{"start_s": 0.0, "end_s": 8.0, "descriptor": "rock_indie_driving", "tempo_bpm": 124,
                              "tonic": "E"}])
    plan = [LoopRender("riff", kind, v, v, timeline) for v in range(3) for kind in ("single", "multi")]
    result = LoopResult(plan, [f"k{i}" for i in range(6)], pd.DataFrame(), pd.DataFrame())
    assert "up to 15 renders" in loop_todo(1, variations=3) and "1 of the chosen track has" in loop_todo(1, variations=3)
    done = loop_done([result], elapsed_s=65.2)
    assert done == "Ran the loop on 1 track: 6 renders (3 in one style, 3 stitched to follow the form) in 1:05."


def test_the_multi_player_labels_never_overlap():
    from core.workflow.audition import PLAYER_FONT_PX, PLAYER_WIDTH_PX, Version, player_config

    versions = [Version(id="original", key="a", label="original", samples=np.zeros((48_000 * 40, 2), dtype="float32"),
                        sample_rate=48_000, gain_db=0.0)]
    segments = pd.DataFrame({"start_s": [0.0, 1.0, 2.0, 20.0], "end_s": [1.0, 2.0, 20.0, 40.0],
                             "label": ["cinematic_ambient_dreamy", "jazz_bossa_relaxed", "rock_indie_brooding", "B"]})
    config = player_config(versions, [""], segments=segments)
    px_per_s, char_px = PLAYER_WIDTH_PX / 40.0, PLAYER_FONT_PX * 0.70
    rows: dict = {}
    for s in config["segments"]:
        left = s["start_s"] + 4 / px_per_s
        rows.setdefault(s["row"], []).append((left, left + len(s["text"]) * char_px / px_per_s, s["text"]))
    _assert_no_overlap(rows)
    assert len(rows) > 1 and [s["label"] for s in config["segments"]] == list(segments["label"])


def test_the_tempo_headline_says_how_clear_the_pulse_is():
    from types import SimpleNamespace

    from core.workflow.overview import headline, pulse_words

    base = dict(duration_s=30.0, key="D minor", k=2, segments=[1, 2])
    clear = headline(SimpleNamespace(tempo_bpm=96.0, tempo_confidence=0.6, **base))
    assert clear[1][0] == "Tempo" and clear[1][2].startswith("Clear pulse")
    rows = {label: (value, help_text) for label, value, help_text in
            headline(SimpleNamespace(tempo_bpm=96.0, tempo_confidence=0.05, **base))}
    assert rows["Tempo"][0] == "96.0 BPM" and "check the tempo" in rows["Tempo"][1]
    none = {label: help_text for label, _, help_text in
            headline(SimpleNamespace(tempo_bpm=float("nan"), tempo_confidence=0.0, **base))}
    assert "No steady pulse" in none["Tempo"]
    assert pulse_words(0.6) == "clear pulse" and pulse_words(0.2) == "steady pulse" and len(clear) == 5


# ------------------------------------------------- names in words for a page (issue 17 item 6)
def test_render_ids_read_as_words_and_other_names_stay():
    linked = [{"render_key": "k1", "kind": "single", "label": "single_rock_indie_brooding_124bpm_A_v0"},
              {"render_key": "k2", "kind": "multi", "label": "multi_v0"},
              {"render_key": "k3", "kind": "single", "label": "single_electronic_tropical_house_fun_96.5bpm_Cs_v2"}]
    shown = {k: display_name(v) for k, v in render_labels(linked, {}).items()}
    assert shown == {"k1": "Rock, indie, brooding - 124 BPM, A - version 1", "k2": "Stitched version 1",
                     "k3": "Electronic, tropical house, fun - 96.5 BPM, C# - version 3"}
    titles = display_titles([{"render_key": "r", "title": "Let It Be: multi_v1"},
                             {"render_key": "s", "title": "Let It Be: edited form (seed 3)"}])
    assert titles == {"r": "Let It Be - Stitched version 2", "s": "Let It Be: edited form (seed 3)"}
    assert display_name("edit: my take") == "Edited form: my take"
    assert display_name("single: not an id") == "single: not an id"  # never a wrong guess


def test_messages_name_no_server_setting():
    text = message(RuntimeError("Put the files in /srv/w/demucs (or set STUDIO_WEIGHTS_DIR to a folder whose "
                                "'demucs' subfolder holds them). Trim it (STUDIO_MAX_DURATION_S)."))
    assert "STUDIO_" not in text and "Put the files in demucs. Trim it." in text


# ------------------------------------------------- versions named by the user (issue 17)
def test_a_renamed_version_shows_its_name_with_its_kind_and_others_read_as_words():
    from core.workflow.audition import page_names

    linked = [{"render_key": "k1", "kind": "multi", "label": "multi_v0", "named": False},
              {"render_key": "k2", "kind": "edit", "label": "Bridge: single_rock_indie_brooding_124bpm_A_v0",
               "named": True}]
    titles, labels, names = page_names(linked, [{"render_key": "k3", "title": "Song: multi_v1"}])
    assert labels == {"k1": "Stitched version 1", "k2": "Bridge: single_rock_indie_brooding_124bpm_A_v0 (edited form)"}
    assert names[version_id("k2")] == labels["k2"] and names[version_id("k3")] == "Song - Stitched version 2"
    assert titles == {"k3": "Song - Stitched version 2"}
