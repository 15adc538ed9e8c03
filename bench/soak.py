"""Soak: N browser sessions for D minutes against one app server (issue 16). Not run in CI.

    nice .venv/bin/python bench/soak.py [--sessions 5] [--minutes 10] [--out build/soak.json]

One ``streamlit run app.py`` over a fresh data directory; ``--sessions`` Playwright sessions
(Debian Chromium, as tests/test_browser.py drives it), one process each, loop until the time is
up: upload a generated track on Analyze (numpy: a chord progression with a pulse, different
per session and round) and wait for its analysis; edit it on Segments (a split, a merge and a split,
each confirmed by the page's "Edit N of N"); render 8 s on Render; open Listen; switch pages.

Reports
- errors: a failed navigation or wait, a Streamlit exception element, a browser page error,
  "Connection error" (must be 0);
- lost edits: edits the sessions saw saved minus edit states found in the store at the end (0);
- server RSS over time (VmRSS of the server process every ``--sample-s`` seconds): min, median,
  max and the growth from the 2nd minute to the end;
- page response: navigation (or the action) to page ready (the script has finished: no
  running indicator), p50 / p95 / max per page and overall.
Everything is written to the JSON file ``--out``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from core.audio.load import content_hash, to_wav_bytes  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
UPLOAD_INPUT = "[data-testid=stFileUploader] input[type=file]"
RUNNING = "[data-testid=stStatusWidget]"
#: Generous: five sessions share two cores; a timeout is counted as an error.
WAIT_MS = 240_000
TRACK_S = 16.0
RATE_HZ = 22_050


# ------------------------------------------------------------------ the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, STUDIO_DATA_DIR=str(data_dir)),
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"the server did not start; see {log}")


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def sample_rss(pid: int, every_s: float, stop: threading.Event, into: list) -> None:
    start = time.monotonic()
    while not stop.is_set():
        mb = rss_mb(pid)
        if mb is not None:
            into.append((round(time.monotonic() - start, 1), round(mb, 1)))
        stop.wait(every_s)


# ------------------------------------------------------------------ one session


def make_track(session: int, round_: int) -> bytes:
    """A 16 s chord progression with a beat, different for each session and round."""
    rng = np.random.default_rng(1000 * session + round_)
    t = np.arange(int(TRACK_S * RATE_HZ)) / RATE_HZ
    roots = 110.0 * 2 ** (rng.integers(0, 12, size=4) / 12)
    chord = np.zeros_like(t)
    for i, root in enumerate(roots):
        part = (t >= i * TRACK_S / 4) & (t < (i + 1) * TRACK_S / 4)
        chord[part] = sum(np.sin(2 * np.pi * root * r * t[part]) for r in (1.0, 1.26, 1.5)) / 3
    beat_s = 60.0 / rng.uniform(80, 140)
    pulse = np.exp(-np.mod(t, beat_s) * 30)
    noise = rng.standard_normal(t.size) * pulse * 0.3
    return to_wav_bytes((0.3 * chord * (0.6 + 0.4 * pulse) + noise).astype(np.float32), RATE_HZ)


class Session:
    """One browser session's loop and its record (timings, errors, edits it saw saved)."""

    def __init__(self, browser, url: str, index: int, work: Path):
        self.url, self.index, self.work = url, index, work
        self.context = browser.new_context(viewport={"width": 1400, "height": 1400})
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.timings: list[tuple[str, float]] = []
        self.errors: list[str] = []
        self.edits: dict[str, int] = {}  # track hash -> edits confirmed saved
        self.rounds = 0

    def ready(self, what: str, started: float) -> None:
        """Wait until the script has finished (no running indicator) and record the time."""
        page = self.page
        page.wait_for_timeout(300)  # let a rerun start before looking for its end
        page.wait_for_function(f"() => !document.querySelector('{RUNNING}')", timeout=WAIT_MS)
        self.timings.append((what, time.monotonic() - started))
        body = page.locator("body").inner_text()
        if page.locator("[data-testid=stException]").count() or "Traceback" in body:
            self.errors.append(f"{what}: exception on the page: {body[-600:]}")
        if "Connection error" in body:
            self.errors.append(f"{what}: connection error")

    def open(self, path: str, heading: str) -> None:
        started = time.monotonic()
        self.page.goto(f"{self.url}/{path}")
        self.page.get_by_role("heading", name=heading).first.wait_for(timeout=WAIT_MS)
        self.ready(path.split("?")[0] or "analyze", started)

    def analyze(self, data: bytes) -> str:
        digest = content_hash(data)
        wav = self.work / f"soak_s{self.index}_r{self.rounds}.wav"
        wav.write_bytes(data)
        self.open("", "Analyze")
        started = time.monotonic()
        self.page.locator(UPLOAD_INPUT).set_input_files(str(wav))
        self.page.get_by_role("button", name="Windows CSV").wait_for(timeout=WAIT_MS)
        self.ready("analyze: upload to results", started)
        return digest

    def edit(self, digest: str) -> None:
        page = self.page
        self.open(f"segments?track={digest}", "Segments")
        for button in ("Split", "Merge", "Split"):
            started = time.monotonic()
            page.get_by_role("button", name=button).click()
            done = self.edits.get(digest, 0) + 1
            page.get_by_text(f"Edit {done} of {done}").first.wait_for(timeout=WAIT_MS)
            self.edits[digest] = done
            self.ready(f"segments: {button.lower()}", started)

    def render(self) -> None:
        page = self.page
        self.open("render", "Render")
        for label, value in (("Length (s)", "8"), ("Variations", "1"), ("Seed", str(self.rounds))):
            field = page.get_by_label(label)
            field.fill(value)
            field.press("Enter")
            self.ready(f"render: set {label}", time.monotonic())
        started = time.monotonic()
        page.get_by_role("button", name="Generate").click()
        page.get_by_role("button", name="Timeline").first.wait_for(timeout=WAIT_MS)
        self.ready("render: generate", started)

    def one_round(self) -> None:
        digest = self.analyze(make_track(self.index, self.rounds))
        self.edit(digest)
        self.render()
        self.open("listen", "Listen")
        for path, heading in (("stems", "Stems"), ("models", "Models"), (f"segments?track={digest}", "Segments")):
            self.open(path, heading)
        self.rounds += 1


