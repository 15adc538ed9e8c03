"""The Analyze page under streamlit.testing.v1.AppTest (the real script, no browser)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.describe.compare import comparison_folders
from core.describe.models import DEFAULT_MODEL_NAME
from core.plots import label_words
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
    assert at.selectbox(key="model_pick").value == DEFAULT_MODEL_NAME == "hybrid"
    assert any("Predictions per window" in spec for spec in charts)
    assert len(at.dataframe) == 4  # segments, windows, majority, real-music genre
    majority = next(d.value for d in at.dataframe if "momentum" in d.value.columns and "valence" in d.value.columns)
    words = label_words()
    assert set(majority["valence"]) <= set(words["valence"]) | {"unknown"}  # words, as the lanes show them
    assert set(majority["momentum"]) <= set(words["momentum"]) | {"unknown"}
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
    assert set(at.multiselect(key="models_chosen").value) >= {"knn", "mlp", "hybrid"}
    real = next(d.value for d in at.dataframe if "majority genre right" in d.value).set_index("model")
    assert real.loc["hybrid", "majority genre right"] > 0.7 > real.loc["mlp", "majority genre right"]
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("held-out" in spec for spec in charts)  # the accuracy chart
    assert any("rows sum to 1" in spec for spec in charts)  # a confusion matrix
    assert any("t-SNE" in spec for spec in charts) and any("Descriptor distances" in spec for spec in charts)
    at.selectbox(key="confusion_target").set_value("mood")
    at.run()
    assert not at.exception


def test_models_page_shows_the_shipped_estimator_comparisons():
    at = fresh_app()
    at.switch_page("pages/models.py")
    at.run()
    names = [f.name for f in comparison_folders()]
    assert {"real_gtzan_musicnn", "real_gtzan_cnn", "renders_amper"} <= set(names)
    assert "real gtzan musicnn" in at.selectbox(key="comparison_pick").options  # shown in words
    for name in names:
        at.selectbox(key="comparison_pick").set_value(name)
        at.run()
        assert not at.exception and not at.error, name
        table = next(d.value for d in at.dataframe if "accuracy (track)" in d.value.columns)
        assert len(table) >= 3 and table["accuracy (track)"].between(0, 1).all(), name
        charts = [c.proto.spec for c in at.get("plotly_chart")]
        assert any("LRAP per track" in spec for spec in charts) and any("held-out windows" in spec for spec in charts)
    at.selectbox(key="comparison_pick").set_value("real_gtzan_musicnn")
    at.run()
    best = next(d.value for d in at.dataframe if "accuracy (track)" in d.value.columns)["accuracy (track)"].max()
    assert best > 0.6  # the embedding, on real recordings, artist-disjoint


def test_the_default_model_picked_on_the_models_page_is_where_every_page_starts():
    import core.describe.models as models

    at = fresh_app()
    at.switch_page("pages/models.py")
    at.run()
    assert at.selectbox(key="default_model_pick").value == DEFAULT_MODEL_NAME
    at.selectbox(key="default_model_pick").set_value("knn")
    at.run()
    at.button(key="default_model_set").click()
    at.run()
    assert not at.exception and any("knn is now the default" in s.value for s in at.success)
    assert models.default_model_name() == "knn"
    again = fresh_app()  # another session, as after a restart
    again.run()
    assert again.selectbox(key="model_pick").value == "knn"
    with pytest.raises(models.ModelError, match="No model called"):
        models.choose_default("nope")
    (models.default_data_dir() / "models" / models.CHOSEN_DEFAULT_FILE).write_text("{not json")
    assert models.default_model_name() == DEFAULT_MODEL_NAME  # a damaged choice: the shipped default


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
    assert not any("STUDIO_" in t for t in page_texts(at))  # the setting is named in a help text only
    assert any("weights/demucs" in m.value for m in at.markdown)


# ------------------------------------------- user strings as text, no tracebacks (issue 16 items 6 and 8)
HOSTILE = "![x](http://127.0.0.1:9/x.png) [link](http://evil) **bold** <b>b</b>"
MARKDOWN_LEFT = ("![x](", "[link](", "**bold**", "<b>")


def page_texts(at) -> list[str]:
    """Every Markdown-rendered text of the page: messages, markdown, captions, tab labels."""
    elements = [*at.error, *at.warning, *at.info, *at.success, *at.markdown, *at.caption]
    return [e.value for e in elements] + [t.label for t in at.tabs]


def assert_plain(texts, raw: str) -> None:
    from pages.ui.text import plain

    assert any(plain(raw) in t for t in texts), texts
    for t in texts:
        assert not any(m in t for m in MARKDOWN_LEFT), t


def test_upload_names_are_shown_as_text_not_markdown(clip):
    at = fresh_app()
    at.file_uploader(key="uploader").set_value((f"{HOSTILE}.wav", b"%PDF-1.5 fake", "audio/wav"))
    at.run()
    assert not at.exception
    assert_plain([e.value for e in at.error], HOSTILE)
    from core.store.store import Store

    store = Store()
    track = store.add_track(clip, name=HOSTILE, suffix=".wav")
    again = fresh_app()
    again.multiselect(key="library_pick").set_value([track.content_hash])
    again.run()
    assert not again.exception
    assert_plain(page_texts(again), track.name)  # the tab label


def test_plain_escapes_markdown_and_keeps_words():
    from pages.ui.text import hide_paths, plain

    assert plain("song 1") == "song 1" and plain("955717e8-8726e21a.th") == "955717e8-8726e21a.th"
    escaped = plain(HOSTILE + "\nline two :red[x] $x$ `c` # h")
    assert "\n" not in escaped and "](" not in escaped.replace("\\](", "") and "\\*\\*bold\\*\\*" in escaped
    assert "\\:red\\[x\\]" in escaped and "\\$x\\$" in escaped and "\\`c\\`" in escaped
    assert plain("- item").startswith("\\-") and plain("1. item").startswith("1\\.")
    assert hide_paths("'/srv/data/audio/ab/abc.wav' is damaged") == "'abc.wav' is damaged"
    assert hide_paths("10/20 and C/D") == "10/20 and C/D"


def segments_page() -> AppTest:
    at = fresh_app()
    at.switch_page("pages/segments.py")
    at.run()
    return at


def test_segments_notes_are_shown_as_text(abac_piece, monkeypatch):
    from core.store.store import Store
    from core.workflow.edits import EditedSegment, edits_key, segments_to_json

    audio, sr, _ = abac_piece
    store = Store()
    track = store.add_track(wav_bytes(audio[: 12 * sr], sr), name="plain", suffix=".wav")
    note = f"Uploaded {HOSTILE}.json"  # the note the Segments page stores for an upload: the raw name
    form = [EditedSegment(start_s=0.0, end_s=12.0, descriptor="cinematic_ambient_dreamy", tempo_bpm=96.0, tonic="D")]
    # the machine's version without a model (the page imports both names on every run)
    monkeypatch.setattr("pages.ui.widgets.cached_model", lambda name: None)
    monkeypatch.setattr("core.workflow.edits.machine_segments", lambda track, **kwargs: form)
    store.edits(track.content_hash, edits_key()).push(segments_to_json(form), note=note)
    at = segments_page()
    assert not at.exception
    assert_plain(page_texts(at), note)
    at.file_uploader(key="segments_json_upload").set_value((f"{HOSTILE}.json", b"[{", "application/json"))
    at.run()
    assert not at.exception
    assert_plain([e.value for e in at.error], HOSTILE)


def test_a_track_with_extreme_samples_gets_a_message_not_a_traceback(abac_piece, tmp_path):
    """A track stored before the loader refused extreme samples (about 1e30, finite)."""
    import os

    from core.store.store import Store

    audio, sr, _ = abac_piece
    store = Store()
    clip = audio[30 * sr: 40 * sr]  # content of its own: the page's caches hold tracks by content
    store.add_track(wav_bytes(clip, sr), name="extreme", suffix=".wav")
    stored = next(p for p in (store.root / "audio").rglob("*") if p.is_file())
    stored.write_bytes(wav_bytes(clip.astype("float32") * 1e30, sr, subtype="FLOAT"))
    at = segments_page()
    assert not at.exception
    texts = page_texts(at)
    assert at.error and not any("Traceback" in t for t in texts)
    for t in texts:
        assert str(store.root) not in t and str(ROOT) not in t and os.sep + "tmp" + os.sep not in t, t


def test_an_unexpected_failure_is_a_plain_message_and_logged(abac_piece, monkeypatch, caplog):
    from core.store.store import Store
    from pages.ui.text import UNEXPECTED

    def boom(track, **kwargs):
        raise RuntimeError("/srv/studio/secret/internal.py: index out of range")

    monkeypatch.setattr("pages.ui.widgets.cached_model", lambda name: None)
    monkeypatch.setattr("core.workflow.edits.machine_segments", boom)
    audio, sr, _ = abac_piece
    Store().add_track(wav_bytes(audio[40 * sr: 50 * sr], sr), name="boom", suffix=".wav")
    at = segments_page()
    assert not at.exception
    texts = page_texts(at)
    assert any(UNEXPECTED in e.value for e in at.error) and not any("/srv/" in t for t in texts)
    assert "internal.py" in caplog.text  # the details are in the server's log


def test_an_unexpected_failure_outside_a_progress_bar_is_caught_by_the_app(monkeypatch):
    from pages.ui.text import UNEXPECTED

    def boom(*args, **kwargs):
        raise RuntimeError("/srv/studio/secret: kaput")

    monkeypatch.setattr("core.describe.models.list_models", boom)
    at = fresh_app()  # the Analyze page lists the models first
    assert not at.exception
    assert [e.value for e in at.error] == [UNEXPECTED]


# ------------------------------------------------------- Segments page: current pickers, refusals in view
TWO_FORMS = {
    "first": [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)],
    "second": [(0.0, 6.0), (6.0, 12.0)],
}


def _two_tracks(abac_piece, monkeypatch):
    """Two stored tracks with machine versions of 3 and 2 segments (no model); their hashes."""
    from core.store.store import Store
    from core.workflow.edits import EditedSegment

    audio, sr, _ = abac_piece
    store = Store()
    # content of their own (52-76 s): the page remembers a track's machine version per process
    tracks = {name: store.add_track(wav_bytes(audio[(52 + 12 * i) * sr: (64 + 12 * i) * sr], sr), name=name,
                                    suffix=".wav") for i, name in enumerate(TWO_FORMS)}
    forms = {tracks[name].content_hash: [EditedSegment(start_s=a, end_s=b, descriptor="cinematic_ambient_dreamy",
                                                       tempo_bpm=96.0, tonic="D") for a, b in spans]
             for name, spans in TWO_FORMS.items()}
    monkeypatch.setattr("pages.ui.widgets.cached_model", lambda name: None)
    monkeypatch.setattr("core.workflow.edits.machine_segments", lambda track, **kwargs: forms[track.content_hash])
    return {name: t.content_hash for name, t in tracks.items()}


def _picker(at, label: str):
    return next(s for s in at.selectbox if s.label == label)


def _in_order(node):
    """The page's elements in the order they are drawn."""
    children = getattr(node, "children", None)
    if not children:
        yield node
        return
    for key in sorted(children):
        yield from _in_order(children[key])


