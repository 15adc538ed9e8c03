"""The deliverables of a render: cut-downs, a seamless loop, per-instrument stems, tags, one zip.

- **Cut-downs** (``assets/deliverables.json``: 60, 30 and 15 s besides the full version): the
  opening bars plus a bar-aligned jump to the ending (the last region's ending section, with
  its cadence and decay), joined by a short equal-power crossfade that ends on the bar line
  the ending starts at. The length is ``head + tail`` with both ends on bar lines, so it lands
  within one bar of the target. A render not longer than a target has no such cut-down (a note
  says so).
- **The loop**: 8 (or 4) bars of the most representative region (the longest; in it the
  bars of highest planned intensity where the most roles play, on a 4-bar phrase when one
  fits), re-synthesised from the arrangement with the loop's notes played three times
  through the region's own mix and the master; the middle copy is kept. Its head therefore
  holds the reverb and release tail of its own last bars (the tail folded into the head), and
  its end runs into its start as into the next copy: it loops without a click.
- **Stems**: one WAV per role (drums, percussion, bass, harmony, pad, lead: the roles
  ``core.generate.render`` synthesises). Each is re-synthesised from the arrangement (the
  same seed, the same notes), placed as in the mix (``core.generate.mix``: pan, width, its
  reverb send, the kick ducking), sent through the genre bus's EQ and the master's EQ, and
  given the same gain, sample by sample, that the bus compressor, saturation, loudness
  normalisation and limiter gave the full mix. So the stems add up to the delivered mix
  (:attr:`RenderStems.sum_max_error`, :attr:`RenderStems.sum_correlation`).
- **Tags**: title, BPM, key, genre, descriptor and the studio version in every WAV: a RIFF
  ``LIST``/``INFO`` chunk (libsndfile: title, artist, genre, comment, software), a ``bext``
  chunk (Broadcast Wave: description, originator, reference) and a sidecar JSON.
- **deliverables.zip**: all of it, with the MIDI and a README.txt; kept in the store under a
  key made of the render key, these rules and the versions, so a second look is a lookup.
"""

from __future__ import annotations

import dataclasses
import io
import json
import struct
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

from core.cachekey import canonical_json, fingerprint, library_versions, stage_key
from core.errors import StudioError
from core.generate.catalog import load_catalog
from core.generate.compose import ComposeOptions
from core.generate.mix import KICKS, _board, _eq_plugins, duck_envelope, load_mix_rules, place_role, section_gain
from core.generate.render import (
    PARALLEL_MIN_S,
    REGION_GAIN_DB,
    TAIL_S,
    Render,
    _jobs,
    _region_audio,
    _run_jobs,
    compose_regions,
    master,
    master_eq,
)
from core.io import atomic_write
from core.paths import ASSETS
from core.version import __version__

#: Bump when a change alters what the deliverables hold (part of their key).
DELIVER_VERSION = 1
RULES_PATH = ASSETS / "deliverables.json"
ZIP_NAME = "deliverables.zip"
#: What the deliverables are, in a musician's words (the page's help text).
ABOUT = ("60, 30 and 15 s cut-downs that keep the opening and the ending (cut on bar lines), a seamless loop, "
         "one WAV per instrument that add up to the mix, all tagged with BPM and key, in one zip.")
#: A fixed time stamp for every zip member: the same render gives the same zip, byte for byte.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
_BEXT_FIXED = 602  # bytes of a bext chunk before its coding history (EBU Tech 3285)


class DeliverError(StudioError):
    """The deliverables of a render cannot be made (e.g. its stems cannot be rebuilt)."""


class DeliverRulesError(StudioError):
    """assets/deliverables.json is missing, not JSON, or a field is out of range."""


@dataclass(frozen=True)
class DeliverRules:
    targets_s: tuple[float, ...]
    crossfade_ms: float
    tail_max_fraction: float
    loop_bars: tuple[int, ...]
    loop_copies: int
    rebuild_min_correlation: float


