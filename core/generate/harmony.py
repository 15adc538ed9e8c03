"""Chords from roman numerals, chord styles per genre, and voice-led voicings."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_NUMERALS = {"I": 0, "II": 2, "III": 4, "IV": 5, "V": 7, "VI": 9, "VII": 11}
_RX = re.compile(r"^(b|#)?(VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)(o|\+)?(maj7|7|9|sus2|sus4|add9)?$")


@dataclass(frozen=True)
class Chord:
    """A chord relative to the key's tonic: root in semitones and intervals above the root."""

    symbol: str
    root: int  # 0..11 above the tonic
    quality: str  # maj | min | dim | aug
    intervals: tuple[int, ...]

    @property
    def third(self) -> int:
        return 3 if self.quality in ("min", "dim") else 4


def parse_chord(symbol: str) -> Chord:
    """``"bVI"``, ``"iv"``, ``"V7"``, ``"viio"``, ``"IVmaj7"`` ... -> Chord."""
    m = _RX.match(symbol.strip())
    if not m:
        raise ValueError(f"'{symbol}' is not a roman-numeral chord (e.g. I, vi, bVII, V7, viio)")
    acc, numeral, mod, ext = m.groups()
    root = (_NUMERALS[numeral.upper()] + {"b": -1, "#": 1, None: 0}[acc]) % 12
    if mod == "o":
        quality, triad = "dim", (0, 3, 6)
    elif mod == "+":
        quality, triad = "aug", (0, 4, 8)
    elif numeral.isupper():
        quality, triad = "maj", (0, 4, 7)
    else:
        quality, triad = "min", (0, 3, 7)
    extra = {None: (), "7": (10,), "maj7": (11,), "9": (10, 14),
             "sus2": (), "sus4": (), "add9": (14,)}[ext]
    if ext == "sus2":
        triad = (0, 2, 7)
    elif ext == "sus4":
        triad = (0, 5, 7)
    return Chord(symbol, root, quality, tuple(triad) + extra)


def styled(chord: Chord, style: str, mode: str) -> tuple[int, ...]:
    """Intervals above the root for a genre's chord style (the third is always kept)."""
    iv = chord.intervals
    if style == "triad" or len(iv) > 3:
        return iv
    if style == "power":
        return (0, 7, 12) if chord.quality != "dim" else (0, 6, 12)  # no third: the pad carries it
    if style == "add9":
        return iv + (14,)
    if style == "sus":  # open: root, fifth, ninth, tenth (minor: octave and tenth, no 9-b10 rub)
        return (0, 7, 14, 16) if chord.quality != "min" else (0, 7, 12, 15)
    seventh = 10
    if chord.quality == "maj" and chord.root != 7 and not (mode == "minor" and chord.root == 10):
        seventh = 11
    if chord.quality == "dim":
        seventh = 10
    if style == "seventh":
        return iv + (seventh,)
    if style == "ninth":
        return iv + (seventh, 14)
    return iv


def voice(pitch_classes: list[int], *, center: int, previous: list[int] | None, size: int | None = None,
          floor: int = 0) -> list[int]:
    """MIDI pitches for the chord tones, close position near ``center``, voice-led from ``previous``.

    Every inversion and octave placement within an octave of ``center`` is tried; the one
    that moves least from the previous voicing wins (or the one closest to ``center``).
    """
    pcs = list(dict.fromkeys(p % 12 for p in pitch_classes))
    if size:
        pcs = pcs[:size]
    best, best_cost = None, np.inf
    for inv in range(len(pcs)):
        order = pcs[inv:] + pcs[:inv]
        base = [order[0]]
        for p in order[1:]:
            q = p
            while q <= base[-1]:
                q += 12
            base.append(q)
        for octave in range(1, 9):
            notes = [n + 12 * octave for n in base]
            mean = float(np.mean(notes))
            if abs(mean - center) > 9 or notes[0] < floor:
                continue
            gaps = np.diff(notes)
            if len(gaps) and gaps[0] in (1, 11):  # a semitone or major seventh at the bottom is mud
                continue
            if previous and len(previous) == len(notes):
                cost = float(np.sum(np.abs(np.array(sorted(previous)) - np.array(notes))))
            else:
                cost = abs(mean - center) * len(notes)
            cost += 0.3 * abs(mean - center) + 4.0 * int(np.sum(gaps == 1))  # avoid adjacent semitones
            if cost < best_cost:
                best, best_cost = notes, cost
    return best if best is not None else [center + p for p in pcs]
