"""Notes from audio: basic-pitch's polyphonic transcription, pesto's f0 cut into notes, voices.

Everything here takes arrays (never files) and returns :class:`Note` lists sorted by onset.
The networks are loaded once per process (:func:`functools.lru_cache` on the loaders).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np

#: basic-pitch's thresholds (its own defaults) and its shortest note (frames of 11.6 ms).
BP_ONSET_THRESHOLD = 0.5
BP_FRAME_THRESHOLD = 0.3
BP_MIN_NOTE_FRAMES = 11
#: pesto's rate and hop; below this confidence a frame is unvoiced.
PESTO_SR = 16000
PESTO_STEP_MS = 10.0
VOICING_THRESHOLD = 0.6
#: A note of the f0 line is at least this long; a pitch change must last this long to start a new note.
MIN_NOTE_S = 0.09
STABLE_S = 0.05
#: Lead lines sit at or above this MIDI pitch (G3) and bass lines at or below this one (C4).
LEAD_MIN_PITCH = 55
BASS_MAX_PITCH = 60


@dataclass(frozen=True)
class Note:
    """One note: MIDI pitch, onset and offset in seconds, MIDI velocity (1-127)."""

    pitch: int
    start_s: float
    end_s: float
    velocity: int = 80

    def as_list(self) -> list:
        return [int(self.pitch), round(float(self.start_s), 4), round(float(self.end_s), 4), int(self.velocity)]


def _mono(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    return y.mean(axis=1) if y.ndim == 2 else y


# ----------------------------------------------------------------------------- basic-pitch
@lru_cache(maxsize=1)
def basic_pitch_model():
    """basic-pitch's ONNX model (raises ImportError when basic-pitch is not installed)."""
    from basic_pitch import ICASSP_2022_MODEL_PATH
    from basic_pitch.inference import Model

    return Model(ICASSP_2022_MODEL_PATH)


