"""Loudness of every General MIDI program and drum kit of the soundfont, for gain staging.

The soundfont's instruments differ by more than 15 dB at the same velocity, and by as much
again between a held loud chord and the short, soft notes a part really plays, so each
program is measured with the phrase of the role it plays (its register, note lengths,
velocities and voices, as the composer writes them; pitches folded into the instrument's
range) and each drum kit on a groove bar at the drummer's velocities.

The table belongs to one soundfont, named by its content hash: ``assets/gm_levels.json`` is
the committed table of the default soundfont (``python -m core levels`` rewrites it); any
other soundfont (``STUDIO_SOUNDFONT``) is measured on first use (about 10-30 s) and cached
in ``$STUDIO_DATA_DIR/levels/gm_levels_<hash>.json``.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pretty_midi

from core.cachekey import file_fingerprint
from core.errors import OptionError
from core.generate.catalog import load_catalog
from core.generate.synth import default_soundfont, render_midi
from core.io import atomic_write
from core.paths import ASSETS
from core.store.db import default_data_dir

LEVELS_PATH = ASSETS / "gm_levels.json"
RANGES_PATH = ASSETS / "instrument_ranges.json"
REGISTERS = ("low", "mid", "high")
#: The roles measured in each register, the first one when the program plays none of them
#: (compose's ROLE_REGISTER, inverted).
REGISTER_ROLES = {"low": ("bass", "percussion"), "mid": ("harmony", "pad"), "high": ("lead",)}
#: Voices the composer assumes per role (compose's ROLE_VOICES): it adds 10*log10(voices/3)
#: to a register's level, so the table stores each phrase's level less that offset.
ROLE_VOICES = {"percussion": 1, "bass": 1, "lead": 1, "harmony": 3.5, "pad": 5}
DRUM_KITS = (0, 8, 16, 24, 25, 32, 40, 48)
TABLE_VERSION = 2
_SR = 22050
_BEAT_S = 60.0 / 110  # the phrases are two bars at 110 BPM


def _phrase(role: str) -> list[tuple[float, float, tuple[int, ...], int]]:
    """(beat, length in beats, pitches, velocity) of two bars as the composer writes ``role``:
    velocity = mood base 80 x the writer's accent x 0.91 (intensity 0.8)."""
    if role == "bass":  # roots and fifths in E1..D#2, quarter notes
        return [(b, 0.8, (p,), 65) for b, p in enumerate((33, 33, 40, 38, 36, 36, 43, 40))]
    if role == "lead":  # a stepwise line around C5
        return [(b, 0.9, (p,), 60) for b, p in enumerate((72, 74, 76, 79, 77, 76, 74, 72))]
    if role == "harmony":  # comped triads around D4
        return [(b, 0.9, ((60, 64, 67), (62, 65, 69))[b // 4], 60) for b in range(8)]
    if role == "pad":  # held open chords over a pedal, a bar each
        return [(0, 3.95, (48, 55, 60, 64, 67), 45), (4, 3.95, (48, 53, 57, 60, 65), 45)]
    # percussion: a mallet ostinato on the chord tones, eighth notes
    return [(b * 0.5, 0.45, (p,), 62) for b, p in enumerate((60, 64, 67, 72) * 4)]


@lru_cache(maxsize=1)
def instrument_ranges() -> dict[int, tuple[int, int]]:
    """Playable ranges of General MIDI programs (assets/instrument_ranges.json)."""
    raw = json.loads(RANGES_PATH.read_text())["ranges"]
    out = {}
    for prog, (low, high) in raw.items():
        if not (0 <= low < high <= 127 and high - low >= 12):
            raise OptionError(f"instrument_ranges.json: program {prog} needs a range of at least an octave.")
        out[int(prog)] = (int(low), int(high))
    return out


def fold_to_range(pitch: int, program: int) -> int:
    """Move a note by octaves into the instrument's playable range."""
    low, high = instrument_ranges().get(program, (0, 127))
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


def _level_db(audio: np.ndarray, length_s: float) -> float:
    """Mean power over the phrase (dBFS): what the part adds to the mix's power. (K-weighted
    loudness was tried: it turned the kits up by 3-5 dB more, and the shipped classifiers,
    trained on the older balance, stopped hearing hip-hop.)"""
    y = audio[: int(length_s * _SR)].astype(np.float64)
    return float(10 * np.log10(max(float(np.mean(y**2)), 1e-12)))


def phrase_level_db(program: int, role: str, *, soundfont=None) -> float:
    """Measured level (dBFS) of ``program`` playing ``role``'s phrase."""
    inst = pretty_midi.Instrument(int(program))
    for beat, length, pitches, vel in _phrase(role):
        for p in pitches:
            inst.notes.append(pretty_midi.Note(vel, fold_to_range(p, program), beat * _BEAT_S, (beat + length) * _BEAT_S))
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(inst)
    return _level_db(render_midi(pm, sr=_SR, tail_s=0.0, soundfont=soundfont), 8 * _BEAT_S)


def kit_phrase_db(kit: int, *, soundfont=None) -> float:
    """Measured level (dBFS) of a drum kit on two bars of kick, snare and eighth-note hats."""
    inst = pretty_midi.Instrument(0, is_drum=True)
    for step in range(16):
        t = step * _BEAT_S / 2
        inst.notes.append(pretty_midi.Note(58 if step % 2 else 66, 42, t, t + 0.1))
        if step % 4 == 0:
            inst.notes.append(pretty_midi.Note(72, 36 if step % 8 == 0 else 38, t, t + 0.12))
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(inst)
    return _level_db(render_midi(pm, sr=_SR, tail_s=0.0, drum_kit=kit, soundfont=soundfont), 8 * _BEAT_S)


def catalog_roles() -> dict[int, dict[str, int]]:
    """How often each program plays each role in the catalog's bands."""
    out: dict[int, dict[str, int]] = {}
    for d in load_catalog().descriptors.values():
        for band in d.bands.values():
            for role, prog in band.items():
                if prog is not None and role != "drums":
                    out.setdefault(int(prog), {}).setdefault(role, 0)
                    out[int(prog)][role] += 1
    return out


def _register_role(register: str, plays: dict[str, int]) -> str:
    roles = REGISTER_ROLES[register]
    return max(roles, key=lambda r: (plays.get(r, 0), -roles.index(r)))


def measure_levels(soundfont=None) -> dict:
    """{"programs": {program: {register: dB}}, "roles": {program: {role: dB}}, "kits": {kit: dB},
    "soundfont": name, "soundfont_hash": content hash}."""
    sf_path = Path(soundfont or default_soundfont())
    roles_of = catalog_roles()
    programs, roles = {}, {}
    for prog in range(128):
        plays = roles_of.get(prog, {})
        measured = {}
        for role in set(plays) | {REGISTER_ROLES[r][0] for r in REGISTERS}:
            measured[role] = round(phrase_level_db(prog, role, soundfont=sf_path), 2)
        roles[str(prog)] = dict(sorted(measured.items()))
        programs[str(prog)] = {reg: round(measured[_register_role(reg, plays)]
                                          - 10 * math.log10(ROLE_VOICES[_register_role(reg, plays)] / 3), 2)
                               for reg in REGISTERS}
    kits = {str(k): round(kit_phrase_db(k, soundfont=sf_path), 2) for k in DRUM_KITS}
    return {"_doc": "Measured by `python -m core levels` (core/generate/levels.py): mean power (dBFS) of each "
                    "program playing the phrase of its role (register, lengths, velocities, voices as compose "
                    "writes them); 'programs' is that level per register less 10*log10(voices/3) (compose adds "
                    "it back), 'roles' the phrase level itself; 'kits' a kick/snare/hat groove per drum kit.",
            "version": TABLE_VERSION, "soundfont": sf_path.name, "soundfont_hash": file_fingerprint(sf_path),
            "programs": programs, "roles": roles, "kits": kits}


def write_levels(path: Path = LEVELS_PATH, *, soundfont=None) -> Path:
    atomic_write(path, (json.dumps(measure_levels(soundfont), indent=1) + "\n").encode())
    return path


def levels_cache_path(soundfont_hash: str) -> Path:
    """Where the measured table of a soundfont other than the committed one is kept."""
    return default_data_dir() / "levels" / f"gm_levels_{soundfont_hash}.json"


def _read_table(path: Path, soundfont_hash: str) -> dict | None:
    try:
        table = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    ok = (isinstance(table, dict) and table.get("soundfont_hash") == soundfont_hash
          and table.get("version") == TABLE_VERSION and isinstance(table.get("programs"), dict)
          and isinstance(table.get("kits"), dict))
    return table if ok else None


def levels_key() -> str:
    """The content hash of the soundfont the levels belong to (part of the render key)."""
    return file_fingerprint(default_soundfont())


@lru_cache(maxsize=4)
def _levels_for(soundfont: str, soundfont_hash: str) -> dict:
    committed = _read_table(LEVELS_PATH, soundfont_hash)
    if committed is not None:
        return committed
    cached = levels_cache_path(soundfont_hash)
    table = _read_table(cached, soundfont_hash)
    if table is None:
        table = measure_levels(soundfont)
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cached, (json.dumps(table, indent=1) + "\n").encode())
    return table


def load_levels() -> dict:
    """The table of the soundfont in use (``STUDIO_SOUNDFONT`` or the default), measured once
    per soundfont content."""
    sf_path = default_soundfont()
    return _levels_for(str(sf_path), file_fingerprint(sf_path))


def program_level_db(program: int, register: str = "mid") -> float:
    """Measured level of a program in a register (dBFS, triad-equivalent); -20 when unknown."""
    return float(load_levels()["programs"].get(str(program), {}).get(register, -20.0))


def role_level_db(program: int, role: str) -> float:
    """Measured level (dBFS) of a program playing ``role``'s phrase; the register's level
    (with its voices) when the program was not measured in that role."""
    found = load_levels().get("roles", {}).get(str(program), {}).get(role)
    if found is not None:
        return float(found)
    register = next(r for r, roles in REGISTER_ROLES.items() if role in roles)
    return program_level_db(program, register) + 10 * math.log10(ROLE_VOICES[role] / 3)


def kit_level_db(kit: int) -> float:
    return float(load_levels()["kits"].get(str(kit), -12.0))
