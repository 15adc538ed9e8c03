"""``render(timeline, seed=...) -> Render``: compose, synthesise, mix and master a timeline.

Per region: the composer writes the arrangement; tinysoundfont renders each role on its own
with the General MIDI soundfont; ``core.generate.mix`` places the roles (pan, stereo width,
a send to the descriptor's reverb) and runs the genre's bus (EQ, compression, saturation,
sidechain ducking for dance genres; ``assets/mix_rules.json``); regions are laid on the
timeline, each one's release ringing into the next. The master chain (pedalboard) is a high-pass, a mud cut, an EQ tilt from the
descriptor's brightness (high and low shelves), a gentle bus compressor, loudness
normalisation to -14 LUFS (pyloudnorm) and a brickwall limiter at -1 dBFS sample peak, so
nothing clips.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field

import numpy as np
import pretty_midi
import soundfile as sf

from core.audio.load import to_wav_bytes
from core.cachekey import fingerprint, library_versions, stage_key
from core.errors import OptionError, StudioError
from core.generate.catalog import CATALOG_PATH, load_catalog
from core.generate.compose import Arrangement, ComposeOptions, Section, compose
from core.generate.grooves import GROOVES_PATH
from core.generate.levels import LEVELS_PATH, RANGES_PATH
from core.generate.mix import KICKS, MIX_RULES_PATH, mix_region, section_gain
from core.generate.synth import default_soundfont, render_midi
from core.generate.timeline import Timeline
from core.store.cache import fetch_or_compute
from core.version import __version__

#: Bump when a change to composing or mixing alters the audio (part of the render key).
RENDER_VERSION = 7
SAMPLE_RATE = 44100
TARGET_LUFS = -14.0
CEILING_DB = -1.0
TAIL_S = 1.5  # release allowed to ring into the next region
#: Gain per region of a multi-region render by the mood's dynamics (base velocity 62/80/98).
REGION_GAIN_DB = {62: -4.0, 80: 0.0, 98: 2.0}
#: Timelines at least this long are synthesised on two worker processes (shorter ones are
#: faster serial: shipping six role stems back from the workers costs more than it saves).
PARALLEL_MIN_S = 90.0


@dataclass(frozen=True)
class RegionRender:
    id: str
    descriptor: str
    band: str
    tempo_bpm: float
    tonic: str
    mode: str
    start_s: float
    end_s: float
    sections: tuple = ()


@dataclass(frozen=True)
class Render:
    """A rendered timeline and everything needed to reproduce it."""

    audio: np.ndarray = field(repr=False)  # (n, 2) float32
    sample_rate: int
    midi: pretty_midi.PrettyMIDI = field(repr=False)
    timeline: Timeline
    seed: int
    regions: tuple[RegionRender, ...]
    loudness_lufs: float
    peak_dbfs: float
    versions: dict

    @property
    def duration_s(self) -> float:
        return self.audio.shape[0] / self.sample_rate

    def wav_bytes(self) -> bytes:
        return to_wav_bytes(self.audio, self.sample_rate, subtype="PCM_24")

    def midi_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.midi.write(buf)
        return buf.getvalue()

    @property
    def title(self) -> str:
        """A default title: the regions' descriptors and the seed."""
        names = " > ".join(r.descriptor for r in self.regions)
        return f"{names} (seed {self.seed})"

    # ------------------------------------------------------------------ codec
    def to_files(self) -> tuple[bytes, bytes, dict]:
        """The stored form: 24-bit FLAC audio, the MIDI file and a JSON-ready meta dict (with
        the timeline and the seed), read back by :meth:`from_files`."""
        buf = io.BytesIO()
        sf.write(buf, self.audio, self.sample_rate, format="FLAC", subtype="PCM_24")
        meta = {"regions": [r.__dict__ | {"sections": [s.__dict__ for s in r.sections]} for r in self.regions],
                "loudness_lufs": self.loudness_lufs, "peak_dbfs": self.peak_dbfs, "versions": self.versions,
                "timeline": self.timeline.to_json(indent=None), "seed": int(self.seed)}
        return buf.getvalue(), self.midi_bytes(), meta

    @classmethod
    def from_files(cls, audio: bytes, midi: bytes, meta: dict) -> "Render":
        """The render stored by :meth:`to_files`. Raises ValueError when the files are not one."""
        try:
            samples, sr = sf.read(io.BytesIO(audio), dtype="float32", always_2d=True)
            notes = pretty_midi.PrettyMIDI(io.BytesIO(midi))
            regions = tuple(RegionRender(**{**r, "sections": tuple(Section(**s) for s in r["sections"])})
                            for r in meta["regions"])
            timeline = Timeline.from_json(meta["timeline"], check_catalog=False)
            return cls(audio=samples, sample_rate=int(sr), midi=notes, timeline=timeline, seed=int(meta["seed"]),
                       regions=regions, loudness_lufs=meta["loudness_lufs"], peak_dbfs=meta["peak_dbfs"],
                       versions=meta["versions"])
        except (OSError, ValueError, KeyError, TypeError, EOFError, sf.LibsndfileError, StudioError) as exc:
            raise ValueError(f"not a stored render ({exc})") from None


