"""A lead sheet re-arranged in another genre: the song's bars, chords, dynamics and melody for
:func:`core.generate.compose.compose_song`.

- **Descriptor**: the target genre's catalog entry that suits the song best: its mode (major or
  minor) and a tempo range near the song's tempo (or its half or double).
- **Tempo**: the song's tempo, moved by the genre's ``tempo_shift_bpm`` (the Leiden paper slowed
  pop to jazz by 15 BPM) and pulled ``tempo_pull`` of the way into the descriptor's range.
- **Bars**: 4/4 bars from the lead sheet's first downbeat (a pickup before it becomes a bar of
  its own); each bar keeps the chord of its first half and, where it changes, of its second.
- **Dynamics**: each section of the song's form gets an intensity from its loudness in the
  original (the quietest section 0.45, the loudest 1.0), so the cover rises and falls where the
  song does.
- **Idioms** from ``assets/cover_rules.json``: jazz approaches a change after a chord held two
  bars or more with the next chord's secondary dominant; dance genres drop the drums for the bar before the loudest sections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import librosa
import mir_eval
import numpy as np

from core.analysis.key import PITCH_CLASSES
from core.bounds import TEMPO_MAX_BPM, TEMPO_MIN_BPM
from core.errors import StudioError
from core.generate.catalog import Descriptor
from core.generate.compose import Song, SongChord
from core.io import read_checked_json
from core.paths import ASSETS

COVER_RULES_PATH = ASSETS / "cover_rules.json"
#: The shortest song a cover is made of, and the fewest melody notes it needs.
MIN_SONG_S = 10.0
MIN_MELODY_NOTES = 8
#: Section intensities span this range (quietest .. loudest section); a song whose sections
#: differ by less than FLAT_DB in loudness is played at FLAT_INTENSITY throughout.
QUIET_INTENSITY, LOUD_INTENSITY = 0.45, 1.0
FLAT_DB, FLAT_INTENSITY = 1.5, 0.8
#: Playing a song at its half or double tempo counts as this far (octaves) from a genre's range.
FOLD_PENALTY_OCTAVES = 0.5


class CoverError(StudioError):
    """A cover cannot be made of this song with these settings (the message says why)."""


_VOCAL = {"type": "object", "additionalProperties": False,
          "required": ["gain_db", "highpass_hz", "presence_db", "reverb_wet", "compress_db"],
          "properties": {"gain_db": {"type": "number", "minimum": -24, "maximum": 12},
                         "highpass_hz": {"type": "number", "minimum": 20, "maximum": 400},
                         "presence_db": {"type": "number", "minimum": -6, "maximum": 6},
                         "reverb_wet": {"type": "number", "minimum": 0, "maximum": 1},
                         "compress_db": {"type": "number", "minimum": -40, "maximum": 0}}}
_GENRE = {"type": "object", "additionalProperties": False,
          "required": ["subgenres", "tempo_shift_bpm", "tempo_pull", "approach", "drop", "melody_program", "vocal"],
          "properties": {"subgenres": {"type": "array", "items": {"type": "string"}, "maxItems": 12},
                         "tempo_shift_bpm": {"type": "number", "minimum": -40, "maximum": 40},
                         "tempo_pull": {"type": "number", "minimum": 0, "maximum": 1},
                         "approach": {"type": "boolean"}, "drop": {"type": "boolean"},
                         "melody_program": {"type": "integer", "minimum": 0, "maximum": 127}, "vocal": _VOCAL}}
_PAIR = {"type": "object", "additionalProperties": False,
         "properties": {**{k: v for k, v in _GENRE["properties"].items() if k != "vocal"},
                        "vocal": {**_VOCAL, "required": []}}}
RULES_SCHEMA = {"type": "object", "required": ["version", "genres"],
                "properties": {"version": {"const": 1}, "about": {"type": "string"},
                               "genres": {"type": "object", "additionalProperties": _GENRE},
                               "pairs": {"type": "object", "additionalProperties": _PAIR,
                                         "propertyNames": {"pattern": "^[a-z]+->[a-z]+$"}}}}


@dataclass(frozen=True)
class GenreRule:
    """How a cover re-makes a song in one genre (one entry of ``assets/cover_rules.json``)."""

    subgenres: list
    tempo_shift_bpm: float
    tempo_pull: float
    approach: bool
    drop: bool
    melody_program: int
    vocal: dict


@lru_cache(maxsize=4)
def _rules_file(path: Path = COVER_RULES_PATH) -> dict:
    raw = read_checked_json(path, schema=RULES_SCHEMA, error=CoverError, what="The cover rules")
    unknown = [pair for pair in raw.get("pairs", {}) if pair.split("->")[1] not in raw["genres"]]
    if unknown:
        raise CoverError(f"The cover rules in {Path(path).name} cannot be used (a pair names a genre without a "
                         f"recipe: {', '.join(unknown)}).")
    return raw


def load_cover_rules(path: Path = COVER_RULES_PATH) -> dict[str, GenreRule]:
    """Genre -> :class:`GenreRule`, checked against :data:`RULES_SCHEMA` (CoverError if not)."""
    return {g: GenreRule(**r) for g, r in _rules_file(path)["genres"].items()}


def genre_rule(genre: str, *, source: str = "", path: Path = COVER_RULES_PATH) -> GenreRule:
    """The recipe for covering a song of genre ``source`` (the catalog genre the real-music model
    hears in the original; '' when unknown) in ``genre``: the genre's rule with the pair's
    overrides (``pairs["source->genre"]``: the mix of a rock vocal in a jazz band is not the mix of
    a folk one) merged on top."""
    rules = load_cover_rules(path)
    if genre not in rules:
        raise CoverError(f"There is no cover recipe for '{genre}'; choose one of {', '.join(sorted(rules))}.")
    pair = _rules_file(path).get("pairs", {}).get(f"{source}->{genre}")
    if not pair:
        return rules[genre]
    rule = rules[genre]
    return replace(rule, **{**pair, "vocal": {**rule.vocal, **pair.get("vocal", {})}})


# ----------------------------------------------------------------------------- choices
def _gap(t: float, lo: float, hi: float) -> float:
    """How far (in octaves) a tempo lies outside a range."""
    return 0.0 if lo <= t <= hi else min(abs(math.log2(t / lo)), abs(math.log2(t / hi)))


def _folded(tempo_bpm: float, lo: float, hi: float) -> float:
    """The song's tempo, its half or its double: whichever lies nearest the range (in octaves),
    a half or double counted FOLD_PENALTY_OCTAVES further (a song keeps its own pulse when it can)."""
    return min((tempo_bpm * f for f in (1.0, 0.5, 2.0)),
               key=lambda t: _gap(t, lo, hi) + (FOLD_PENALTY_OCTAVES if t != tempo_bpm else 0.0))


def choose_descriptor(descriptors: list[Descriptor], *, tempo_bpm: float, mode: str, prefer=()) -> Descriptor:
    """The descriptor of a genre that suits a song: a preferred subgenre first (in ``prefer``'s
    order), then the same mode, then the tempo range nearest the song's tempo (or its half or
    double), then the name (deterministic)."""
    rank = {s: i for i, s in enumerate(prefer)}
    if not descriptors:
        raise CoverError("This genre has no descriptors in the catalog.")

    def cost(d: Descriptor):
        lo, hi = d.tempo_bpm
        t = _folded(tempo_bpm, lo, hi)
        fold = FOLD_PENALTY_OCTAVES if t != tempo_bpm else 0.0
        return (rank.get(d.subgenre, len(rank)), d.mode != mode, abs(math.log2(t / ((lo + hi) / 2))) + fold, d.name)
    return min(descriptors, key=cost)


def cover_tempo_bpm(tempo_bpm: float, descriptor: Descriptor, rule: GenreRule) -> tuple[float, float]:
    """The cover's tempo and its beats per song beat: the song's tempo folded toward the range
    (its half or double, where that is nearer: a trap cover of a 75 BPM song runs at 150 with two
    beats to each of the song's), shifted by the genre, then pulled into the range."""
    lo, hi = descriptor.tempo_bpm
    folded = _folded(tempo_bpm, lo, hi)
    if not TEMPO_MIN_BPM <= folded <= TEMPO_MAX_BPM:
        folded = tempo_bpm
    t = folded + rule.tempo_shift_bpm
    t += rule.tempo_pull * (float(np.clip(t, lo, hi)) - t)
    return round(float(np.clip(t, TEMPO_MIN_BPM, TEMPO_MAX_BPM)), 1), folded / tempo_bpm


# ----------------------------------------------------------------------------- the song
def song_chord(label: str) -> SongChord | None:
    """A Harte label as a :class:`SongChord` (None for no chord or a label mir_eval cannot read)."""
    try:
        root, bitmap, _ = mir_eval.chord.encode(label)
    except (mir_eval.chord.InvalidChordException, ValueError):
        return None
    if root < 0 or not bitmap.any():
        return None
    iv = tuple(int(i) for i in np.flatnonzero(bitmap))
    has = set(iv)
    if 3 in has and 6 in has and 7 not in has:
        quality = "dim"
    elif 4 in has and 8 in has and 7 not in has:
        quality = "aug"
    else:
        quality = "min" if 3 in has and 4 not in has else "maj"
    return SongChord(label, int(root), quality, iv)


def _key_chord(key: str) -> SongChord:
    """The tonic triad of a key name ('A minor', 'C major'); C major when there is none."""
    tonic, _, mode = (key or "C major").partition(" ")
    pc = PITCH_CLASSES.index(tonic) if tonic in PITCH_CLASSES else 0
    minor = mode.startswith("min")
    return SongChord(f"{PITCH_CLASSES[pc]}:{'min' if minor else 'maj'}", pc, "min" if minor else "maj",
                     (0, 3, 7) if minor else (0, 4, 7))


@dataclass(frozen=True)
class BarGrid:
    """The lead sheet's beats laid in the cover's 4/4 bars. ``origin`` is the beat index of bar
    0's downbeat (negative with a pickup); ``scale`` is cover beats per song beat (2 when the
    cover plays at the song's double tempo, 0.5 at half: the music keeps its speed)."""

    beats_s: np.ndarray
    origin: int
    n_bars: int
    scale: float = 1.0

    @property
    def period_s(self) -> float:
        return float(np.median(np.diff(self.beats_s)))

    def beat_of(self, t_s: np.ndarray) -> np.ndarray:
        """The cover beat (from bar 0's downbeat) of song times ``t_s``."""
        b, period = self.beats_s, self.period_s
        idx = np.interp(t_s, b, np.arange(len(b), dtype=float))
        idx = np.where(t_s < b[0], (t_s - b[0]) / period, idx)
        idx = np.where(t_s > b[-1], len(b) - 1 + (t_s - b[-1]) / period, idx)
        return (idx - self.origin) * self.scale

    def time_of(self, cover_beats: np.ndarray) -> np.ndarray:
        """The song time of cover beats (extrapolated past the song's beats)."""
        b, period = self.beats_s, self.period_s
        k = np.asarray(cover_beats, dtype=float) / self.scale + self.origin
        inside = np.interp(k, np.arange(len(b), dtype=float), b)
        return np.where(k < 0, b[0] + k * period, np.where(k > len(b) - 1, b[-1] + (k - len(b) + 1) * period, inside))

    def bar_times_s(self) -> np.ndarray:
        """Song time of each cover bar's start and of the last bar's end."""
        return self.time_of(4.0 * np.arange(self.n_bars + 1))


def bar_grid(sheet, *, scale: float = 1.0) -> BarGrid:
    beats = np.asarray(sheet.beats_s, dtype=float)
    if sheet.tempo_bpm is None or beats.size < 8:
        raise CoverError("No steady beat was found in this track, so there is no bar grid to re-arrange it on. "
                         "A cover needs music with a pulse.")
    first_down = np.asarray(sheet.downbeats_s, dtype=float)
    k0 = int(np.argmin(np.abs(beats - first_down[0]))) if first_down.size else 0
    origin = k0 if k0 == 0 else k0 - 4
    return BarGrid(beats, origin, int(math.ceil((len(beats) - origin) * scale / 4 - 1e-6)), float(scale))


def _bar_chords(sheet, grid: BarGrid) -> list[tuple[tuple[float, SongChord], ...]]:
    """Each cover bar's chord on beat 1 and, where the song's chord of beat 3 differs, on beat 3
    (the song's beats under each half; the first chord found there)."""
    per_beat = [song_chord(c) for c in sheet.chords]
    last = next((c for c in per_beat if c is not None), _key_chord(sheet.key))
    span = max(1, int(round(2 / grid.scale)))  # song beats under half a cover bar
    bars = []
    for b in range(grid.n_bars):
        halves = []
        for beat0 in (0, 2):
            first = grid.origin + int(round((4 * b + beat0) / grid.scale))
            found = [per_beat[i] for i in range(first, first + span) if 0 <= i < len(per_beat) and per_beat[i] is not None]
            chord = found[0] if found else last
            if not halves or chord.label != halves[-1][1].label:
                halves.append((float(beat0), chord))
            last = chord
        bars.append(tuple(halves))
    return bars


def _approach(bars: list) -> list:
    """Jazz: where a chord has been held for two bars or more before a change, the second half
    of its last bar becomes the dominant seventh of the next chord (a V7 approach); a song that
    changes chord every bar keeps its own harmonic rhythm."""
    out = list(bars)
    for i in range(1, len(bars) - 1):
        held, nxt = bars[i][0][1], bars[i + 1][0][1]
        if len(bars[i]) != 1 or bars[i - 1][-1][1].label != held.label or held.root_pc == nxt.root_pc:
            continue
        root = (nxt.root_pc + 7) % 12
        if held.root_pc != root:
            out[i] = (bars[i][0], (2.0, SongChord(f"{PITCH_CLASSES[root]}:7", root, "maj", (0, 4, 7, 10))))
    return out


def section_intensity(audio: np.ndarray, sr: int, sections, bar_times_s: np.ndarray) -> list[float]:
    """Intensity per bar from the loudness (RMS, dB) of the song's section it starts in."""
    rms = librosa.feature.rms(y=np.asarray(audio, dtype=np.float32), frame_length=2048, hop_length=512)[0]
    times = librosa.frames_to_time(np.arange(rms.size), sr=sr, hop_length=512)
    spans = [(a, b) for a, b, _ in sections] or [(0.0, float(times[-1]) + 1.0)]
    level = []
    for a, b in spans:
        inside = rms[(times >= a) & (times < b)]
        level.append(20 * np.log10(max(float(np.sqrt(np.mean(inside ** 2))) if inside.size else 0.0, 1e-6)))
    lo, hi = min(level), max(level)
    section_v = [FLAT_INTENSITY if hi - lo < FLAT_DB else
                 QUIET_INTENSITY + (LOUD_INTENSITY - QUIET_INTENSITY) * (v - lo) / (hi - lo) for v in level]
    starts = np.array([a for a, _ in spans])
    which = np.clip(np.searchsorted(starts, bar_times_s[:-1] + 1e-3, side="right") - 1, 0, len(spans) - 1)
    return [round(float(section_v[i]), 3) for i in which]


def _drop(intensity: list[float]) -> list[float]:
    """Dance genres: the bar before each rise into the loudest level holds the drums back."""
    top = max(intensity)
    out = list(intensity)
    for i in range(1, len(intensity)):
        if intensity[i] >= top - 1e-6 and intensity[i - 1] < top - 1e-6 and i >= 2:
            out[i - 1] = min(out[i - 1], 0.35)
    return out


def check_sheet(sheet, *, with_melody: bool = True) -> None:
    """CoverError when a cover cannot be made of this lead sheet: too short, no pulse, no melody."""
    if sheet.duration_s < MIN_SONG_S:
        raise CoverError(f"The track is {sheet.duration_s:.1f} s long; a cover needs at least {MIN_SONG_S:g} s of music.")
    bar_grid(sheet)
    if with_melody and len(sheet.melody) < MIN_MELODY_NOTES:
        raise CoverError("No melody was found in this track (fewer than 8 notes), so a cover would not be recognisable. "
                         "Keep the original vocals instead, or use a track with a clear lead line.")


def song_from_sheet(sheet, audio: np.ndarray, sr: int, *, rule: GenreRule, with_melody: bool = True,
                    scale: float = 1.0) -> Song:
    """The :class:`Song` of a lead sheet (see the module docstring) with ``scale`` cover beats
    per song beat; ``audio`` is the original mix (mono), read for the dynamics of its sections."""
    check_sheet(sheet, with_melody=with_melody)
    grid = bar_grid(sheet, scale=scale)
    bars = _bar_chords(sheet, grid)
    if rule.approach:
        bars = _approach(bars)
    intensity = section_intensity(audio, sr, sheet.sections, grid.bar_times_s())
    if rule.drop:
        intensity = _drop(intensity)
    melody = ()
    if with_melody:
        starts = grid.beat_of(np.array([n.start_s for n in sheet.melody]))
        ends = grid.beat_of(np.array([n.end_s for n in sheet.melody]))
        melody = tuple((round(float(a), 4), round(float(b), 4), int(n.pitch), int(n.velocity))
                       for a, b, n in zip(starts, ends, sheet.melody) if 0 <= a < 4 * grid.n_bars and b > a)
    tonic = _key_chord(sheet.key).label.split(":")[0]
    return Song(tonic=tonic, bars=tuple(bars), intensity=tuple(intensity), melody=melody)
