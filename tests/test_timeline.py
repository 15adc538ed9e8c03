"""The render timeline: JSON format, schema, validation messages, builders."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from core.errors import StudioError
from core.generate.catalog import load_catalog
from core.generate.timeline import (
    MAX_DURATION_S,
    SCHEMA_PATH,
    Region,
    Timeline,
    TimelineError,
    load_timeline,
    multi_region,
    parse_tonic,
    single_region,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("timeline_*.json"))


def good() -> dict:
    """The documented two-region example (intro 0-20 s, drive 20-60 s)."""
    return {"timeline": {"spans": [
        {"id": 1, "time": 0, "type": "metered", "tempo": 96.0,
         "instrument_groups": [{"instrument_group": "taiko_and_strings"}],
         "actions": [{"time": 0, "add_region": {"id": "intro", "descriptor": "cinematic_percussion_ominous",
                                                "key": {"tonic": "D"}, "cut_at": 20.0}}]},
        {"id": 2, "time": 20.0, "type": "metered", "tempo": 128.0,
         "actions": [{"time": 20.0, "add_region": {"id": "drive", "descriptor": "electronic_synthwave_driving",
                                                   "key": {"tonic": "A"}}}]},
        {"time": 60.0, "type": "unmetered"},
    ]}}


def bad(edit) -> dict:
    doc = copy.deepcopy(good())
    edit(doc["timeline"]["spans"])
    return doc


def raises(data, *words):
    with pytest.raises(TimelineError) as info:
        if isinstance(data, (str, bytes)):
            Timeline.from_json(data)
        else:
            Timeline.from_dict(data)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {info.value}"
    return str(info.value)


def test_descriptors_used_here_exist():
    names = set(load_catalog().names())
    used = {"cinematic_percussion_ominous", "electronic_synthwave_driving", "jazz_bossa_romantic",
            "pop_corporate_uplifting", "cinematic_ambient_mysterious", "cinematic_percussion_determined"}
    assert used <= names


def test_documented_example_reads():
    t = Timeline.from_dict(good())
    assert t.duration_s == 60.0
    intro, drive = t.regions
    assert intro == Region("intro", 0.0, 20.0, "cinematic_percussion_ominous", 96.0, "D", "taiko_and_strings")
    assert (drive.start_s, drive.end_s, drive.tempo_bpm, drive.tonic, drive.band) == (20.0, 60.0, 128.0, "A", None)
    assert drive.duration_s == 40.0
    assert isinstance(TimelineError("x"), StudioError)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_examples_round_trip_and_validate(path):
    text = path.read_text()
    jsonschema.validate(json.loads(text), json.loads(SCHEMA_PATH.read_text()),
                        cls=jsonschema.Draft202012Validator)
    t = Timeline.from_json(text)
    assert load_timeline(path) == t
    assert Timeline.from_dict(t.to_dict()) == t
    assert Timeline.from_json(t.to_json()) == t
    assert Timeline.from_json(t.to_json(indent=None).encode()) == t
    jsonschema.validate(t.to_dict(), json.loads(SCHEMA_PATH.read_text()), cls=jsonschema.Draft202012Validator)


def test_example_contents():
    single = load_timeline(EXAMPLES / "timeline_single.json")
    assert single.duration_s == 30.0
    assert [(r.descriptor, r.start_s, r.end_s, r.tempo_bpm, r.tonic) for r in single.regions] == [
        ("pop_corporate_uplifting", 0.0, 30.0, 112.0, "D")]
    multi = load_timeline(EXAMPLES / "timeline_multi.json")
    assert multi.duration_s == 60.0
    assert [(r.descriptor, r.start_s, r.end_s, r.tempo_bpm, r.tonic) for r in multi.regions] == [
        ("cinematic_ambient_mysterious", 0.0, 20.0, 80.0, "D"),
        ("cinematic_percussion_determined", 20.0, 40.0, 96.0, "D"),
        ("electronic_synthwave_driving", 40.0, 60.0, 110.0, "A")]


def test_schema_is_valid():
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


def test_gaps_become_unmetered_spans_and_round_trip():
    t = multi_region([
        {"start_s": 2.0, "end_s": 10.0, "descriptor": "jazz_bossa_romantic", "tempo_bpm": 120, "tonic": "F"},
        {"start_s": 15.0, "end_s": 30.5, "descriptor": "rock_indie_exciting", "tempo_bpm": 140, "tonic": "E",
         "band": "two_guitars", "id": 7},
    ])
    spans = t.to_dict()["timeline"]["spans"]
    assert [(s["time"], s["type"]) for s in spans] == [
        (0.0, "unmetered"), (2.0, "metered"), (10.0, "unmetered"), (15.0, "metered"), (30.5, "unmetered")]
    assert Timeline.from_dict(t.to_dict()) == t
    assert t.regions[1].id == "7"


def test_single_region_builder():
    t = single_region("folk_acoustic_hopeful", duration_s=45.0, tonic="Eb", band="fingerpicked")
    (r,) = t.regions
    assert t.duration_s == 45.0
    assert (r.start_s, r.end_s, r.tonic, r.band) == (0.0, 45.0, "D#", "fingerpicked")
    assert r.tempo_bpm == load_catalog().get("folk_acoustic_hopeful").default_tempo_bpm
    assert single_region("jazz_bossa_romantic", duration_s=10, tempo_bpm=90).regions[0].tempo_bpm == 90.0


def test_multi_region_builder_orders_regions_and_ends_with_the_last():
    t = multi_region([
        {"start_s": 20, "end_s": 40, "descriptor": "rock_indie_exciting", "tempo_bpm": 132, "tonic": "Gb"},
        {"start_s": 0, "end_s": 20, "descriptor": "jazz_bossa_romantic", "tempo_bpm": 118, "tonic": "c",
         "id": "a"},
    ])
    assert [r.id for r in t.regions] == ["a", "1"]
    assert [r.tonic for r in t.regions] == ["C", "F#"]
    assert t.duration_s == 40.0


@pytest.mark.parametrize("name,sharp", [("C", "C"), ("Bb", "A#"), ("bb", "A#"), ("Db", "C#"), ("E#", "F"),
                                        ("Cb", "B"), ("B#", "C"), ("f#", "F#"), ("A♭", "G#"), ("Fb", "E")])
def test_enharmonic_tonics(name, sharp):
    assert parse_tonic(name) == sharp
    doc = good()
    doc["timeline"]["spans"][0]["actions"][0]["add_region"]["key"]["tonic"] = name
    assert Timeline.from_dict(doc).regions[0].tonic == sharp


def test_key_may_be_omitted():
    doc = bad(lambda s: s[0]["actions"][0]["add_region"].pop("key"))
    assert Timeline.from_dict(doc).regions[0].tonic == "C"


# -- each bad case, one by one -------------------------------------------------------------------

def test_malformed_json_says_line_and_column():
    raises('{"timeline": {\n  "spans": [,]}}', "not valid JSON", "line 2", "column")
    raises('{"timeline": {"spans": [{"time": NaN}]}}', "NaN")


def test_not_an_object_or_missing_parts():
    raises("[1, 2]", "document", "object")
    raises({"spans": []}, "needs 'timeline'")
    raises({"timeline": {}}, "timeline needs 'spans'")
    raises({"timeline": {"spans": []}}, "spans must not be empty")
    raises({"timeline": {"spans": "x"}}, "spans must be a list")


def test_span_without_time_or_type():
    raises(bad(lambda s: s[1].pop("time")), "spans[1] needs 'time'")
    raises(bad(lambda s: s[2].pop("type")), "spans[2] needs 'type'", "metered")


def test_bad_span_type():
    raises(bad(lambda s: s[0].update(type="meterd")), "spans[0].type", '"metered" or "unmetered"', "meterd")


def test_wrong_types_name_the_path():
    raises(bad(lambda s: s[1].update(tempo="fast")), "spans[1].tempo must be a number")
    raises(bad(lambda s: s[0]["actions"][0].update(time="0")), "spans[0].actions[0].time must be a number")


def test_unknown_field_is_named():
    raises(bad(lambda s: s[0]["actions"][0]["add_region"].update(cutat=5)), "unknown field 'cutat'", "cut_at")


def test_negative_times():
    raises(bad(lambda s: s[0].update(time=-1)), "spans[0].time", "negative")
    raises(bad(lambda s: s[0]["actions"][0].update(time=-0.5)), "spans[0].actions[0].time", "negative")


def test_span_times_must_increase():
    raises(bad(lambda s: s[1].update(time=0)), "spans[1].time", "must come after spans[0].time")
    raises(bad(lambda s: s[2].update(time=10)), "spans[2].time", "must come after", "time order")


def test_metered_span_tempo():
    raises(bad(lambda s: s[0].pop("tempo")), "spans[0] needs 'tempo'", "BPM")
    raises(bad(lambda s: s[1].update(tempo=250)), "spans[1].tempo", "between 20 and 200 BPM", "250")
    raises(bad(lambda s: s[1].update(tempo=12.5)), "between 20 and 200 BPM")


def test_tempo_outside_descriptor_range_is_allowed():
    lo, _ = load_catalog().get("cinematic_percussion_ominous").tempo_bpm
    doc = bad(lambda s: s[0].update(tempo=lo - 30))
    assert Timeline.from_dict(doc).regions[0].tempo_bpm == lo - 30


def test_metered_span_without_add_region():
    raises(bad(lambda s: s[0].pop("actions")), "spans[0] needs 'actions'", "add_region")
    raises(bad(lambda s: s[0].update(actions=[])), "spans[0].actions must not be empty", "add_region")
    raises(bad(lambda s: s[0]["actions"][0].pop("add_region")), "spans[0].actions[0] needs 'add_region'")


def test_unmetered_span_cannot_hold_regions():
    raises(bad(lambda s: s[2].update(tempo=100)), "spans[2] is unmetered", "cannot")


def test_action_time_outside_its_span():
    raises(bad(lambda s: s[0]["actions"][0].update(time=25)), "spans[0].actions[0].time", "inside its span",
           "0 s to 20 s")


def test_cut_at_before_start_or_beyond_span():
    late_start = bad(lambda s: (s[0]["actions"][0].update(time=10),
                                s[0]["actions"][0]["add_region"].update(cut_at=5)))
    msg = raises(late_start, "cut_at", "after the region's start")
    assert "spans[0].actions[0].add_region.cut_at" in msg
    raises(bad(lambda s: s[0]["actions"][0]["add_region"].update(cut_at=30)), "cut_at", "beyond the end of its span")


def test_overlapping_regions():
    def two_in_one_span(spans):
        spans[0]["actions"].append({"time": 10, "add_region": {"id": "x", "descriptor": "jazz_bossa_romantic"}})

    raises(bad(two_in_one_span), "overlap", "'intro'", "'x'")


def test_duplicate_region_ids():
    raises(bad(lambda s: s[1]["actions"][0]["add_region"].update(id="intro")), "'intro'", "used twice")
    numbers = bad(lambda s: (s[0]["actions"][0]["add_region"].update(id=3),
                             s[1]["actions"][0]["add_region"].update(id="3")))
    raises(numbers, "'3'", "used twice")


def test_unknown_descriptor_suggests_names():
    msg = raises(bad(lambda s: s[1]["actions"][0]["add_region"].update(descriptor="electronic_synthwave_drivin")),
                 "Unknown descriptor 'electronic_synthwave_drivin'", "Did you mean", "'drive'")
    assert "electronic_synthwave_driving" in msg


def test_unknown_band_lists_the_descriptors_bands():
    raises(bad(lambda s: s[0]["instrument_groups"][0].update(instrument_group="kazoo")),
           "'kazoo' is not a band of cinematic_percussion_ominous", "taiko_and_strings", "hybrid_synth")
    raises(bad(lambda s: s[0]["instrument_groups"].append({"instrument_group": "hybrid_synth"})), "exactly one band")


def test_bad_tonic():
    raises(bad(lambda s: s[0]["actions"][0]["add_region"]["key"].update(tonic="H")),
           "spans[0].actions[0].add_region.key.tonic", "is not a pitch name")
    with pytest.raises(TimelineError, match="pitch name"):
        parse_tonic("Dbb")


def test_missing_final_unmetered_span():
    raises(bad(lambda s: s.pop()), "must end with an unmetered span")


def test_longer_than_twenty_minutes():
    raises(bad(lambda s: s[2].update(time=MAX_DURATION_S + 300)), "1500 s", "20 minutes")


def test_empty_timeline():
    raises({"timeline": {"spans": [{"time": 30, "type": "unmetered"}]}}, "no regions")
    with pytest.raises(TimelineError, match="no regions"):
        multi_region([])


def test_region_shorter_than_one_second():
    raises(bad(lambda s: s[0]["actions"][0]["add_region"].update(cut_at=0.5)), "'intro'", "at least 1 s")


# -- direct construction validates too -------------------------------------------------------------

@pytest.mark.parametrize("kwargs,words", [
    ({"tempo_bpm": 300}, "between 20 and 200 BPM"),
    ({"tempo_bpm": float("nan")}, "must be a number"),
    ({"start_s": -2}, "negative"),
    ({"end_s": 0.2}, "at least 1 s"),
    ({"tonic": "X"}, "pitch name"),
    ({"id": ""}, "region id"),
    ({"descriptor": ""}, "descriptor"),
])
def test_region_constructor_validates(kwargs, words):
    args = dict(id="a", start_s=0.0, end_s=10.0, descriptor="jazz_bossa_romantic", tempo_bpm=120.0, tonic="C")
    with pytest.raises(TimelineError, match=words):
        Region(**{**args, **kwargs})


def test_timeline_constructor_validates():
    a = Region("a", 0, 10, "jazz_bossa_romantic", 120, "C")
    b = Region("b", 5, 15, "jazz_bossa_romantic", 120, "C")
    with pytest.raises(TimelineError, match="overlap"):
        Timeline((a, b), 20)
    with pytest.raises(TimelineError, match="after the end"):
        Timeline((a,), 5)
    with pytest.raises(TimelineError, match="20 minutes"):
        Timeline((a,), 1500)
    with pytest.raises(TimelineError, match="no regions"):
        Timeline((), 10)
    with pytest.raises(TimelineError, match="Unknown descriptor"):
        Timeline((Region("a", 0, 10, "jazz_bossa_romantc", 120),), 10).check_descriptors()
    assert Timeline([a], 10).regions == (a,)


def test_builders_validate():
    with pytest.raises(TimelineError, match="Did you mean"):
        single_region("jazz_bossa_romantc", duration_s=30)
    with pytest.raises(TimelineError, match="not a band"):
        single_region("jazz_bossa_romantic", duration_s=30, band="kazoo")
    with pytest.raises(TimelineError, match="needs 'end_s'"):
        multi_region([{"start_s": 0, "descriptor": "jazz_bossa_romantic"}])
    with pytest.raises(TimelineError, match="unknown field 'start'"):
        multi_region([{"start": 0, "end_s": 5, "descriptor": "jazz_bossa_romantic"}])


def test_unreadable_file(tmp_path):
    with pytest.raises(TimelineError, match="could not be read"):
        load_timeline(tmp_path / "missing.json")


def test_utf8_bom_is_accepted():
    text = json.dumps(good())
    assert Timeline.from_json(b"\xef\xbb\xbf" + text.encode()) == Timeline.from_json("\ufeff" + text)


def test_not_text_and_absurd_nesting_are_timeline_errors():
    from core.generate.timeline import Timeline, TimelineError

    with pytest.raises(TimelineError, match="JSON text"):
        Timeline.from_json({"timeline": {}})
    with pytest.raises(TimelineError):
        Timeline.from_json("[" * 100000 + "]" * 100000)


def test_a_region_is_a_span_checked_whenever_it_is_made():
    from dataclasses import replace

    from core import bounds
    from core.generate import timeline
    from core.span import Span

    r = Region("a", 0, 10, "jazz_bossa_romantic", 120, "Bb")
    assert isinstance(r, Span) and r.tonic == "A#" and r.label == "" and r.duration_s == 10.0
    moved = replace(r, band="bossa_trio", end_s=12.0)
    assert isinstance(moved, Region) and moved.id == "a" and moved.band == "bossa_trio"
    with pytest.raises(TimelineError, match="tempo must be between 20 and 200 BPM"):
        replace(r, tempo_bpm=bounds.TEMPO_MAX_BPM + 1)
    assert r != Span(**{k: getattr(r, k) for k in ("start_s", "end_s", "descriptor", "tempo_bpm", "tonic", "id")})
    # one home for the bounds
    assert timeline.TEMPO_RANGE_BPM is bounds.TEMPO_RANGE_BPM and timeline.MIN_REGION_S == bounds.MIN_REGION_S
    assert MAX_DURATION_S == bounds.MAX_DURATION_S
    assert bounds.clip_tempo(230.0) == 200.0 and bounds.clip_tempo(12.0) == 20.0


# -- input budgets (issue 16, item 3) -------------------------------------------------------------

def _invalid_spans(n: int) -> dict:
    return {"timeline": {"spans": [{"time": "x", "type": "metered"} for _ in range(n)]}}


def test_thousands_of_invalid_spans_report_the_first_error_only():
    import time
    import tracemalloc

    from core.generate import timeline

    data = _invalid_spans(timeline.MAX_SPANS)  # just inside the span budget: every span is wrong
    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = raises(data, "spans[0]")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 5_000_000, f"validating used {peak / 1e6:.0f} MB"  # the old code sorted every error: ~100 MB
    assert len(message) <= timeline.MAX_MESSAGE_CHARS


_CHILD = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2_500_000_000, 2_500_000_000))
from core.generate.timeline import Timeline, TimelineError
text = json.dumps({"timeline": {"spans": [{"time": "x", "type": "metered"}] * 1_000_000}})
started = time.perf_counter()
try:
    Timeline.from_json(text)
except TimelineError as exc:
    print(json.dumps({"seconds": time.perf_counter() - started, "message": str(exc),
                      "rss_mb": int(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))) / 1024}))  # VmHWM, not ru_maxrss: that keeps the forking parent's peak
"""