def _rule(raw: dict, key: str, lo: float, hi: float, *, whole: bool = False) -> float:
    value = raw.get(key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and lo <= value <= hi
    if not ok or (whole and int(value) != value):
        kind = "a whole number" if whole else "a number"
        raise DeliverRulesError(f"deliverables.json: '{key}' must be {kind} from {lo:g} to {hi:g} (got {value!r}). "
                                f"Fix the file or restore it from the repository.")
    return value


def _rule_list(raw: dict, key: str, lo: float, hi: float, *, whole: bool = False) -> tuple:
    values = raw.get(key)
    if not isinstance(values, list) or not values:
        raise DeliverRulesError(f"deliverables.json: '{key}' must be a list of numbers from {lo:g} to {hi:g}.")
    return tuple(_rule({key: v}, key, lo, hi, whole=whole) for v in values)


@lru_cache(maxsize=4)
def load_rules(path: str = str(RULES_PATH)) -> DeliverRules:
    """The deliverable rules, validated: every problem is a DeliverRulesError naming the field."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise DeliverRulesError(f"The deliverables rule file {path} cannot be read ({exc.strerror}).") from None
    except json.JSONDecodeError as exc:
        raise DeliverRulesError(f"deliverables.json is not valid JSON (line {exc.lineno}): fix the file.") from None
    if not isinstance(raw, dict):
        raise DeliverRulesError("deliverables.json must hold one object of rules.")
    copies = int(_rule(raw, "loop_copies", 3, 9, whole=True))
    if copies % 2 == 0:
        raise DeliverRulesError(f"deliverables.json: 'loop_copies' must be odd (got {copies}).")
    return DeliverRules(targets_s=tuple(sorted(map(float, _rule_list(raw, "targets_s", 5, 600)), reverse=True)),
                        crossfade_ms=float(_rule(raw, "crossfade_ms", 1, 500)),
                        tail_max_fraction=float(_rule(raw, "tail_max_fraction", 0.1, 0.9)),
                        loop_bars=tuple(sorted(map(int, _rule_list(raw, "loop_bars", 1, 64, whole=True)),
                                               reverse=True)),
                        loop_copies=copies, rebuild_min_correlation=float(_rule(raw, "rebuild_min_correlation", 0, 1)))


# ---------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Cut:
    """One version of a render: the full mix, a cut-down or the loop."""

    name: str  # "full", "60s", "30s", "15s", "loop"
    audio: np.ndarray = field(repr=False)  # (n, 2) float32
    sample_rate: int
    target_s: float | None  # the length asked for (None: the full version, the loop)
    spans_s: tuple[tuple[float, float], ...]  # the stretches of the render it is made of
    joins_s: tuple[float, ...] = ()  # where in this version the jumps land (on bar lines)
    bars: int = 0  # the loop's length in bars
    tempo_bpm: float = 0.0
    key: str = ""

    @property
    def duration_s(self) -> float:
        return self.audio.shape[0] / self.sample_rate


@dataclass(frozen=True)
class RenderStems:
    """One stereo track per role; their sum is the delivered mix (within ``sum_max_error``)."""

    stems: dict = field(repr=False)  # role -> (n, 2) float32
    sample_rate: int
    sum_max_error: float  # largest |sum of stems - mix| of any sample
    sum_correlation: float  # of the sum of stems with the mix
    rebuild_correlation: float  # of the re-synthesised, un-mastered mix with the stored render


@dataclass(frozen=True)
class Tags:
    """What every exported file says about itself."""

    title: str
    bpm: float
    key: str
    genre: str
    descriptor: str
    studio_version: str
    seed: int
    render_key: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def comment(self) -> str:
        return f"BPM {self.bpm:g}; key {self.key}; genre {self.genre}; descriptor {self.descriptor}; seed {self.seed}"


@dataclass(frozen=True)
class DeliveredFile:
    name: str
    kind: str  # cut, loop, stem, midi, tags, readme
    duration_s: float
    about: str

    @property
    def label(self) -> str:
        """A short name for a button: "15 s cut-down", "seamless loop", "bass stem"."""
        return self.about.split(",")[0].split(" (")[0]


@dataclass(frozen=True)
class Deliverables:
    """The zip and what is in it: in memory when just made, else the stored file (read only
    when asked: :meth:`zip_data`, :meth:`read` for one file of it)."""

    key: str
    render_key: str
    files: tuple[DeliveredFile, ...]
    notes: tuple[str, ...]
    zip_bytes: bytes | None = field(default=None, repr=False)
    zip_path: Path | None = None

    def zip_data(self) -> bytes:
        return self.zip_bytes if self.zip_bytes is not None else Path(self.zip_path).read_bytes()

    def read(self, name: str) -> bytes:
        with zipfile.ZipFile(io.BytesIO(self.zip_bytes) if self.zip_bytes is not None else self.zip_path) as z:
            return z.read(name)

    def read_audio(self, name: str) -> tuple[np.ndarray, int]:
        """One WAV of the zip as ``(samples (n, 2) float32, sample rate)``."""
        samples, rate = sf.read(io.BytesIO(self.read(name)), dtype="float32", always_2d=True)
        return samples, int(rate)

    def of_kind(self, *kinds: str) -> list[DeliveredFile]:
        return [f for f in self.files if f.kind in kinds]


# ------------------------------------------------------------------------------ bar grid
def _bar_s(tempo_bpm: float) -> float:
    return 240.0 / float(tempo_bpm)  # the composer writes in 4/4


def bar_lines(result: Render) -> np.ndarray:
    """Every bar line of the render (seconds, ascending): each region's bars from its start."""
    lines = []
    for r in result.regions:
        bar = _bar_s(r.tempo_bpm)
        lines.extend(r.start_s + k * bar for k in range(int(np.ceil((r.end_s - r.start_s) / bar - 1e-6))))
    return np.unique(np.round(np.asarray(lines, dtype=np.float64), 6))


def _ending_start_s(result: Render) -> float | None:
    last = result.regions[-1]
    ends = [s.start_s for s in last.sections if s.name == "ending"]
    return last.start_s + ends[0] if ends else None


def _equal_power_join(a: np.ndarray, head_end: int, tail_start: int, fade: int) -> np.ndarray:
    """``a[:head_end]`` then ``a[tail_start:]``, the head fading out and the material before
    ``tail_start`` fading in over the ``fade`` samples that end on the join (equal power)."""
    fade = max(1, min(fade, head_end, tail_start))
    theta = np.linspace(0.0, np.pi / 2, fade, dtype=np.float64)[:, None]
    mixed = a[head_end - fade:head_end] * np.cos(theta) + a[tail_start - fade:tail_start] * np.sin(theta)
    return np.concatenate([a[:head_end - fade], mixed.astype(np.float32), a[tail_start:]])


def _tags_of(result: Render, region_index: int = 0) -> tuple[float, str]:
    r = result.regions[region_index]
    return float(r.tempo_bpm), f"{r.tonic} {r.mode}"


def cut_down(result: Render, *, target_s: float, rules: DeliverRules | None = None) -> Cut | str:
    """The ``target_s`` version of a render (see the module docstring), or a note saying why
    there is none (the render is not longer than the target)."""
    rules = rules or load_rules()
    sr, total_s = result.sample_rate, result.duration_s
    if total_s <= target_s:
        return (f"No {target_s:g} s cut-down: the render is {total_s:.1f} s long, not longer than that. "
                f"Use the full version.")
    lines = bar_lines(result)
    last_bar = _bar_s(result.regions[-1].tempo_bpm)
    tails = lines[lines <= total_s - last_bar + 1e-6]  # the ending keeps at least one bar
    tails = tails if tails.size else lines[:1]
    earliest = max(_ending_start_s(result) or 0.0, total_s - target_s * rules.tail_max_fraction)
    later = tails[tails >= earliest - 1e-6]
    tail_s = float(later[0] if later.size else tails[-1])
    heads = lines[(lines > 0) & (lines <= tail_s + 1e-6)]
    heads = heads if heads.size else np.array([tail_s])
    head_s = float(heads[np.argmin(np.abs(heads - (target_s - (total_s - tail_s))))])
    bpm, key = _tags_of(result)
    name = f"{target_s:g}s"
    if head_s >= tail_s - 1e-6:  # less than half a bar longer than the target: the whole render
        return Cut(name, result.audio, sr, target_s, ((0.0, total_s),), tempo_bpm=bpm, key=key)
    head, tail = int(round(head_s * sr)), int(round(tail_s * sr))
    audio = _equal_power_join(result.audio, head, tail, int(round(rules.crossfade_ms * 1e-3 * sr)))
    return Cut(name, audio, sr, target_s, ((0.0, head_s), (tail_s, total_s)), (head / sr,), tempo_bpm=bpm, key=key)


# ---------------------------------------------------------------------------------- loop
def _intensity_at(sections, t0: float, t1: float) -> float:
    """Mean planned intensity of the sections over [t0, t1) (region seconds)."""
    total = sum(max(0.0, min(s.end_s, t1) - max(s.start_s, t0)) * s.intensity for s in sections)
    return total / max(t1 - t0, 1e-9)


def _roles_playing(arr, t0: float, t1: float) -> int:
    return sum(any(t0 <= n.start < t1 for n in inst.notes) for inst in arr.roles.values())


def loop_window(result: Render, arrangements: list, *, rules: DeliverRules | None = None):
    """``(region index, start_s in the region, bars)`` of the loop, or None when no region
    holds the shortest loop. The longest region; its bars past the intro and before the
    ending when the loop fits there; starts on 4-bar phrases when one fits; the window of
    highest intensity where the most roles play (the earliest of equals)."""
    rules = rules or load_rules()
    index = max(range(len(arrangements)), key=lambda i: (arrangements[i][0].duration_s, -i))
    region, _, arr = arrangements[index]
    bar = _bar_s(region.tempo_bpm)
    n_bars = int(np.floor(region.duration_s / bar + 1e-6))
    named = {s.name: s for s in arr.sections}
    first = int(round(named["intro"].end_s / bar)) if "intro" in named else 0
    last = int(round(named["ending"].start_s / bar)) if "ending" in named else n_bars
    for bars in rules.loop_bars:
        lo, hi = (first, last) if last - first >= bars else (0, n_bars)
        starts = list(range(lo, hi - bars + 1))
        if not starts:
            continue
        phrased = [k for k in starts if k % 4 == 0] or starts
        best = max(phrased, key=lambda k: (_roles_playing(arr, k * bar, (k + bars) * bar),
                                           round(_intensity_at(arr.sections, k * bar, (k + bars) * bar), 6), -k))
        return index, best * bar, bars
    return None


def _looped(inst: pretty_midi.Instrument, t0: float, length_s: float, copies: int) -> pretty_midi.Instrument:
    """The notes of ``inst`` that start in [t0, t0 + length_s), ended at the loop's end, moved
    to 0 and played ``copies`` times back to back (its controllers from the loop's start)."""
    out = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum, name=inst.name)
    notes = [n for n in inst.notes if t0 <= n.start < t0 + length_s]
    for c in range(copies):
        shift = c * length_s - t0
        out.notes += [pretty_midi.Note(n.velocity, n.pitch, n.start + shift, min(n.end, t0 + length_s) + shift)
                      for n in notes]
    out.control_changes = [pretty_midi.ControlChange(cc.number, cc.value, max(0.0, cc.time - t0))
                           for cc in inst.control_changes if cc.time < t0 + length_s]
    return out


