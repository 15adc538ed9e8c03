"""describe(): the one stage from a track to its classified windows, majority table and form."""

from __future__ import annotations

import pandas as pd
import pytest

import core.analysis.analyze as analyze_module
import core.describe.describe as describe_module
from core.analysis.analyze import AnalysisOptions
from core.audio.load import load_track
from core.describe.describe import (
    Description,
    VocalCheck,
    describe,
    description_from_bytes,
    description_key,
    description_to_bytes,
)
from core.describe.models import load_model
from core.describe.predict import VOICE_FRAMES_MIN, majority_table, predict
from core.errors import OptionError, SeparationError
from core.span import Span
from core.store.store import Store
from tests.conftest import ROOT

EXAMPLE = ROOT / "assets" / "examples" / "example_jazz.ogg"


@pytest.fixture(scope="module")
def model():
    return load_model("mlp")


@pytest.fixture(scope="module")
def track():
    return load_track(EXAMPLE.read_bytes(), name="example_jazz")


def _no_compute(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(describe_module, "classify", refuse)
    monkeypatch.setattr(analyze_module, "_measure", refuse)


def test_describe_is_predict_and_majority_with_the_facts_apart(track, model):
    d = describe(track, model=model, remove_vocals="off")
    assert isinstance(d, Description) and d.model_name == "mlp"
    assert d.windows.equals(predict(d.analysis, model))  # the ONE grid, the same numbers
    assert d.majority.equals(majority_table(d.windows, d.analysis.segments))
    assert d.vocals == VocalCheck("off", False, None, "")
    assert "vocals_removed" not in d.windows and "voice_share" not in d.windows and not d.windows.attrs
    assert all(isinstance(s, Span) for s in d.form) and len(d.form) == len(d.majority)
    assert d.fallback_descriptor == d.windows["top1_descriptor"].value_counts().index[0]
    assert list(d.predictions.columns)[0] == "model"


def test_a_second_describe_is_a_pure_lookup(track, model, tmp_path, monkeypatch):
    store = Store(tmp_path / "data")
    first = describe(track, model=model, remove_vocals="off", store=store)
    _no_compute(monkeypatch)
    messages = []
    again = describe(track, model=model, remove_vocals="off", store=store, progress=lambda f, m="": messages.append(m))
    assert again.key == first.key and again.vocals == first.vocals
    pd.testing.assert_frame_equal(again.predictions, first.predictions, check_exact=True)
    pd.testing.assert_frame_equal(again.windows, first.windows)  # the stored analysis: to 10 digits
    pd.testing.assert_frame_equal(again.majority, first.majority, check_exact=True)
    assert "Loaded from the store" in messages
    # by name too: the same key, still no compute
    assert describe(track, model="mlp", remove_vocals="off", store=store).key == first.key


def test_the_stored_form_round_trips_exactly(track, model):
    d = describe(track, model=model, remove_vocals="off")
    vocals = VocalCheck("auto", True, 0.412, "Vocals removed before classifying (a voice in 41% of the track's seconds).")
    predictions, back, name = description_from_bytes(description_to_bytes(d.predictions, vocals, model_name="mlp"))
    pd.testing.assert_frame_equal(predictions, d.predictions.reset_index(drop=True), check_exact=True)
    assert back == vocals and name == "mlp"
    with pytest.raises(ValueError):
        description_from_bytes(b'{"format": "something else"}')


def test_the_key_changes_with_each_input(track, model, tmp_path, monkeypatch):
    base = dict(options=AnalysisOptions(), model=model, remove_vocals="auto")
    key = description_key(track.content_hash, **base)
    assert key == description_key(track.content_hash, **base)
    others = [
        description_key("0" * 64, **base),
        description_key(track.content_hash, **{**base, "options": AnalysisOptions(hop_s=4.0)}),
        description_key(track.content_hash, **{**base, "model": load_model("knn")}),
        description_key(track.content_hash, **{**base, "remove_vocals": "on"}),
        description_key(track.content_hash, **{**base, "remove_vocals": "off"}),
    ]
    monkeypatch.setenv("STUDIO_WEIGHTS_DIR", str(tmp_path / "other-weights"))
    others.append(description_key(track.content_hash, **base))  # other separation weights
    assert len({key, *others}) == len(others) + 1
    # with the vocals kept, the separation weights play no part
    off = description_key(track.content_hash, **{**base, "remove_vocals": "off"})
    assert off == others[4]
    with pytest.raises(OptionError):
        description_key(track.content_hash, **{**base, "remove_vocals": "maybe"})
    with pytest.raises(OptionError):
        describe(track, model=model, remove_vocals="maybe")


def test_the_vocal_check_is_reported_without_weights(track, model, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    d = describe(track, model=model)
    assert d.vocals.mode == "auto" and not d.vocals.removed and d.vocals.voice_share is None
    assert not d.vocals.checked and d.vocals.note.startswith("Vocals were not checked")
    with pytest.raises(SeparationError):
        describe(track, model=model, remove_vocals="on")


def test_the_vocal_check_is_measured_and_explained(track, model, tmp_path):
    store = Store(tmp_path / "data")
    d = describe(track, model=model, store=store)
    assert d.vocals.checked and d.vocals.removed == (d.vocals.voice_share >= VOICE_FRAMES_MIN)
    assert f"{d.vocals.voice_share:.0%}" in d.vocals.note
    assert ("removed" if d.vocals.removed else "with the vocals in") in d.vocals.note
    forced = describe(track, model=model, remove_vocals="on", store=store)  # the stems are a lookup now
    assert forced.vocals.removed and forced.vocals.voice_share == d.vocals.voice_share
    assert forced.key != d.key and "removed" in forced.vocals.note