def transcribe(y: np.ndarray, sr: int) -> list[Note]:
    """basic-pitch's polyphonic notes of ``y`` (any rate, mono or ``(n, ch)``)."""
    from basic_pitch import note_creation
    from basic_pitch.constants import AUDIO_N_SAMPLES, AUDIO_SAMPLE_RATE, FFT_HOP
    from basic_pitch.inference import unwrap_output, window_audio_file

    model = basic_pitch_model()
    audio = librosa.resample(_mono(y), orig_sr=sr, target_sr=AUDIO_SAMPLE_RATE).astype(np.float32)
    n_overlap = 30
    overlap_len = n_overlap * FFT_HOP
    padded = np.concatenate([np.zeros(overlap_len // 2, dtype=np.float32), audio])
    output: dict[str, list] = {"note": [], "onset": [], "contour": []}
    for window, _ in window_audio_file(padded, AUDIO_N_SAMPLES - overlap_len):
        for name, value in model.predict(window[None]).items():
            output[name].append(value)
    unwrapped = {name: unwrap_output(np.concatenate(v), len(audio), n_overlap) for name, v in output.items()}
    _, events = note_creation.model_output_to_notes(
        unwrapped, onset_thresh=BP_ONSET_THRESHOLD, frame_thresh=BP_FRAME_THRESHOLD,
        min_note_len=BP_MIN_NOTE_FRAMES, melodia_trick=True)
    notes = [Note(int(p), float(s), float(e), int(np.clip(round(a * 127), 1, 127))) for s, e, p, a, _ in events]
    return sorted(notes, key=lambda n: (n.start_s, n.pitch))


def voice(notes: list[Note], *, highest: bool, frame_s: float = 0.01) -> list[Note]:
    """One voice of a polyphonic transcription: the highest (a lead) or the lowest (a bass).

    Notes are taken from the top (or bottom) down; a note is kept when at least half of it is
    not already covered by a kept note. Kept notes are then cut where the next one starts.
    """
    if not notes:
        return []
    if highest:
        notes = drop_partials(notes)
    end_s = max(n.end_s for n in notes)
    owned = np.zeros(int(end_s / frame_s) + 2, dtype=bool)
    kept = []
    for n in sorted(notes, key=lambda n: (-n.pitch if highest else n.pitch, n.start_s)):
        a, b = int(n.start_s / frame_s), max(int(n.end_s / frame_s), int(n.start_s / frame_s) + 1)
        if owned[a:b].mean() < 0.5:
            kept.append(n)
            owned[a:b] = True
    return merge_repeats(monophonic(kept))


def merge_repeats(notes: list[Note], *, gap_s: float = 0.02) -> list[Note]:
    """Back-to-back notes of one pitch (a gap under ``gap_s``) joined: a transcriber re-strikes
    a held note where a drum hits."""
    out: list[Note] = []
    for n in notes:
        if out and out[-1].pitch == n.pitch and n.start_s - out[-1].end_s < gap_s:
            out[-1] = Note(n.pitch, out[-1].start_s, n.end_s, out[-1].velocity)
        else:
            out.append(n)
    return out


#: Intervals (semitones) at which a transcribed note may be an overtone of a lower one.
_PARTIAL_INTERVALS = (12, 19, 24, 28, 31, 36)
#: An overtone starts with its fundamental (within this) and is reported quieter (below this share).
PARTIAL_ONSET_S = 0.05
PARTIAL_VELOCITY_RATIO = 0.8


def drop_partials(notes: list[Note]) -> list[Note]:
    """Notes that are most likely overtones of a louder note sounding under them removed (a
    polyphonic transcriber often reports the 2nd-6th partials of a bright lead)."""
    by_pitch: dict[int, list[Note]] = {}
    for m in notes:
        by_pitch.setdefault(m.pitch, []).append(m)

    def masked(n: Note) -> bool:  # starts with a clearly louder note below it, at a partial's interval
        return any(n.velocity < PARTIAL_VELOCITY_RATIO * m.velocity and abs(m.start_s - n.start_s) <= PARTIAL_ONSET_S
                   for i in _PARTIAL_INTERVALS for m in by_pitch.get(n.pitch - i, ()))

    return [n for n in notes if not masked(n)]


#: A bass note must be at least this share of the loud end (90th percentile) of the low notes' velocities.
BASS_VELOCITY_SHARE = 0.8


def bass_line(notes: list[Note]) -> list[Note]:
    """The bass of a transcription: notes at or below :data:`BASS_MAX_PITCH`, without the quiet
    ghosts a transcriber reports (an octave under a note that starts with it, or far quieter
    than the bass around), then the lowest voice."""
    low = [n for n in notes if n.pitch <= BASS_MAX_PITCH]
    if not low:
        return []
    by_pitch: dict[int, list[Note]] = {}
    for m in low:
        by_pitch.setdefault(m.pitch, []).append(m)
    low = [n for n in low if not any(abs(m.start_s - n.start_s) <= PARTIAL_ONSET_S
                                     and m.velocity >= PARTIAL_VELOCITY_RATIO * n.velocity
                                     for m in by_pitch.get(n.pitch + 12, ()))]
    if not low:
        return []
    loud = float(np.percentile([n.velocity for n in low], 90))
    return voice([n for n in low if n.velocity >= BASS_VELOCITY_SHARE * loud], highest=False)


def monophonic(notes: list[Note]) -> list[Note]:
    """Notes sorted by onset, each ended no later than the next one starts."""
    notes = sorted(notes, key=lambda n: n.start_s)
    out = []
    for i, n in enumerate(notes):
        end = n.end_s if i + 1 == len(notes) else min(n.end_s, notes[i + 1].start_s)
        if end - n.start_s > 0.02:
            out.append(Note(n.pitch, n.start_s, end, n.velocity))
    return out


# ----------------------------------------------------------------------------- pesto
def _import_pesto_loader():
    """``pesto.loader`` without running pesto's ``__init__`` (it imports torchaudio, which the
    project does not install: audio is passed as arrays)."""
    if "pesto" not in sys.modules:
        spec = importlib.util.find_spec("pesto")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("pesto-pitch is not installed")
        shell = types.ModuleType("pesto")
        shell.__path__ = list(spec.submodule_search_locations)
        sys.modules["pesto"] = shell
    import pesto.loader

    return pesto.loader


@lru_cache(maxsize=1)
def pesto_model():
    """pesto's MIR-1K model at 16 kHz, 10 ms hop (raises ImportError when it is not installed)."""
    model = _import_pesto_loader().load_model("mir-1k_g7", PESTO_STEP_MS, sampling_rate=PESTO_SR)
    return model.eval()


def pesto_f0(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame times (s), pitch (fractional MIDI) and voicing confidence (0-1) of a monophonic line."""
    import torch

    x = librosa.resample(_mono(y), orig_sr=sr, target_sr=PESTO_SR).astype(np.float32)
    model = pesto_model()
    with torch.inference_mode():
        pred, conf, _, _ = model(torch.from_numpy(x), sr=PESTO_SR, convert_to_freq=False, return_activations=True)
    midi = pred.numpy().astype(float).ravel()
    conf = conf.numpy().astype(float).ravel()
    times_s = np.arange(len(midi)) * PESTO_STEP_MS / 1000.0
    return times_s, midi, conf


def f0_notes(times_s: np.ndarray, midi: np.ndarray, confidence: np.ndarray, *, rms_db: np.ndarray | None = None,
             threshold: float = VOICING_THRESHOLD) -> list[Note]:
    """Notes from an f0 line: voiced runs, cut where the rounded pitch changes for at least
    :data:`STABLE_S`; each note's pitch is its median, its velocity from its loudness."""
    if len(times_s) < 2:
        return []
    hop_s = float(times_s[1] - times_s[0])
    voiced = (confidence >= threshold) & np.isfinite(midi)
    smooth = np.round(_median(midi, 5))
    label = np.where(voiced, smooth, -1)
    stable = max(int(round(STABLE_S / hop_s)), 1)
    label = _hold_short_changes(label, stable)
    notes = []
    edges = np.flatnonzero(np.diff(label) != 0) + 1
    for a, b in zip(np.r_[0, edges], np.r_[edges, len(label)]):
        if label[a] < 0 or (b - a) * hop_s < MIN_NOTE_S:
            continue
        loud = -20.0 if rms_db is None else float(np.median(rms_db[a:b]))
        velocity = int(np.clip(round(127 + 2.0 * loud), 30, 120))
        notes.append(Note(int(round(np.median(midi[a:b]))), float(times_s[a]), float(times_s[b - 1] + hop_s), velocity))
    return notes


def _median(x: np.ndarray, width: int) -> np.ndarray:
    from scipy.ndimage import median_filter

    return median_filter(np.nan_to_num(x), size=width, mode="nearest")


def _hold_short_changes(label: np.ndarray, min_frames: int) -> np.ndarray:
    """Voiced runs shorter than ``min_frames`` join a voiced neighbour (a glide belongs to the note
    it leads into, a blip after a note to that note): no new note starts there."""
    out = label.copy()
    edges = np.flatnonzero(np.diff(out) != 0) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, len(out)]
    for a, b in zip(starts, ends):
        if b - a >= min_frames or out[a] < 0:
            continue
        if b < len(out) and out[b] >= 0:
            out[a:b] = out[b]
        elif a > 0 and out[a - 1] >= 0:
            out[a:b] = out[a - 1]
    return out


def quantize(notes: list[Note], grid_s: np.ndarray, *, max_shift_s: float = 0.05) -> list[Note]:
    """Onsets and offsets moved to the nearest grid time (beats and their subdivisions) when
    it lies within ``max_shift_s``; a note never shrinks to nothing."""
    grid = np.asarray(grid_s, dtype=float)
    if grid.size < 2 or not notes:
        return list(notes)

    def snap(t: float) -> float:
        i = int(np.clip(np.searchsorted(grid, t), 1, len(grid) - 1))
        best = grid[i] if abs(grid[i] - t) < abs(grid[i - 1] - t) else grid[i - 1]
        return float(best) if abs(best - t) <= max_shift_s else t

    out = []
    for n in notes:
        start, end = snap(n.start_s), snap(n.end_s)
        if end <= start:
            end = max(n.end_s, start + 0.05)
        out.append(Note(n.pitch, start, end, n.velocity))
    return monophonic(out) if out else out


def align_grid(grid_s: np.ndarray, onsets_s: np.ndarray) -> np.ndarray:
    """The grid shifted by the median distance from the notes' onsets to their nearest grid
    time (a beat tracker hears a beat a little after the notes start)."""
    grid, onsets = np.asarray(grid_s, dtype=float), np.asarray(onsets_s, dtype=float)
    if grid.size < 2 or onsets.size < 4:
        return grid
    idx = np.clip(np.searchsorted(grid, onsets), 1, grid.size - 1)
    nearest = np.where(np.abs(grid[idx] - onsets) < np.abs(grid[idx - 1] - onsets), grid[idx], grid[idx - 1])
    offsets = onsets - nearest
    step = float(np.median(np.diff(grid)))
    offsets = offsets[np.abs(offsets) < step / 2]
    return grid + (float(np.median(offsets)) if offsets.size >= 4 else 0.0)


def subdivide(beats_s: np.ndarray, *, per_beat: int = 4) -> np.ndarray:
    """The beat grid with ``per_beat`` steps per beat (16ths for 4)."""
    beats = np.asarray(beats_s, dtype=float)
    if beats.size < 2:
        return beats
    steps = [beats[:-1] + (beats[1:] - beats[:-1]) * k / per_beat for k in range(per_beat)]
    return np.sort(np.r_[np.concatenate(steps), beats[-1]])