def make_loop(result: Render, arrangements: list, *, rules: DeliverRules | None = None) -> Cut | str:
    """The seamless loop (module docstring), or a note saying why there is none."""
    rules = rules or load_rules()
    window = loop_window(result, arrangements, rules=rules)
    if window is None:
        return (f"No loop: no region is {min(rules.loop_bars)} bars long. Render a longer piece for a loop.")
    index, t0, bars = window
    region, d, arr = arrangements[index]
    sr, copies = result.sample_rate, rules.loop_copies
    length_s = bars * _bar_s(region.tempo_bpm)
    roles = {role: _looped(inst, t0, length_s, copies) for role, inst in arr.roles.items()}
    played = dataclasses.replace(arr, roles=roles, duration_s=copies * length_s)
    audio, _, _ = master(_region_audio(played, d, sr), sr, brightness=d.brightness)
    middle = copies // 2
    start, end = int(round(middle * length_s * sr)), int(round((middle + 1) * length_s * sr))
    bpm, key = _tags_of(result, index)
    return Cut("loop", np.ascontiguousarray(audio[start:end]), sr, None,
               ((region.start_s + t0, region.start_s + t0 + length_s),), bars=bars, tempo_bpm=bpm, key=key)


# -------------------------------------------------------------------------------- stems
def _gain(out: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Per sample and channel, the gain that takes ``den`` to ``out``; where ``den`` is near
    zero (under -80 dB of its peak) the gain is interpolated from its neighbours."""
    out64, den64 = out.astype(np.float64), den.astype(np.float64)
    gain = np.ones_like(den64)
    for ch in range(den64.shape[1]):
        d = den64[:, ch]
        floor = 1e-4 * float(np.max(np.abs(d), initial=0.0))
        idx = np.flatnonzero(np.abs(d) > floor) if floor > 0 else np.array([], dtype=int)
        if idx.size:
            gain[:, ch] = np.interp(np.arange(d.size), idx, out64[idx, ch] / d[idx])
    return gain


def _region_stems(arr, d, sr: int, dry: list, jobs: list) -> dict:
    """The bus output of one region, one part per role: each role placed, ducked and sent to
    the reverb as ``mix_region`` does, through the bus EQ and the section gain, times the gain
    the bus's compressor and saturation gave the whole region (so the parts add up to the
    region's mix)."""
    import pedalboard as pb

    rules = load_mix_rules()
    mixed = _region_audio(arr, d, sr, dry, jobs)
    n = mixed.shape[0]
    drums = arr.roles.get("drums")
    kicks = [note.start for note in drums.notes if note.pitch in KICKS] if drums is not None else []
    bus = rules.genres.get(d.genre) or next(iter(rules.genres.values()))
    duck = duck_envelope(n, kicks, sr=sr, **bus["duck"])[:, None]
    room = rules.reverbs.get(d.reverb)
    parts = {}
    for (role, _), audio in zip(jobs, dry):
        stem = np.zeros((n, 2), dtype=np.float32)
        stem[:min(n, audio.shape[0])] = audio[:n]
        rule = rules.roles[role]
        placed = place_role(stem, rule, sr=sr, width_hp_hz=rules.width_hp_hz)
        part = placed if role == "drums" else placed * duck
        sent = placed * np.float32(rule.send)
        if room is not None and np.any(sent):
            verb = pb.Reverb(room_size=room["room_size"], damping=room["damping"], wet_level=room["wet"],
                             dry_level=0.0, width=room["width"])
            part = part + _board([verb])(np.ascontiguousarray(sent.T), sr).T
        parts[role] = _board(_eq_plugins(bus["eq"]))(np.ascontiguousarray(part.T, dtype=np.float32), sr).T
    if not parts:
        return {}
    section = section_gain(arr.bar_intensity, bar_s=240.0 / arr.tempo_bpm, n=n, sr=sr, rules=rules)[:, None]
    parts = {role: part * section for role, part in parts.items()}  # the mix's section gain, after the bus
    gain = _gain(mixed, sum(parts.values()))
    return {role: (part * gain).astype(np.float32) for role, part in parts.items()}


def _timeline_tracks(arrangements: list, result: Render, *, parallel: bool, report) -> tuple[dict, float]:
    """Each role's bus output laid on the timeline as ``render`` lays the regions (gain per
    region, fade-in, the final fade-out); and the brightness the master tilts by."""
    sr = result.sample_rate
    jobs = [_jobs(arr, sr) for _, _, arr in arrangements]
    report(0.1, "Synthesising each instrument")
    synthesised = iter(_run_jobs([job for region_jobs in jobs for job in region_jobs], parallel=parallel))
    total = int(round(result.timeline.duration_s * sr))
    tracks: dict = {}
    weighted = []
    for i, ((region, d, arr), region_jobs) in enumerate(zip(arrangements, jobs)):
        report(0.5 + 0.3 * i / len(jobs), f"Mixing region {i + 1} of {len(jobs)} one instrument at a time")
        gain_db = REGION_GAIN_DB.get(d.velocity, 0.0) if len(arrangements) > 1 else 0.0
        start = int(round(region.start_s * sr))
        for role, audio in _region_stems(arr, d, sr, [next(synthesised) for _ in region_jobs], region_jobs).items():
            audio *= np.float32(10 ** (gain_db / 20))
            fade_in = min(int(0.01 * sr), audio.shape[0])
            audio[:fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)[:, None]
            track = tracks.setdefault(role, np.zeros((total + int(TAIL_S * sr), 2), dtype=np.float32))
            end = min(start + audio.shape[0], track.shape[0])
            track[start:end] += audio[:end - start]
        weighted.append((region.duration_s, d.brightness))
    fade = min(int(0.5 * sr), total)
    for role, track in tracks.items():
        track = track[:total]
        if fade:
            track[total - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None] ** 2
        tracks[role] = track
    weights = sum(w for w, _ in weighted) or 1.0
    return tracks, sum(w * b for w, b in weighted) / weights


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    den = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return float(a64 @ b64 / den) if den > 0 else 0.0


def render_stems(result: Render, *, options: ComposeOptions | None = None, parallel: bool | None = None,
                 progress=None, rules: DeliverRules | None = None) -> RenderStems:
    """One stereo track per role of ``result`` (module docstring), in the order of
    ``core.generate.mix.ROLES``. ``options``: the ComposeOptions the render was made with.
    Raises DeliverError when the re-synthesised music does not match the stored render."""
    import pedalboard as pb

    rules = rules or load_rules()
    report = progress or (lambda f, m: None)
    arrangements = compose_regions(result.timeline, seed=result.seed, options=options,
                                   progress=lambda f, m: report(f / 3, m))
    if parallel is None:
        parallel = result.timeline.duration_s >= PARALLEL_MIN_S
    tracks, brightness = _timeline_tracks(arrangements, result, parallel=parallel, report=report)
    report(0.85, "Mastering each instrument with the mix's gain")
    sr = result.sample_rate
    shaped = {role: pb.Pedalboard(master_eq(brightness=brightness))(np.ascontiguousarray(t.T), sr).T
              for role, t in tracks.items()}
    if not shaped:
        raise DeliverError("This render is silent: it has no instruments to make stems of.")
    before = sum(shaped.values())
    n = min(before.shape[0], result.audio.shape[0])
    rebuilt = _correlation(before[:n], result.audio[:n])
    if rebuilt < rules.rebuild_min_correlation:
        raise DeliverError("The stems of this render cannot be rebuilt: it was made by another version of the "
                           "studio or with other form options. Render it again, then make its deliverables.")
    gain = _gain(result.audio[:n], before[:n])
    ordered = [r for r in ("drums", "percussion", "bass", "harmony", "pad", "lead") if r in shaped]
    ordered += [r for r in shaped if r not in ordered]
    stems = {role: (shaped[role][:n] * gain).astype(np.float32) for role in ordered}
    total = sum(stems.values())
    report(1.0, "Stems done")
    return RenderStems(stems=stems, sample_rate=sr, sum_max_error=float(np.max(np.abs(total - result.audio[:n]))),
                       sum_correlation=_correlation(total, result.audio[:n]), rebuild_correlation=rebuilt)


# ---------------------------------------------------------------------------------- tags
def tags_for(result: Render, *, title: str = "", render_key: str = "", catalog=None) -> Tags:
    """The tags of a render: its first region's tempo and key, its genres and descriptors."""
    catalog = catalog or load_catalog()
    names = list(dict.fromkeys(r.descriptor for r in result.regions))
    genres = []
    for name in names:
        try:
            genres.append(catalog.get(name).genre)
        except StudioError:  # a descriptor since removed from the catalog: its first word
            genres.append(name.split("_")[0])
    bpm, key = _tags_of(result)
    return Tags(title=title or result.title, bpm=round(bpm, 2), key=key, genre=" > ".join(dict.fromkeys(genres)),
                descriptor=" > ".join(names), studio_version=__version__, seed=int(result.seed),
                render_key=render_key)


def riff_chunks(data: bytes) -> list[tuple[str, bytes]]:
    """The top-level chunks of a RIFF/WAVE file, ``(id, body)`` in file order."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise DeliverError("This file is not a WAV file.")
    out, at = [], 12
    while at + 8 <= len(data):
        cid, size = data[at:at + 4].decode("latin-1"), struct.unpack("<I", data[at + 4:at + 8])[0]
        out.append((cid, data[at + 8:at + 8 + size]))
        at += 8 + size + (size & 1)
    return out


def _bext(description: str, *, originator: str, reference: str) -> bytes:
    """A Broadcast Wave ``bext`` chunk body (version 1; no date, so the bytes do not depend on the day)."""
    def text(value: str, size: int) -> bytes:
        return value.encode("ascii", "replace")[:size].ljust(size, b"\0")

    return struct.pack("<256s32s32s10s8sIIH64s10s180s", text(description, 256), text(originator, 32),
                       text(reference, 32), b"\0" * 10, b"\0" * 8, 0, 0, 1, b"\0" * 64, b"\0" * 10, b"\0" * 180)


def read_bext(data: bytes) -> dict | None:
    """A WAV file's ``bext`` description, originator and reference, or None when it has none."""
    body = next((b for cid, b in riff_chunks(data) if cid == "bext"), None)
    if body is None or len(body) < _BEXT_FIXED:
        return None
    fields = struct.unpack("<256s32s32s", body[:320])
    return dict(zip(("description", "originator", "reference"),
                    (f.split(b"\0")[0].decode("ascii", "replace") for f in fields)))


def read_tags(data: bytes) -> dict:
    """The tags of a WAV file: its LIST/INFO strings (libsndfile's names) and its bext fields."""
    with sf.SoundFile(io.BytesIO(data)) as f:
        info = f.copy_metadata()
    return {"info": info, "bext": read_bext(data)}


def tagged_wav(audio: np.ndarray, sample_rate: int, tags: Tags, *, part: str = "") -> bytes:
    """A 24-bit WAV (32-bit float when a stem peaks past full scale, so no stem is clipped)
    with LIST/INFO and bext tags; ``part`` names the version or stem in its title."""
    peak = float(np.max(np.abs(audio), initial=0.0))
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=sample_rate, channels=audio.shape[1], format="WAV",
                      subtype="PCM_24" if peak < 1.0 else "FLOAT") as f:
        f.title = f"{tags.title} - {part}" if part else tags.title
        f.artist = "Music Studio"
        f.genre = tags.genre
        f.comment = tags.comment()
        f.software = f"music-studio {tags.studio_version}"
        f.write(np.ascontiguousarray(audio, dtype=np.float32))
    chunks = riff_chunks(buf.getvalue())
    bext = ("bext", _bext(f"{tags.title} - {part}. {tags.comment()}" if part else f"{tags.title}. {tags.comment()}",
                          originator=f"music-studio {tags.studio_version}", reference=tags.render_key))
    at = next(i for i, (cid, _) in enumerate(chunks) if cid == "fmt ") + 1
    chunks.insert(at, bext)
    body = b"".join(cid.encode("latin-1") + struct.pack("<I", len(b)) + b + b"\0" * (len(b) & 1) for cid, b in chunks)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WAVE" + body