def test_a_million_invalid_spans_are_refused_quickly_in_bounded_memory():
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "STUDIO_MAX_JSON_MB": "100"}  # past the text budget: the span count refuses it
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD], cwd=root, env=env, capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("a million invalid spans took over a minute")
    assert done.returncode == 0 and done.stdout, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["seconds"] < 5.0  # about 0.4 s alone, 1.5 s on a busy machine; the old code: minutes, GBs
    assert "1,000,000 spans" in result["message"] and "10,000" in result["message"]
    assert len(result["message"]) <= 300
    assert result["rss_mb"] < 1500


def test_too_many_regions_are_refused_naming_the_limit():
    from core.generate import timeline

    n = timeline.MAX_REGIONS + 1
    actions = [{"time": i, "add_region": {"id": i, "descriptor": "jazz_bossa_romantic", "cut_at": i + 1}}
               for i in range(n)]
    data = {"timeline": {"spans": [{"time": 0, "type": "metered", "tempo": 100, "actions": actions},
                                   {"time": n, "type": "unmetered"}]}}
    raises(data, f"{n:,} regions", f"{timeline.MAX_REGIONS:,}")
    with pytest.raises(TimelineError, match=f"{timeline.MAX_REGIONS:,}"):
        multi_region([{"start_s": i, "end_s": i + 1, "descriptor": "jazz_bossa_romantic"} for i in range(n)])


