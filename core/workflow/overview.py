"""The Analyze page's logic: the headline figures of an analysis, the example renders a
newcomer can open, the names of the tracks on show, and a track's style as a Render form.

Pure functions (no Streamlit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from core.analysis.key import PITCH_CLASSES
from core.bounds import MAX_DURATION_S, TEMPO_MAX_BPM, TEMPO_MIN_BPM
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


@dataclass(frozen=True)
class RenderStyle:
    """What the Render page starts from to render "in the style of" an analysed track."""

    descriptor: str
    tempo_bpm: float
    tonic: str
    duration_s: float
    notes: tuple[str, ...]


def render_style(analysis, *, descriptor: str) -> RenderStyle:
    """The track's most frequent descriptor (``descriptor``), its tempo (moved by octaves into
    the render range, said in a note), its tonic and its length (up to the longest render)."""
    notes = []
    tempo = analysis.tempo_bpm if math.isfinite(analysis.tempo_bpm) and analysis.tempo_bpm > 0 else 120.0
    if tempo != analysis.tempo_bpm:
        notes.append("The track's tempo could not be read: the render starts at 120 BPM.")
    moved = tempo
    while moved < TEMPO_MIN_BPM:
        moved *= 2
    while moved > TEMPO_MAX_BPM:
        moved /= 2
    if moved != tempo:
        notes.append(f"The track's tempo ({tempo:.0f} BPM) is outside what renders take ({TEMPO_MIN_BPM:.0f}-"
                     f"{TEMPO_MAX_BPM:.0f} BPM): the render starts at {moved:.0f} BPM, the same pulse felt "
                     f"{'twice as fast' if moved > tempo else 'half as fast'}.")
    tonic = analysis.tonic if analysis.tonic in PITCH_CLASSES else "C"
    if tonic != analysis.tonic:
        notes.append("The track's key could not be read: the render starts in C.")
    duration = min(float(analysis.duration_s), MAX_DURATION_S)
    if duration < analysis.duration_s:
        notes.append(f"Renders are at most {MAX_DURATION_S:.0f} s long: the render starts at that length.")
    return RenderStyle(descriptor=descriptor, tempo_bpm=round(moved, 1), tonic=tonic,
                       duration_s=round(max(duration, 5.0), 1), notes=tuple(notes))
