"""The stakeholder report (core.export) and projects (core.store.projects): a store built in a
temporary folder with a generated track, its analysis, a short linked render and two votes."""

from __future__ import annotations

import re

import pytest
from plotly.offline import get_plotlyjs

from core.analysis.analyze import AnalysisOptions, analyze
from core.audio.load import to_wav_bytes
from core.describe.describe import describe
from core.errors import StoreError, StudioError
from core.export import ExportError, find_track, project_report, track_report
from core.export.report import PLACEHOLDERS, fill_template, form_rows, load_template
from core.generate.groundtruth import form_track
from core.generate.render import render
from core.generate.timeline import multi_region
from core.store.projects import MAX_PROJECT_NAME_CHARS
from core.store.store import Store
from core.workflow.listen import version_id

LIBRARY_MARK = '<script id="plotly-js">'


def _region(start, end, tonic):
    return {"start_s": start, "end_s": end, "descriptor": "electronic_synthwave_driving", "tempo_bpm": 112,
            "tonic": tonic}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(store, reference hash, second track hash, render key): one analysed ABA track with a 6 s
    render linked and two votes; a second track neither analysed nor with versions."""
    store = Store(tmp_path_factory.mktemp("export-store"))
    audio, sr, _ = form_track(form="ABA", tempo_bpm=96, tonic="D", mode="minor", bars_per_section=4)
    track = store.add_track(to_wav_bytes(audio, sr), name="Reference <b>one</b>", suffix=".wav")
    describe(track, model="knn", options=AnalysisOptions(), remove_vocals="off", store=store)  # analysis + style
    result = render(multi_region([_region(0, 3, "A"), _region(3, 6, "D")]), seed=3)
    key = store.put_render(result)
    store.link_render(track.content_hash, key, kind="multi", label="multi_v1")
    store.add_vote(track.content_hash, version_a="original", version_b=version_id(key), preferred=version_id(key),
                   session="s1", listener="Dana Client", note="the chorus of B hits harder")
    store.add_vote(track.content_hash, version_a="original", version_b=version_id(key), preferred="same",
                   session="s2", listener="Sam <Producer>", note="close call & both fine")
    other_audio, other_sr, _ = form_track(form="AB", tempo_bpm=120, tonic="A", bars_per_section=1)
    other = store.add_track(to_wav_bytes(other_audio, other_sr), name="Second idea", suffix=".wav")
    return store, track.content_hash, other.content_hash, key


@pytest.fixture(scope="module")
def report(built):
    store, ref, _, _ = built
    seen = []
    result = track_report(store, ref, progress=lambda f, m="": seen.append(f))
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    return result


def _outside_library(text: str) -> str:
    """The file without the inline plotly.js bundle (whose code holds link texts, never fetched)."""
    start = text.index(LIBRARY_MARK)
    end = text.index("</script>", start)
    return text[:start] + text[end:]


def test_report_holds_players_figures_and_votes(report, built):
    text = report.html
    assert text.count("<audio controls") == 2  # the original and the linked render
    assert len(re.findall(r'<audio controls preload="metadata" src="data:audio/ogg;codecs=opus;base64,[A-Za-z0-9+/=]{200,}"',
                          text)) == 2
    assert "Dana Client" in text and "the chorus of B hits harder" in text
    assert "Sam &lt;Producer&gt;" in text and "close call &amp; both fine" in text  # escaped, not markup
    assert "Reference &lt;b&gt;one" in text and "<b>one" not in text
    assert "Harmony and form" in text and "Tempo and key over time" in text
    assert "repeats the section at" in text  # ABA: the last A repeats the first
    assert text.count("Plotly.newPlot(") == 5  # chroma, tempo/key, style lanes, the render, the votes
    assert "Most frequent styles:" in text and "Predicted per window by the model knn" in text
    assert not report.missing
    sizes = report.sizes()
    assert sizes["audio"] > 10_000 and sizes["library"] > 1_000_000 and sizes["text"] > 0
    assert sum(sizes.values()) == report.size_bytes
    assert "MB" in report.size_words() and report.file_name().endswith("_report.html")


def test_plotly_is_inline_once_and_nothing_refers_to_a_server(report):
    text = report.html
    assert text.count(LIBRARY_MARK) == 1
    assert text.count("plotly.js v") <= 2 and len(re.findall(r"\bPlotly\.register\b|define\(\"plotly\"", text)) <= 2
    rest = _outside_library(text)
    assert "plotly.js v" not in rest  # the bundle's banner only inside its one script
    assert not re.search(r"https?://", rest), re.search(r".{60}https?://.{60}", rest)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", rest)
    assert "<script src" not in text and "<link" not in text
    attributes = _attributes(text)  # every tag's src/href, parsed (script bodies are data, not tags)
    assert attributes and all(v.startswith(("data:audio/ogg", "#")) for v in attributes), attributes[:5]
    start = text.index(LIBRARY_MARK) + len(LIBRARY_MARK)
    assert text[start:text.index("</script>", start)] == get_plotlyjs()  # the installed package's bundle


def _attributes(text: str) -> list[str]:
    from html.parser import HTMLParser

    found = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(v or "" for k, v in attrs if k in ("src", "href", "action", "poster", "data"))

    Links().feed(text)
    return found


def test_form_rows_say_which_sections_repeat():
    import pandas as pd

    rows = form_rows(pd.DataFrame({"start_s": [0.0, 12.0, 24.0, 40.0], "end_s": [12.0, 24.0, 40.0, 52.0],
                                   "label": ["A", "B", "A", "C"]}))
    assert [r["repeat"] for r in rows] == ["comes back later", "heard once", "repeats the section at 0:00",
                                           "heard once"]
    assert rows[2]["start"] == "0:24"


def test_missing_analysis_and_render_are_said_in_the_file(built):
    store, ref, other, key = built
    text = track_report(store, other).html
    assert "has not been analysed yet" in text and "No renders or covers" in text and "No blind A/B" in text
    store.link_render(other, "0" * 40, kind="cover", label="lost cover")
    try:
        lost = track_report(store, other)
    finally:
        with store._db() as db:
            db.execute("DELETE FROM track_renders WHERE track_hash=?", (other,))
    assert "cannot be read back from the store" in lost.html and len(lost.missing) == 2
    analyze(store.get_track(other), options=AnalysisOptions(), store=store)
    analysed = track_report(store, other)
    assert "No style predictions stored" in analysed.html and not analysed.missing


def test_project_of_two_tracks_in_one_file(built):
    store, ref, other, _ = built
    name = store.create_project("  Client   demo ", note="for the Friday call")
    assert name == "Client demo"
    store.add_track_to_project(name, ref)
    store.add_track_to_project(name, other)
    store.add_track_to_project(name, other)  # twice: once
    assert store.project_tracks(name) == [ref, other]
    assert [p["tracks"] for p in store.projects() if p["name"] == name] == [2]
    text = project_report(store, name).html
    assert text.count(LIBRARY_MARK) == 1 and text.count("<audio controls") == 3
    assert f'href="#track-{ref[:12]}"' in text and f'id="track-{other[:12]}"' in text
    assert "for the Friday call" in text and "Second idea" in text
    store.remove_track_from_project(name, other)
    assert store.project_tracks(name) == [ref]
    assert store.rename_project(name, "Client demo v2") == "Client demo v2"
    assert store.project_tracks("Client demo v2") == [ref] and not store.has_project(name)
    store.delete_project("Client demo v2")
    assert store.has_track(ref) and not store.has_project("Client demo v2")


def test_unknown_track_or_project_and_empty_project_say_what_to_do(built):
    store, ref, _, _ = built
    with pytest.raises(ExportError, match="no track"):
        track_report(store, "f" * 40)
    with pytest.raises(StoreError, match="no project called 'Nope'"):
        project_report(store, "Nope")
    store.create_project("Empty one")
    with pytest.raises(ExportError, match="no tracks yet"):
        project_report(store, "Empty one")
    assert find_track(store, ref[:8].upper()) == ref
    with pytest.raises(ExportError, match="No track in the library"):
        find_track(store, "abc")
    with pytest.raises(StoreError, match="not in the library"):
        store.add_track_to_project("Empty one", "0" * 40)


@pytest.mark.parametrize("name, message", [
    ("", "needs a name"), ("   \n\t", "needs a name"), (None, "needs a name"),
    ("x" * (MAX_PROJECT_NAME_CHARS + 1), "up to 80 characters"), ("bell\x07", "control characters"),
    ("zero\u200bwidth", "control characters"),
])
def test_bad_project_names_are_refused(tmp_path, name, message):
    with pytest.raises(StoreError, match=message):
        Store(tmp_path).create_project(name)


def test_hostile_project_names_are_kept_as_text(built, tmp_path):
    store, ref, _, _ = built
    hostile = ["'; DROP TABLE projects; --", "<script>alert(1)</script>", "../../etc/passwd", "Ünïcødé 🎵 demo"]
    for name in hostile:
        store.create_project(name)
        store.add_track_to_project(name, ref)
    with pytest.raises(StoreError, match="already a project"):
        store.create_project(hostile[0])
    assert {p["name"] for p in store.projects()} >= set(hostile)
    result = project_report(store, hostile[1])
    assert "<script>alert(1)</script>" not in result.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in result.html
    assert "/" not in project_report(store, hostile[2]).file_name()
    for name in hostile:
        store.delete_project(name)


def test_template_is_checked_and_filled_in_one_pass():
    text = load_template()
    for name in PLACEHOLDERS:
        assert text.count("{{" + name + "}}") == 1
    filled = fill_template({n: "{{body}}" if n == "lede" else "" for n in PLACEHOLDERS})
    assert "{{body}}" in filled and "{{lede}}" not in filled  # a value is never read again


def test_cli_export_writes_the_file(built, tmp_path, capsys):
    from core.cli.main import main

    store, ref, _, _ = built
    out = tmp_path / "report.html"
    assert main(["export", ref[:10], "--out", str(out), "--data-dir", str(store.root)]) == 0
    assert out.read_text(encoding="utf-8").count("<audio controls") == 2
    done = capsys.readouterr()
    assert "MB" in done.out and "Report" in done.err  # the size, and the progress bar on stderr
    assert main(["export", "Nope", "--project", "--out", str(out), "--data-dir", str(store.root)]) == 2
    assert "no project called 'Nope'" in capsys.readouterr().err
    assert main(["export", ref, "--out", str(tmp_path), "--data-dir", str(store.root)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_export_errors_are_studio_errors():
    assert issubclass(ExportError, StudioError)


# ------------------------------------------------------------------ the Share page (AppTest)


def test_share_page_makes_a_project_and_its_report(built, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    store, ref, _, _ = built
    monkeypatch.setenv("STUDIO_DATA_DIR", str(store.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/share.py")
    at.run()
    assert not at.exception and at.title[0].value == "Share"
    at.text_input(key="share_new_name").set_value("  ")
    at.button(key="share_create").click()
    at.run()
    assert "needs a name" in at.error[0].value
    at.text_input(key="share_new_name").set_value("Page demo")
    at.button(key="share_create").click()
    at.run()
    assert at.selectbox(key="share_project").value == "Page demo"
    at.multiselect(key="share_tracks_Page demo").select(ref)
    at.run()
    assert store.project_tracks("Page demo") == [ref]
    at.button(key="share_make_project_Page demo").click()
    at.run()
    assert not at.exception, at.exception
    buttons = [b for b in at.get("download_button") if "stakeholder report" in b.proto.label]
    assert len(buttons) == 1
    assert any("MB" in c.value for c in at.caption)
    store.delete_project("Page demo")