def test_split_and_merge_pickers_follow_the_track_and_its_edits(abac_piece, monkeypatch):
    hashes = _two_tracks(abac_piece, monkeypatch)
    at = segments_page()
    at.selectbox(key="segments_pick").set_value(hashes["first"])
    at.run()
    assert not at.exception
    split, merge = _picker(at, "Segment"), _picker(at, "Segments")
    assert len(split.options) == 3 and len(merge.options) == 2
    first_ids = (split.id, merge.id)
    split.set_value(2)
    at.run()
    at.button(key="split_go").click()
    at.run()
    assert not at.exception and not at.error
    split, merge = _picker(at, "Segment"), _picker(at, "Segments")
    assert len(split.options) == 4 and split.options[3].startswith("4: 10.00-12.00")
    # new widgets for the new segments: the browser cannot keep showing the old segments' labels
    assert (split.id, merge.id) != first_ids and split.value == 0
    after_split = (split.id, merge.id)
    at.selectbox(key="segments_pick").set_value(hashes["second"])
    at.run()
    split, merge = _picker(at, "Segment"), _picker(at, "Segments")
    assert len(split.options) == 2 and split.options[1].startswith("2: 6.00-12.00") and len(merge.options) == 1
    assert (split.id, merge.id) != after_split


def test_a_tempo_out_of_range_is_refused_above_the_table_and_not_saved(abac_piece, monkeypatch):
    import pages.ui.editor
    from core.bounds import TEMPO_RANGE_BPM
    from core.generate.catalog import load_catalog
    from core.store.store import Store
    from core.workflow.editor import editor_table
    from core.workflow.edits import edits_key

    hashes = _two_tracks(abac_piece, monkeypatch)
    # the table must let 250 through (a min/max on the column clamps it to 200 in the browser, silently)
    tempo = pages.ui.editor._columns(load_catalog(), {k: 50 for k in editor_table([]).columns})["tempo_bpm"]
    assert tempo.get("type_config", {}).get("max_value") is None and "20-200" in tempo["help"]
    real = pages.ui.editor.segments_editor

    def typed_250(segments, **kwargs):  # the musician typed 250 in the first row's tempo
        real(segments, **kwargs)
        rows = editor_table(segments).to_dict(orient="records")
        rows[0]["tempo_bpm"] = 250.0
        return rows

    monkeypatch.setattr(pages.ui.editor, "segments_editor", typed_250)
    at = segments_page()
    at.selectbox(key="segments_pick").set_value(hashes["second"])
    at.run()
    assert not at.exception
    lo, hi = TEMPO_RANGE_BPM
    refusal = [e for e in at.error if "Not saved" in e.value]
    assert refusal and f"{lo:g}" in refusal[0].value and f"{hi:g}" in refusal[0].value and "250" in refusal[0].value
    order = [getattr(n, "type", "") for n in _in_order(at.main)]
    assert order.index("error") < order.index("dataframe")  # in view, above the table
    assert Store().edits(hashes["second"], edits_key()).count() == 0  # nothing saved


