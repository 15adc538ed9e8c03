"""The rule-based composer: descriptor + length + tempo + key + band + seed -> an arrangement.

Form: phrase-aligned sections (4-bar phrases) with an intensity curve: an intro with the
fewest instruments, a build, a climax with everything in at ``climax_at``, and an ending that
resolves (a V-I cadence and a held tonic chord). Roles: drums (genre groove from
assets/grooves.json), percussion (melodic percussion ostinato), bass (a style that follows
the harmony), harmony (voiced, voice-led chords in the genre's comping rhythm), pad
(sustained open voicings) and lead (an instrumental motif or an arpeggio; no vocal lines).

How the descriptor's labels act: momentum sets onset density (drum level, comping and lead
rates), dynamics and the tempo band; valence sets register and brightness; sentiment sets the
scale and progression family (major, dorian or minor). The mood's articulation (legato,
normal, staccato) sets note lengths and how busy the comping is, and its harmonic rhythm
(0.5, 1 or 2 chords per bar) how often the chord changes.
The same seed gives the same music; other seeds change band, progressions, motifs, voicings
and grooves' details.

How it is written: ``_plan_form`` lays the sections on the intensity curve (:class:`FormPlan`),
``_plan_chords`` sets the chord of each bar or half bar and the cadence (:class:`ChordPlan`),
and one writer per role (``_write_drums``, ``_write_percussion``, ``_write_bass``,
``_write_harmony``, ``_write_pad``, ``_write_lead``; ``_write_ending`` for the held final
chord) writes its part one bar at a time. The writers take turns bar by bar because they
share one random generator (timing and velocity humanisation): the order of the draws is
part of the music, so a change to it changes every render.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pretty_midi

from core.analysis.key import PITCH_CLASSES
from core.bounds import TEMPO_MAX_BPM, TEMPO_MIN_BPM, in_tempo_range
from core.errors import OptionError
from core.generate.catalog import Descriptor
from core.generate.grooves import STEP_VELOCITY, load_grooves
from core.generate.harmony import Chord, parse_chord, styled, voice
from core.generate.levels import fold_to_range, kit_level_db, program_level_db

#: Target level of each role in the mix (dB, relative); channel volumes are set from the
#: measured loudness of the band's instruments (assets/gm_levels.json) to reach it.
ROLE_TARGET_DB = {"drums": -4.0, "percussion": -9.0, "bass": -6.0, "lead": -5.0, "harmony": -9.0, "pad": -13.0}
ROLE_VOICES = {"percussion": 1, "bass": 1, "lead": 1, "harmony": 3.5, "pad": 5}
ROLE_REGISTER = {"percussion": "low", "bass": "low", "harmony": "mid", "pad": "mid", "lead": "high"}
#: tinysoundfont's CC7 curve: gain (dB) = CC7_DB_PER_DECADE * log10(cc / 127) (measured: cc 64 -> -17.7 dB)
CC7_DB_PER_DECADE = 59.4
ROLE_PAN = {"drums": 64, "percussion": 46, "bass": 64, "harmony": 42, "pad": 84, "lead": 74}
#: Intensity at which each role enters (pad and harmony play from the first bar).
ROLE_ENTRY = {"lead": 0.32, "bass": 0.3, "drums": 0.42, "percussion": 0.5}
POSITIONS = ("only", "first", "middle", "last")
#: The longest a chord is held when the mood's harmonic rhythm is slow (seconds).
LONGEST_CHORD_S = 5.5
#: The shortest a detached (staccato) note sounds, seconds: shorter, a part is a row of clicks.
MIN_DETACHED_S = 0.12


@dataclass(frozen=True, kw_only=True)
class ComposeOptions:
    """Structure options (seconds; None = a sensible default for the length)."""

    intro_s: float | None = None
    ending_s: float | None = None
    climax_at: float = 0.7  # position of the climax, 0..1 of the length

    def __post_init__(self):
        if not (0.0 <= self.climax_at <= 1.0):
            raise OptionError(f"Climax position must be between 0 and 1 (got {self.climax_at}).")
        for name in ("intro_s", "ending_s"):
            v = getattr(self, name)
            if v is not None and not (0.0 <= v <= 600.0):
                raise OptionError(f"{name} must be between 0 and 600 seconds (got {v}).")


@dataclass(frozen=True)
class Section:
    name: str  # intro | build | climax | breakdown | ending
    start_s: float
    end_s: float
    intensity: float


@dataclass
class Arrangement:
    """The symbolic arrangement of one region."""

    midi: pretty_midi.PrettyMIDI
    descriptor: str
    band: str
    tempo_bpm: float
    tonic: str
    mode: str
    duration_s: float
    sections: list[Section]
    roles: dict[str, pretty_midi.Instrument] = field(default_factory=dict)
    #: The General MIDI drum kit of the drums role (a bank-128 program: 0 standard, 8 room,
    #: 16 power, 24 electronic, 25 TR-808, 32 jazz, 40 brush, 48 orchestra); the synthesiser
    #: needs it beside the MIDI, which has no field for it.
    drum_kit: int = 0
    #: Each bar's intensity (0..1; the form plan's): the mix's section gain follows it.
    bar_intensity: tuple[float, ...] = ()


class _Ctx:
    """Everything a role writer needs; keeps the writers short."""

    def __init__(self, d: Descriptor, tempo_bpm: float, tonic: int, rng: np.random.Generator):
        self.d, self.rng, self.tonic = d, rng, tonic
        self.beat_s = 60.0 / tempo_bpm
        self.bar_s = 4 * self.beat_s
        self.jitter_s = 0.012 * d.humanize
        # Below 90 BPM the beat is carried by quarter notes: 8th-note motion in the
        # pitched parts would make the piece feel (and measure) twice as fast.
        self.slow = tempo_bpm < 90
        self.shape_seed = int(rng.integers(3))
        self.art = d.note_length  # note-length factor of the mood's touch
        self.voicing: dict[str, list[int]] = {}  # role -> its last voicing, to voice-lead from

    def touch(self, intensity: float, *, bass: bool = False) -> float:
        """Note-length factor: the mood's articulation once the body has begun (intros stay
        sustained, so a staccato intro leaves no hole); the bass is never held past its note,
        where it would rub against the next root."""
        f = self.art if intensity >= 0.5 else 1.0
        return min(f, 1.0) if bass else f

    def held(self, written_s: float, intensity: float, *, bass: bool = False) -> float:
        """Seconds a note of ``written_s`` sounds: the touch (:meth:`touch`), but a detached note
        never shorter than :data:`MIN_DETACHED_S` (or 90 % of a shorter written note), so a
        staccato part plays short notes rather than clicks."""
        return max(written_s * self.touch(intensity, bass=bass), min(0.9 * written_s, MIN_DETACHED_S))

    def t(self, bar: int, beat: float, *, swing: bool = True) -> float:
        """Seconds of a position (bar, beat in 0..4), swung off-beats, humanised."""
        frac = beat % 1.0
        if swing and self.d.swing > 0:
            if abs(frac - 0.5) < 1e-6:
                beat += self.d.swing / 6.0
            elif abs(frac - 0.25) < 1e-6 or abs(frac - 0.75) < 1e-6:
                beat += self.d.swing / 12.0
        jitter = self.rng.normal(0, self.jitter_s) if self.jitter_s else 0.0
        return max(0.0, bar * self.bar_s + beat * self.beat_s + jitter)

    def vel(self, base: float, intensity: float) -> int:
        v = self.d.velocity * base * (0.55 + 0.45 * intensity)
        v += self.rng.normal(0, 4 * (0.3 + self.d.humanize))
        return int(np.clip(v, 18, 127))


def _note(inst, pitch, start, end, vel):
    if end - start < 0.02:
        end = start + 0.02
    if not inst.is_drum:
        pitch = fold_to_range(int(pitch), inst.program)
    inst.notes.append(pretty_midi.Note(int(vel), int(np.clip(pitch, 0, 127)), float(start), float(end)))


def role_volumes(programs: dict, offsets_db: dict | None = None) -> dict[str, int]:
    """CC7 per role so that each role sits at its target level (plus the mood's offset, dB)
    whatever instrument plays it."""
    gains = {}
    for role, prog in programs.items():
        if prog is None:
            continue
        if role == "drums":
            level = kit_level_db(prog)
        else:
            level = program_level_db(prog, ROLE_REGISTER[role]) + 10 * math.log10(ROLE_VOICES[role] / 3)
        gains[role] = ROLE_TARGET_DB[role] + (offsets_db or {}).get(role, 0.0) - level
    top = max(gains.values())
    return {role: int(np.clip(round(127 * 10 ** ((g - top) / CC7_DB_PER_DECADE)), 20, 127)) for role, g in gains.items()}


def _intensity_plan(n_bars: int, intro_bars: int, ending_bars: int, climax_at: float, position: str,
                    momentum: int = 2) -> list[float]:
    """Intensity (0..1) per bar: intro 0.2-0.3, a build from 0.5, the climax at 1.0 around
    ``climax_at``, 0.7 after it, and the ending. Constant within 4-bar phrases.

    A region of a stitched (multi-region) piece is one section of a larger form: its body
    keeps one level, set by the descriptor's momentum, so the form comes from the regions."""
    body0, body1 = intro_bars, n_bars - ending_bars
    body = max(1, body1 - body0)
    climax_len = max(4, int(round(0.25 * body / 4)) * 4)
    c0 = int(np.clip(round(climax_at * n_bars - climax_len / 2), body0, max(body0, body1 - climax_len)))
    c1 = min(body1, c0 + climax_len)
    out = []
    for b in range(n_bars):
        if b < intro_bars:
            out.append(0.2 + 0.1 * b / max(1, intro_bars))
        elif b >= body1:
            out.append(0.45 if position in ("only", "last") else 0.9)
        elif position != "only":
            out.append(0.6 + 0.1 * momentum)
        elif c0 <= b < c1:
            out.append(1.0)
        elif b < c0:
            p0 = body0 + (b - body0) // 4 * 4  # the phrase's first bar
            out.append(0.5 + 0.3 * (p0 - body0) / max(1, c0 - body0))
        else:
            out.append(0.7)
    if position in ("middle", "last"):  # no intro texture inside a stitched piece
        out = [max(v, 0.5) for v in out]
    return out


def _section_name(v: float, b: int, intro_bars: int, n_bars: int, ending_bars: int, prev: float) -> str:
    if b < intro_bars:
        return "intro"
    if b >= n_bars - ending_bars:
        return "ending"
    if v >= 0.99:
        return "climax"
    return "breakdown" if v < prev else "build"


# ------------------------------------------------------------------------- plans
@dataclass(frozen=True)
class FormPlan:
    """The form of one region: bar counts, each bar's intensity and drum level, and the sections."""

    n_bars: int  # bars begun inside the region (the last may be partial)
    full_bars: int  # whole bars inside the region
    intro_bars: int
    ending_bars: int
    position: str  # only | first | middle | last
    duration_s: float
    intensity: tuple[float, ...]  # per bar, 0..1
    levels: tuple[int, ...]  # per bar: density level 0..4 of the drums and percussion
    sections: tuple[Section, ...]

    @property
    def resolve(self) -> bool:
        """The region ends the piece: a V-I cadence and a held tonic chord."""
        return self.position in ("only", "last")

    @property
    def final_bar(self) -> int:
        """The bar of the held tonic chord (when ``resolve``)."""
        return self.full_bars - 1

    def fill(self, bar: int) -> bool:
        """A drum fill ends a phrase that leads somewhere: a rise, the end, a new 8-bar period."""
        v = self.intensity[bar]
        phrase_end = (bar - self.intro_bars) % 4 == 3 or bar == self.n_bars - 1
        next_v = self.intensity[bar + 1] if bar + 1 < self.n_bars else (1.0 if not self.resolve else 0.0)
        return phrase_end and (next_v > v or bar == self.n_bars - 1 or (bar + 1) % 8 == self.intro_bars % 8) \
            and bar >= self.intro_bars

    def crash(self, bar: int) -> bool:
        """A crash marks a rise, an 8-bar period, or the start of a region inside a stitched piece."""
        v = self.intensity[bar]
        prev_v = self.intensity[bar - 1] if bar else 0.0
        return (bar > 0 and (v > prev_v + 0.05 or (bar - self.intro_bars) % 8 == 0) and self.levels[bar] >= 2) or \
            (bar == 0 and self.position in ("middle", "last"))


def _sections(intensity: list[float], *, intro_bars: int, ending_bars: int, bar_s: float,
              duration_s: float) -> tuple[Section, ...]:
    """Runs of bars with the same section name; the last section ends with the region."""
    n_bars = len(intensity)
    sections: list[Section] = []
    for bar, v in enumerate(intensity):
        name = _section_name(v, bar, intro_bars, n_bars, ending_bars, intensity[bar - 1] if bar else 0.0)
        start = bar * bar_s
        if sections and sections[-1].name == name:
            last = sections[-1]
            sections[-1] = Section(name, last.start_s, min(start + bar_s, duration_s), max(last.intensity, v))
        elif start < duration_s:
            sections.append(Section(name, start, min(start + bar_s, duration_s), v))
    if sections:
        last = sections[-1]
        sections[-1] = Section(last.name, last.start_s, duration_s, last.intensity)
    return tuple(sections)


def _plan_form(d: Descriptor, *, duration_s: float, bar_s: float, options: ComposeOptions,
               position: str) -> FormPlan:
    """Intro and ending lengths (from the options, else from the length), the intensity curve
    and the sections of a region."""
    n_bars = max(1, int(math.ceil(duration_s / bar_s - 1e-6)))
    full_bars = max(1, int(math.floor(duration_s / bar_s + 1e-6)))
    resolve = position in ("only", "last")

    def bars_of(seconds, default_bars):
        return default_bars if seconds is None else int(round(seconds / bar_s))

    default_intro = 0 if position in ("middle", "last") else min(4, max(1, full_bars // 6))
    intro_bars = int(np.clip(bars_of(options.intro_s, default_intro), 0, max(0, full_bars - 1)))
    ending_bars = int(np.clip(bars_of(options.ending_s, 2 if resolve else 1), 1 if resolve else 0,
                              max(0, full_bars - intro_bars)))
    intensity = _intensity_plan(n_bars, intro_bars, ending_bars, options.climax_at, position, d.momentum)
    levels = _levels(intensity, d.momentum)
    sections = _sections(intensity, intro_bars=intro_bars, ending_bars=ending_bars, bar_s=bar_s,
                         duration_s=duration_s)
    return FormPlan(n_bars=n_bars, full_bars=full_bars, intro_bars=intro_bars, ending_bars=ending_bars,
                    position=position, duration_s=duration_s, intensity=tuple(intensity), levels=levels,
                    sections=sections)


@dataclass(frozen=True)
class Half:
    """One chord's span of a bar: the chord, its root and pitch classes (the chord style
    applied), the beats it covers, and the root the bass leads to at its end."""

    chord: Chord
    root_pc: int
    pcs: list[int]
    beat0: float
    beat1: float
    target_pc: int


@dataclass(frozen=True)
class ChordPlan:
    """The chords of every bar: one half (beats 0-4) or two (a change at beat 2)."""

    bars: tuple[tuple[Half, ...], ...]


def _plan_chords(d: Descriptor, form: FormPlan, *, tonic_pc: int, bar_s: float,
                 rng: np.random.Generator) -> ChordPlan:
    """One progression for the build, another for the climax (same family); the intro
    alternates the first and last chords; a resolving region ends on V-I."""
    progs = list(d.progressions)
    order = rng.permutation(len(progs))
    prog_a = [parse_chord(c) for c in progs[order[0]]]
    prog_b = [parse_chord(c) for c in progs[order[1 % len(progs)]]]
    dominant = parse_chord("V")  # the cadence chord (major V in minor too: harmonic minor)
    tonic_chord = parse_chord("i" if d.mode == "minor" else "I")
    # chords per bar; two bars per chord only where that holds a chord at most LONGEST_CHORD_S,
    # so that slow music does not turn each chord into a section of its own
    hr = d.harmonic_rhythm
    if hr < 1 and bar_s / hr > LONGEST_CHORD_S:
        hr = 1.0

    def chord_of(bar: int):
        """The bar's chord and, with two chords a bar, the second half's (else None)."""
        if form.resolve and bar >= form.final_bar:
            return tonic_chord, None
        if form.resolve and bar == form.final_bar - 1 and form.final_bar >= 1:
            return dominant, None  # the cadence
        prog = prog_b if form.intensity[bar] >= 0.99 else prog_a  # the climax has its own progression
        if bar < form.intro_bars:
            return (prog[0] if bar % 2 == 0 else prog[-1]), None
        step = int((bar - form.intro_bars) * hr)
        # two chords a bar: the second half plays the next chord of the progression
        return prog[step % len(prog)], (prog[(step + 1) % len(prog)] if hr >= 2 else None)

    def half(chord, beat0: float, beat1: float, target_pc: int) -> Half:
        root_pc = (tonic_pc + chord.root) % 12
        pcs = [(root_pc + i) % 12 for i in styled(chord, d.chord_style, d.mode)]
        return Half(chord, root_pc, pcs, beat0, beat1, target_pc)

    bars = []
    for bar in range(form.n_bars):
        chord, second = chord_of(bar)
        # what the next bar starts on (the cadence's V and I included), for the bass to lead into
        nxt = chord_of(bar + 1)[0] if bar + 1 < form.n_bars else tonic_chord
        next_root_pc = (tonic_pc + nxt.root) % 12
        if second is None:
            bars.append((half(chord, 0.0, 4.0, next_root_pc),))
        else:
            bars.append((half(chord, 0.0, 2.0, (tonic_pc + second.root) % 12), half(second, 2.0, 4.0, next_root_pc)))
    return ChordPlan(tuple(bars))


@dataclass
class _Score:
    """What the role writers share: the context, the plans, the lead's motifs and the parts."""

    ctx: _Ctx
    form: FormPlan
    chords: ChordPlan
    motifs: tuple[tuple, tuple]  # the developments of the body's motif and the climax's (_motif)
    parts: dict[str, pretty_midi.Instrument]
    #: A given melody (a cover's): the lead plays it instead of the motifs (see :func:`compose_song`).
    melody: tuple | None = None


# ------------------------------------------------------------------------- roles
def _write_drums(s: _Score, bar: int) -> None:
    """One bar of the genre's groove at the bar's level, with fills and crashes."""
    ctx, form = s.ctx, s.form
    level, intensity = form.levels[bar], form.intensity[bar]
    if level <= 0 or intensity < ROLE_ENTRY["drums"] or ctx.d.groove == "none":
        return
    inst = s.parts["drums"]
    fill, crash = form.fill(bar), form.crash(bar)
    g = load_grooves()[ctx.d.groove]
    pattern = g["fill"] if fill and g["fill"] else g["levels"].get(level, {})
    for pitch, steps in pattern.items():
        n = len(steps)
        subdivide = pitch in _TIME_KEEPERS or not ctx.slow
        for i, ch in enumerate(steps):
            if ch == "." or (not subdivide and (4 * i) % n and ch != "x"):
                continue
            beat = 4.0 * i / n
            t = ctx.t(bar, beat)
            _note(inst, pitch, t, t + min(0.12, 0.9 * 4.0 / n * ctx.beat_s), ctx.vel(STEP_VELOCITY[ch], intensity))
    if crash:
        t = ctx.t(bar, 0.0, swing=False)
        _note(inst, 49, t, t + 1.0, ctx.vel(0.95, intensity))


#: Hats, ride, shakers: the drum voices that may subdivide the beat at slow tempi.
_TIME_KEEPERS = {42, 44, 46, 51, 53, 69, 70, 54}

_COMP = {  # groove -> (low-density rhythm, high-density rhythm): (beat, length in beats)
    "none": ([(0, 2), (2, 2)], [(0, 1), (1, 1), (2, 1), (3, 1)]),
    "cinematic_pulse": ([(0, 4)], [(b * 0.5, 0.4) for b in range(8)]),
    "quirky": ([(0, 1), (2, 1)], [(0, 0.4), (1, 0.4), (2, 0.4), (3, 0.4)]),
    "world_pulse": ([(0, 2), (2, 2)], [(0, 0.5), (1.5, 0.5), (3, 0.5)]),
    "electro_minimal": ([(0, 4)], [(0, 2), (2, 2)]),
    "synthwave": ([(0, 4)], [(b * 0.5, 0.45) for b in range(8)]),
    "four_floor": ([(0, 4)], [(0.5, 0.4), (1.5, 0.4), (2.5, 0.4), (3.5, 0.4)]),
    "tropical": ([(0, 2), (2, 2)], [(0.5, 0.35), (1.5, 0.35), (2.5, 0.35), (3.5, 0.35)]),
    "trap": ([(0, 4)], [(0, 2), (2, 1.5), (3.5, 0.5)]),
    "boombap": ([(0, 2), (2, 2)], [(0, 1.4), (1.5, 0.5), (2.5, 1.5)]),
    "pop": ([(0, 2), (2, 2)], [(b * 0.5, 0.45) for b in range(8)]),
    "rock": ([(0, 4)], [(b * 0.5, 0.45) for b in range(8)]),
    "halftime": ([(0, 4)], [(b * 0.25, 0.23) for b in range(16)]),
    "folk": ([(0, 2), (2, 2)], [(0, 0.9), (1, 0.4), (1.5, 0.4), (2.5, 0.4), (3, 0.4), (3.5, 0.5)]),
    "train": ([(0, 2), (2, 2)], [(0, 0.9), (1, 0.4), (1.5, 0.4), (2.5, 0.4), (3, 0.4), (3.5, 0.5)]),
    # swing: four to the bar ("Freddie Green" comping), with a Charleston push when dense
    "jazz_swing": ([(0, 0.7), (1, 0.7), (2, 0.7), (3, 0.7)], [(0, 0.7), (1, 0.7), (1.5, 0.4), (2, 0.7), (3, 0.7)]),
    "bossa": ([(0, 1.5), (1.5, 2.5)], [(0, 1.0), (1.5, 1.0), (3, 0.5), (3.5, 0.5)]),
    "brush": ([(0, 4)], [(0, 1.5), (2, 1.5)]),
}
_STRUM = {"folk", "train", "rock", "pop", "bossa"}


def _write_harmony(s: _Score, bar: int, half: Half) -> None:
    """The chord voiced and voice-led in the genre's comping rhythm (strummed where the genre strums)."""
    ctx, intensity = s.ctx, s.form.intensity[bar]
    if bar < s.form.intro_bars and "pad" in s.parts and bar % 2 == 1 and intensity < 0.25:
        return  # the intro breathes
    inst = s.parts["harmony"]
    low, high = _COMP.get(ctx.d.groove, _COMP["none"])
    dense = intensity >= 0.99 or (intensity >= 0.7 and ctx.d.density >= 0.6)
    if ctx.d.articulation != "normal":  # legato comps sustain; staccato comps are busy once the band is in
        dense = ctx.d.articulation == "staccato" and intensity >= 0.5
    rhythm = high if dense else low
    if ctx.slow and any(not float(b).is_integer() for b, _ in rhythm):
        rhythm = [(float(b), 0.95) for b in range(4)] if len(rhythm) > 4 else [(float(round(b)), ln) for b, ln in rhythm]
    pitches = voice(half.pcs, center=62 + ctx.d.register, previous=ctx.voicing.get("harmony"))
    ctx.voicing["harmony"] = pitches
    strum = ctx.d.groove in _STRUM
    for k, (beat, length) in enumerate(rhythm):
        t0 = ctx.t(bar, beat)
        accent = 1.0 if beat in (0, 2) else 0.85 if float(beat).is_integer() else 0.68
        down = k % 2 == 0
        for j, p in enumerate(pitches if down or not strum else pitches[::-1]):
            off = 0.012 * j if strum else 0.0
            _note(inst, p, t0 + off, t0 + ctx.held(length * ctx.beat_s * 0.97, intensity),
                  ctx.vel(0.82 * accent, intensity))


def _write_pad(s: _Score, bar: int, half: Half) -> None:
    """Sustained open chord, over a tonic pedal (C3 and up) unless the chord holds the
    leading tone or the flat second, which would rub against it."""
    ctx, intensity, inst = s.ctx, s.form.intensity[bar], s.parts["pad"]
    pcs = [half.root_pc] + [t for t in half.pcs if t != half.root_pc]
    pitches = voice(pcs, center=62 + ctx.d.register // 2, previous=ctx.voicing.get("pad"), size=4, floor=48)
    ctx.voicing["pad"] = pitches
    clash = {(ctx.tonic + 11) % 12, (ctx.tonic + 1) % 12}
    pedal = 48 + ctx.tonic
    if not clash & set(pcs) and pedal < min(pitches) and ctx.tonic not in {p % 12 for p in pitches[:1]}:
        pitches = [pedal] + pitches
    t0, t1 = ctx.t(bar, 0, swing=False), ctx.t(bar, 4, swing=False)
    for p in pitches:
        _note(inst, p, t0, t1 - 0.01, ctx.vel(0.62, intensity))


def _bass_root(pc: int) -> int:
    """A low root in E1..D#2 (28..39)."""
    return 28 + ((pc - 4) % 12)


def _write_bass(s: _Score, bar: int, half: Half) -> None:
    """The bass style over the half's chord; the second half of a bar with two chords starts
    the pattern at beat 2 and drops what would fall past the bar."""
    ctx, intensity = s.ctx, s.form.intensity[bar]
    if intensity < ROLE_ENTRY["bass"]:
        return
    for beat, length, pitch, vel in _bass_pattern(ctx, half.chord, half.root_pc, half.target_pc, intensity):
        if beat + half.beat0 >= 4:
            continue
        beat += half.beat0
        t0 = ctx.t(bar, beat)
        _note(s.parts["bass"], pitch, t0, t0 + ctx.held(length * ctx.beat_s, intensity, bass=True), vel)


def _bass_pattern(ctx: _Ctx, chord: Chord, root_pc: int, next_root_pc: int,
                  intensity: float) -> list[tuple[float, float, int, int]]:
    """One bar of the descriptor's bass style: (beat, length in beats, pitch, velocity)."""
    r = _bass_root(root_pc)
    fifth = r + 7
    style = ctx.d.bass_style
    v = lambda a=0.9: ctx.vel(a, intensity)  # noqa: E731
    full = intensity >= 0.7
    notes: list[tuple[float, float, int, int]] = []  # beat, length, pitch, velocity
    if style == "drone":
        notes = [(0, 4, r, v(0.8))]
    elif style == "ostinato":
        notes = [(b * 0.5, 0.45, r + (12 if full and b % 4 == 3 else 0), v(0.95 if b % 2 == 0 else 0.75)) for b in range(8)]
    elif style == "bounce":
        notes = [(0, 0.5, r, v()), (1, 0.4, fifth, v(0.7)), (2, 0.5, r, v()), (3, 0.4, fifth, v(0.7))]
    elif style == "pulse":
        notes = [(b, 0.8, r, v(0.9 if b % 2 == 0 else 0.75)) for b in range(4)]
    elif style == "octaves":
        notes = [(b * 0.5, 0.45, r + (12 if b % 2 else 0), v(0.9 if b % 2 == 0 else 0.8)) for b in range(8)]
    elif style == "offbeat":
        notes = [(b + 0.5, 0.4, r, v(0.9)) for b in range(4)] + ([(0, 0.3, r, v(0.7))] if full else [])
    elif style == "808":
        low = r - 12 if r - 12 >= 24 else r
        notes = [(0, 1.9, low, v(1.0)), (2, 1.9, low, v(0.9))]
    elif style == "boombap":
        notes = [(0, 1.2, r, v()), (1.5, 0.4, r, v(0.7)), (2.5, 1.0, fifth - 12 if fifth - 12 >= 28 else fifth, v(0.85))]
    elif style == "eighths":
        notes = [(b * 0.5, 0.45, r, v(0.9 if b % 2 == 0 else 0.75)) for b in range(8)] if full else \
                [(b, 0.9, r, v(0.85)) for b in range(4)]
    elif style == "roots":
        notes = [(0, 1.9, r, v()), (2, 1.9, fifth if full else r, v(0.8))]
    elif style == "alternating":
        approach = _bass_root(next_root_pc)
        notes = [(0, 0.9, r, v()), (1, 0.4, r, v(0.5)), (2, 0.9, fifth - 12 if fifth - 12 >= 28 else fifth, v(0.85)),
                 (3, 0.9, approach - 1 if approach - 1 > r else approach + 2, v(0.75))]
    elif style == "walking":
        target = _bass_root(next_root_pc)
        third = r + chord.third
        line = [r, third if ctx.rng.random() < 0.6 else r + 2, fifth, target + (1 if ctx.rng.random() < 0.5 else -1)]
        notes = [(b, 0.95, p, v(0.9 if b == 0 else 0.78)) for b, p in enumerate(line)]
    elif style == "bossa":
        notes = [(0, 1.4, r, v()), (1.5, 0.45, fifth - 12 if fifth - 12 >= 28 else fifth, v(0.8)),
                 (2, 1.4, fifth - 12 if fifth - 12 >= 28 else fifth, v(0.85)), (3.5, 0.45, r, v(0.8))]
    return notes


def _cells(rate: float) -> list[list[tuple[float, float]]]:
    """The one-bar rhythm cells of a lead rate: (beat, length in beats)."""
    if rate <= 0.5:
        return [[(0, 2), (2, 2)], [(0, 3), (3, 1)], [(0, 1), (1, 3)], [(0, 1.5), (1.5, 2.5)]]
    if rate <= 1.0:
        return [[(0, 1), (1, 1), (2, 1.5), (3.5, 0.5)], [(0, 1.5), (1.5, 0.5), (2, 2)],
                [(0, 0.5), (0.5, 0.5), (1, 1), (2, 1), (3, 1)], [(0, 1), (1.5, 0.5), (2, 1), (3, 1)]]
    return [[(b * 0.5, 0.5) for b in range(8)], [(0, 0.5), (0.5, 0.5), (1, 1), (2, 0.5), (2.5, 0.5), (3, 1)],
            [(0, 0.75), (0.75, 0.75), (1.5, 0.5), (2, 0.5), (2.5, 0.5), (3, 1)]]


def _contour(rng: np.random.Generator, n: int, start: int) -> list[int]:
    steps, s = [], start
    for _ in range(n):
        steps.append(s)
        s = int(np.clip(s + int(rng.choice([-2, -1, -1, 1, 1, 2, 3])), -2, 9))
    return steps


def _split(motif: list) -> list:
    """The motif with its longest note split in two, the second half a step up (a variation)."""
    i = max(range(len(motif)), key=lambda k: (motif[k][1], -k))
    beat, length, step = motif[i]
    first = max(0.25, round(length / 2 * 4) / 4)
    if length < 0.5:  # nothing to split: a pickup into the next bar instead
        return [(b, min(ln, 3.5 - b), st) for b, ln, st in motif if b < 3.5] + [(3.5, 0.5, motif[-1][2] + 1)]
    return motif[:i] + [(beat, first, step), (beat + first, length - first, step + 1)] + motif[i + 1:]


def _anticipate(motif: list) -> list:
    """The motif with its last note half a beat early (a syncopation), or merged with the one
    before it when there is no room."""
    *head, (beat, length, step) = motif
    if head and beat - 0.5 > head[-1][0]:
        b0, l0, s0 = head[-1]
        return head[:-1] + [(b0, min(l0, beat - 0.5 - b0), s0), (beat - 0.5, length + 0.5, step)]
    if head:
        b0, l0, s0 = head[-1]
        return head[:-1] + [(b0, l0 + length, s0)]
    return [(beat, length / 2, step), (beat + length / 2, length / 2, step - 1)]


def _motif(rng: np.random.Generator, rate: float) -> tuple[list, ...]:
    """A motif and its developments over a period: (beat, length, scale step) per note of one
    bar. Index 0 is the motif, 1 its longest note split, 2 an answer (another rhythm on the
    motif's contour), 3 the motif syncopated, 4 the answer split, 5 the answer syncopated;
    :data:`PERIOD` orders them over 16 bars (issue 15: at least 6 rhythms in 20 bars)."""
    cells = _cells(rate)
    first = int(rng.integers(len(cells)))
    other = (first + 1 + int(rng.integers(len(cells) - 1))) % len(cells)
    contour = _contour(rng, 8, int(rng.integers(0, 3)) * 2)  # starts on 1, 3 or 5 of the scale
    motif = [(b, ln, st) for (b, ln), st in zip(cells[first], contour)]
    answer = [(b, ln, st) for (b, ln), st in zip(cells[other], contour[1:] + contour[:1])]
    return motif, _split(motif), answer, _anticipate(motif), _split(answer), _anticipate(answer)


#: Which development of the motif (see :func:`_motif`) each bar of a 16-bar period plays: a
#: statement and its variation, the answer at each phrase's end, then the second half develops.
PERIOD = (0, 1, 0, 2, 0, 3, 1, 2, 0, 4, 3, 5, 1, 3, 4, 2)


def _scale_pitch(tonic: int, scale: tuple[int, ...], step: int, base: int) -> int:
    octave, idx = divmod(step, len(scale))
    return base + tonic + 12 * octave + scale[idx]


def _write_lead(s: _Score, bar: int, half: Half) -> None:
    """The lead: an arpeggio over the chord, or the motif fitted to it (the climax has its own
    motif); it enters with the band, and answers every other bar of the intro."""
    intensity, intro_bars = s.form.intensity[bar], s.form.intro_bars
    if s.melody is not None:
        return  # a song's own melody is written whole by _write_melody
    if not (intensity >= ROLE_ENTRY["lead"] or (bar < intro_bars and bar % 2 == 1)):
        return
    phrase_bar = max(0, bar - intro_bars)
    if s.ctx.d.lead_style == "arpeggio":
        _arpeggio(s.ctx, s.parts["lead"], bar, half.pcs, intensity, phrase_bar)
    else:
        developments = s.motifs[1 if intensity >= 0.99 else 0]
        if not developments:  # a song without a melody: no lead
            return
        _melody(s.ctx, s.parts["lead"], bar, half.pcs, intensity, developments[PERIOD[phrase_bar % len(PERIOD)]],
                phrase_bar)


def _arpeggio(ctx: _Ctx, inst, bar, chord_pcs, intensity, phrase_bar):
    """The chord's tones (``chord_pcs``: pitch classes) up, down or up and down, by phrase."""
    d = ctx.d
    base = 60 + d.register
    rate = min(4.0, d.lead_rate * (0.5 if intensity < 0.6 else 1.0))
    if ctx.slow:
        rate = min(rate, 1.0)
    step = 1.0 / rate
    pitches = sorted(base + ((pc - base) % 12) for pc in set(chord_pcs))
    pitches = pitches + [p + 12 for p in pitches[:2]]
    shape = (phrase_bar // 4 + ctx.shape_seed) % 3  # the shape changes with the phrase
    if shape == 1:
        pitches = pitches[::-1]
    elif shape == 2:
        pitches = pitches + pitches[-2:0:-1]
    n = int(round(4 / step))
    rests = {int(f * n) for f in ARP_GATES[ARP_PERIOD[phrase_bar % len(ARP_PERIOD)]]} - {0}
    for i in range(n):
        if i in rests:
            continue
        held = next((k for k in range(1, n - i) if i + k not in rests), n - i)  # steps: through the rests after it
        beat = i * step
        t0 = ctx.t(bar, beat)
        on_beat = abs(beat - round(beat)) < 1e-6
        _note(inst, pitches[i % len(pitches)], t0, t0 + ctx.held(held * step * ctx.beat_s * 0.9, intensity),
              ctx.vel(0.95 if on_beat else 0.62, intensity))


#: Where an arpeggio holds its previous note instead of striking (fractions of the bar): the
#: pattern evolves over the phrase as a gated synth line or a picked figure does.
ARP_GATES = ((), (0.375,), (0.75,), (0.25, 0.625), (0.5, 0.875), (0.875,), (0.125, 0.625))
#: Which gate each bar of a 16-bar period plays (:data:`ARP_GATES`).
ARP_PERIOD = (0, 0, 1, 2, 0, 3, 1, 2, 0, 4, 5, 2, 6, 3, 4, 2)


def _melody(ctx: _Ctx, inst, bar, chord_pcs, intensity, motif, phrase_bar):
    """The motif in the scale, its strong beats moved onto chord tones (``chord_pcs``)."""
    d = ctx.d
    chord_pcs = set(chord_pcs)
    shift = 0 if phrase_bar % 4 != 2 else 2  # the third bar of a phrase answers a step higher
    # the register moves the melody by scale steps (high: a fifth up, low: a fourth down), so
    # it stays in the key; shifting the scale's base by 7 semitones would play it in the dominant
    shift += min(range(-len(d.scale), len(d.scale) + 1),
                 key=lambda k: abs(_scale_pitch(0, d.scale, k, 0) - d.register))
    for k, (beat, length, st) in enumerate(motif):
        if phrase_bar % 4 == 3 and beat >= 2:  # the phrase breathes in its last half bar
            break
        p = _scale_pitch(ctx.tonic, d.scale, st + shift, 60)
        if beat in (0, 2) or k == 0 or (float(beat).is_integer() and length >= 1):  # beats land on chord tones
            p = min((p + o for o in range(-2, 3)), key=lambda q: (q % 12 not in chord_pcs, abs(q - p)))
        t0 = ctx.t(bar, beat)
        _note(inst, p, t0, t0 + ctx.held(length * ctx.beat_s * 0.92, intensity),
              ctx.vel(0.9 if beat == 0 else 0.8, intensity))


#: Melodic-percussion ostinati (16 steps): low drums (taiko, timpani) and mallets, sparse and busy.
_PERC_PATTERNS = {
    "drum": ("x.......o.......", "x...o...x...o.o."),
    "mallet": ("x...o...x...o...", "x.o.x.o.x.o.x.o."),
}


def _write_percussion(s: _Score, bar: int) -> None:
    """An ostinato on the bar's chords: low drums hit root and fifth, mallets walk the chord
    tones (the second half plays the second chord when the bar has two)."""
    ctx, intensity = s.ctx, s.form.intensity[bar]
    if intensity < ROLE_ENTRY["percussion"]:
        return
    inst = s.parts["percussion"]
    halves = s.chords.bars[bar]
    low_drum = inst.program in (47, 116, 117, 118, 55)
    kind = "drum" if low_drum else "mallet"
    pattern = _PERC_PATTERNS[kind][1 if s.form.levels[bar] >= 3 else 0]
    base = 36 if low_drum else 60

    def tones_of(pcs):
        root = base + ((pcs[0] - base) % 12)
        return [root, root + 7] if low_drum else sorted(base + ((pc - base) % 12) for pc in pcs[:3]) + [root + 12]

    tones_by_half = [tones_of(h.pcs) for h in (halves[0], halves[-1])]
    n = len(pattern)
    k = 0
    for i, ch in enumerate(pattern):
        if ch == "." or (ctx.slow and (4 * i) % n):  # slow tempi: on the beats only
            continue
        t0 = ctx.t(bar, 4.0 * i / n)
        tones = tones_by_half[1 if 4.0 * i / n >= 2.0 else 0]
        _note(inst, tones[k % len(tones)], t0, t0 + 4.0 / n * ctx.beat_s * (2.0 if low_drum else 0.9),
              ctx.vel(STEP_VELOCITY[ch] * 0.85, intensity))
        k += 1


def _write_ending(s: _Score, bar: int) -> None:
    """The resolving ending: a held tonic chord, a last crash, the lead on the tonic."""
    ctx, parts, d = s.ctx, s.parts, s.ctx.d
    tonic = s.chords.bars[bar][0]
    t0 = ctx.t(bar, 0, swing=False)
    t1 = max(t0 + ctx.beat_s, s.form.duration_s - 0.75 * ctx.beat_s)  # let the release ring inside
    for p in voice(tonic.pcs, center=62 + d.register, previous=ctx.voicing.get("harmony")):
        _note(parts["harmony"], p, t0, t1, ctx.vel(0.8, 0.6))
    if "pad" in parts:
        for p in voice(tonic.pcs, center=56, previous=ctx.voicing.get("pad"), size=4):
            _note(parts["pad"], p, t0, t1, ctx.vel(0.6, 0.6))
    _note(parts["bass"], _bass_root(tonic.root_pc), t0, t1, ctx.vel(0.9, 0.6))
    if "lead" in parts and s.melody is None:
        _note(parts["lead"], 60 + d.register + ((ctx.tonic - d.register) % 12), t0,
              min(t1, t0 + 2 * ctx.bar_s), ctx.vel(0.8, 0.6))
    if "drums" in parts and d.groove != "none":
        _note(parts["drums"], 49, t0, t0 + 2.0, ctx.vel(0.9, 0.6))
        _note(parts["drums"], 36, t0, t0 + 0.2, ctx.vel(0.9, 0.6))


# ------------------------------------------------------------------------ compose
def _keep_span(inst, first: int, start_s: float, end_s: float, *, restrike: bool = True) -> None:
    """Clip the notes written since index ``first`` to [start_s, end_s): a role writer writes a
    whole bar, and a bar with two chords keeps each chord's half of it. A chord held across
    the change is re-struck on the new chord (``restrike``); a melody note is not: it ends at
    the change, and the second half keeps only the notes that start in it."""
    kept = []
    for n in inst.notes[first:]:
        if n.end <= start_s + 0.02 or n.start >= end_s:
            continue
        if n.start < start_s and not restrike:
            continue
        clipped = n.start < start_s or n.end > end_s
        n.start = max(n.start, start_s)
        n.end = min(n.end, end_s)
        if not clipped or n.end - n.start >= 0.03:
            kept.append(n)
    inst.notes[first:] = kept




#: The roles that follow the chord, in the order they are written (the order of the random draws).
_CHORD_WRITERS = (("pad", _write_pad), ("harmony", _write_harmony), ("bass", _write_bass), ("lead", _write_lead))


def _write_half(s: _Score, bar: int, half: Half) -> None:
    """The chord roles over one half of a bar; a bar with two chords keeps each chord's half
    of what the writers wrote."""
    marks = {role: len(inst.notes) for role, inst in s.parts.items()}
    for role, writer in _CHORD_WRITERS:
        if role in s.parts:
            writer(s, bar, half)
    if len(s.chords.bars[bar]) > 1:
        ctx = s.ctx
        mid_s = bar * ctx.bar_s + 2 * ctx.beat_s  # the change, the same instant for both halves
        span = (mid_s - 0.03, (bar + 1) * ctx.bar_s - 0.03) if half.beat0 else (bar * ctx.bar_s - 0.03, mid_s - 0.03)
        for role, _ in _CHORD_WRITERS:
            if role in s.parts:
                _keep_span(s.parts[role], marks[role], *span, restrike=role != "lead")


def _write(s: _Score) -> None:
    """Every bar, role by role; a resolving region stops at its held final chord, which covers
    the partial last bar."""
    for bar in range(s.form.n_bars):
        if s.form.resolve and bar == s.form.final_bar:
            _write_ending(s, bar)
            break
        for half in s.chords.bars[bar]:
            _write_half(s, bar, half)
        if "drums" in s.parts:
            _write_drums(s, bar)
        if "percussion" in s.parts:
            _write_percussion(s, bar)


def _parts(d: Descriptor, programs: dict, rng: np.random.Generator) -> dict[str, pretty_midi.Instrument]:
    """One instrument per role the band plays, with its channel volume and pan."""
    parts: dict[str, pretty_midi.Instrument] = {}
    pan_jitter = int(rng.integers(-8, 9))
    volumes = role_volumes(programs, d.mix_db)
    for role in ("drums", "percussion", "bass", "harmony", "pad", "lead"):
        prog = programs.get(role)
        if prog is None:
            continue
        drum = role == "drums"
        inst = pretty_midi.Instrument(program=0 if drum else int(prog), is_drum=drum, name=role)
        pan = int(np.clip(ROLE_PAN[role] + (0 if role in ("drums", "bass") else pan_jitter), 0, 127))
        inst.control_changes += [pretty_midi.ControlChange(7, volumes[role], 0.0),
                                 pretty_midi.ControlChange(10, pan, 0.0)]
        parts[role] = inst
    return parts


def _tidy(instruments: list[pretty_midi.Instrument], duration_s: float) -> None:
    """Nothing sounds past the region's end, and a held note ends where its pitch is struck again."""
    for inst in instruments:
        kept = []
        for n in inst.notes:
            if n.start < duration_s - 0.01:
                n.end = min(n.end, duration_s)
                kept.append(n)
        inst.notes = sorted(kept, key=lambda n: (n.start, n.pitch))
        last: dict[int, pretty_midi.Note] = {}
        for n in inst.notes:
            prev = last.get(n.pitch)
            if prev is not None and prev.end > n.start:
                prev.end = max(prev.start + 0.01, n.start)
            last[n.pitch] = n


def _check_request(*, duration_s: float, tempo_bpm: float, tonic: str, seed: int, position: str) -> None:
    if position not in POSITIONS:
        raise OptionError(f"position must be one of {', '.join(POSITIONS)}.")
    if not in_tempo_range(tempo_bpm):
        raise OptionError(f"Tempo must be between {TEMPO_MIN_BPM:g} and {TEMPO_MAX_BPM:g} BPM (got {tempo_bpm}).")
    if tonic not in PITCH_CLASSES:
        raise OptionError(f"Tonic must be one of {', '.join(PITCH_CLASSES)} (got '{tonic}').")
    if duration_s <= 0:
        raise OptionError("A region needs a positive length.")
    if int(seed) < 0:
        raise OptionError(f"The seed must be 0 or more (got {seed}).")


def _pick_band(d: Descriptor, band: str | None, rng: np.random.Generator) -> str:
    bands = sorted(d.bands)
    if band is None:
        return bands[int(rng.integers(len(bands)))]
    if band not in d.bands:
        raise OptionError(f"'{band}' is not a band of {d.name}; choose one of {', '.join(bands)}.")
    return band


def compose(
    descriptor: Descriptor,
    *,
    duration_s: float,
    tempo_bpm: float,
    tonic: str,
    band: str | None = None,
    seed: int = 0,
    options: ComposeOptions | None = None,
    position: str = "only",
) -> Arrangement:
    """Write the arrangement of one region.

    Parameters
    ----------
    descriptor : the catalog entry (genre, mood and their musical constraints)
    duration_s : length in seconds (the arrangement fills it; notes never pass it)
    tempo_bpm : 20..200
    tonic : sharp pitch name; the mode comes from the descriptor
    band : one of ``descriptor.bands`` (None: chosen by the seed)
    seed : same seed, same music
    options : intro/ending lengths and climax position
    position : ``only`` (intro and resolving ending), ``first`` (intro, ends on a fill),
        ``middle`` (no intro, ends on a fill) or ``last`` (no intro, resolving ending)
    """
    _check_request(duration_s=duration_s, tempo_bpm=tempo_bpm, tonic=tonic, seed=seed, position=position)
    # one generator, drawn in a fixed order (band, arpeggio shape, pan, progressions, motifs,
    # then bar by bar, role by role): the same seed gives the same music
    rng = np.random.default_rng([int(seed)] + [ord(c) for c in descriptor.name])
    band = _pick_band(descriptor, band, rng)
    programs = descriptor.bands[band]
    ctx = _Ctx(descriptor, tempo_bpm, PITCH_CLASSES.index(tonic), rng)
    form = _plan_form(descriptor, duration_s=duration_s, bar_s=ctx.bar_s, options=options or ComposeOptions(),
                      position=position)
    parts = _parts(descriptor, programs, rng)
    chords = _plan_chords(descriptor, form, tonic_pc=ctx.tonic, bar_s=ctx.bar_s, rng=rng)
    motifs = (_motif(rng, descriptor.lead_rate),
              _motif(rng, descriptor.lead_rate * (1.5 if descriptor.density > 0.6 else 1.0)))
    _write(_Score(ctx, form, chords, motifs, parts))
    return _arrangement(descriptor, band, programs, parts, form, tempo_bpm=tempo_bpm, tonic=tonic)


def _arrangement(d: Descriptor, band: str, programs: dict, parts: dict, form: FormPlan, *, tempo_bpm: float,
                 tonic: str) -> Arrangement:
    """The written parts as one MIDI file (nothing past the end) and the arrangement's record."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=float(tempo_bpm))
    pm.instruments = list(parts.values())
    _tidy(pm.instruments, form.duration_s)
    kit = programs.get("drums")
    return Arrangement(pm, d.name, band, float(tempo_bpm), tonic, d.mode, float(form.duration_s),
                       list(form.sections), parts, drum_kit=0 if kit is None else int(kit),
                       bar_intensity=tuple(form.intensity))


# ------------------------------------------------------------------ a given song (covers)
@dataclass(frozen=True)
class SongChord:
    """A chord of a given song: its label, absolute root pitch class (0 = C), quality
    (maj | min | dim | aug) and intervals above the root in semitones."""

    label: str
    root_pc: int
    quality: str
    intervals: tuple[int, ...]


@dataclass(frozen=True)
class Song:
    """A song to arrange, on a bar grid of 4/4 bars: per bar its chords as ``(beat, chord)``
    pairs (one at beat 0, and a second at beat 2 where the chord changes mid-bar), its
    intensity (0..1: how much of the band plays, how busy), and the melody as ``(start_beat,
    end_beat, pitch, velocity)`` counted from the first bar's downbeat."""

    tonic: str
    bars: tuple[tuple[tuple[float, SongChord], ...], ...]
    intensity: tuple[float, ...]
    melody: tuple[tuple[float, float, int, int], ...] = ()

    def __post_init__(self):
        if not self.bars or len(self.intensity) != len(self.bars):
            raise OptionError("A song needs at least one bar and one intensity per bar.")
        if any(not bar or bar[0][0] != 0 or any(b not in (0, 2) for b, _ in bar) for bar in self.bars):
            raise OptionError("Each bar of a song starts with a chord on beat 1 and may change on beat 3 only.")


def _levels(intensity, momentum: int) -> tuple[int, ...]:
    """Density level 0..4 of drums and percussion per bar, from its intensity and the momentum."""
    return tuple(int(np.clip(math.ceil(v * (momentum + 1) * 0.9), 0, 4)) for v in intensity)


def _song_form(d: Descriptor, song: Song, *, bar_s: float) -> FormPlan:
    """The song's own form: its bars and intensities, no added intro, the last bar held."""
    n_bars = len(song.bars)
    duration_s = n_bars * bar_s
    intensity = [float(np.clip(v, 0.0, 1.0)) for v in song.intensity]
    sections = _sections(intensity, intro_bars=0, ending_bars=1, bar_s=bar_s, duration_s=duration_s)
    return FormPlan(n_bars=n_bars, full_bars=n_bars, intro_bars=0, ending_bars=1, position="only",
                    duration_s=duration_s, intensity=tuple(intensity), levels=_levels(intensity, d.momentum),
                    sections=sections)


def _song_chords(d: Descriptor, song: Song, *, tonic_pc: int) -> ChordPlan:
    """The song's chords as halves, re-voiced in the descriptor's chord style (jazz sevenths,
    rock power chords ...); the bass leads to the next chord's root."""
    flat = [(i, beat, chord) for i, bar in enumerate(song.bars) for beat, chord in bar]
    bars: list[list[Half]] = [[] for _ in song.bars]
    for k, (i, beat, c) in enumerate(flat):
        nxt = flat[k + 1][2] if k + 1 < len(flat) else c
        end = flat[k + 1][1] if k + 1 < len(flat) and flat[k + 1][0] == i else 4.0
        chord = Chord(c.label, (c.root_pc - tonic_pc) % 12, c.quality, tuple(c.intervals))
        pcs = [(c.root_pc + iv) % 12 for iv in styled(chord, d.chord_style, d.mode)]
        bars[i].append(Half(chord, c.root_pc % 12, pcs, float(beat), float(end), nxt.root_pc % 12))
    return ChordPlan(tuple(tuple(b) for b in bars))


def _write_melody(s: _Score) -> None:
    """The song's melody on the lead, at its beats (swung where the genre swings), its
    velocity between the song's and the band's dynamics."""
    ctx, inst = s.ctx, s.parts["lead"]
    for b0, b1, pitch, velocity in s.melody:
        bar = int(b0 // 4)
        if bar < 0 or bar >= s.form.n_bars:
            continue
        t0 = ctx.t(bar, b0 - 4 * bar)
        t1 = t0 + max(0.05, (b1 - b0) * ctx.beat_s * 0.95)
        vel = int(np.clip(0.5 * velocity + 0.5 * ctx.vel(0.9, s.form.intensity[bar]), 30, 120))
        _note(inst, pitch, t0, t1, vel)


def compose_song(descriptor: Descriptor, song: Song, *, tempo_bpm: float, band: str | None = None, seed: int = 0,
                 lead_program: int | None = None, lead_fallback: int | None = None) -> Arrangement:
    """Arrange a given song (a cover): its bars, chords, intensities and melody, played by the
    descriptor's band in its grooves, comping rhythms, bass style and chord style at
    ``tempo_bpm``. The lead plays the melody (on ``lead_program`` when given, else the band's
    lead, else ``lead_fallback``); a song without a melody (sung by a kept vocal) has no lead."""
    duration_s = len(song.bars) * 4 * 60.0 / tempo_bpm if tempo_bpm > 0 else 0.0
    _check_request(duration_s=duration_s, tempo_bpm=tempo_bpm, tonic=song.tonic, seed=seed, position="only")
    rng = np.random.default_rng([int(seed), 19] + [ord(c) for c in descriptor.name])
    band = _pick_band(descriptor, band, rng)
    programs = dict(descriptor.bands[band])
    if lead_program is not None:
        programs["lead"] = int(lead_program)
    elif programs.get("lead") is None and lead_fallback is not None:
        programs["lead"] = int(lead_fallback)
    if not song.melody:
        programs.pop("lead", None)
    if song.melody and programs.get("lead") is None:
        raise OptionError(f"The {band} band of {descriptor.name} has no lead to play the melody: name an instrument.")
    ctx = _Ctx(descriptor, tempo_bpm, PITCH_CLASSES.index(song.tonic), rng)
    form = _song_form(descriptor, song, bar_s=ctx.bar_s)
    parts = _parts(descriptor, programs, rng)
    chords = _song_chords(descriptor, song, tonic_pc=ctx.tonic)
    score = _Score(ctx, form, chords, ([], []), parts, melody=tuple(song.melody) if song.melody else None)
    _write(score)
    if score.melody:
        _write_melody(score)
    return _arrangement(descriptor, band, programs, parts, form, tempo_bpm=tempo_bpm, tonic=song.tonic)
