"""A seeded fuzz test of the timeline and segments parsers (issue 16): random and mutated
documents give a result or a studio error with a short message, never another exception,
quickly and in bounded memory. No new dependency: ``random.Random`` with fixed seeds."""

from __future__ import annotations

import copy
import json
import random
import resource
import time

import pytest

from core.errors import StudioError
from core.generate.catalog import load_catalog
from core.generate.timeline import MAX_MESSAGE_CHARS, Timeline, multi_region
from core.workflow.edits import segments_from_json, segments_from_records

CASES = 300  # per parser and seed: a few seconds in all
SEEDS = (0, 1)
CATALOG = load_catalog()
NAMES = CATALOG.names()
ODD_VALUES = (None, True, False, 0, -1, -1e308, 1e308, 10**40, 1e-300, "", " ", "x", "NaN", "-0", "C#", "Bb",
              "\u266d", "\U0001f3b5\u00fc\u202e", "\x00", [], {}, [1, 2], {"a": 1}, "y" * 5000, list(range(500)))


def good_timeline(rng: random.Random) -> dict:
    spans, now = [], 0.0
    for n in range(rng.randint(1, 6)):
        length = rng.choice([1.0, 2.5, 10.0, 30.0])
        span = {"id": n, "time": now, "type": "metered", "tempo": rng.uniform(20, 200),
                "actions": [{"time": now, "add_region": {"id": f"r{n}", "descriptor": rng.choice(NAMES),
                                                          "key": {"tonic": rng.choice("ABCDEFG")},
                                                          "cut_at": now + length}}]}
        if rng.random() < 0.3:
            span["instrument_groups"] = [{"instrument_group": rng.choice(sorted(CATALOG.get(
                span["actions"][0]["add_region"]["descriptor"]).bands))}]
        spans.append(span)
        now += length
    spans.append({"time": now, "type": "unmetered"})
    return {"timeline": {"spans": spans}}


def good_segments(rng: random.Random) -> dict:
    rows, now = [], 0.0
    for _ in range(rng.randint(1, 6)):
        end = now + rng.choice([1.0, 4.0, 12.5])
        rows.append({"start_s": now, "end_s": end, "label": rng.choice("ABC"), "descriptor": rng.choice(NAMES),
                     "tempo_bpm": rng.uniform(20, 200), "tonic": rng.choice("ABCDEFG"), "band": None})
        now = end
    return {"format": "music-studio segments", "version": 1, "segments": rows}


def places(doc) -> list:
    """Every (container, key) of ``doc``, to pick one to mutate."""
    out, todo = [], [doc]
    while todo:
        node = todo.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node))
        for k in keys:
            out.append((node, k))
            if isinstance(node[k], (dict, list)):
                todo.append(node[k])
    return out


def deep(levels: int):
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def mutate(doc, rng: random.Random):
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        spots = places(doc)
        if not spots:
            return doc
        node, key = rng.choice(spots)
        action = rng.randrange(7)
        if action == 0:
            del node[key]
        elif action == 1:
            node[key] = rng.choice(ODD_VALUES)
        elif action == 2:
            node[key] = rng.choice([-1, 1, -1e9, 1e9, 1e300]) * rng.random()
        elif action == 3:
            node[key] = deep(rng.choice([5, 40]))
        elif action == 4 and isinstance(node, dict):
            node[rng.choice(["cutat", "extra", "\u00e9", "z" * 300])] = 1
        elif action == 5:
            node[key] = rng.choice(NAMES)[: rng.randint(0, 20)] + rng.choice(["", "_x", "\u266f"])
        elif action == 6 and isinstance(node[key], list) and node[key]:
            node[key] = node[key] * rng.choice([2, 50])
    return doc


def text_mutations(text: str, rng: random.Random) -> str | bytes:
    """Mutations a dict cannot hold: cut text, odd tokens, duplicate keys, deep brackets, bad bytes."""
    kind = rng.randrange(6)
    at = rng.randrange(len(text) + 1)
    if kind == 0:
        return text[:at]
    if kind == 1:
        token = rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 5000, "0." + "0" * 400 + "1"])
        return text.replace(": 0", ": " + token, 1).replace(": 1", ": " + token, 1)
    if kind == 2:
        return text.replace('{"', '{"time": 5, "time": 6, "', 1).replace('"id": ', '"id": 1, "id": ', 1)
    if kind == 3:
        n = rng.choice([40, 2000, 200_000])
        return text[:at] + "[" * n + "]" * n + text[at:]
    if kind == 4:
        return (text[:at] + "\u00fc\U0001f3b5\ufeff" + text[at:]).encode("utf-8")[:-1] + bytes([rng.randrange(256)])
    return "\ufeff" + text


def check(read, doc) -> None:
    started = time.perf_counter()
    try:
        read(doc)
    except StudioError as exc:
        assert len(str(exc)) <= MAX_MESSAGE_CHARS, str(exc)[:400]
    assert time.perf_counter() - started < 2.0, f"slow on {str(doc)[:200]}"


def read_timeline(text):
    return Timeline.from_json(text, catalog=CATALOG)


def read_segments(text):
    return segments_from_json(text, catalog=CATALOG)


def read_regions(doc):
    return multi_region(doc, catalog=CATALOG)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("make, read", [(good_timeline, read_timeline), (good_segments, read_segments)],
                         ids=["timeline", "segments"])
def test_mutated_documents_give_a_result_or_a_studio_error(seed, make, read):
    rng = random.Random(seed)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    for _ in range(CASES):
        doc = make(rng)
        check(read, json.dumps(doc))  # valid, or refused only for a catalog reason
        check(read, json.dumps(mutate(doc, rng)))
        check(read, text_mutations(json.dumps(doc), rng))
    assert time.perf_counter() - started < 30.0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mb < 300, f"the process grew {grown_mb:.0f} MB"


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_python_regions_and_rows_give_a_result_or_a_studio_error(seed):
    rng = random.Random(seed)
    for _ in range(CASES // 2):
        rows = good_segments(rng)["segments"]
        regions = [{k: r[k] for k in ("start_s", "end_s", "descriptor", "tempo_bpm", "tonic")} for r in rows]
        check(read_regions, mutate(regions, rng))
        check(lambda rs: segments_from_records(rs), mutate(rows, rng))


def test_the_generators_make_valid_documents():
    rng = random.Random(7)
    for _ in range(20):
        assert read_timeline(json.dumps(good_timeline(rng))).regions
        assert read_segments(json.dumps(good_segments(rng)))