def test_random_bytes_get_a_message_without_python_internals():
    import random

    noise = random.Random(17).randbytes(40_000)
    at = fresh_app()
    at.file_uploader(key="uploader").set_value(("noise.wav", noise, "audio/wav"))
    at.run()
    assert not at.exception
    texts = [e.value for e in at.error]
    assert texts and any("could not be decoded" in t for t in texts), texts
    assert not any("object at 0x" in t or "BytesIO" in t or "_io" in t for t in texts), texts


def test_the_render_form_keeps_its_values_when_the_page_is_left():
    at = render_page()
    at.selectbox(key="genre").set_value("electronic")
    at.number_input(key="duration_s").set_value(12.0)
    at.number_input(key="seed").set_value(5)
    at.slider(key="climax_at").set_value(0.5)
    at.run()
    at.switch_page("pages/analyze.py")
    at.run()
    assert at.title[0].value == "Analyze"
    at.switch_page("pages/render.py")
    at.run()
    assert not at.exception
    assert at.selectbox(key="genre").value == "electronic" and at.number_input(key="duration_s").value == 12.0
    assert at.number_input(key="seed").value == 5 and at.slider(key="climax_at").value == 0.5


def test_a_timeline_upload_turns_off_the_fields_it_sets():
    timeline = (ROOT / "assets" / "examples" / "example_jazz.json").read_bytes()
    at = render_page()
    assert not at.number_input(key="duration_s").disabled
    at.file_uploader(key="timeline_upload").set_value(("jazz.json", timeline, "application/json"))
    at.run()
    assert not at.exception
    for widget in (at.selectbox(key="genre"), at.selectbox(key="mood"), at.number_input(key="duration_s"),
                   at.selectbox(key="tonic")):
        assert widget.disabled, widget.key
    assert not at.number_input(key="variations").disabled and not at.number_input(key="seed").disabled
    assert any("timeline file sets" in c.value for c in at.caption)