# ----------------------------------------------------------------------- the zip, cached
def deliverables_key(render_key: str, *, rules_path: str = str(RULES_PATH)) -> str:
    """The key of a render's deliverables: its render key, the rules file, the studio's and
    the libraries' versions."""
    return stage_key("deliverables", DELIVER_VERSION, render_key, fingerprint(rules_path), __version__,
                     library_versions("soundfile", "pedalboard", "pretty_midi"), length=24)


def render_options(store, render_key: str) -> ComposeOptions | None:
    """The form options a stored render was made with (None: not stored, or unreadable)."""
    try:
        stored = store.render_options(render_key)
        return None if stored is None else ComposeOptions(**stored)
    except (ValueError, TypeError, StudioError):
        return None


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def _readme(files: list[DeliveredFile], tags: Tags, notes: list[str]) -> str:
    lines = [f"{tags.title}", f"{tags.bpm:g} BPM, {tags.key}, {tags.genre} ({tags.descriptor}), seed {tags.seed}",
             f"Made by music-studio {tags.studio_version}; render {tags.render_key}", "",
             "Every WAV is 44.1 kHz stereo with its BPM, key and genre in its tags (LIST/INFO and bext).", ""]
    lines += [f"{f.name:<48} {_clock(f.duration_s) if f.duration_s else '':>7}  {f.about}" for f in files]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def _versions_of(result: Render, cuts: list, rules: DeliverRules) -> tuple[list[Cut], list[str]]:
    notes = []
    for target in rules.targets_s:
        cut = cut_down(result, target_s=target, rules=rules)
        (notes if isinstance(cut, str) else cuts).append(cut)
    return cuts, notes


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            z.writestr(info, data, compresslevel=1)
    return buf.getvalue()


