"""One cache-key scheme (core.cachekey): each input of a stored result changes its key, and
equal inputs give equal keys. Inputs: the track's content, every option, the data files'
content, the weights' content, the stage versions and the library versions."""

from __future__ import annotations

import os
import shutil
from dataclasses import fields, replace
from types import SimpleNamespace

import pytest

import core.separation as separation_module
from core import cachekey
from core.analysis import analyze as analyze_module
from core.analysis.analyze import AnalysisOptions
from core.analysis.segment import SegmentOptions
from core.audio.load import content_hash
from core.generate import render as render_module
from core.generate.compose import ComposeOptions
from core.generate.timeline import single_region
from core.separation import SeparationOptions, separation_key, weights_fingerprint
from core.workflow import loop as loop_module

SEGMENT_VARIANTS = {"k_min": 2, "k_max": 3, "boundary_method": "labels", "label_method": "uniform",
                    "min_segment_s": 4.0, "kernel_s": 10.0,
                    "n_eigenvectors": 6, "peak_prominence": 0.2, "mfcc_weight": 1.0, "silhouette_tolerance": 0.05,
                    "seed": 1}
ANALYSIS_VARIANTS = {"window_s": 8.0, "hop_s": 1.0, "key_profile": "temperley", "key_context": 1.0}
COMPOSE_VARIANTS = {"intro_s": 2.0, "ending_s": 3.0, "climax_at": 0.5}
SEPARATION_VARIANTS = {"model": "htdemucs", "segment_s": 5.0, "overlap": 0.5, "chunk_s": 20.0, "shifts": 1}


def _variants(default, table):
    """``default`` with each field changed in turn (the table must name every field)."""
    names = {f.name for f in fields(default)}
    assert set(table) == names, f"a variant for each option: missing {names - set(table)}"
    return [replace(default, **{name: value}) for name, value in table.items()]


