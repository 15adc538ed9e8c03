"""Example renders shipped in assets/examples: one short piece per genre.

Made by ``python -m core examples`` (see README); compressed as OGG Vorbis to stay small.
"""

from __future__ import annotations

from pathlib import Path

from core.audio.load import to_ogg_bytes
from core.generate.catalog import load_catalog
from core.generate.render import render
from core.generate.timeline import single_region
from core.io import atomic_write

#: genre -> (descriptor, tonic) of its example
EXAMPLES = {
    "cinematic": ("cinematic_percussion_determined", "D"),
    "documentary": ("documentary_idiophonic_curious", "G"),
    "electronic": ("electronic_synthwave_driving", "A"),
    "hiphop": ("hiphop_trap_dark", "F"),
    "pop": ("pop_corporate_uplifting", "C"),
    "rock": ("rock_indie_exciting", "E"),
    "folk": ("folk_acoustic_hopeful", "G"),
    "jazz": ("jazz_bossa_romantic", "F"),
}


def write_examples(folder: Path, *, duration_s: float = 20.0, seed: int = 1) -> list[Path]:
    catalog = load_catalog()
    written = []
    for genre, (name, tonic) in EXAMPLES.items():
        d = catalog.get(name)
        timeline = single_region(name, duration_s=duration_s, tempo_bpm=d.default_tempo_bpm, tonic=tonic)
        result = render(timeline, seed=seed)
        base = folder / f"example_{genre}"
        atomic_write(base.with_suffix(".ogg"), to_ogg_bytes(result.audio, result.sample_rate))
        atomic_write(base.with_suffix(".json"), timeline.to_json().encode())
        written += [base.with_suffix(".ogg"), base.with_suffix(".json")]
    return written
