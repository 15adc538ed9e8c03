"""Real browser: the Listen page serves its versions by URL (Streamlit's media files, range
requests), never as audio inside the page. Run with ``pytest -m browser``."""

from __future__ import annotations

import pytest

from tests.test_listen import _populate, audio  # noqa: F401 - ``audio`` is a fixture used below

tb = pytest.importorskip("tests.test_browser")  # skips when Playwright or Chromium is missing

pytestmark = pytest.mark.browser

#: What the page may weigh with three versions (its HTML with Streamlit's styles in the head, about
#: 100 KB that grow with the kinds of widget on the page, and the player's srcdoc, counted twice: in
#: the page and in the frame), less the SVG that Plotly draws in the browser (how much of it is
#: drawn when the page is measured varies: once it added 55 KB). One version embedded as audio adds
#: about 200 KB; before URLs the page weighed 1.6-9.6 MB.
MAX_PAGE_BYTES = 300_000

_SIZES = """() => ({page: document.documentElement.outerHTML.length
                         - [...document.querySelectorAll('.js-plotly-plot')].reduce((n, e) => n + e.outerHTML.length, 0),
                   frames: [...document.querySelectorAll('iframe')].map((f) => (f.srcdoc || '').length),
                   embedded: [...document.querySelectorAll('iframe')].some((f) => (f.srcdoc || '').includes('data:audio'))
                             || document.documentElement.outerHTML.includes('data:audio')})"""
_AUDIO = "() => [...document.querySelectorAll('audio')].map((a) => ({src: a.currentSrc || a.src, t: a.currentTime}))"
_RANGE = """async (src) => { const r = await fetch(src, {headers: {Range: 'bytes=0-99'}});
                             return {status: r.status, bytes: (await r.arrayBuffer()).byteLength,
                                     type: r.headers.get('content-type')}; }"""


def test_listen_page_streams_its_versions_by_url(audio, tmp_path, tmp_path_factory):  # noqa: F811
    from core.store.store import Store

    data_dir = tmp_path / "served-data"
    _populate(Store(data_dir), audio)
    with tb._serve(tmp_path_factory, data_dir=data_dir) as url, tb.sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=tb.CHROMIUM, args=tb.CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(30_000)
            page.goto(f"{url}/listen")
            frame = tb._player_frame(page, 120.0, testid="multi-player")  # the first analysis compiles numba code
            frame.wait_for_function("() => window.player && window.player.state().ready", timeout=30_000)

            sizes = page.evaluate(_SIZES)
            assert not sizes["embedded"], sizes
            assert sizes["page"] + sum(sizes["frames"]) < MAX_PAGE_BYTES, sizes
            elements = frame.evaluate(_AUDIO)
            assert len(elements) == 3, elements
            assert all(e["src"].startswith(f"{url}/media/") for e in elements), elements
            assert len({e["src"] for e in elements}) == 3
            ranged = frame.evaluate(_RANGE, elements[1]["src"])  # what the <audio> element asks for
            assert ranged["status"] == 206 and ranged["bytes"] == 100 and "ogg" in ranged["type"], ranged

            frame.locator("#play").click()
            frame.wait_for_function("() => [...document.querySelectorAll('audio')]"
                                    ".every((a) => !a.paused && a.currentTime > 1.0)", timeout=20_000)
            frame.locator("button.version").nth(1).click()  # switch: the transport keeps going
            start = frame.evaluate("window.player.position()")
            frame.wait_for_function(f"() => window.player.position() > {start + 0.5}", timeout=10_000)
            times = [e["t"] for e in frame.evaluate(_AUDIO)]
            assert max(times) - min(times) < 0.25, times  # the versions stay together on one clock
            assert frame.evaluate("window.player.state()")["label"] == "Stitched version 2"
            tb._assert_no_traceback(page)
        finally:
            browser.close()
