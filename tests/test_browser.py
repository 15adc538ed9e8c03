"""Real-browser tests: ``streamlit run app.py`` driven by Playwright over Debian Chromium.

Run with ``pytest -m browser``. The server starts once per module with a private
STUDIO_DATA_DIR; the browser is Debian's ``/usr/bin/chromium`` (never ``playwright install``).
Skipped when Playwright or Chromium is not available.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
UPLOAD_INPUT = "[data-testid=stFileUploader] input[type=file]"
# The first analysis in a fresh server process compiles numba/librosa code (~30 s).
ANALYSIS_TIMEOUT_MS = 120_000

sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)

pytestmark = pytest.mark.browser


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def _write_wav(path: Path, *, bars_per_section: int = 3) -> Path:
    import soundfile as sf

    from core.generate.groundtruth import form_track

    audio, sr, _ = form_track(form="ABAC", tempo_bpm=96, tonic="D", mode="minor",
                              bars_per_section=bars_per_section)
    sf.write(path, audio, sr, subtype="PCM_16")
    return path


def _player_frame(page, timeout_s: float = 30.0, *, testid: str = "waveform-player"):
    """The frame holding a player component (Streamlit renders it as an iframe): the waveform
    player, or with ``testid="multi-player"`` the multi-version player."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            if frame is page.main_frame:
                continue
            try:
                if frame.locator(f"[data-testid={testid}]").count():
                    return frame
            except Exception:  # frame detached while iterating
                pass
        page.wait_for_timeout(250)  # a Playwright call: lets frame events through (time.sleep would not)
    raise AssertionError(f"{testid} iframe not found")


def _assert_no_traceback(page) -> None:
    body = page.locator("body").inner_text()
    assert "Traceback" not in body, body[-2000:]
    assert page.locator("[data-testid=stException]").count() == 0, body[-2000:]


# --------------------------------------------------------------------------- fixtures


#: ``streamlit`` as ``python -m streamlit`` runs it, with every thread's stack written to the log
#: on SIGUSR1 (``_Server.stacks``: what a stuck page's server is doing).
_SERVE = ("import faulthandler, runpy, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
          "sys.argv[0] = 'streamlit'; runpy.run_module('streamlit', run_name='__main__', alter_sys=True)")


@dataclass
class _Server:
    url: str
    proc: subprocess.Popen
    log: Path

    def died(self) -> str:
        """Why the server process is gone ("" while it runs): a signal (SIGSEGV) or an exit code."""
        code = self.proc.poll()
        if code is None:
            return ""
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        return f"the server {how}; its log ends: {self.log.read_text(errors='replace')[-1500:]}"

    def stacks(self) -> str:
        """Every thread's Python stack, as the server prints it on SIGUSR1 (see ``_SERVE``)."""
        if self.proc.poll() is not None:
            return self.died()
        size = self.log.stat().st_size
        self.proc.send_signal(signal.SIGUSR1)
        time.sleep(2.0)
        return self.log.read_bytes()[size:].decode(errors="replace")