def run_session(url: str, index: int, deadline: float, out: str) -> None:
    """One process: a browser and one session looping until ``deadline`` (time.time())."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as work:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        session = Session(browser, url, index, Path(work))
        while time.time() < deadline:
            try:
                session.one_round()
            except Exception as exc:  # a failed navigation or wait: counted, then the next round
                session.errors.append(f"round {session.rounds}: {type(exc).__name__}: {exc}"[:800])
                traceback.print_exc()
                session.rounds += 1
        browser.close()
    Path(out).write_text(json.dumps({"index": index, "rounds": session.rounds, "errors": session.errors,
                                     "edits": session.edits, "timings": session.timings}))


# ------------------------------------------------------------------ the report


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    return {"n": len(values), "p50_s": round(float(np.percentile(values, 50)), 2),
            "p95_s": round(float(np.percentile(values, 95)), 2), "max_s": round(max(values), 2)}


def stored_edits(data_dir: Path, digests: list[str]) -> dict[str, int]:
    with sqlite3.connect(data_dir / "studio.sqlite3") as db:
        return {d: db.execute("SELECT COUNT(*) FROM edit_states WHERE track_hash=?", (d,)).fetchone()[0]
                for d in digests}


def rss_report(samples: list[tuple[float, float]]) -> dict:
    values = [mb for _, mb in samples]
    if not values:
        return {}
    after_2 = [mb for t, mb in samples if t >= 120] or values
    return {"min_mb": min(values), "median_mb": statistics.median(values), "max_mb": max(values),
            "at_2_min_mb": after_2[0], "end_mb": values[-1], "growth_2_min_to_end_mb": round(values[-1] - after_2[0], 1),
            "samples": samples}


def report(sessions: list[dict], rss: list, data_dir: Path, *, minutes: float, server_exit) -> dict:
    made = {d: n for s in sessions for d, n in s["edits"].items()}
    found = stored_edits(data_dir, list(made))
    timings = [(what, t) for s in sessions for what, t in s["timings"]]
    navigations = [t for what, t in timings if ":" not in what]
    by_page = {what: percentiles([t for w, t in timings if w == what]) for what in sorted({w for w, _ in timings})}
    errors = [e for s in sessions for e in s["errors"]]
    if server_exit is not None:
        errors.append(f"the server exited during the soak (code {server_exit})")
    return {"sessions": len(sessions), "minutes": minutes, "rounds": sum(s["rounds"] for s in sessions),
            "errors": len(errors), "error_messages": errors[:50],
            "edits_made": sum(made.values()), "edits_found": sum(found.values()),
            "lost_edits": sum(max(0, made[d] - found.get(d, 0)) for d in made),
            "page_navigation": percentiles(navigations), "all_actions": percentiles([t for _, t in timings]),
            "by_page": by_page, "server_rss": rss_report(rss)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "soak.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        data_dir, tmp = Path(tmp) / "data", Path(tmp)
        server, url = start_server(data_dir, tmp / "server.log")
        rss, stop = [], threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(server.pid, args.sample_s, stop, rss), daemon=True)
        sampler.start()
        deadline = time.time() + args.minutes * 60
        ctx = multiprocessing.get_context("spawn")
        outs = [str(tmp / f"session{i}.json") for i in range(args.sessions)]
        procs = [ctx.Process(target=run_session, args=(url, i, deadline, outs[i])) for i in range(args.sessions)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        stop.set()
        sampler.join()
        sessions = [json.loads(Path(o).read_text()) for o in outs if Path(o).exists()]
        for i in range(args.sessions - len(sessions)):
            sessions.append({"rounds": 0, "errors": ["a session process died"], "edits": {}, "timings": []})
        result = report(sessions, rss, data_dir, minutes=args.minutes, server_exit=server.poll())
        server.terminate()
        server.wait(timeout=30)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    summary = {k: v for k, v in result.items() if k not in ("by_page", "server_rss", "error_messages")}
    summary["server_rss"] = {k: v for k, v in result["server_rss"].items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    print(f"written to {args.out}")
    return 0 if result["errors"] == 0 and result["lost_edits"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
