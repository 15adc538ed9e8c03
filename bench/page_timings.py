"""Benchmark: the pages' timings in the real browser, cold and warm, for a 4-minute track.

    .venv/bin/python bench/page_timings.py [--runs 3] [--out docs/walkthrough]

Runs the walk-through browser test (tests/test_browser_walkthrough.py: a generated 4-minute
piece through Analyze, Segments, Render, Listen and Share, on a fresh server and data folder
each run) ``--runs`` times and prints each step's median and range. "analyze cold" is the
first analysis and classification of the track on a fresh server (numba compiles, the models
load); "analyze warm" is reopening it from the library in a new browser session. The last run's
screenshots (every page at 1440 x 900 and 1024 x 768) and timings stay in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/test_browser_walkthrough.py"


def one_run(out: Path) -> dict:
    env = dict(os.environ, STUDIO_WALKTHROUGH_OUT=str(out))
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST], cwd=ROOT, env=env,
                   check=True)
    return json.loads((out / "timings.json").read_text())["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "walkthrough")
    args = parser.parse_args()
    runs = [one_run(args.out) for _ in range(args.runs)]
    print(f"\n{'step':<28} {'median s':>9} {'min':>7} {'max':>7}   ({args.runs} runs, 4-minute track)")
    for step in runs[0]:
        values = [r[step] for r in runs if step in r]
        print(f"{step:<28} {statistics.median(values):9.1f} {min(values):7.1f} {max(values):7.1f}")
    (args.out / "timings_runs.json").write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
