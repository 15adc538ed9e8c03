"""How long the long stages took on this machine: the estimates the pages and the CLI quote.

Every analysis, classification, separation and render that computed (not a lookup) records
its stage name, the seconds of audio it handled and the seconds it took. An estimate is the
median rate (seconds of work per second of audio) over the stage's last
:data:`ESTIMATE_RUNS` runs times the audio's length, so it follows the machine (and how busy it
is) rather than a number written in the code. No run recorded yet: no estimate, and the
page says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from core.store.db import Database

#: Runs of a stage the estimate looks back on (the newest first).
ESTIMATE_RUNS = 20
#: Runs kept per stage; older ones are deleted as new ones come.
KEPT_RUNS = 200
#: A run shorter than this was a lookup or trivially short: it is not recorded.
MIN_RECORDED_S = 1.0


@dataclass(frozen=True)
class Estimate:
    """A stage's expected wall time for ``audio_s`` seconds of audio, from ``runs`` past runs."""

    stage: str
    audio_s: float
    seconds: float
    runs: int

    def words(self) -> str:
        """'about 12 s on this machine (from the last 5 runs)'."""
        runs = "the last run" if self.runs == 1 else f"the last {self.runs} runs"
        return f"about {_duration(self.seconds)} on this machine (from {runs})"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


class TimingStore(Database):
    """The ``timings`` table: one row per computed run of a long stage."""

    def record_timing(self, stage: str, *, audio_s: float, elapsed_s: float) -> bool:
        """Keep one run of ``stage`` (True), unless it was under :data:`MIN_RECORDED_S` or had
        no audio (False)."""
        if elapsed_s < MIN_RECORDED_S or not audio_s > 0:
            return False
        with self._db() as db:
            db.execute("INSERT INTO timings VALUES (?,?,?,?)", (stage, float(audio_s), float(elapsed_s), time.time()))
            db.execute("DELETE FROM timings WHERE stage=? AND rowid NOT IN (SELECT rowid FROM timings WHERE stage=? "
                       "ORDER BY created_at DESC LIMIT ?)", (stage, stage, KEPT_RUNS))
        return True

    def estimate(self, stage: str, *, audio_s: float) -> Estimate | None:
        """The expected seconds for ``audio_s`` of audio, or None before the stage's first run."""
        with self._db() as db:
            rows = db.execute("SELECT audio_s, elapsed_s FROM timings WHERE stage=? ORDER BY created_at DESC "
                              "LIMIT ?", (stage, ESTIMATE_RUNS)).fetchall()
        if not rows:
            return None
        rate = float(np.median([elapsed / audio for audio, elapsed in rows]))
        return Estimate(stage=stage, audio_s=float(audio_s), seconds=rate * float(audio_s), runs=len(rows))