def options_dict(options: ComposeOptions | None) -> dict:
    return asdict(options or ComposeOptions())


def data_fingerprint() -> str:
    """Content hash of the data a render depends on: catalog, grooves, instrument levels and
    ranges, mix rules, soundfont (and the soundfont the levels were measured on)."""
    return fingerprint(CATALOG_PATH, GROOVES_PATH, LEVELS_PATH, RANGES_PATH, MIX_RULES_PATH,
                       default_soundfont())


#: The libraries whose versions change a render's audio (part of its key and its versions).
LIBRARIES = ("pretty_midi", "tinysoundfont", "pedalboard", "pyloudnorm")


def render_key(timeline: Timeline, *, seed: int, options: ComposeOptions | None = None,
               sample_rate: int = SAMPLE_RATE) -> str:
    """The key of a render request (``core.cachekey.stage_key``): the timeline, the seed, the
    options, the sample rate, the data files' content, the render version and the libraries'."""
    return stage_key("render", RENDER_VERSION, timeline.to_dict(), int(seed), options_dict(options),
                     int(sample_rate), data_fingerprint(), library_versions(*LIBRARIES), length=24)


def _versions() -> dict:
    return {"studio": __version__, "render": str(RENDER_VERSION), "data": data_fingerprint(),
            **library_versions(*LIBRARIES)}


def _check_seed(seed) -> None:
    if not isinstance(seed, (int, np.integer)) or not (0 <= int(seed) < 2**32):
        raise OptionError(f"The seed must be a whole number from 0 to 4294967295 (got {seed}).")


def _render_stored(timeline: Timeline, seed, options, sample_rate: int, parallel, progress, store,
                   title: str) -> Render:
    """``render`` through the store: a lookup when this request was rendered before."""
    _check_seed(seed)
    key = render_key(timeline, seed=seed, options=options, sample_rate=sample_rate)
    return fetch_or_compute(
        lambda: store.get_render(key),
        lambda: render(timeline, seed=seed, options=options, sample_rate=sample_rate, parallel=parallel,
                       progress=progress),
        lambda result: store.put_render(result, options=options, title=title, key=key),
        progress=progress)


def _role_midi(arr: Arrangement, role: str) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI(initial_tempo=arr.tempo_bpm)
    pm.instruments = [arr.roles[role]]
    return pm


def _group_audio(pm: pretty_midi.PrettyMIDI, sr: int, drum_kit: int = 0) -> np.ndarray:
    """One role of one region, synthesised dry (its drums on ``drum_kit``)."""
    return render_midi(pm, sr=sr, tail_s=TAIL_S, drum_kit=drum_kit)


def _jobs(arr: Arrangement, sr: int) -> list[tuple]:
    """The synthesis jobs of one arrangement, ``(role, (midi, sample rate, drum kit))``: one per
    role that plays, so the mix can place each on its own."""
    return [(role, (_role_midi(arr, role), sr, arr.drum_kit)) for role, inst in arr.roles.items() if inst.notes]


def _run_jobs(jobs: list[tuple], *, parallel: bool) -> list[np.ndarray]:
    """Synthesise the role stems, on two worker processes when the work is worth it (the GIL
    is held by the synthesiser, so threads would not help)."""
    if not parallel or len(jobs) < 2:
        return [_group_audio(*job) for _, job in jobs]
    from joblib import Parallel, delayed

    # heaviest first (the parts with most notes), one job per dispatch
    order = sorted(range(len(jobs)), key=lambda i: -sum(len(x.notes) for x in jobs[i][1][0].instruments))
    done = Parallel(n_jobs=min(2, len(jobs)), backend="loky", batch_size=1, pre_dispatch="all")(
        delayed(_group_audio)(*jobs[i][1]) for i in order)
    out: list = [None] * len(jobs)
    for i, audio in zip(order, done):
        out[i] = audio
    return out


