"""Music with known ground truth, for tests, benchmarks and measurements.

:func:`form_track` writes a multi-section piece (e.g. form ``"ABAC"``) at a known tempo and
key with section changes at known times, and renders it with the General MIDI soundfont.
Each section letter is a distinct texture (instruments, groove, progression), and a
returning letter returns with the same texture, as an intro that comes back as an interlude.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pretty_midi

from core.analysis.key import PITCH_CLASSES
from core.generate.synth import render_midi

# Chords as semitone offsets from the tonic.
_MINOR = {"i": (0, 3, 7), "iv": (5, 8, 12), "V": (7, 11, 14), "VI": (8, 12, 15), "III": (3, 7, 10),
          "VII": (10, 14, 17), "iio": (2, 5, 8)}
_MAJOR = {"I": (0, 4, 7), "IV": (5, 9, 12), "V": (7, 11, 14), "vi": (9, 12, 16), "ii": (2, 5, 9),
          "iii": (4, 7, 11)}

# Section textures: (progression per mode, harmony program, bass program, lead program,
# drum pattern name, chord rhythm in beats, lead note length in beats)
_TEXTURES = {
    "A": dict(minor=("i", "VI", "III", "V"), major=("I", "vi", "IV", "V"), harmony=0, bass=33, lead=73,
              drums="rock", chord_beats=2.0, lead_beats=1.0),
    "B": dict(minor=("iv", "i", "VI", "V"), major=("IV", "I", "ii", "V"), harmony=48, bass=32, lead=46,
              drums="none", chord_beats=4.0, lead_beats=0.5),
    "C": dict(minor=("i", "VII", "VI", "V"), major=("I", "V", "vi", "IV"), harmony=30, bass=38, lead=81,
              drums="busy", chord_beats=1.0, lead_beats=0.25),
    "D": dict(minor=("VI", "iv", "i", "V"), major=("vi", "ii", "V", "I"), harmony=4, bass=35, lead=11,
              drums="halftime", chord_beats=4.0, lead_beats=2.0),
}


@dataclass(frozen=True)
class GroundTruth:
    tempo_bpm: float
    tonic: str
    mode: str
    boundaries_s: tuple[float, ...]  # section starts plus the end
    labels: tuple[str, ...]
    duration_s: float


def _drums(inst: pretty_midi.Instrument, style: str, t0: float, beat_s: float, n_beats: int, rng) -> None:
    def hit(pitch, t, vel):
        v = int(np.clip(vel + rng.integers(-8, 8), 30, 127))
        inst.notes.append(pretty_midi.Note(v, pitch, t, t + 0.1))

    for b in range(n_beats):
        t = t0 + b * beat_s
        if style == "rock":
            if b % 2 == 0:
                hit(36, t, 110)
            else:
                hit(38, t, 100)
            hit(42, t, 70)
            hit(42, t + beat_s / 2, 55)
        elif style == "busy":
            hit(36, t, 115)
            if b % 2 == 1:
                hit(38, t, 110)
            for s in range(4):
                hit(42, t + s * beat_s / 4, 60 if s else 80)
            if b % 4 == 3:
                hit(36, t + 0.75 * beat_s, 90)
        elif style == "halftime":
            if b % 4 == 0:
                hit(36, t, 105)
            if b % 4 == 2:
                hit(38, t, 105)
            hit(51, t, 60)


def _write_section(inst, letter: str, *, mode: str, root: int, motif: np.ndarray, t_sec: float, beat_s: float,
                   n_beats: int, rng: np.random.Generator) -> None:
    """One section of ``form_track`` in the texture of ``letter``; ``inst(role, program, drum)``
    gives the instrument of a role and program (the same one when a texture returns)."""
    tex = _TEXTURES[letter]
    prog = tex[mode]
    chords = _MINOR if mode == "minor" else _MAJOR
    scale = (0, 2, 3, 5, 7, 8, 10) if mode == "minor" else (0, 2, 4, 5, 7, 9, 11)
    harm = inst("harmony", tex["harmony"])
    bass = inst("bass", tex["bass"])
    lead = inst("lead", tex["lead"])
    if tex["drums"] != "none":
        _drums(inst("drums", 0, True), tex["drums"], t_sec, beat_s, n_beats, rng)
    cb = tex["chord_beats"]
    n_chords = int(n_beats / cb)
    for c in range(n_chords):
        # One chord per bar, re-struck every `cb` beats.
        bar = int(c * cb // 4)
        name = prog[bar % len(prog)]
        t = t_sec + c * cb * beat_s
        base = 48 + root + (0 if letter != "C" else -12 + 12)
        for off in chords[name]:
            harm.notes.append(pretty_midi.Note(int(72 + rng.integers(-6, 6)), base + off + 12, t,
                                               t + cb * beat_s * 0.95))
        bass_pitch = 36 + root + chords[name][0] % 12
        bass.notes.append(pretty_midi.Note(95, bass_pitch, t, t + min(cb, 2) * beat_s * 0.9))
    lb = tex["lead_beats"]
    n_lead = int(n_beats / lb)
    for i in range(n_lead):
        t = t_sec + i * lb * beat_s
        bar = int(i * lb // 4)
        name = prog[bar % len(prog)]
        if letter == "B":
            # arpeggio over the chord
            off = chords[name][i % 3]
            pitch = 72 + root % 12 + off
        else:
            deg = (motif[i % len(motif)] + (i // len(motif))) % len(scale)
            pitch = 72 + root % 12 + scale[deg]
        lead.notes.append(pretty_midi.Note(int(80 + rng.integers(-10, 10)), int(pitch), t, t + lb * beat_s * 0.9))


def form_track(
    *,
    form: str = "ABAC",
    tempo_bpm: float = 96.0,
    tonic: str = "D",
    mode: str = "minor",
    bars_per_section: int = 8,
    seed: int = 0,
    sr: int = 44100,
) -> tuple[np.ndarray, int, GroundTruth]:
    """Render a piece in ``form`` (letters A-D) at a known tempo and key.

    Returns stereo float32 audio ``(n, 2)`` peak-normalised to -1 dBFS, the sample rate and
    the :class:`GroundTruth` (section boundaries in seconds, on the bar lines).
    """
    rng = np.random.default_rng(seed)
    root = PITCH_CLASSES.index(tonic)
    scale = (0, 2, 3, 5, 7, 8, 10) if mode == "minor" else (0, 2, 4, 5, 7, 9, 11)
    beat_s = 60.0 / tempo_bpm
    bar_s = 4 * beat_s
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    insts: dict[tuple[str, int], pretty_midi.Instrument] = {}

    def inst(role: str, program: int, drum: bool = False) -> pretty_midi.Instrument:
        key = (role, program)
        if key not in insts:
            insts[key] = pretty_midi.Instrument(program=program, is_drum=drum, name=f"{role}-{program}")
            pm.instruments.append(insts[key])
        return insts[key]

    bounds = []
    motif = rng.choice(len(scale), size=8)
    for s_idx, letter in enumerate(form):
        t_sec = s_idx * bars_per_section * bar_s
        bounds.append(t_sec)
        _write_section(inst, letter, mode=mode, root=root, motif=motif, t_sec=t_sec, beat_s=beat_s,
                       n_beats=bars_per_section * 4, rng=rng)
    total = len(form) * bars_per_section * bar_s
    for inst_ in pm.instruments:  # nothing sounds past the end
        inst_.notes = [n for n in inst_.notes if n.start < total]
        for n in inst_.notes:
            n.end = min(n.end, total)
    audio = render_midi(pm, sr=sr, tail_s=0.0)[: int(round(total * sr))]
    peak = float(np.max(np.abs(audio))) or 1.0
    audio = (audio / peak * 10 ** (-1 / 20)).astype(np.float32)
    truth = GroundTruth(tempo_bpm, tonic, mode, tuple(bounds) + (total,), tuple(form), total)
    return audio, sr, truth



# Sung vowels: the first three formants (Hz) and their bandwidths.
_VOWEL_FORMANTS_HZ = {"a": (800, 1150, 2900), "e": (400, 1600, 2700), "i": (350, 1700, 2700),
                      "o": (450, 800, 2830), "u": (325, 700, 2530)}
_FORMANT_BANDWIDTHS_HZ = (80, 90, 120)


def sung_voice(*, duration_s: float, tonic_midi: int = 62, sample_rate: int = 44100, seed: int = 0) -> np.ndarray:
    """A mono synthetic singer (float32, peak 1), for separation tests with known parts.

    Held notes of a major scale around ``tonic_midi``, each a syllable with its own vowel,
    40 ms attack, 80 ms release, delayed 5.5 Hz vibrato, portamento between notes, a
    glottal-like harmonic source (-1.2 slope per harmonic, up to 9 kHz) through three vowel
    formant resonators, and some breath. Enough like a voice for a vocal separator to hear it
    as one.
    """
    from scipy import signal

    sr = sample_rate
    rng = np.random.default_rng(seed)
    n = int(duration_s * sr)
    t = np.arange(n) / sr
    scale = (0, 2, 4, 5, 7, 9, 11, 12)
    vowels = list(_VOWEL_FORMANTS_HZ)
    pitch_hz = np.zeros(n)
    envelope = np.zeros(n)
    vowel_index = np.zeros(n, dtype=int)
    note_age_s = np.zeros(n)
    start_s, degree = 0.25, 0
    while start_s < duration_s - 0.4:
        end_s = min(start_s + float(rng.choice([0.45, 0.6, 0.9, 1.2])), duration_s - 0.2)
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, len(scale) - 1))
        a, b = int(start_s * sr), int(end_s * sr)
        pitch_hz[a:b] = 440.0 * 2 ** ((tonic_midi + scale[degree] - 69) / 12)
        age = np.arange(b - a) / sr
        envelope[a:b] = np.clip(np.minimum(age / 0.04, (end_s - start_s - age) / 0.08), 0, 1) * (0.8 + 0.2 * rng.random())
        vowel_index[a:b] = rng.integers(len(vowels))
        note_age_s[a:b] = age
        start_s = end_s + float(rng.choice([0.05, 0.1, 0.2]))
    sung = np.flatnonzero(pitch_hz)
    if sung.size == 0:
        return np.zeros(n, dtype=np.float32)
    pitch_hz = pitch_hz[sung[np.maximum(np.searchsorted(sung, np.arange(n), side="right") - 1, 0)]]  # hold
    log_pitch = signal.filtfilt(*signal.butter(2, 12 / (sr / 2)), np.log(pitch_hz))  # portamento
    vibrato = 0.03 * np.clip((note_age_s - 0.25) / 0.3, 0, 1) * np.sin(2 * np.pi * 5.5 * t)
    f0_hz = np.exp(log_pitch) * 2 ** vibrato
    phase = 2 * np.pi * np.cumsum(f0_hz) / sr
    source = sum((k * f0_hz < 9000) * np.sin(k * phase) / k ** 1.2 for k in range(1, 60))
    source = source + 0.02 * rng.standard_normal(n)
    voice = np.zeros(n)
    for v, name in enumerate(vowels):
        weight = signal.filtfilt(*signal.butter(2, 30 / (sr / 2)), (vowel_index == v).astype(float))
        y = source
        for centre_hz, bandwidth_hz in zip(_VOWEL_FORMANTS_HZ[name], _FORMANT_BANDWIDTHS_HZ):
            r = np.exp(-np.pi * bandwidth_hz / sr)
            y = signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * centre_hz / sr), r * r], y)
        voice += weight * y
    voice *= envelope
    return (voice / np.max(np.abs(voice))).astype(np.float32)
