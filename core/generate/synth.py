"""Symbolic music (pretty_midi) to audio with a General MIDI soundfont (tinysoundfont).

The default soundfont is ``TimGM6mb.sf2``, which ships inside the ``pretty_midi`` package;
``STUDIO_SOUNDFONT`` or the ``soundfont=`` argument selects another ``.sf2``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pretty_midi

from core.errors import OptionError

DRUM_CHANNEL = 9


def default_soundfont() -> Path:
    env = os.environ.get("STUDIO_SOUNDFONT")
    if env:
        return Path(env)
    return Path(pretty_midi.__file__).resolve().parent / "TimGM6mb.sf2"


@lru_cache(maxsize=2)
def _soundfont_bytes(path: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise OptionError(f"Soundfont '{p}' does not exist. Set STUDIO_SOUNDFONT to a .sf2 file.")
    return p.read_bytes()


def render_midi(
    pm: pretty_midi.PrettyMIDI,
    *,
    sr: int = 44100,
    soundfont: str | os.PathLike | None = None,
    tail_s: float = 1.5,
    max_voices: int = 256,
    drum_kit: int = 0,
) -> np.ndarray:
    """Render a PrettyMIDI object to stereo float32 audio, shape ``(n, 2)``.

    Instruments get their own MIDI channel (drums on channel 10); pan and other control
    changes stored on an instrument are sent to its channel. The output is NOT normalised
    (tinysoundfont can exceed 1.0); the mastering stage does that.

    ``drum_kit`` is the General MIDI drum kit the drum instruments play, a bank-128 program
    (0 standard, 8 room, 16 power, 24 electronic, 25 TR-808, 32 jazz, 40 brush, 48 orchestra;
    ``Arrangement.drum_kit``); a program the soundfont lacks falls back to bank 0, program 0.
    """
    import tinysoundfont

    sf_path = str(soundfont or default_soundfont())
    synth = tinysoundfont.Synth(samplerate=sr)
    sfid = synth.sfload(_soundfont_bytes(sf_path), max_voices=max_voices)
    # (sample, order, kind, channel, a, b): at one instant control changes, then note-offs,
    # then note-ons, so a repeated note is re-struck rather than cut.
    packed: list[tuple[int, int, int, int, int, int]] = []
    melodic_channels = [c for c in range(16) if c != DRUM_CHANNEL]
    n_melodic = 0
    for inst in pm.instruments:
        if inst.is_drum:
            chan = DRUM_CHANNEL
        else:
            if n_melodic >= len(melodic_channels):
                raise OptionError("Too many melodic instruments for one MIDI port (15 at most).")
            chan = melodic_channels[n_melodic]
            n_melodic += 1
        try:
            synth.program_select(chan, sfid, 128 if inst.is_drum else 0,
                                 int(drum_kit) if inst.is_drum else inst.program, is_drums=inst.is_drum)
        except RuntimeError:
            synth.program_select(chan, sfid, 0, 0, is_drums=inst.is_drum)
        for cc in inst.control_changes:
            packed.append((int(round(cc.time * sr)), 0, 2, chan, cc.number, cc.value))
        for note in inst.notes:
            packed.append((int(round(note.start * sr)), 2, 1, chan, note.pitch, note.velocity))
            packed.append((int(round(note.end * sr)), 1, 0, chan, note.pitch, 0))
    packed.sort()
    end_s = pm.get_end_time() + tail_s
    total = int(np.ceil(end_s * sr))
    out = np.zeros((total, 2), dtype=np.float32)
    pos = 0
    i = 0
    while i < len(packed):
        t = min(packed[i][0], total)
        if t > pos:
            buf = synth.generate_simple(t - pos)
            out[pos:t] = np.frombuffer(buf, dtype=np.float32).reshape(-1, 2)
            pos = t
        while i < len(packed) and packed[i][0] <= pos:
            _, _, kind, chan, a, b = packed[i]
            if kind == 2:
                synth.control_change(chan, a, b)
            elif kind == 1:
                synth.noteon(chan, a, b)
            else:
                synth.noteoff(chan, a)
            i += 1
    if pos < total:
        buf = synth.generate_simple(total - pos)
        out[pos:] = np.frombuffer(buf, dtype=np.float32).reshape(-1, 2)
    return out
