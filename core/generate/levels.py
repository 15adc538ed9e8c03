"""Loudness of every General MIDI program and drum kit of the soundfont, for gain staging.

The soundfont's instruments differ by more than 15 dB at the same velocity, so a fixed
volume per role buries some leads and pads. ``python -m core levels`` measures each program
once (a held triad in three registers; each drum kit on a standard bar) and writes
``assets/gm_levels.json``; the composer reads it to set each role's channel volume.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pretty_midi

from core.generate.synth import default_soundfont, render_midi
from core.io import atomic_write
from core.paths import ASSETS

LEVELS_PATH = ASSETS / "gm_levels.json"
REGISTERS = {"low": 36, "mid": 60, "high": 72}
DRUM_KITS = (0, 8, 16, 24, 25, 32, 40, 48)
_SR = 22050


def _loudness_db(audio: np.ndarray) -> float:
    """Mean level of the loudest 50 ms blocks (dBFS): robust to attack and decay shapes."""
    y = audio.mean(axis=1)
    hop = int(0.05 * _SR)
    n = y.size // hop
    if n == 0:
        return -120.0
    rms = np.sqrt(np.mean(y[: n * hop].reshape(n, hop) ** 2, axis=1))
    top = np.sort(rms)[-max(1, n // 2):]
    return float(20 * np.log10(max(float(np.mean(top)), 1e-6)))


def measure_levels() -> dict:
    """{"programs": {program: {register: dB}}, "kits": {kit: dB}, "soundfont": name}."""
    programs = {}
    for prog in range(128):
        levels = {}
        for name, root in REGISTERS.items():
            pm = pretty_midi.PrettyMIDI()
            inst = pretty_midi.Instrument(prog)
            for off in (0, 4, 7):
                inst.notes.append(pretty_midi.Note(90, root + off, 0.0, 1.5))
            pm.instruments.append(inst)
            levels[name] = round(_loudness_db(render_midi(pm, sr=_SR, tail_s=0.0)), 2)
        programs[str(prog)] = levels
    kits = {}
    for kit in DRUM_KITS:
        pm = pretty_midi.PrettyMIDI()
        inst = pretty_midi.Instrument(0, is_drum=True)
        for b in range(8):
            t = b * 0.25
            inst.notes.append(pretty_midi.Note(100, 36 if b % 4 == 0 else 38 if b % 4 == 2 else 42, t, t + 0.1))
        pm.instruments.append(inst)
        kits[str(kit)] = round(_loudness_db(render_midi(pm, sr=_SR, tail_s=0.0, drum_kit=kit)), 2)
    return {"_doc": "Measured by `python -m core levels` (core/levels.py): dBFS of a velocity-90 triad held "
                    "1.5 s per program and register (low C2, mid C4, high C5), and of a kick/snare/hat bar "
                    "per drum kit.", "soundfont": default_soundfont().name, "programs": programs, "kits": kits}


def write_levels(path: Path = LEVELS_PATH) -> Path:
    atomic_write(path, (json.dumps(measure_levels(), indent=1) + "\n").encode())
    return path


@lru_cache(maxsize=1)
def load_levels(path: str = str(LEVELS_PATH)) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {"programs": {}, "kits": {}}


def program_level_db(program: int, register: str = "mid") -> float:
    """Measured level of a program in a register (dBFS); -20 when unknown."""
    return float(load_levels()["programs"].get(str(program), {}).get(register, -20.0))


def kit_level_db(kit: int) -> float:
    return float(load_levels()["kits"].get(str(kit), -12.0))