def make_deliverables(result: Render, *, render_key: str = "", title: str = "", name: str = "",
                      options: ComposeOptions | None = None, progress=None,
                      rules: DeliverRules | None = None) -> Deliverables:
    """Everything a render is delivered as (module docstring), zipped; ``name``: the files'
    name stem (default: the first descriptor and the seed)."""
    rules = rules or load_rules()
    report = progress or (lambda f, m: None)
    stems = render_stems(result, options=options, rules=rules, progress=lambda f, m: report(0.75 * f, m))
    report(0.78, "Cutting the 60, 30 and 15 s versions")
    full = Cut("full", result.audio, result.sample_rate, None, ((0.0, result.duration_s),),
               tempo_bpm=_tags_of(result)[0], key=_tags_of(result)[1])
    cuts, notes = _versions_of(result, [full], rules)
    report(0.82, "Making the loop")
    loop = make_loop(result, compose_regions(result.timeline, seed=result.seed, options=options), rules=rules)
    (notes if isinstance(loop, str) else cuts).append(loop)
    report(0.9, "Tagging and zipping")
    tags = tags_for(result, title=title, render_key=render_key)
    stem = name or f"{result.regions[0].descriptor}_seed{result.seed}"
    files, entries = [], []
    for cut in cuts:
        label = f"loop_{cut.bars}bars" if cut.name == "loop" else cut.name
        what = (f"seamless loop, {cut.bars} bars" if cut.name == "loop" else "full version" if cut.name == "full"
                else f"{cut.target_s:g} s cut-down")
        about = f"{what}, {cut.tempo_bpm:g} BPM, {cut.key}"
        files.append(DeliveredFile(f"{stem}_{label}.wav", "loop" if cut.name == "loop" else "cut", cut.duration_s,
                                   about))
        entries.append(tagged_wav(cut.audio, cut.sample_rate, tags, part=about.split(",")[0]))
    for role, audio in stems.stems.items():
        files.append(DeliveredFile(f"{stem}_stem_{role}.wav", "stem", audio.shape[0] / stems.sample_rate,
                                   f"{role} stem (the stems add up to the full version)"))
        entries.append(tagged_wav(audio, stems.sample_rate, tags, part=f"{role} stem"))
    files.append(DeliveredFile(f"{stem}.mid", "midi", result.duration_s, "MIDI of the full version"))
    entries.append(result.midi_bytes())
    sidecar = {**tags.to_dict(), "files": [dataclasses.asdict(f) for f in files], "notes": notes}
    files.append(DeliveredFile(f"{stem}_tags.json", "tags", 0.0, "these tags and files as JSON"))
    entries.append(canonical_json(sidecar).encode())
    files.append(DeliveredFile("README.txt", "readme", 0.0, "this list"))
    entries.append(_readme(files, tags, notes).encode())
    report(1.0, "Deliverables done")
    return Deliverables(key=deliverables_key(render_key), render_key=render_key, files=tuple(files),
                        notes=tuple(notes), zip_bytes=_zip([(f.name, data) for f, data in zip(files, entries)]))