def test_text_over_the_size_budget_is_refused_before_parsing(monkeypatch):
    from core.generate import timeline

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed text over the budget")

    monkeypatch.setenv("STUDIO_MAX_JSON_MB", "0.01")  # 10 kB
    monkeypatch.setattr(timeline.json, "loads", no_parse)
    message = raises("[" + "{}," * 5000 + "{}]", "MB", "STUDIO_MAX_JSON_MB")
    assert len(message) <= timeline.MAX_MESSAGE_CHARS
    monkeypatch.delenv("STUDIO_MAX_JSON_MB")
    big = "[" + "{}," * 2_000_000 + "{}]"  # 6 MB, over the default 5 MB
    raises(big, "6.0 MB", "5 MB")
    raises(big.encode(), "6.0 MB", "5 MB")
    monkeypatch.setenv("STUDIO_MAX_JSON_MB", "lots")
    with pytest.raises(StudioError, match="STUDIO_MAX_JSON_MB"):
        Timeline.from_json("{}")


def test_a_file_over_the_budget_or_not_a_regular_file_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_MAX_JSON_MB", "0.01")
    path = tmp_path / "big.json"
    path.write_text(" " * 20_000)
    with pytest.raises(TimelineError, match="big.json.* is 0.02 MB; .* up to 0.01 MB"):
        load_timeline(path)
    with pytest.raises(TimelineError, match="not a file"):
        load_timeline(tmp_path)