def _region_audio(arr: Arrangement, d, sr: int, stems: list[np.ndarray] | None = None,
                  jobs: list[tuple] | None = None) -> np.ndarray:
    """Stereo audio of one arrangement: its role stems (synthesised here unless given), laid on
    the region with a tail, mixed by ``core.generate.mix`` (pan, width, reverb send, genre bus)."""
    jobs = _jobs(arr, sr) if jobs is None else jobs
    stems = _run_jobs(jobs, parallel=False) if stems is None else stems
    n = int(round((arr.duration_s + TAIL_S) * sr))
    placed = {}
    for (role, _), audio in zip(jobs, stems):
        out = np.zeros((n, 2), dtype=np.float32)
        m = min(n, audio.shape[0])
        out[:m] = audio[:m]
        placed[role] = out
    if not placed:
        return np.zeros((n, 2), dtype=np.float32)
    drums = arr.roles.get("drums")
    kicks = [note.start for note in drums.notes if note.pitch in KICKS] if drums is not None else []
    gain = section_gain(arr.bar_intensity, bar_s=240.0 / arr.tempo_bpm, n=n, sr=sr)
    return mix_region(placed, genre=d.genre, reverb=d.reverb, kick_times_s=kicks, sr=sr, gain=gain)


def mix_arrangement(arr: Arrangement, descriptor, *, sample_rate: int = SAMPLE_RATE, parallel: bool | None = None) -> np.ndarray:
    """One arrangement synthesised and mixed as a region is (stereo, before the master), with its
    release tail; the role stems on two processes for long pieces (``parallel`` None)."""
    jobs = _jobs(arr, sample_rate)
    if parallel is None:
        parallel = arr.duration_s >= PARALLEL_MIN_S
    return _region_audio(arr, descriptor, sample_rate, _run_jobs(jobs, parallel=parallel), jobs)


def _region_midi(arr: Arrangement, region_id: str, start_s: float) -> list[pretty_midi.Instrument]:
    """The region's instruments moved to its start; the drum channel's program is the kit
    (bank 128 in the soundfont; a GS/GM2 kit select for a DAW)."""
    out = []
    for inst in arr.midi.instruments:
        program = arr.drum_kit if inst.is_drum else inst.program
        copy = pretty_midi.Instrument(program=program, is_drum=inst.is_drum, name=f"{region_id}:{inst.name}")
        copy.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start + start_s, n.end + start_s) for n in inst.notes]
        copy.control_changes = [pretty_midi.ControlChange(c.number, c.value, c.time + start_s)
                                for c in inst.control_changes]
        out.append(copy)
    return out


def master_eq(*, brightness: float = 0.0) -> list:
    """The linear head of the master chain (pedalboard plugins): a high-pass, a mud cut and
    the EQ tilt from the descriptor's brightness. Everything after it in :func:`master` is a
    gain (compressor, loudness, limiter), which is how ``core.generate.deliver`` makes stems
    that add up to the mastered mix."""
    import pedalboard as pb

    tilt = float(np.clip(brightness, -1, 1)) * 2.5
    return [pb.HighpassFilter(cutoff_frequency_hz=30.0),
            pb.PeakFilter(cutoff_frequency_hz=320.0, gain_db=-1.5, q=0.9),
            pb.HighShelfFilter(cutoff_frequency_hz=6500.0, gain_db=tilt, q=0.7),
            pb.LowShelfFilter(cutoff_frequency_hz=110.0, gain_db=1.0 - 0.5 * tilt, q=0.7)]


def master(audio: np.ndarray, sr: int, *, brightness: float = 0.0) -> tuple[np.ndarray, float, float]:
    """EQ, compression, -14 LUFS, -1 dBTP limiting. Returns (audio, LUFS, peak dBFS)."""
    import pedalboard as pb
    import pyloudnorm

    x = np.ascontiguousarray(audio.T, dtype=np.float32)
    if not np.any(np.abs(x) > 1e-7):
        return audio.astype(np.float32), float("-inf"), float("-inf")
    chain = pb.Pedalboard([
        *master_eq(brightness=brightness),
        pb.Compressor(threshold_db=-20.0, ratio=2.0, attack_ms=15.0, release_ms=180.0),
    ])
    x = chain(x, sr)
    meter = pyloudnorm.Meter(sr)
    limiter = pb.Pedalboard([pb.BrickwallLimiter(ceiling_db=CEILING_DB, lookahead_ms=5.0)])
    loud = meter.integrated_loudness(x.T)
    gain_db = TARGET_LUFS - loud if np.isfinite(loud) else 0.0
    y = limiter(x * np.float32(10 ** (gain_db / 20)), sr)
    loud = float(meter.integrated_loudness(y.T))
    if np.isfinite(loud) and loud < TARGET_LUFS - 0.3:  # the limiter took off more than 0.3 LU: once more
        y = limiter(x * np.float32(10 ** ((gain_db + TARGET_LUFS - loud) / 20)), sr)
        loud = float(meter.integrated_loudness(y.T))
    y = np.clip(y, -0.999, 0.999)  # safety only: the limiter keeps sample peaks at -1 dBFS
    peak = float(20 * np.log10(max(float(np.max(np.abs(y))), 1e-9)))
    return np.ascontiguousarray(y.T, dtype=np.float32), loud, peak


