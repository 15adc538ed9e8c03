"""The studio's musical and size bounds, in one place (core, pages and checks import them)."""

from __future__ import annotations

import math
import os

from core.errors import OptionError

#: Tempi the renderer plays and the editors accept (BPM).
TEMPO_MIN_BPM = 20.0
TEMPO_MAX_BPM = 200.0
TEMPO_RANGE_BPM = (TEMPO_MIN_BPM, TEMPO_MAX_BPM)
#: The shortest region of a timeline, and the shortest edited segment (seconds).
MIN_REGION_S = 1.0
#: The longest timeline (render) (seconds): 20 minutes.
MAX_DURATION_S = 1200.0


def clip_tempo(tempo_bpm: float) -> float:
    """``tempo_bpm`` brought inside :data:`TEMPO_RANGE_BPM` (210 BPM -> 200)."""
    return float(min(max(float(tempo_bpm), TEMPO_MIN_BPM), TEMPO_MAX_BPM))


def in_tempo_range(tempo_bpm: float) -> bool:
    return TEMPO_MIN_BPM <= tempo_bpm <= TEMPO_MAX_BPM


def positive_setting(env: str, default: float, *, example: str) -> float:
    """A positive number from the environment variable ``env`` (``default`` when unset); anything
    else is an OptionError that names the setting and gives ``example`` (``"4096"``)."""
    raw = os.environ.get(env, "").strip()
    if not raw:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise OptionError(f"The setting {env}={raw[:40]!r} is not a size: give a positive number, e.g. {env}={example}.")
    return value
