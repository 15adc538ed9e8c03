"""Drum grooves (assets/grooves.json): families of one-bar step patterns per density level."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from core.errors import StudioError
from core.paths import ASSETS

GROOVES_PATH = ASSETS / "grooves.json"
#: Velocity factor of each step symbol.
STEP_VELOCITY = {"x": 1.0, "o": 0.8, "g": 0.45}


class GrooveError(StudioError):
    """assets/grooves.json is invalid."""


@lru_cache(maxsize=2)
def load_grooves(path: str = str(GROOVES_PATH)) -> dict[str, dict]:
    """groove name -> {"levels": {1..4: {note: pattern}}, "fill": {note: pattern}} (notes as GM numbers)."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GrooveError(f"The groove file {path} could not be read: {exc}") from None
    voices = raw.get("voices", {})
    out: dict[str, dict] = {}
    for name, g in raw.get("grooves", {}).items():
        def convert(bar: dict, where: str) -> dict[int, str]:
            res = {}
            for voice, pattern in bar.items():
                if voice not in voices:
                    raise GrooveError(f"Groove '{name}' ({where}): unknown drum voice '{voice}'.")
                if not pattern or len(pattern) not in (8, 12, 16, 24, 32) or set(pattern) - set("xog."):
                    raise GrooveError(
                        f"Groove '{name}' ({where}), voice '{voice}': a pattern is 8/12/16/24/32 steps of x, o, g or '.'."
                    )
                res[int(voices[voice])] = pattern
            return res

        levels = {}
        for lvl, bar in g.get("levels", {}).items():
            if lvl not in ("1", "2", "3", "4"):
                raise GrooveError(f"Groove '{name}': levels are 1 to 4 (got '{lvl}').")
            levels[int(lvl)] = convert(bar, f"level {lvl}")
        out[name] = {"levels": levels, "fill": convert(g.get("fill", {}), "fill")}
    if "none" not in out:
        raise GrooveError("The groove file must define 'none'.")
    return out