def compose_regions(timeline: Timeline, *, seed: int, options: ComposeOptions | None = None, catalog=None,
                    progress=None) -> list[tuple]:
    """``(region, descriptor, arrangement)`` of each region of ``timeline``, composed as
    :func:`render` composes them (the same seed per region: the same notes)."""
    report = progress or (lambda f, m: None)
    catalog = catalog or load_catalog()
    regions, out = timeline.regions, []
    for i, region in enumerate(regions):
        report(0.3 * i / len(regions), f"Composing region {i + 1} of {len(regions)} ({region.descriptor})")
        d = catalog.get(region.descriptor)
        if len(regions) == 1:
            position = "only"
        else:
            position = "first" if i == 0 else "last" if i == len(regions) - 1 else "middle"
        arr = compose(d, duration_s=region.duration_s, tempo_bpm=region.tempo_bpm, tonic=region.tonic,
                      band=region.band, seed=seed + 7919 * i, options=options, position=position)
        out.append((region, d, arr))
    return out


def render(
    timeline: Timeline,
    *,
    seed: int = 0,
    options: ComposeOptions | None = None,
    sample_rate: int = SAMPLE_RATE,
    parallel: bool | None = None,
    progress=None, store=None, title: str = "",
) -> Render:
    """Render a timeline to mastered stereo audio plus its MIDI.

    Parameters
    ----------
    timeline : Timeline (see docs/timeline.md)
    seed : int; the same seed gives the same audio, different seeds different music
    options : intro/ending lengths and climax position (apply to a single-region timeline's
        region, and to the first/last regions of a multi-region one)
    parallel : synthesise on two worker processes (None: when the timeline is 90 s or longer;
        False inside batch jobs that already run one render per process)
    progress : callable(fraction, message), optional
    store, title : with a store, fetched when stored (:func:`render_key`), else rendered and stored as ``title``
    """
    if store is not None:
        return _render_stored(timeline, seed, options, sample_rate, parallel, progress, store, title)
    _check_seed(seed)
    report = progress or (lambda f, m: None)
    catalog = load_catalog()
    timeline.check_descriptors(catalog=catalog)
    regions = timeline.regions
    total = int(round(timeline.duration_s * sample_rate))
    mix = np.zeros((total + int(TAIL_S * sample_rate), 2), dtype=np.float32)
    midi = pretty_midi.PrettyMIDI(initial_tempo=float(regions[0].tempo_bpm))
    done: list[RegionRender] = []
    brightness = []
    arrangements = compose_regions(timeline, seed=seed, options=options, catalog=catalog, progress=report)
    report(0.3, "Synthesising")
    jobs = [_jobs(arr, sample_rate) for _, d, arr in arrangements]
    flat = [job for region_jobs in jobs for job in region_jobs]
    if parallel is None:
        parallel = timeline.duration_s >= PARALLEL_MIN_S
    parts = iter(_run_jobs(flat, parallel=parallel))
    report(0.8, "Mixing")
    for (region, d, arr), region_jobs in zip(arrangements, jobs):
        audio = _region_audio(arr, d, sample_rate, [next(parts) for _ in region_jobs], region_jobs)
        if len(regions) > 1:  # soft regions stay softer than loud ones after the master
            audio *= np.float32(10 ** (REGION_GAIN_DB.get(d.velocity, 0.0) / 20))
        start = int(round(region.start_s * sample_rate))
        fade_in = min(int(0.01 * sample_rate), audio.shape[0])
        audio[:fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)[:, None]
        end = min(start + audio.shape[0], mix.shape[0])
        mix[start:end] += audio[: end - start]
        midi.instruments += _region_midi(arr, region.id, region.start_s)
        brightness.append((region.duration_s, d.brightness))
        done.append(RegionRender(region.id, d.name, arr.band, region.tempo_bpm, region.tonic, d.mode, region.start_s,
                                 region.end_s, tuple(arr.sections)))
    report(0.88, "Mastering")
    mix = mix[:total]
    fade = min(int(0.5 * sample_rate), total)
    if fade:
        mix[total - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None] ** 2
    weights = sum(w for w, _ in brightness) or 1.0
    audio, lufs, peak = master(mix, sample_rate, brightness=sum(w * b for w, b in brightness) / weights)
    report(1.0, "Done")
    return Render(audio=audio, sample_rate=sample_rate, midi=midi, timeline=timeline, seed=int(seed),
                  regions=tuple(done), loudness_lufs=lufs, peak_dbfs=peak, versions=_versions())
