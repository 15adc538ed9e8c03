"""Real browser: the stakeholder report opened from disk (file://) in Chromium plays and draws
with no network at all, and the Share page of a live server hands one over as a download.
Run with ``pytest -m browser``."""

from __future__ import annotations

import pytest

from core.export import track_report
from tests.test_export import built  # noqa: F401 - a fixture used below

tb = pytest.importorskip("tests.test_browser")  # skips when Playwright or Chromium is missing

pytestmark = pytest.mark.browser

_AUDIO = "() => [...document.querySelectorAll('audio')].map((a) => ({state: a.readyState, error: a.error && a.error.code, duration: a.duration}))"
_READY = "() => { const a = [...document.querySelectorAll('audio')]; return a.length > 0 && a.every((x) => x.readyState >= 1 || x.error); }"


@pytest.fixture(scope="module")
def chromium():
    with tb.sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=tb.CHROMIUM, args=tb.CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_report_opened_from_disk_plays_and_draws_offline(built, chromium, tmp_path):  # noqa: F811
    store, ref, _, _ = built
    path = tmp_path / "report.html"
    path.write_text(track_report(store, ref).html, encoding="utf-8")
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, offline=True)
    attempted: list[str] = []

    def block(route):  # every request but the file itself is recorded and refused
        if route.request.url != path.as_uri():
            attempted.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", block)
    page = context.new_page()
    page.on("request", lambda r: attempted.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    try:
        page.goto(path.as_uri())
        page.wait_for_selector(".main-svg", timeout=20_000)  # plotly drew
        page.wait_for_function(_READY, timeout=20_000)
        audio = page.evaluate(_AUDIO)
        assert len(audio) == 2 and all(a["state"] >= 1 and a["error"] is None for a in audio), audio
        assert all(a["duration"] > 5 for a in audio), audio  # the metadata says how long each is
        assert page.locator(".plotly-graph-div").count() == 5
        assert page.locator(".plotly-graph-div .main-svg").count() >= 5
        assert "Dana Client" in page.locator("body").inner_text()
        assert not attempted, attempted
    finally:
        context.close()


def test_share_page_downloads_a_report(built, chromium, tmp_path, tmp_path_factory):  # noqa: F811
    store, _, _, _ = built
    with tb._serve(tmp_path_factory, data_dir=store.root) as url:
        context = chromium.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            page.goto(f"{url}/share")
            page.get_by_role("button", name="Make the report").first.click()
            button = page.get_by_role("button", name="Download stakeholder report (HTML)")
            button.wait_for(timeout=60_000)
            with page.expect_download(timeout=30_000) as info:
                button.click()
            download = info.value
            assert download.failure() is None
            target = tmp_path / download.suggested_filename
            download.save_as(target)
            text = target.read_text(encoding="utf-8")
            assert target.name.endswith("_report.html") and "<audio controls" in text
            assert text.count('<script id="plotly-js">') == 1
            tb._assert_no_traceback(page)
        finally:
            context.close()