# ------------------------------------------------- downloads, file watcher, icons (issue 17 items 2 and 7)
def test_every_download_button_leaves_the_page_as_it_is():
    """A download that reruns the page replaces every other download link (the next click gets a
    stale one): all of them go through pages.ui.media.download, which ignores the click."""
    import ast

    calls = []
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "download_button":
                options = {k.arg: getattr(k.value, "value", None) for k in node.keywords}
                calls.append((path.name, node.lineno, options.get("on_click")))
    assert calls and all(on_click == "ignore" for _, _, on_click in calls), calls
    assert [name for name, _, _ in calls] == ["media.py"]  # one place: pages.ui.media.download


def test_streamlit_reads_the_project_config_without_a_file_watcher():
    """``make run`` starts streamlit in the checkout: its .streamlit/config.toml turns the file
    watcher off (watching .venv and the data overflowed inotify: thousands of log lines)."""
    import subprocess
    import sys

    code = ("from streamlit import config; config.get_config_options(force_reparse=True); "
            "print(config.get_option('server.fileWatcherType'), config.get_option('server.maxUploadSize'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["none", "700"], out.stderr[-800:]


def test_the_page_icons_need_no_font_server():
    """A ``:material/...:`` page icon makes the browser fetch the favicon from fonts.gstatic.com
    (it fails offline); the icon is an image in assets/, served by the app."""
    import ast

    from core.paths import ASSETS

    tree = ast.parse((ROOT / "app.py").read_text())
    icons = [ast.unparse(k.value) for node in ast.walk(tree) if isinstance(node, ast.Call)
             for k in node.keywords if k.arg in ("page_icon", "icon")]
    assert icons == ["str(ASSETS / 'studio_icon.png')"], icons
    assert (ASSETS / "studio_icon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------- words for composers and clients (issue 17 item 6)
#: (case matters: the Models page's training details name the feature sets, "amper21" among them, on purpose)
RESEARCH_WORDS = ("Amper", "discrimination-generation", "multi-region", "single-region", "region consistency",
                  "STUDIO_", "Laplacian")


@pytest.mark.parametrize("page", ["app.py", "pages/render.py", "pages/segments.py", "pages/listen.py",
                                  "pages/loop.py", "pages/stems.py", "pages/models.py", "pages/share.py",
                                  "pages/covers.py", "pages/taste.py"])
def test_pages_speak_to_musicians_not_researchers(page):
    at = fresh_app()
    if page != "app.py":
        at.switch_page(page)
        at.run()
    assert not at.exception
    texts = page_texts(at) + [e.label for e in [*at.toggle, *at.selectbox, *at.button, *at.get("expander")]]
    texts += [s.value for s in at.subheader]
    assert texts
    for text in texts:
        assert not any(w in text for w in RESEARCH_WORDS), text