def _touch_later(path):
    """A new mtime, so the content hash is read again even when the size did not change."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _bump_version(monkeypatch, library):
    real = cachekey.version
    monkeypatch.setattr(cachekey, "version", lambda name: "999.0" if name == library else real(name))


@pytest.fixture
def weights(tmp_path):
    folder = tmp_path / "weights" / "spleeter" / "2stems"
    folder.mkdir(parents=True)
    for name in ("model.index", "model.data-00000-of-00001", "model.meta"):
        (folder / name).write_bytes(name.encode() * 10)
    return tmp_path / "weights"


def _private_copy(monkeypatch, module, name, folder):
    """A copy of the data file ``module.<name>`` that the module reads instead."""
    copy = folder / getattr(module, name).name
    shutil.copy(getattr(module, name), copy)
    monkeypatch.setattr(module, name, copy)
    return copy


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    return _private_copy(monkeypatch, analyze_module, "PROFILES_PATH", tmp_path)


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    return _private_copy(monkeypatch, render_module, "CATALOG_PATH", tmp_path)


def _change_content(path) -> bytes:
    """Other bytes of the same size (a fingerprint by size and mtime alone would miss it);
    returns the old bytes."""
    old = path.read_bytes()
    data = bytearray(old)
    data[-2] = ord(" ") if data[-2] != ord(" ") else ord("\t")
    path.write_bytes(bytes(data))
    _touch_later(path)
    return old


def _restore(path, data: bytes) -> None:
    path.write_bytes(data)
    _touch_later(path)


# ------------------------------------------------------------------ the scheme
def test_stage_keys_follow_every_part():
    base = cachekey.stage_key("s", 1, "a", {"x": 1, "y": [1, 2]})
    assert base == cachekey.stage_key("s", 1, "a", {"y": [1, 2], "x": 1})  # canonical: key order does not count
    part = {"x": 1, "y": [1, 2]}
    others = [cachekey.stage_key("t", 1, "a", part), cachekey.stage_key("s", 2, "a", part),
              cachekey.stage_key("s", 1, "b", part), cachekey.stage_key("s", 1, "a", {**part, "x": 2}),
              cachekey.stage_key("s", 1, part, "a")]
    assert len({base, *others}) == 6


def test_file_fingerprints_are_by_content_and_read_once(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{"a": 1}')
    first = cachekey.file_fingerprint(path)
    hits = cachekey._content_hash.cache_info().hits
    assert cachekey.file_fingerprint(path) == first
    assert cachekey._content_hash.cache_info().hits == hits + 1  # not hashed again
    _change_content(path)
    assert cachekey.file_fingerprint(path) != first
    path.write_text('{"a": 1}')
    _touch_later(path)
    assert cachekey.file_fingerprint(path) == first  # the same content, the same fingerprint
    assert cachekey.file_fingerprint(tmp_path / "none") == cachekey.MISSING


# ------------------------------------------------------------------ analysis
def test_analysis_key_follows_options_profiles_and_version(monkeypatch, profiles):
    base = AnalysisOptions()
    key = base.cache_key()
    assert AnalysisOptions().cache_key() == key
    variants = _variants(base, {**ANALYSIS_VARIANTS, "segmentation": SegmentOptions(k_min=1, k_max=1)})
    variants += [replace(base, segmentation=s) for s in _variants(SegmentOptions(), SEGMENT_VARIANTS)]
    keys = {v.cache_key() for v in variants}
    assert key not in keys and len(keys) == len(variants)
    old = _change_content(profiles)
    assert base.cache_key() != key
    _restore(profiles, old)
    assert base.cache_key() == key
    monkeypatch.setattr(analyze_module, "ANALYSIS_VERSION", analyze_module.ANALYSIS_VERSION + 1)
    assert base.cache_key() != key


def test_track_content_is_its_identity():
    assert content_hash(b"RIFF one") == content_hash(b"RIFF one") != content_hash(b"RIFF two")


# ------------------------------------------------------------------ render
def test_render_key_follows_every_input(monkeypatch, catalog):
    t = single_region("rock_indie_fun", duration_s=4, tempo_bpm=120, tonic="A")
    key = render_module.render_key(t, seed=1)
    assert render_module.render_key(single_region("rock_indie_fun", duration_s=4, tempo_bpm=120, tonic="A"),
                                    seed=1) == key
    assert render_module.render_key(t, seed=1, options=ComposeOptions()) == key
    others = [render_module.render_key(single_region("rock_indie_fun", duration_s=4, tempo_bpm=121, tonic="A"), seed=1),
              render_module.render_key(t, seed=2), render_module.render_key(t, seed=1, sample_rate=48000)]
    others += [render_module.render_key(t, seed=1, options=o) for o in _variants(ComposeOptions(), COMPOSE_VARIANTS)]
    assert key not in others and len(set(others)) == len(others)
    _change_content(catalog)
    assert render_module.render_key(t, seed=1) != key
    monkeypatch.undo()
    assert render_module.render_key(t, seed=1) == key
    monkeypatch.setattr(render_module, "RENDER_VERSION", render_module.RENDER_VERSION + 1)
    assert render_module.render_key(t, seed=1) != key
    monkeypatch.undo()
    for library in render_module.LIBRARIES:
        _bump_version(monkeypatch, library)
        assert render_module.render_key(t, seed=1) != key, library
        monkeypatch.undo()


# ------------------------------------------------------------------ separation
def test_separation_key_follows_every_input(monkeypatch, weights):
    opts = SeparationOptions()
    key = separation_key("h1", opts, weights_dir=weights)
    assert separation_key("h1", SeparationOptions(), weights_dir=weights) == key
    others = [separation_key("h2", opts, weights_dir=weights)]
    others += [separation_key("h1", o, weights_dir=weights) for o in _variants(opts, SEPARATION_VARIANTS)]
    assert key not in others and len(set(others)) == len(others)
    fp = weights_fingerprint(opts.model, weights_dir=weights)
    _change_content(weights / "spleeter" / "2stems" / "model.index")
    assert weights_fingerprint(opts.model, weights_dir=weights) != fp
    assert separation_key("h1", opts, weights_dir=weights) != key
    monkeypatch.setattr(separation_module, "SEPARATION_VERSION", separation_module.SEPARATION_VERSION + 1)
    changed = separation_key("h1", opts, weights_dir=weights)
    monkeypatch.undo()
    assert changed != separation_key("h1", opts, weights_dir=weights)
    before = separation_key("h1", opts, weights_dir=weights)
    _bump_version(monkeypatch, "torch")
    assert separation_key("h1", opts, weights_dir=weights) != before


def test_weights_fingerprint_sees_added_and_renamed_files(weights):
    folder = weights / "spleeter" / "2stems"
    fp = weights_fingerprint("spleeter-2stems", weights_dir=weights)
    (folder / "model.extra").write_bytes(b"more")
    assert weights_fingerprint("spleeter-2stems", weights_dir=weights) != fp
    (folder / "model.extra").unlink()
    assert weights_fingerprint("spleeter-2stems", weights_dir=weights) == fp
    (folder / "model.meta").rename(folder / "model.meta2")
    assert weights_fingerprint("spleeter-2stems", weights_dir=weights) != fp


# ------------------------------------------------------------------ loop
def test_loop_key_follows_every_input(monkeypatch, weights, catalog):
    model = SimpleNamespace(name="mlp", fingerprint="f1", feature_sets=("amper21", "gtzan", "tonal"))
    settings = dict(model=model, variations=3, seed=0, remove_vocals="auto", weights_dir=weights)
    key = loop_module.loop_key("h1", **settings)
    assert loop_module.loop_key("h1", **settings, options=AnalysisOptions()) == key
    others = [loop_module.loop_key("h2", **settings),
              loop_module.loop_key("h1", **{**settings, "model": SimpleNamespace(**{**vars(model), "fingerprint": "f2"})}),
              loop_module.loop_key("h1", **{**settings, "model": SimpleNamespace(**{**vars(model), "name": "knn"})}),
              loop_module.loop_key("h1", **{**settings, "model": SimpleNamespace(
                  **{**vars(model), "feature_sets": ("amper21", "musicnn")})}),  # the renders heard by musicnn too
              loop_module.loop_key("h1", **{**settings, "variations": 2}),
              loop_module.loop_key("h1", **{**settings, "seed": 1}),
              loop_module.loop_key("h1", **{**settings, "remove_vocals": "off"}),
              loop_module.loop_key("h1", **settings, options=AnalysisOptions(window_s=8.0))]
    assert key not in others and len(set(others)) == len(others)
    old = _change_content(catalog)  # the render data
    assert loop_module.loop_key("h1", **settings) != key
    _restore(catalog, old)
    assert loop_module.loop_key("h1", **settings) == key
    _change_content(weights / "spleeter" / "2stems" / "model.data-00000-of-00001")  # the separation weights
    assert loop_module.loop_key("h1", **settings) != key
    key = loop_module.loop_key("h1", **settings)
    for name in ("LOOP_VERSION", "RENDER_VERSION"):
        monkeypatch.setattr(loop_module, name, getattr(loop_module, name) + 1)
        assert loop_module.loop_key("h1", **settings) != key, name
        monkeypatch.undo()
    monkeypatch.setattr(analyze_module, "ANALYSIS_VERSION", analyze_module.ANALYSIS_VERSION + 1)
    assert loop_module.loop_key("h1", **settings) != key
    monkeypatch.undo()
    _bump_version(monkeypatch, "tinysoundfont")
    assert loop_module.loop_key("h1", **settings) != key


# ------------------------------------------------------------------ covers
def test_cover_key_follows_the_render_engine_and_the_options(monkeypatch):
    """A composer or mixer change (render version) must not serve a cover made by the old engine."""
    from core.covers import cover as cover_module
    from core.covers.cover import CoverOptions, cover_key
    from core.covers.leadsheet import LeadSheetOptions

    options, sheet = CoverOptions(genre="jazz"), LeadSheetOptions()
    key = cover_key("h1", options, sheet)
    assert cover_key("h1", options, sheet) == key
    others = [cover_key("h2", options, sheet), cover_key("h1", CoverOptions(genre="rock"), sheet),
              cover_key("h1", CoverOptions(genre="jazz", seed=1), sheet)]
    assert key not in others and len(set(others)) == len(others)
    for name in ("COVER_VERSION", "RENDER_VERSION"):
        monkeypatch.setattr(cover_module, name, getattr(cover_module, name) + 1)
        assert cover_key("h1", options, sheet) != key, name
        monkeypatch.undo()