@pytest.mark.parametrize("edit", [
    lambda s: s[0].__setitem__("type", "x" * 100_000),
    lambda s: s[0].__setitem__("tempo", list(range(100_000))),
    lambda s: s[0]["actions"][0]["add_region"].__setitem__("descriptor", "jazz_" * 20_000),
    lambda s: s[0]["actions"][0]["add_region"].__setitem__("id", "y" * 100_000),
    lambda s: s[0]["actions"][0]["add_region"].__setitem__("key", {"tonic": "H" * 100_000}),
    lambda s: s[0]["actions"][0]["add_region"].__setitem__("z" * 100_000, 1),
    lambda s: s[0]["instrument_groups"][0].__setitem__("instrument_group", "kazoo" * 20_000),
    lambda s: s.__setitem__(0, {"time": 0, "type": "metered", "tempo": 90, "actions": [[0] * 100_000]}),
])
def test_messages_are_short_whatever_the_input(edit):
    from core.generate import timeline

    message = raises(bad(edit))
    assert len(message) <= timeline.MAX_MESSAGE_CHARS, message[:400]
    message = raises({"timeline": [{"time": 0}] * 100_000})
    assert len(message) <= timeline.MAX_MESSAGE_CHARS and "timeline must be an object" in message


@pytest.mark.parametrize("text, words", [
    ('{"timeline": {"spans": [{"time": 1' + "0" * 5000 + ', "type": "unmetered"}]}}', ["too large"]),
    ('{"timeline": {"spans": [{"time": 1e999, "type": "unmetered"}]}}', ["too large"]),
    ('{"timeline": {"spans": [{"time": 0, "type": "unmetered", "id": ' + "[" * 900 + "]" * 900 + "}]}}",
     ["nested"]),
])
def test_huge_numbers_and_deep_nesting_are_timeline_errors(text, words):
    raises(text, *words)


def test_the_render_page_limits_the_timeline_upload_to_the_text_budget(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.generate.timeline import json_upload_mb

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/render.py")
    at.run()
    assert not at.exception
    assert json_upload_mb() == 5
    assert at.file_uploader(key="timeline_upload").proto.max_upload_size_mb == 5
    assert at.file_uploader(key="length_upload").proto.max_upload_size_mb == 700  # the audio limit (config.toml)
