"""Real browser, issue 17's walk-through: one real-length track (generated, 4 minutes) through
Analyze, Segments, Render, Listen and Share (the stakeholder report downloaded), each step timed (cold, and a warm reopen of the
analysis), every page checked at 1440 x 900 and 1024 x 768 (nothing wider than the window) and
photographed. Run with ``pytest -m browser``; ``bench/page_timings.py`` runs it with
``STUDIO_WALKTHROUGH_OUT=docs/walkthrough`` to keep the screenshots and the timings."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

tb = pytest.importorskip("tests.test_browser")  # skips when Playwright or Chromium is missing

pytestmark = pytest.mark.browser

SIZES = ((1440, 900), (1024, 768))
#: The generated piece: ABAC at 96 BPM, 24 bars a section: 240 s.
TRACK_S = 240.0
_WIDTH = "() => ({doc: document.documentElement.scrollWidth, win: window.innerWidth})"


@pytest.fixture(scope="module")
def long_track(tmp_path_factory):
    import soundfile as sf

    from core.generate.groundtruth import form_track

    audio, sr, _ = form_track(form="ABAC", tempo_bpm=96, tonic="D", mode="minor", bars_per_section=24)
    path = tmp_path_factory.mktemp("walk") / "four_minutes.wav"
    sf.write(path, audio, sr, subtype="PCM_16")
    assert abs(len(audio) / sr - TRACK_S) < 1.0
    return path


class _Walk:
    """Times the steps and photographs the pages at each size."""

    def __init__(self, page, out: Path):
        self.page, self.out, self.timings = page, out, {}

    def timed(self, step: str, action, done) -> float:
        start = time.monotonic()
        action()
        done()
        self.timings[step] = round(time.monotonic() - start, 2)
        return self.timings[step]

    def look(self, name: str, *, at=None) -> None:
        """Each size: the page fits the window's width, and a screenshot of what shows (scrolled
        to the locator ``at``)."""
        for width, height in SIZES:
            self.page.set_viewport_size({"width": width, "height": height})
            self.page.wait_for_timeout(600)  # the charts redraw at the new width
            if at is not None:
                at.scroll_into_view_if_needed()
            sizes = self.page.evaluate(_WIDTH)
            assert sizes["doc"] <= sizes["win"] + 1, (name, width, sizes)  # no sideways scrolling
            self.page.screenshot(path=str(self.out / f"{name}-{width}x{height}.png"))
        self.page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
        tb._assert_no_traceback(self.page)


def _out_dir(tmp_path) -> Path:
    out = Path(os.environ.get("STUDIO_WALKTHROUGH_OUT") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_a_four_minute_track_walks_through_every_page(long_track, tmp_path, tmp_path_factory):
    with tb._serve(tmp_path_factory) as url, tb.sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=tb.CHROMIUM, args=tb.CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(60_000)
            walk = _Walk(page, _out_dir(tmp_path))
            _analyze(walk, url, long_track)
            _segments(walk, url)
            _render(walk, url)
            _listen(walk, url)
            _share(walk, url, tmp_path)
        except Exception:
            page.screenshot(path=str(walk.out / "failed.png"), full_page=True)
            raise
        finally:
            browser.close()
    (walk.out / "timings.json").write_text(json.dumps({"track_s": TRACK_S, "seconds": walk.timings}, indent=2))
    print("walk-through timings (s):", json.dumps(walk.timings))
    assert walk.timings["analyze warm"] < walk.timings["analyze cold"]


def _analyze(walk: _Walk, url: str, track: Path) -> None:
    page = walk.page
    page.goto(url)
    page.locator(tb.UPLOAD_INPUT).wait_for(state="attached")
    done = page.get_by_role("button", name="Windows CSV")
    walk.timed("analyze cold", lambda: page.locator(tb.UPLOAD_INPUT).set_input_files(str(track)),
               lambda: done.wait_for(timeout=tb.ANALYSIS_TIMEOUT_MS * 3))
    page.locator(".js-plotly-plot", has_text="Predictions per window").wait_for()
    walk.look("analyze", at=page.locator("[data-testid=stMetric]").first)
    walk.look("analyze-predictions", at=page.locator(".js-plotly-plot", has_text="Predictions per window"))

    def reopen():  # a fresh session: pick the stored track from the library
        page.goto(url)
        page.get_by_text("Or open tracks analysed before").wait_for()
        page.locator("[data-testid=stMultiSelect]").click()
        page.get_by_role("option").first.click()
        page.keyboard.press("Escape")  # close the list

    walk.timed("analyze warm", reopen, lambda: done.wait_for(timeout=60_000))


def _segments(walk: _Walk, url: str) -> None:
    page = walk.page
    walk.timed("segments open", lambda: page.goto(f"{url}/segments"),
               lambda: page.get_by_role("button", name="Render", exact=True).wait_for(timeout=120_000))
    walk.look("segments", at=page.get_by_role("heading", name="Segments").nth(1))
    audio_before = page.locator("audio").count()
    walk.timed("segments render the form", lambda: page.get_by_role("button", name="Render", exact=True).click(),
               lambda: page.locator("audio").nth(audio_before).wait_for(timeout=180_000))
    walk.look("segments-rendered")


def _render(walk: _Walk, url: str) -> None:
    page = walk.page
    page.goto(f"{url}/render")
    length = page.get_by_label("Length (s)")
    length.fill("30")
    length.press("Enter")
    walk.timed("render 30 s", lambda: page.get_by_role("button", name="Generate").click(),
               lambda: page.get_by_role("button", name="Timeline").first.wait_for(timeout=120_000))
    walk.look("render", at=page.get_by_role("heading", name="Variations"))


def _listen(walk: _Walk, url: str) -> None:
    page = walk.page

    def ready():
        frame = tb._player_frame(page, 120.0, testid="multi-player")
        frame.wait_for_function("() => window.player && window.player.state().ready", timeout=60_000)

    walk.timed("listen open", lambda: page.goto(f"{url}/listen"), ready)
    walk.look("listen", at=page.locator("iframe").first)


def _share(walk: _Walk, url: str, tmp_path: Path) -> None:
    page = walk.page
    walk.timed("share open", lambda: page.goto(f"{url}/share"),
               lambda: page.get_by_role("button", name="Make the report").first.wait_for(timeout=60_000))
    download = page.get_by_role("button", name="Download stakeholder report (HTML)").first
    walk.timed("share make the report", lambda: page.get_by_role("button", name="Make the report").first.click(),
               lambda: download.wait_for(timeout=120_000))
    walk.look("share", at=download)
    with page.expect_download(timeout=30_000) as info:
        download.click()
    report = tmp_path / info.value.suggested_filename
    info.value.save_as(report)
    html = report.read_text()
    assert html.count("<audio") >= 2  # the original and the edited form's render (linked to the track)
