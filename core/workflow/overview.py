"""The Analyze page's logic: the headline figures of an analysis, the example renders a
newcomer can open, and the names of the tracks on show.

Pure functions (no Streamlit).
"""

from __future__ import annotations

from pathlib import Path

from core.paths import ASSETS

EXAMPLES_DIR = ASSETS / "examples"


def headline(analysis) -> list[tuple[str, str | int]]:
    """(label, value) of an analysis' headline figures: duration, tempo, key, k and segments."""
    tempo = f"{analysis.tempo_bpm:.1f} BPM" if analysis.tempo_bpm == analysis.tempo_bpm else "-"  # NaN: none
    return [("Duration", f"{analysis.duration_s:.1f} s"), ("Tempo", tempo), ("Key", analysis.key or "-"),
            ("Section types (k)", analysis.k), ("Segments", len(analysis.segments))]


def example_files(folder: Path = EXAMPLES_DIR) -> dict[str, Path]:
    """The shipped example renders (one per genre), by name."""
    return {p.stem: p for p in sorted(Path(folder).glob("example_*.ogg"))}


def track_names(hashes, library) -> list[str]:
    """The name of each track (``library``: ``Store.list_tracks`` rows), else its hash's start."""
    names = {t["content_hash"]: t["name"] for t in library}
    return [names.get(h, h[:8]) for h in hashes]
