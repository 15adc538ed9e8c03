"""The Analyze page under streamlit.testing.v1.AppTest (the real script, no browser)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, wav_bytes

APP = str(ROOT / "app.py")


@pytest.fixture(scope="module")
def clip(abac_piece):
    audio, sr, _ = abac_piece
    return wav_bytes(audio[: 24 * sr], sr)


def fresh_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    return at


def test_empty_page_invites_an_upload():
    at = fresh_app()
    assert at.title[0].value == "Analyze"
    assert "Upload a track" in at.info[0].value


def test_upload_shows_player_charts_tables_and_downloads(clip):
    at = fresh_app()
    at.file_uploader(key="uploader").set_value(("clip.wav", clip, "audio/wav"))
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Duration"] == "24.0 s"
    assert metrics["Tempo"].startswith("96.")
    assert metrics["Key"] == "D minor"
    assert len(at.get("iframe")) == 1  # the waveform player
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("CQT chroma" in spec for spec in charts)
    assert any("Tempo per window" in spec for spec in charts)
    # the shipped default model (assets/models/mlp) adds prediction lanes and the majority table
    assert at.selectbox(key="model_pick").value == "mlp"
    assert any("Predictions per window" in spec for spec in charts)
    assert len(at.dataframe) == 3
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Segments CSV", "Windows CSV", "Summary JSON", "Majority table CSV"} <= set(labels)


def test_pdf_upload_gets_a_message_and_the_page_lives(clip):
    at = fresh_app()
    at.file_uploader(key="uploader").set_value(("notes.wav", b"%PDF-1.5 fake", "audio/wav"))
    at.run()
    assert not at.exception
    assert any("PDF" in e.value for e in at.error)


def test_work_survives_a_server_restart(clip):
    at = fresh_app()
    at.file_uploader(key="uploader").set_value(("clip.wav", clip, "audio/wav"))
    at.run()
    # a brand-new session (as after a restart) finds the track in the library
    again = fresh_app()
    from core.store.store import Store

    known = [t["content_hash"] for t in Store().list_tracks()]
    pick = again.multiselect(key="library_pick")
    assert len(pick.options) == len(known) == 1
    pick.set_value(known)
    again.run()
    assert not again.exception
    assert {m.label: m.value for m in again.metric}["Key"] == "D minor"


def test_bad_option_combination_is_refused():
    at = fresh_app()
    at.number_input(key="window_s").set_value(4.0)
    at.number_input(key="hop_s").set_value(6.0)
    at.run()
    assert not at.exception
    assert any("hop" in e.value.lower() for e in at.error)


# ------------------------------------------------------------------- Render page
def render_page() -> AppTest:
    at = fresh_app()
    at.switch_page("pages/render.py")
    at.run()
    assert not at.exception
    return at


def test_render_page_generates_variations_with_players_and_downloads():
    at = render_page()
    at.selectbox(key="genre").set_value("electronic")
    at.run()
    at.selectbox(key="subgenre").set_value("synthwave")
    at.run()
    at.selectbox(key="mood").set_value("driving")
    at.number_input(key="duration_s").set_value(8.0)
    at.number_input(key="variations").set_value(2)
    at.button(key="generate").click()
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("audio")) == 2
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels.count("WAV") == 2 and labels.count("MIDI") == 2 and labels.count("Timeline") == 2
    assert any("electronic_synthwave_driving" in m.value for m in at.markdown)
    # a fresh session finds them among the earlier renders
    again = render_page()
    assert len(again.multiselect(key="reopen").options) == 2


def test_render_page_search_and_bad_timeline():
    at = render_page()
    at.radio(key="pick_mode").set_value("Search")
    at.run()
    at.text_input(key="search").set_value("bossa romantic")
    at.run()
    assert at.selectbox(key="search_pick").value == "jazz_bossa_romantic"
    at.file_uploader(key="timeline_upload").set_value(("t.json", b'{"timeline": {"spans": [', "application/json"))
    at.button(key="generate").click()
    at.run()
    assert not at.exception
    assert any("JSON" in e.value for e in at.error)


def test_example_renders_can_be_analysed():
    import json

    timeline = json.loads((ROOT / "assets" / "examples" / "example_jazz.json").read_text())
    region = timeline["timeline"]["spans"][0]["actions"][0]["add_region"]
    at = fresh_app()
    at.selectbox(key="example_pick").set_value("example_jazz")
    at.run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Key"].split()[0] == region["key"]["tonic"]



def test_models_page_shows_the_shipped_models():
    at = fresh_app()
    at.switch_page("pages/models.py")
    at.run()
    assert not at.exception
    assert set(at.multiselect(key="models_chosen").value) >= {"knn", "mlp"}
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("held-out" in spec for spec in charts)  # the accuracy chart
    assert any("rows sum to 1" in spec for spec in charts)  # a confusion matrix
    assert any("t-SNE" in spec for spec in charts) and any("Descriptor distances" in spec for spec in charts)
    at.selectbox(key="confusion_target").set_value("mood")
    at.run()
    assert not at.exception


# -------------------------------------------------------------------- Stems page
def test_stems_page_separates_plays_and_downloads(clip):
    at = fresh_app()
    at.switch_page("pages/stems.py")
    at.run()
    assert not at.exception
    assert "Upload a track" in at.info[0].value
    at.file_uploader(key="stems_upload").set_value(("clip.wav", clip, "audio/wav"))
    at.run()
    assert not at.exception
    assert at.selectbox(key="stems_model").value == "spleeter-2stems"
    at.button(key="stems_go").click()
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("audio")) == 3  # mixture, vocals, accompaniment
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["vocals.wav", "accompaniment.wav"]
    spec = at.get("plotly_chart")[0].proto.spec
    assert "mixture" in spec and "accompaniment" in spec
    # a fresh session finds the stems in the store: no button, players at once
    again = fresh_app()
    again.switch_page("pages/stems.py")
    again.run()
    assert not again.exception and len(again.get("audio")) == 3


def test_stems_page_demucs_without_weights_says_how_to_get_them(clip, monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_OFFLINE", "1")
    monkeypatch.setenv("STUDIO_WEIGHTS_DIR", str(tmp_path / "weights"))
    at = fresh_app()
    at.switch_page("pages/stems.py")
    at.run()
    at.file_uploader(key="stems_upload").set_value(("clip.wav", clip, "audio/wav"))
    at.run()
    at.selectbox(key="stems_model").set_value("htdemucs")
    at.run()
    assert any("weights" in w.value for w in at.warning)
    at.button(key="stems_go").click()
    at.run()
    assert not at.exception
    assert any("955717e8-8726e21a.th" in e.value for e in at.error)
