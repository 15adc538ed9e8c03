"""The Analyze page's logic: the headline figures of an analysis, the example renders a
newcomer can open, and the names of the tracks on show.

Pure functions (no Streamlit).
"""

from __future__ import annotations

from pathlib import Path

from core.paths import ASSETS

EXAMPLES_DIR = ASSETS / "examples"


#: Words for the tempo confidence (lower bound, word). On gtzan-dev the tempo was right for 80 %
#: of the clips above 0.3, 68 % between 0.1 and 0.3 and 20 % below 0.1 (bench/real_music.py).
PULSE_WORDS = ((0.3, "clear pulse"), (0.1, "steady pulse"), (0.0, "faint pulse: check the tempo"))


def pulse_words(confidence: float) -> str:
    """How sure the tempo is, in words."""
    return next(word for lo, word in PULSE_WORDS if confidence >= lo)


def headline(analysis) -> list[tuple[str, str | int, str | None]]:
    """(label, value, hover help) of an analysis' headline figures: duration, tempo (its help says
    how clear the pulse is), key, k and segments."""
    tempo, pulse = "-", "No steady pulse was found."  # NaN: no pulse
    if analysis.tempo_bpm == analysis.tempo_bpm:
        tempo = f"{analysis.tempo_bpm:.1f} BPM"
        pulse = f"{pulse_words(analysis.tempo_confidence).capitalize()} (confidence {analysis.tempo_confidence:.2f})."
    return [("Duration", f"{analysis.duration_s:.1f} s", None), ("Tempo", tempo, pulse),
            ("Key", analysis.key or "-", None), ("Section types (k)", analysis.k, None),
            ("Segments", len(analysis.segments), None)]


def example_files(folder: Path = EXAMPLES_DIR) -> dict[str, Path]:
    """The shipped example renders (one per genre), by name."""
    return {p.stem: p for p in sorted(Path(folder).glob("example_*.ogg"))}


def track_names(hashes, library) -> list[str]:
    """The name of each track (``library``: ``Store.list_tracks`` rows), else its hash's start."""
    names = {t["content_hash"]: t["name"] for t in library}
    return [names.get(h, h[:8]) for h in hashes]
