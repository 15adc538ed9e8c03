"""Musician-facing descriptor search (Catalog.search / ranked) and plain descriptions
(Catalog.describe), over the shipped catalog and assets/descriptor_words.json."""

from __future__ import annotations

import json

import pretty_midi
import pytest

from core.generate.catalog import (
    WORDS_PATH,
    CatalogError,
    load_catalog,
    load_descriptor_words,
    normalise,
)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _has_piano(d) -> bool:
    return any(p is not None and role not in ("drums", "percussion")
               and "piano" in pretty_midi.program_to_instrument_name(p).lower()
               for band in d.bands.values() for role, p in band.items())


def test_upbeat_corporate_finds_the_happy_corporate_pop_first(catalog):
    found = catalog.search("upbeat corporate")
    assert found[:2] == ["pop_corporate_happy", "pop_corporate_uplifting"]
    hits = catalog.ranked("upbeat corporate")
    full = [h.name for h in hits if h.matched == h.of == 2]
    assert full and all(n.startswith("pop_corporate_") for n in full)
    assert "pop_corporate_melancholic" not in full  # corporate, but not upbeat
    assert found == full  # the picker gets those matching every word, in the same order
    assert len(hits) > len(full)  # the ranking goes on with those matching one word
    matched = [h.matched for h in hits]
    assert matched == sorted(matched, reverse=True)  # every word matched first, then the most words


def test_sad_piano_finds_sad_moods_whose_band_has_a_piano(catalog):
    hits = catalog.ranked("sad piano")
    full = [catalog.get(h.name) for h in hits if h.matched == 2]
    assert len(full) >= 4
    assert all(d.mood in ("sad", "melancholic", "lonely", "brooding") and _has_piano(d) for d in full), full
    assert full[0].mood == "sad"  # the word itself before its synonyms
    sad_without_piano = [n for n, d in catalog.descriptors.items() if d.mood == "sad" and not _has_piano(d)]
    assert not set(sad_without_piano) & {d.name for d in full}


def test_search_is_ranked_deterministic_and_keeps_the_old_queries(catalog):
    assert catalog.search("Upbeat, CORPORATE!") == catalog.search("corporate upbeat")
    assert catalog.search("synthwave driving")[0] == "electronic_synthwave_driving"
    assert catalog.search("electronic_synthwave_driving")[0] == "electronic_synthwave_driving"
    assert catalog.search("chill")[0].endswith("_relaxed")  # a synonym of the mood
    assert catalog.search("strings") and catalog.search("drums")  # instruments by plural too
    assert catalog.search("synth")  # the beginning of a word
    assert catalog.search("") == catalog.names() == catalog.search("the and")
    assert catalog.search("zzqx") == []
    assert catalog.search("zzqx corporate") == catalog.search("corporate")  # the most words matched
    for hits in (catalog.ranked("happy guitar"), catalog.ranked("dark slow")):
        keys = [(-h.matched, -h.score, h.name) for h in hits]
        assert keys == sorted(keys)


def test_describe_is_plain_words(catalog):
    text = catalog.describe("pop_corporate_happy")
    assert text.startswith("Pop, corporate: happy and bright, medium-fast (")
    assert "piano" in text and text.endswith("and drums")
    assert "valence" not in text and "momentum" not in text
    assert "Jazz, noir: sad and dark, slow" in catalog.describe("jazz_noir_sad")
    every = {catalog.describe(n) for n in catalog.names()}
    assert len(every) > len(catalog) * 0.9  # (nearly) every descriptor reads differently
    with pytest.raises(CatalogError, match="Unknown descriptor"):
        catalog.describe("pop_corporat_happy")


def test_normalise_drops_plurals_but_not_bass():
    assert [normalise(w) for w in ("Drums", "strings", "bass", "keys", "sad")] == ["drum", "string", "bass", "key",
                                                                                    "sad"]


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw.pop("synonyms"), "needs a 'synonyms' object"),
    (lambda raw: raw["synonyms"].update({"upbeat": "happy"}), "synonyms 'upbeat' must be a non-empty list"),
    (lambda raw: raw["synonyms"].update({"two words": ["happy"]}), "must be one word"),
    (lambda raw: raw.update(tempo_words=[[120, "fast"], [90, "slow"]]), "bounds must rise"),
    (lambda raw: raw.update(short_names=[["piano"]]), "'short_names' must be a list of"),
])
def test_a_broken_words_file_is_refused_plainly(tmp_path, change, message):
    raw = json.loads(WORDS_PATH.read_text())
    change(raw)
    path = tmp_path / "descriptor_words.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(CatalogError, match=message) as caught:
        load_descriptor_words(str(path))
    assert str(path) in str(caught.value) and "Fix the file" in str(caught.value)
    path.write_text("{not json")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_descriptor_words(str(path))


def test_a_descriptor_preview_plays_once_rendered_and_is_kept(catalog):
    """Issue 17 item 5: a short clip per descriptor, on request; the second hearing is a lookup."""
    from streamlit.testing.v1 import AppTest

    from core.generate.render import render_key
    from core.store.store import Store
    from core.workflow.variations import PREVIEW_S, PREVIEW_SEED, preview_timeline
    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.switch_page("pages/render.py")
    at.run()
    name = f"{at.selectbox(key='genre').value}_{at.selectbox(key='subgenre').value}_{at.selectbox(key='mood').value}"
    assert not at.get("audio")
    at.button(key=f"preview-{name}").click()
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("audio")) == 1
    timeline = preview_timeline(name, catalog=catalog)
    assert timeline.duration_s == PREVIEW_S and catalog.get(name).bands
    assert Store().get_render(render_key(timeline, seed=PREVIEW_SEED)) is not None  # kept: instant next time
