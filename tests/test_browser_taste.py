"""Real browser: the Taste page profiles two uploaded songs and a zip holding a bad file, draws the
distribution and the map, lists what it skipped and hands over tracks.csv. Run with ``pytest -m browser``."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from core.covers.songs import known_song
from core.embed.weights import weights_present
from tests.conftest import wav_bytes

tb = pytest.importorskip("tests.test_browser")  # skips when Playwright or Chromium is missing

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not weights_present("MSD_musicnn"), reason="musicnn weights not fetched")]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("taste-library")
    for name, prog in (("pop_song.wav", "pop"), ("blues_song.wav", "blues")):
        song = known_song(progression=prog, bars=6, tempo_bpm=110.0)
        (folder / name).write_bytes(wav_bytes(song.audio, song.sample_rate))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../notes.wav", b"%PDF-1.5 not a song")
        z.writestr("readme.txt", b"hello")
    (folder / "extras.zip").write_bytes(buf.getvalue())
    return folder


def test_taste_page_profiles_uploads_and_downloads_the_table(library, tmp_path, tmp_path_factory):
    with tb._serve(tmp_path_factory) as url:
        with tb.sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=tb.CHROMIUM, args=tb.CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1400}, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(60_000)
            try:
                page.goto(f"{url}/taste")
                page.get_by_role("heading", name="Taste").first.wait_for()
                page.locator(tb.UPLOAD_INPUT).set_input_files(
                    [str(library / n) for n in ("pop_song.wav", "blues_song.wav", "extras.zip")])
                page.get_by_text("extras.zip").first.wait_for()
                page.get_by_role("button", name="Profile 3 files").click()
                button = page.get_by_role("button", name="tracks.csv")
                button.wait_for(timeout=tb.ANALYSIS_TIMEOUT_MS)
                assert page.get_by_text("extras.zip/notes.wav").count() >= 1  # skipped, and said so
                page.wait_for_selector(".js-plotly-plot .main-svg")
                assert page.locator(".js-plotly-plot").count() >= 2  # the distribution and the map
                with page.expect_download(timeout=30_000) as info:
                    button.click()
                target = tmp_path / info.value.suggested_filename
                info.value.save_as(target)
                rows = list(csv.DictReader(target.open()))
                assert [r["file"] for r in rows if not r["error"]] == ["pop_song.wav", "blues_song.wav"]
                assert all(r["genre"] and r["descriptor"] for r in rows if not r["error"])
                tb._assert_no_traceback(page)
            finally:
                context.close()
                browser.close()