@contextlib.contextmanager
def _start(tmp_path_factory, *, data_dir: Path | None = None):
    """``streamlit run app.py`` on a free port over ``data_dir`` (default: a fresh one); yields a _Server."""
    port = _free_port()
    data_dir = data_dir if data_dir is not None else tmp_path_factory.mktemp("studio-data")
    env = dict(os.environ, STUDIO_DATA_DIR=str(data_dir))
    log = tmp_path_factory.mktemp("streamlit-log") / "server.log"
    cmd = [sys.executable, "-c", _SERVE, "run", "app.py",
           "--server.headless", "true", "--server.address", "127.0.0.1",
           "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            if not _wait_healthy(url, proc):
                print(log.read_text(errors="replace"))
                pytest.fail(f"streamlit did not become healthy on {url}")
            yield _Server(url, proc, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def _serve(tmp_path_factory, *, data_dir: Path | None = None):
    """Like ``_start``; yields the URL."""
    with _start(tmp_path_factory, data_dir=data_dir) as served:
        yield served.url


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The module's app server (a _Server: its URL, process and log)."""
    with _start(tmp_path_factory) as srv:
        yield srv


@pytest.fixture(scope="module")
def server(served):
    return served.url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(server)
    pg.locator(UPLOAD_INPUT).wait_for(state="attached")
    yield pg
    context.close()


@pytest.fixture(scope="module")
def wav_30s(tmp_path_factory):
    return _write_wav(tmp_path_factory.mktemp("audio") / "abac.wav", bars_per_section=3)


@pytest.fixture
def analysed_page(page, wav_30s):
    """The Analyze page after uploading the 30 s ABAC piece and waiting for the results."""
    page.locator(UPLOAD_INPUT).set_input_files(str(wav_30s))
    page.get_by_role("button", name="Windows CSV").wait_for(timeout=ANALYSIS_TIMEOUT_MS)
    return page


# --------------------------------------------------------------------------- tests


@pytest.mark.browser
def test_upload_shows_analysis(analysed_page):
    page = analysed_page
    # Metrics
    for label in ("Duration", "Tempo", "Key", "Segments"):
        page.locator("[data-testid=stMetricLabel]", has_text=label).first.wait_for()
    tempo = page.locator("[data-testid=stMetric]", has_text="Tempo").first.inner_text()
    assert "BPM" in tempo, tempo
    duration = page.locator("[data-testid=stMetric]", has_text="Duration").first.inner_text()
    assert "30.0 s" in duration, duration

    # Waveform player: an iframe holding the player and its canvas
    frame = _player_frame(page)
    frame.locator("[data-testid=waveform-player] canvas").wait_for()
    assert frame.evaluate("document.getElementById('wave').width") > 0

    # Plotly charts: chroma and tempo/key
    plots = page.locator(".js-plotly-plot")
    page.locator(".js-plotly-plot", has_text="CQT chroma").first.wait_for()
    assert plots.count() >= 2
    texts = [plots.nth(i).inner_text() for i in range(plots.count())]
    assert any("CQT chroma" in t for t in texts), texts
    assert any("empo" in t and "CQT chroma" not in t for t in texts), texts

    # Tables and downloads
    page.locator("[data-testid=stDataFrame]").nth(1).wait_for()
    assert page.locator("[data-testid=stDataFrame]").count() >= 2
    for name in ("Windows CSV", "Segments CSV"):
        assert page.get_by_role("button", name=name).is_visible()
    _assert_no_traceback(page)


@pytest.mark.browser
def test_waveform_click_plays(analysed_page):
    page = analysed_page
    frame = _player_frame(page)
    frame.wait_for_function(
        "() => { const a = document.getElementById('audio');"
        " return a && a.readyState >= 1 && isFinite(a.duration); }",
        timeout=20_000,
    )
    src = frame.evaluate("document.getElementById('audio').currentSrc")
    duration = frame.evaluate("document.getElementById('audio').duration")
    assert src.startswith("http")  # served by URL (range requests), never embedded
    assert abs(duration - 30.0) < 0.5, duration

    # Shift-click seeks to the exact time under the pointer (a plain click jumps to the start
    # of the segment there, which depends on the segmentation); 40 % of 30 s is 12 s.
    canvas = frame.locator("canvas#wave")
    box = canvas.bounding_box()
    canvas.click(position={"x": box["width"] * 0.4, "y": box["height"] / 2}, modifiers=["Shift"])
    frame.wait_for_function(  # the seek lands at once, playback starts a moment later
        "() => { const a = document.getElementById('audio');"
        " return !a.paused && a.currentTime > 11 && document.getElementById('play').textContent.includes('Pause'); }",
        timeout=10_000,
    )
    state = frame.evaluate(
        "(() => { const a = document.getElementById('audio');"
        " return {paused: a.paused, t: a.currentTime, label: document.getElementById('play').textContent}; })()"
    )
    assert not state["paused"], state
    assert 11.0 < state["t"] < 20.0, state
    assert "Pause" in state["label"], state


@pytest.mark.browser
def test_pdf_named_wav_is_rejected(page, tmp_path):
    pdf = tmp_path / "notes.wav"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
    page.locator(UPLOAD_INPUT).set_input_files(str(pdf))
    alert = page.locator("[data-testid=stAlert]", has_text="PDF")
    alert.first.wait_for(timeout=30_000)
    assert "notes.wav" in alert.first.inner_text()
    _assert_no_traceback(page)
    # The app is still alive: the uploader is there and no analysis results appeared.
    assert page.locator(UPLOAD_INPUT).count() == 1
    assert page.get_by_role("button", name="Windows CSV").count() == 0


@pytest.mark.browser
def test_render_page_generates_and_plays(browser, server):
    """Open the Render page, render two short variations, and see two players and downloads."""
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{server}/render")
        length = page.get_by_label("Length (s)")
        length.fill("8")
        length.press("Enter")
        variations = page.get_by_label("Variations")
        variations.fill("2")
        variations.press("Enter")
        page.get_by_role("button", name="Generate").click()
        # the second variation's Timeline download is the last element the page writes
        page.get_by_role("button", name="Timeline").nth(1).wait_for(timeout=ANALYSIS_TIMEOUT_MS)
        assert page.locator("audio").count() == 2
        assert page.get_by_role("button", name="MIDI").count() == 2
        assert page.get_by_role("button", name="Timeline").count() == 2
        src = page.locator("audio").first.get_attribute("src")
        assert src
        _assert_no_traceback(page)
    finally:
        context.close()


@pytest.mark.browser
def test_stems_page_separates_and_plays(browser, server, wav_30s):
    """Upload on the Stems page, separate, and get a player and a download per stem."""
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{server}/stems")
        page.get_by_role("heading", name="Stems").wait_for()
        page.locator(UPLOAD_INPUT).set_input_files(str(wav_30s))
        separate = page.get_by_role("button", name="Separate")
        done = page.get_by_role("button", name="accompaniment.wav")
        # the Analyze page may have separated this track already (vocals before classifying):
        # then the stems are in the store and show at once
        separate.or_(done).first.wait_for(timeout=ANALYSIS_TIMEOUT_MS)
        if separate.count():
            separate.click()
        done.wait_for(timeout=ANALYSIS_TIMEOUT_MS)
        assert page.get_by_role("button", name="vocals.wav").count() == 1
        assert page.locator("audio").count() == 3
        _assert_no_traceback(page)
    finally:
        context.close()


@pytest.mark.browser
def test_covers_page_makes_a_cover_and_plays_it_beside_the_original(browser, served, tmp_path):
    """Upload a song on the Covers page, make a jazz cover, and get the synchronised player (its
    versions load), the lead sheet figure and the downloads."""
    import soundfile as sf

    from core.covers.songs import known_song

    song = known_song(progression="jazz", bars=8, tempo_bpm=112.0, seed=31)
    wav = tmp_path / "song for a cover.wav"
    sf.write(wav, song.audio, song.sample_rate, subtype="PCM_16")
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{served.url}/covers")
        page.get_by_role("heading", name="Covers").wait_for()
        page.locator(UPLOAD_INPUT).set_input_files(str(wav))
        page.get_by_role("button", name="Make the cover").click(timeout=ANALYSIS_TIMEOUT_MS)
        # separation, lead sheet, arrangement, mix, then the cover score and the target-genre check,
        # each model loaded cold by the server (72 s alone; twice that beside the other test worker)
        _wait_visible(page, page.get_by_role("button", name="Recipe (JSON)"), served,
                      timeout_s=ANALYSIS_TIMEOUT_MS * 3 / 1000, what="The cover's downloads")
        frame = _player_frame(page, testid="multi-player")
        frame.wait_for_function("() => [...document.querySelectorAll('audio')].length >= 3 && "
                                "[...document.querySelectorAll('audio')].every((a) => a.readyState >= 1)",
                                timeout=30_000)
        assert page.get_by_role("button", name="Cover (WAV)").count() == 1
        assert page.locator(".js-plotly-plot").count() >= 1
        _assert_no_traceback(page)
    finally:
        context.close()


def _wait_visible(page, locator, served: _Server, *, timeout_s: float, what: str) -> None:
    """Wait for ``locator`` while checking, every 2 s, that the server still runs and the page
    shows no exception; on a timeout, say what the page and the server log show."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if locator.count() and locator.first.is_visible():
            return
        assert not served.died(), served.died()
        _assert_no_traceback(page)
        page.wait_for_timeout(2000)
    body = page.locator("body").inner_text()
    log = served.log.read_text(errors="replace")[-1500:]
    raise AssertionError(f"{what} did not appear in {timeout_s:.0f} s. The page ends: {body[-1500:]!r}. "
                         f"The server log ends: {log!r}. Its threads:\n{served.stacks()[-12000:]}")


@pytest.mark.browser
def test_loop_page_runs_the_loop(browser, served, tmp_path):
    """Upload a reference on the Loop page, run one variation, and see the charts and exports."""
    import soundfile as sf

    from core.generate.render import render
    from core.generate.timeline import multi_region
    from core.workflow.loop_report import MOST_PER_VARIATION

    audio = render(multi_region([{"start_s": 0.0, "end_s": 14.0, "descriptor": "rock_indie_driving",
                                  "tempo_bpm": 124, "tonic": "E"}]), seed=5).audio
    ref = tmp_path / "riff.wav"
    sf.write(ref, audio, 44100, subtype="PCM_16")
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{served.url}/loop")
        page.get_by_role("heading", name="Loop").wait_for()
        page.locator(UPLOAD_INPUT).set_input_files(str(ref))
        variations = page.get_by_label("Variations")
        variations.fill("1")
        variations.press("Enter")
        # the rerun with one variation has finished (a click during a rerun can be lost)
        page.get_by_text(f"up to {MOST_PER_VARIATION} renders").wait_for(timeout=ANALYSIS_TIMEOUT_MS)
        page.get_by_role("button", name="Run the loop").click()
        # the loop renders, analyses and classifies while the other test worker shares the two cores
        _wait_visible(page, page.get_by_role("button", name="Stitched renders CSV"), served,
                      timeout_s=ANALYSIS_TIMEOUT_MS * 3 / 1000, what="The loop's tables")
        charts = page.locator("[data-testid=stPlotlyChart]")
        charts.nth(2).wait_for(timeout=60_000)  # plotly draws after the script has finished
        assert charts.count() == 3
        # what the run did replaces what it would do (issue 17 item 7)
        page.get_by_text("Ran the loop on 1 track:").wait_for()
        assert page.get_by_text("no loop with these settings yet").count() == 0
        _assert_no_traceback(page)
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.parametrize("path, title", [("render", "Render"), ("segments", "Segments"), ("stems", "Stems"),
                                         ("listen", "Listen"), ("share", "Share"), ("loop", "Loop"), ("models", "Models"),
                                         ("", "Analyze")])
def test_page_url_opened_first_on_a_fresh_server(browser, tmp_path_factory, path, title):
    """A bookmarked page URL right after a restart must get the app's navigation and its page,
    not Streamlit's old pages/ directory listing nor a "Page not found" detour."""
    with _serve(tmp_path_factory) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        try:
            page.goto(f"{url}/{path}")
            page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
            nav = page.locator("[data-testid=stSidebarNav]").inner_text()
            assert "Analyze" in nav and "Render" in nav and "Models" in nav
            assert "common" not in nav.lower() and "app" not in nav.lower().split()
            assert page.locator("[role=dialog]").count() == 0  # no "Page not found" detour
            _assert_no_traceback(page)
        finally:
            context.close()


#: A hi-res master's rate: libvorbis segfaulted encoding previews from about 256 kHz up (issue 16).
HI_RES_HZ = 384_000


def _hi_res_wav(path: Path, *, seconds: float = 6.0) -> Path:
    """A short 384 kHz WAV: a chord with a pulse every half second, so it has beats and form."""
    import numpy as np
    import soundfile as sf

    t = np.arange(int(seconds * HI_RES_HZ)) / HI_RES_HZ
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 3
    pulse = 0.5 + 0.5 * (np.mod(t, 0.5) < 0.08)
    sf.write(path, (0.4 * tone * pulse).astype(np.float32), HI_RES_HZ, subtype="PCM_24")
    return path


def _alive_page(browser, served: _Server, path: str):
    """A new browser context and its page, opened at ``path`` of the server."""
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{served.url}/{path}")
    return context, page


def _wait_or_report(served: _Server, locator, *, timeout_ms: int) -> None:
    """Wait for ``locator``, checking each second that the server lives (a dead server is
    reported at once, with how it died, not after the whole timeout)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        assert not served.died(), served.died()
        try:
            locator.wait_for(timeout=1000)
            return
        except sync_api.TimeoutError:
            pass
    raise AssertionError(served.died() or f"the server runs, but {locator} did not appear in {timeout_ms} ms")


def _assert_server_alive(served: _Server, page) -> None:
    assert not served.died(), served.died()
    body = page.locator("body").inner_text()
    assert "Connection error" not in body, body[-2000:]
    _assert_no_traceback(page)


@pytest.mark.browser
def test_a_384_khz_upload_survives_a_restart_on_segments_and_stems(browser, tmp_path_factory):
    """Issue 16, item 1: a 384 kHz WAV killed the server (SIGSEGV in libvorbis encoding its
    preview) on Analyze, and the stored track killed a restarted server on /segments and /stems.
    Upload it, restart on the same data, open both pages: the server lives and plays previews."""
    wav = _hi_res_wav(tmp_path_factory.mktemp("hires") / "master_384k.wav")
    data_dir = tmp_path_factory.mktemp("studio-data-hires")
    with _start(tmp_path_factory, data_dir=data_dir) as served:
        context, page = _alive_page(browser, served, "")
        try:
            page.locator(UPLOAD_INPUT).set_input_files(str(wav))
            _wait_or_report(served, page.get_by_role("button", name="Windows CSV"), timeout_ms=ANALYSIS_TIMEOUT_MS)
            _assert_server_alive(served, page)
        finally:
            context.close()
    with _start(tmp_path_factory, data_dir=data_dir) as served:  # the restart, over the stored track
        context, page = _alive_page(browser, served, "segments")
        try:
            page.get_by_role("heading", name="Segments").first.wait_for(timeout=60_000)
            _wait_or_report(served, page.get_by_role("heading", name="Render the edited form"),
                            timeout_ms=ANALYSIS_TIMEOUT_MS)
            frame = _player_frame(page)
            frame.wait_for_function("() => { const a = document.getElementById('audio');"
                                    " return a && a.src.startsWith('http'); }", timeout=20_000)
            _assert_server_alive(served, page)
        finally:
            context.close()
        context, page = _alive_page(browser, served, "stems")
        try:
            page.get_by_role("heading", name="Stems").first.wait_for(timeout=60_000)
            separate, done = page.get_by_role("button", name="Separate"), page.get_by_role("button", name="vocals.wav")
            _wait_or_report(served, separate.or_(done).first, timeout_ms=ANALYSIS_TIMEOUT_MS)
            if separate.count():
                separate.click()
            _wait_or_report(served, done, timeout_ms=ANALYSIS_TIMEOUT_MS)
            page.locator("audio").nth(2).wait_for(state="attached")  # the mixture and both stems
            assert page.locator("audio").count() == 3
            _assert_server_alive(served, page)
        finally:
            context.close()


@pytest.mark.browser
def test_five_downloads_in_a_row_get_five_files(browser, server, wav_30s, tmp_path):
    """Issue 17 item 2: on Analyze after an analysis, five downloads clicked one after the other
    each get their file (a download that reruns the page left the next link stale: a 404). The
    page asks no other server for anything (the favicon is inline, not from a font server)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    elsewhere: list[str] = []
    page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(
        (server, "data:", "blob:", "about:")) else None)
    try:
        page.goto(server)
        page.locator(UPLOAD_INPUT).set_input_files(str(wav_30s))
        page.get_by_role("button", name="Windows CSV").wait_for(timeout=ANALYSIS_TIMEOUT_MS)
        names = ["Majority table CSV", "Windows + predictions CSV", "Segments CSV", "Summary JSON", "Windows CSV"]
        downloads = []
        for name in names:
            with page.expect_download(timeout=15_000) as info:
                page.get_by_role("button", name=name, exact=True).click()
            downloads.append(info.value)
        for name, download in zip(names, downloads):
            assert download.failure() is None, (name, download.failure())
            target = tmp_path / download.suggested_filename
            download.save_as(target)
            assert target.stat().st_size > 20, name
        assert len({d.suggested_filename for d in downloads}) == 5
        assert page.locator("link[rel='shortcut icon']").get_attribute("href").startswith(("./media/", server))
        assert not elsewhere, elsewhere
        _assert_no_traceback(page)
    finally:
        context.close()