def stored_deliverables(store, render_key: str) -> Deliverables | None:
    """The deliverables of a stored render when they were made before (a lookup), else None."""
    key = deliverables_key(render_key)
    manifest = store.get_json("deliverables", key)
    path = Path(store.root) / "deliverables" / f"{key}.zip"
    if not isinstance(manifest, dict) or not path.is_file():
        return None
    try:
        files = tuple(DeliveredFile(**f) for f in manifest["files"])
        return Deliverables(key=key, render_key=render_key, files=files, notes=tuple(manifest["notes"]),
                            zip_path=path)
    except (KeyError, TypeError, OSError):
        return None


def deliverables(store, render_key: str, *, title: str = "", name: str = "", progress=None) -> Deliverables:
    """The deliverables of the stored render ``render_key``: looked up, or made (with the
    options it was rendered with) and kept. Raises DeliverError when the render is not stored."""
    found = stored_deliverables(store, render_key)
    if found is not None:
        return found
    result = store.get_render(render_key)
    if result is None:
        raise DeliverError("This render is no longer in the store: render it again, then make its deliverables.")
    made = make_deliverables(result, render_key=render_key, title=title, name=name, progress=progress,
                             options=render_options(store, render_key))
    path = Path(store.root) / "deliverables" / f"{made.key}.zip"
    atomic_write(path, made.zip_bytes)  # the zip first: a reader who finds the list finds the whole zip
    store.put_json("deliverables", made.key, {"files": [dataclasses.asdict(f) for f in made.files],
                                              "notes": list(made.notes)})
    return dataclasses.replace(made, zip_bytes=None, zip_path=path)
