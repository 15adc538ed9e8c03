"""Songs whose lead sheet is known, for tests and benchmarks of :mod:`core.covers.leadsheet`.

:func:`known_song` writes a progression (one chord per bar, 4/4), a bass line on the roots and
fifths, a lead melody of chord tones and passing notes, and optionally drums, then renders it
with the project's General MIDI synthesiser (:func:`core.generate.synth.render_midi`).
"""

from __future__ import annotations

from dataclasses import dataclass

import mir_eval
import numpy as np
import pretty_midi

from core.covers.notes import Note
from core.generate.levels import kit_level_db, program_level_db
from core.generate.synth import render_midi

#: Progressions (Harte labels, one per bar) the benchmarks and tests use.
PROGRESSIONS = {
    "pop": ("C:maj", "A:min", "F:maj", "G:maj"),
    "minor": ("D:min", "A#:maj", "F:maj", "A:7"),
    "jazz": ("D:min7", "G:7", "C:maj7", "A:7"),
    "blues": ("E:7", "A:7", "E:7", "B:7"),
}


@dataclass(frozen=True)
class KnownSong:
    """The rendered audio (mono float32) and what a perfect lead sheet would hold."""

    audio: np.ndarray
    sample_rate: int
    tempo_bpm: float
    chord_intervals_s: np.ndarray  # (n, 2)
    chord_labels: tuple[str, ...]
    melody: tuple[Note, ...]
    bass: tuple[Note, ...]


def _inst(pm: pretty_midi.PrettyMIDI, program: int, name: str, *, drum: bool = False) -> pretty_midi.Instrument:
    inst = pretty_midi.Instrument(program=program, is_drum=drum, name=name)
    pm.instruments.append(inst)
    return inst


def _balance(above_db: dict[pretty_midi.Instrument, float]) -> None:
    """Channel volumes (CC 7) that bring each instrument to ``above_db`` over the quietest one
    (the soundfont's programs differ by up to 15 dB: assets/gm_levels.json)."""
    level = {inst: kit_level_db(0) if inst.is_drum else program_level_db(inst.program) for inst in above_db}
    floor = min(level[i] - above_db[i] for i in above_db)
    for inst, extra in above_db.items():
        gain_db = min(floor + extra - level[inst], 0.0)
        inst.control_changes.append(pretty_midi.ControlChange(7, int(round(127 * 10 ** (gain_db / 40))), 0.0))


def _melody_bar(rng, root: int, bitmap: np.ndarray, t0: float, beat_s: float) -> list[Note]:
    """One bar of lead: quarter and eighth notes on chord tones (MIDI 67-84), sometimes a rest."""
    tones = [p for p in range(67, 85) if bitmap[(p - root) % 12]]
    out, beat = [], 0.0
    pitch = int(rng.choice(tones))
    while beat < 4.0:
        length = float(rng.choice([0.5, 1.0, 1.0, 1.5])) if beat <= 2.5 else 4.0 - beat
        length = min(length, 4.0 - beat)
        if rng.random() > 0.12:
            near = [p for p in tones if abs(p - pitch) <= 5 and p != pitch] or tones
            pitch = int(rng.choice(near))
            out.append(Note(pitch, t0 + beat * beat_s, t0 + (beat + length) * beat_s - 0.03, int(rng.integers(80, 105))))
        beat += length
    return out


#: Pitch-class names of transposed chord labels.
SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def transposed_label(label: str, semitones: int) -> str:
    """A Harte chord label moved by ``semitones`` ("C:maj", 2 -> "D:maj"; "N" stays)."""
    root, sep, quality = label.partition(":")
    if root == "N" or semitones % 12 == 0:
        return label
    pitch_class = (mir_eval.chord.pitch_class_to_semitone(root) + semitones) % 12
    return SHARP_NAMES[pitch_class] + sep + quality



def known_song(*, progression: str = "pop", bars: int = 8, tempo_bpm: float = 100.0, seed: int = 0,
               drums: bool = True, chord_program: int = 0, lead_program: int = 73, lead: bool = True,
               accompaniment: bool = True, sample_rate: int = 22050, transpose_semitones: int = 0) -> KnownSong:
    """A short song in 4/4 with the chords of ``PROGRESSIONS[progression]`` (one per bar, looped).

    ``transpose_semitones`` moves every pitched note (and the chord labels) by that many
    semitones after the song is written: the same song in another key, note for note.
    """
    rng = np.random.default_rng(seed)
    beat_s = 60.0 / tempo_bpm
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    chords_i, lead_i = _inst(pm, chord_program, "chords"), _inst(pm, lead_program, "lead")
    bass_i, drum_i = _inst(pm, 33, "bass"), _inst(pm, 0, "drums", drum=True)
    labels, melody, bass = [], [], []
    for bar in range(bars):
        label = PROGRESSIONS[progression][bar % len(PROGRESSIONS[progression])]
        root, bitmap, _ = mir_eval.chord.encode(label)
        t0 = bar * 4 * beat_s
        labels.append(label)
        if accompaniment:
            for interval in np.flatnonzero(bitmap):
                pitch = 56 + (root + interval - 56) % 12  # close voicing from G#3 up
                chords_i.notes.append(pretty_midi.Note(85, int(pitch), t0, t0 + 4 * beat_s - 0.02))
            for half, step in ((0, 0), (2, 7)):
                pitch = 36 + root + (step if bitmap[7] else 0)
                bass.append(Note(int(pitch), t0 + half * beat_s, t0 + (half + 2) * beat_s - 0.05, 90))
        if lead:
            melody += _melody_bar(rng, root, bitmap, t0, beat_s)
        for b in range(4 if drums else 0):
            t = t0 + b * beat_s
            for pitch, vel in ((36 if b % 2 == 0 else 38, 100), (42, 60)):
                drum_i.notes.append(pretty_midi.Note(vel, pitch, t, t + 0.1))
    if transpose_semitones:
        shift = int(transpose_semitones)
        for n in chords_i.notes:
            n.pitch += shift
        melody = [Note(n.pitch + shift, n.start_s, n.end_s, n.velocity) for n in melody]
        bass = [Note(n.pitch + shift, n.start_s, n.end_s, n.velocity) for n in bass]
        labels = [transposed_label(label, shift) for label in labels]
    _balance({chords_i: 0.0, lead_i: 6.0, bass_i: 0.0, drum_i: 0.0})
    lead_i.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start_s, n.end_s) for n in melody]
    bass_i.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start_s, n.end_s) for n in bass]
    total = bars * 4 * beat_s
    audio = render_midi(pm, sr=sample_rate, tail_s=0.0)[: int(total * sample_rate)]
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    mono = (mono / max(float(np.max(np.abs(mono))), 1e-9) * 0.9).astype(np.float32)
    bars_s = np.arange(bars + 1) * 4 * beat_s
    return KnownSong(mono, sample_rate, tempo_bpm, np.stack([bars_s[:-1], bars_s[1:]], axis=1), tuple(labels),
                     tuple(melody), tuple(bass))
