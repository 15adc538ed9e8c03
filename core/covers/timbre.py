"""Timbre transfer: a vocal or lead line re-played by another instrument from its f0 and loudness.

The DDSP idea without its weights: the line's controls (pesto's f0 and voicing every 10 ms, its
loudness per frame) drive a harmonic-plus-noise synthesiser whose sound comes from an instrument
profile in ``assets/timbres.json``:

- **Controls**: pesto's f0 (on the audible stretches of the part), played where pesto is sure
  or where the pitch is steady next to a sure frame (pesto's confidence flickers on a separated
  vocal); short gaps closed, blips dropped, octave slips folded back; loudness as RMS per frame.
- **Harmonics**: an oscillator bank (phase = running sum of the f0, every harmonic below
  Nyquist), levels from the profile's harmonic weights, fixed resonances (a violin's body, a
  trumpet's bell) and a tilt that darkens soft notes (``brightness_db_per_octave``).
- **Noise**: seeded white noise band-passed to the profile's breath or bow colour, under the
  tone and as a burst at each onset (a flute's chiff, a bow's scrape).
- **Envelope**: each phrase (a voiced run) starts with the profile's attack and fades with its
  release after the voice stops; a new note inside a phrase (a pitch change or a loudness
  jump) dips to ``legato_dip`` and swells back.
- **Vibrato**: the profile's depth and rate, set in after ``vibrato_delay_ms`` and only where
  the performance has no vibrato of its own.
- **Body**: a high-pass, a low-pass and a short room (pedalboard).

Everything is vectorised (numpy over samples, in blocks; each frame's harmonics summed once
into a wavetable); envelopes run on a 1 ms grid; the noise comes from a seeded generator, so
equal inputs give equal audio. pesto is most of the time (about 8 CPU-s per minute of audio,
the synthesis under 1).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter, uniform_filter1d
from scipy.signal import butter, sosfilt

from core.cachekey import library_versions, stage_key
from core.covers.notes import PESTO_STEP_MS, VOICING_THRESHOLD, f0_notes, pesto_f0
from core.errors import StudioError
from core.io import read_checked_json
from core.paths import ASSETS
from core.store.cache import fetch_or_compute

TIMBRES_PATH = ASSETS / "timbres.json"
TIMBRE_VERSION = 2
#: Control frames per second (pesto's 10 ms steps).
FRAME_HZ = 1000.0 / PESTO_STEP_MS
#: A frame is voiced only this close (dB) to the line's loud end (95th percentile); shorter gaps and blips are smoothed.
GATE_DB = 35.0
#: pesto runs on the audible stretches of a part with this much context either side (s).
PESTO_CONTEXT_S = 0.5
MAX_GAP_FRAMES = 3
MIN_RUN_FRAMES = 3
#: Soft end of the brightness scale: this many dB under the line's loud end (95th percentile).
SOFT_DB = 30.0
#: A loudness rise of this many dB within ONSET_FRAMES re-articulates a note inside a phrase.
ONSET_RISE_DB = 6.0
ONSET_FRAMES = 3
#: Harmonics fade out between these fractions of the sample rate (below Nyquist).
NYQUIST_FADE = (0.42, 0.47)
#: Samples synthesised per block (bounds memory), points per wavetable period, envelope grid (Hz).
BLOCK = 1 << 16
TABLE = 2048
CONTROL_HZ = 1000.0
#: The level falls to a note start's floor over DIP_S before it (no click); the attack noise rises over BURST_RISE_S.
DIP_S = 0.015
BURST_RISE_S = 0.003
#: Enough of a melody to play: at least this many seconds voiced.
MIN_VOICED_S = 0.1
SILENT_PEAK = 1e-4


class TimbreError(StudioError):
    """A line cannot be re-played on this instrument (unknown instrument, silence, no melody)."""


_NUM = {"type": "number"}
_BODY = {"type": "object", "additionalProperties": False,
         "required": ["highpass_hz", "lowpass_hz", "reverb_room", "reverb_wet"],
         "properties": {"highpass_hz": {"type": "number", "minimum": 20, "maximum": 2000},
                        "lowpass_hz": {"type": "number", "minimum": 1000, "maximum": 20000},
                        "reverb_room": {"type": "number", "minimum": 0, "maximum": 1},
                        "reverb_wet": {"type": "number", "minimum": 0, "maximum": 1}}}
_FORMANT = {"type": "object", "additionalProperties": False, "required": ["hz", "db", "width_oct"],
            "properties": {"hz": {"type": "number", "minimum": 50, "maximum": 16000},
                           "db": {"type": "number", "minimum": -24, "maximum": 24},
                           "width_oct": {"type": "number", "minimum": 0.05, "maximum": 4}}}
_INSTRUMENT = {
    "type": "object", "additionalProperties": False,
    "required": ["harmonics_db", "rolloff_db_per_octave", "even_db", "max_harmonics", "formants",
                 "brightness_db_per_octave", "noise_db", "noise_band_hz", "attack_noise_db", "vibrato_cents",
                 "vibrato_hz", "vibrato_delay_ms", "attack_ms", "release_ms", "legato_dip", "range_midi", "body"],
    "properties": {
        "harmonics_db": {"type": "array", "items": {"type": "number", "minimum": -80, "maximum": 12},
                         "minItems": 1, "maxItems": 32},
        "rolloff_db_per_octave": {"type": "number", "minimum": 0, "maximum": 48},
        "even_db": {"type": "number", "minimum": -40, "maximum": 6},
        "max_harmonics": {"type": "integer", "minimum": 1, "maximum": 200},
        "formants": {"type": "array", "items": _FORMANT, "maxItems": 6},
        "brightness_db_per_octave": {"type": "number", "minimum": 0, "maximum": 24},
        "noise_db": {"type": "number", "minimum": -80, "maximum": 0},
        "noise_band_hz": {"type": "array", "items": {"type": "number", "minimum": 20, "maximum": 20000},
                          "minItems": 2, "maxItems": 2},
        "attack_noise_db": {"type": "number", "minimum": -80, "maximum": 0},
        "vibrato_cents": {"type": "number", "minimum": 0, "maximum": 100},
        "vibrato_hz": {"type": "number", "minimum": 0, "maximum": 12},
        "vibrato_delay_ms": {"type": "number", "minimum": 0, "maximum": 2000},
        "attack_ms": {"type": "number", "minimum": 1, "maximum": 1000},
        "release_ms": {"type": "number", "minimum": 5, "maximum": 3000},
        "legato_dip": {"type": "number", "minimum": 0, "maximum": 1},
        "range_midi": {"type": "array", "items": {"type": "integer", "minimum": 12, "maximum": 120},
                       "minItems": 2, "maxItems": 2},
        "body": _BODY}}
TIMBRES_SCHEMA = {"type": "object", "required": ["version", "instruments"],
                  "properties": {"version": {"const": 1}, "about": {"type": "string"},
                                 "instruments": {"type": "object", "minProperties": 1,
                                                 "additionalProperties": _INSTRUMENT}}}


@dataclass(frozen=True)
class Timbre:
    """One instrument profile of ``assets/timbres.json`` (see its ``about`` for each field)."""

    name: str
    harmonics_db: tuple
    rolloff_db_per_octave: float
    even_db: float
    max_harmonics: int
    formants: tuple
    brightness_db_per_octave: float
    noise_db: float
    noise_band_hz: tuple
    attack_noise_db: float
    vibrato_cents: float
    vibrato_hz: float
    vibrato_delay_ms: float
    attack_ms: float
    release_ms: float
    legato_dip: float
    range_midi: tuple
    body: dict


@lru_cache(maxsize=4)
def load_timbres(path: Path = TIMBRES_PATH) -> dict[str, Timbre]:
    """Instrument name -> :class:`Timbre`, checked against :data:`TIMBRES_SCHEMA` (TimbreError if not)."""
    raw = read_checked_json(path, schema=TIMBRES_SCHEMA, error=TimbreError, what="The instrument profiles")
    out = {}
    for name, p in raw["instruments"].items():
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in p.items()}
        fields["formants"] = tuple(tuple(f[k] for k in ("hz", "db", "width_oct")) for f in p["formants"])
        out[name] = Timbre(name=name, **fields)
    return out


def instruments() -> tuple[str, ...]:
    """The instruments a line can be re-played on."""
    return tuple(sorted(load_timbres()))


def timbre(instrument: str) -> Timbre:
    """The profile of ``instrument`` ("synth lead" and "Synth_Lead" are ``synth_lead``)."""
    profiles = load_timbres()
    name = str(instrument).strip().lower().replace(" ", "_").replace("-", "_")
    if name not in profiles:
        raise TimbreError(f"There is no '{instrument}' to play the melody on; choose one of "
                          f"{', '.join(sorted(profiles))}.")
    return profiles[name]


# ----------------------------------------------------------------------------- controls
@dataclass(frozen=True)
class MelodyControls:
    """What drives the synthesiser, one value per 10 ms frame (frame ``i`` at ``i / FRAME_HZ`` s).

    midi : the pitch (fractional MIDI): gaps inside a phrase interpolated, unvoiced frames holding
        the last voiced pitch (a release keeps its note).
    voiced : where the line sounds (after closing short gaps and dropping blips).
    loudness_db : RMS level (dBFS), held through unvoiced frames at the last voiced level.
    vibrato_cents : the performance's own pitch wobble (RMS over 250 ms, cents).
    onsets_s, onset_floor : note starts (phrase starts and re-articulations) and the level (0-1)
        each one's attack starts from (0 at a phrase start).
    runs_s : ``(n, 2)`` start and end of each phrase (voiced run), seconds.
    """

    midi: np.ndarray
    voiced: np.ndarray
    loudness_db: np.ndarray
    vibrato_cents: np.ndarray
    onsets_s: np.ndarray
    onset_floor: np.ndarray
    runs_s: np.ndarray

    @property
    def f0_hz(self) -> np.ndarray:
        return np.where(self.voiced, 440.0 * 2.0 ** ((self.midi - 69.0) / 12.0), 0.0)


def _mono(audio) -> np.ndarray:
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1) if y.shape[1] <= 8 else y.mean(axis=0)
    if y.ndim != 1 or y.size == 0:
        raise TimbreError("The part to re-play is empty: give it a vocal or lead line with some audio in it.")
    if not np.all(np.isfinite(y)):
        raise TimbreError("The part to re-play has damaged samples (NaN or infinite values): export it again.")
    return y


def _frame_count(n_samples: int, sr: int) -> int:
    return int(np.ceil(n_samples / sr * FRAME_HZ)) + 1


def frame_loudness_db(y: np.ndarray, sr: int, n_frames: int, *, window_s: float = 0.04) -> np.ndarray:
    """RMS level (dBFS) of a ``window_s`` window centred on each 10 ms frame, smoothed over 30 ms."""
    c = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
    centre = np.arange(n_frames) * sr / FRAME_HZ
    half = window_s * sr / 2
    a = np.clip(np.round(centre - half), 0, len(y)).astype(int)
    b = np.clip(np.round(centre + half), 0, len(y)).astype(int)
    power = (c[b] - c[a]) / np.maximum(b - a, 1)
    return uniform_filter1d(10.0 * np.log10(power + 1e-12), 3, mode="nearest")


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) frame of each True run."""
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _clean_voicing(voiced: np.ndarray) -> np.ndarray:
    """Gaps up to MAX_GAP_FRAMES inside the line closed, then runs under MIN_RUN_FRAMES dropped."""
    v = voiced.copy()
    starts, ends = _runs(~v)
    for a, b in zip(starts, ends):
        if 0 < a and b < len(v) and b - a <= MAX_GAP_FRAMES:
            v[a:b] = True
    starts, ends = _runs(v)
    for a, b in zip(starts, ends):
        if b - a < MIN_RUN_FRAMES:
            v[a:b] = False
    return v


def _pesto_curve(y: np.ndarray, sr: int, loud: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pesto's pitch (MIDI) and confidence per frame, run only where the part is audible (within
    GATE_DB of its loud end, with PESTO_CONTEXT_S of context each side; shorter gaps are run
    through): a vocal stem is silent through the instrumental passages, and pesto is most of the time."""
    n = len(loud)
    audible = loud > float(np.percentile(loud, 95)) - GATE_DB
    audible = maximum_filter1d(audible, size=2 * int(PESTO_CONTEXT_S * FRAME_HZ) + 1)
    midi, conf = np.zeros(n), np.zeros(n)
    for a, b in zip(*_runs(audible)):
        s0, s1 = int(round(a * sr / FRAME_HZ)), min(int(round(b * sr / FRAME_HZ)), len(y))
        if s1 - s0 < sr // 10:
            continue
        _, m, c = pesto_f0(y[s0:s1], sr)
        k = min(len(m), n - a)
        midi[a:a + k], conf[a:a + k] = np.nan_to_num(m[:k]), c[:k]
    return midi, conf


def _pesto_frames(y: np.ndarray, sr: int, loud: np.ndarray, store) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_pesto_curve`, cached in ``store`` by the audio's content."""
    def compute():
        midi, conf = _pesto_curve(y, sr, loud)
        return {"midi": np.round(midi, 3).tolist(), "conf": np.round(conf, 4).tolist()}

    if store is None:
        found = compute()
    else:
        audio_hash = hashlib.sha256(y.tobytes()).hexdigest()
        key = stage_key("timbre-f0", TIMBRE_VERSION, audio_hash, int(sr), library_versions("pesto-pitch"))
        found = fetch_or_compute(lambda: store.get_json("timbre-f0", key), compute,
                                 lambda r: store.put_json("timbre-f0", key, r))
    return np.asarray(found["midi"], dtype=float), np.asarray(found["conf"], dtype=float)


def _check_frames(curve, n_frames: int, what: str) -> np.ndarray:
    x = np.asarray(curve, dtype=float).ravel()
    if abs(len(x) - n_frames) > max(3, 0.02 * n_frames):
        raise TimbreError(f"The {what} has {len(x)} frames but the part needs about {n_frames} "
                          f"(one every {PESTO_STEP_MS:g} ms).")
    return x


def _given_frames(f0_hz, voiced, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    f0 = _check_frames(f0_hz, n_frames, "pitch curve")
    ok = np.isfinite(f0) & (f0 > 0)
    if voiced is not None:
        v = np.asarray(voiced).ravel()
        if len(v) != len(f0):
            raise TimbreError(f"The voicing has {len(v)} frames but the pitch curve has {len(f0)}.")
        ok &= v.astype(bool)
    midi = np.where(ok, 69.0 + 12.0 * np.log2(np.where(ok, f0, 440.0) / 440.0), 0.0)
    return midi, ok.astype(float)


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` trimmed or padded (with zeros) to ``n`` frames."""
    return np.r_[x[:n], np.zeros(max(n - len(x), 0))]


def melody_controls(audio, sample_rate: int, *, f0_hz=None, voiced=None, store=None) -> MelodyControls:
    """The f0, voicing, loudness and note starts of a monophonic line (pesto unless ``f0_hz`` is given).

    Raises :class:`TimbreError` when the part is silent or holds no pitched line.
    """
    y = _mono(audio)
    sr = int(sample_rate)
    if float(np.max(np.abs(y))) < SILENT_PEAK:
        raise TimbreError("The part to re-play is silent: there is no melody to transfer.")
    n_frames = _frame_count(len(y), sr)
    loud = frame_loudness_db(y, sr, n_frames)
    if f0_hz is None:
        given = None if voiced is None else _check_frames(voiced, n_frames, "voicing")
        midi, conf = _pesto_frames(y, sr, loud, store)
        if given is not None:
            conf = np.where(_fit(given, len(conf)) > 0, 1.0, 0.0)
    else:
        midi, conf = _given_frames(f0_hz, voiced, n_frames)
    midi, conf = _fit(midi, n_frames), _fit(conf, n_frames)
    trusted = _trusted_frames(midi, conf, loud, steady=f0_hz is None and voiced is None)
    v = _clean_voicing(trusted)
    if v.sum() < MIN_VOICED_S * FRAME_HZ:
        raise TimbreError("No melody was found in this part (no pitched line, only noise or speech-like "
                          "sounds): give the vocal or lead stem.")
    midi = _pitch_line(midi, trusted & v, v)
    loud = np.where(v, loud, loud[_held(v)])
    onsets_s, floors, runs_s = _onsets(midi, v, loud)
    return MelodyControls(midi, v, loud, _own_vibrato_cents(midi, v), onsets_s, floors, runs_s)


def _held(v: np.ndarray) -> np.ndarray:
    """For each frame, the last True frame of ``v`` at or before it (the first one before any)."""
    idx = np.flatnonzero(v)
    return idx[np.clip(np.searchsorted(idx, np.arange(len(v)), side="right") - 1, 0, None)]


def _trusted_frames(midi: np.ndarray, conf: np.ndarray, loud: np.ndarray, *, steady: bool = True) -> np.ndarray:
    """Frames whose pitch can be played: within GATE_DB of the line's loud end, in range, and
    either confident (pesto's confidence >= VOICING_THRESHOLD) or, with ``steady``, steady
    (within half a semitone of their 5-frame median) in a run that holds a confident frame.
    pesto's confidence flickers on sung vowels that bleed from a separation; a steady pitch next
    to a sure one is the voice. A voicing given by the caller is taken as it is (``steady`` off)."""
    loud_end = float(np.percentile(loud, 95))
    smooth = median_filter(midi, size=5, mode="nearest")
    steadiness = (np.abs(midi - smooth) < 0.5) & (np.abs(np.gradient(smooth)) < 1.0) & steady
    sure = conf >= VOICING_THRESHOLD
    ok = (loud > loud_end - GATE_DB) & (midi > 20) & (midi < 110) & (sure | steadiness)
    starts, _ = _runs(ok)
    if len(starts):
        anchored = np.maximum.reduceat((sure & ok).astype(np.int8), starts) > 0
        run_of = np.cumsum(np.r_[ok[0], ok[1:] & ~ok[:-1]]) - 1  # each True frame's run
        ok &= anchored[np.maximum(run_of, 0)]
    return ok


def _pitch_line(midi: np.ndarray, trusted: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The pitch to play: trusted frames as found (pesto's octave slips folded back toward a
    210 ms median), gaps inside the line interpolated, unvoiced frames holding the last pitch."""
    idx = np.arange(len(midi))
    filled = np.interp(idx, idx[trusted], midi[trusted]) if trusted.any() else midi.copy()
    d = filled - median_filter(filled, size=21, mode="nearest")
    fold = 12.0 * np.round(d / 12.0)
    filled = np.where((np.abs(fold) >= 12) & (np.abs(d - fold) < 1.5), filled - fold, filled)
    return np.where(v, filled, filled[_held(v)])


def _own_vibrato_cents(midi: np.ndarray, v: np.ndarray, *, span_frames: int = 25) -> np.ndarray:
    dev = np.where(v, midi - uniform_filter1d(midi, span_frames, mode="nearest"), 0.0)
    return 100.0 * np.sqrt(np.maximum(uniform_filter1d(dev ** 2, span_frames, mode="nearest"), 0.0))


def _onsets(midi: np.ndarray, v: np.ndarray, loud: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phrase starts (floor 0) and re-articulations inside phrases (floor 1, scaled by the
    profile's legato dip later): pitch changes (the f0 cut into notes) and loudness jumps."""
    starts, ends = _runs(v)
    times = np.arange(len(v)) / FRAME_HZ
    notes = f0_notes(times, midi, v.astype(float), threshold=0.5)
    inner = [n.start_s for n in notes]
    rise = loud - np.r_[np.full(ONSET_FRAMES, loud[0]), loud[:-ONSET_FRAMES]]
    jump = (rise > ONSET_RISE_DB) & v
    inner += list(times[np.flatnonzero(jump & ~np.r_[False, jump[:-1]])])
    run_of = np.searchsorted(starts / FRAME_HZ, np.asarray(inner, dtype=float), side="right") - 1
    inner = np.asarray(inner, dtype=float)
    inside = (run_of >= 0) & (inner > starts[np.maximum(run_of, 0)] / FRAME_HZ + 0.06)
    inside &= inner < ends[np.maximum(run_of, 0)] / FRAME_HZ - 0.03
    inner = np.unique(np.round(inner[inside], 3))
    if inner.size > 1:  # two starts closer than 80 ms are one
        inner = inner[np.r_[True, np.diff(inner) > 0.08]]
    onsets = np.r_[starts / FRAME_HZ, inner]
    floors = np.r_[np.zeros(len(starts)), np.ones(len(inner))]
    order = np.argsort(onsets, kind="stable")
    return onsets[order], floors[order], np.stack([starts, ends], axis=1) / FRAME_HZ


# ----------------------------------------------------------------------------- synthesis
def harmonic_levels(profile: Timbre, midi: np.ndarray, loudness_db: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-frame harmonic amplitudes ``(frames, max_harmonics)``, scaled so the sum of sines has RMS 1."""
    k = np.arange(1, profile.max_harmonics + 1, dtype=float)
    listed = np.asarray(profile.harmonics_db, dtype=float)
    n = len(listed)
    beyond = listed[-1] - profile.rolloff_db_per_octave * np.log2(np.maximum(k / n, 1.0))
    beyond += np.where(k % 2 == 0, profile.even_db, 0.0)
    base_db = np.where(k <= n, np.r_[listed, np.zeros(max(len(k) - n, 0))][: len(k)], beyond)
    f0 = 440.0 * 2.0 ** ((midi[:, None] - 69.0) / 12.0)
    freq = f0 * k[None, :]
    db = np.broadcast_to(base_db, freq.shape).copy()
    for hz, gain_db, width_oct in profile.formants:
        db += gain_db * np.exp(-0.5 * (np.log2(freq / hz) / width_oct) ** 2)
    loud_end = float(np.percentile(loudness_db, 95))
    soft = np.clip((loud_end - loudness_db) / SOFT_DB, 0.0, 1.0)
    db -= profile.brightness_db_per_octave * soft[:, None] * np.log2(k)[None, :]
    lo, hi = NYQUIST_FADE[0] * sample_rate, NYQUIST_FADE[1] * sample_rate
    amp = 10.0 ** (db / 20.0) * np.clip((hi - freq) / (hi - lo), 0.0, 1.0)
    return amp / np.maximum(np.sqrt(0.5 * np.sum(amp ** 2, axis=1, keepdims=True)), 1e-9)


def _resampled(curve: np.ndarray, rate_hz: float, n: int, sr: int) -> np.ndarray:
    """A curve sampled at ``rate_hz`` linearly interpolated to ``n`` samples at ``sr``."""
    return np.interp(np.arange(n) * (rate_hz / sr), np.arange(len(curve)), curve)


def _oscillators(midi_s: np.ndarray, levels: np.ndarray, sr: int) -> np.ndarray:
    """The harmonic bank: the sum over k of level_k(t) sin(k phase(t)), phase the running sum of f0.

    Each frame's harmonic levels become one period of its waveform (an inverse FFT, TABLE
    points); a sample reads the tables of the two frames around it at its phase (linear in
    both): the same sum as one sine per harmonic, at a cost per sample that does not grow with
    the number of harmonics. Blocks of BLOCK samples bound the memory.
    """
    n = len(midi_s)
    out = np.empty(n, dtype=np.float32)
    width, carry = TABLE + 1, 0.0
    for a in range(0, n, BLOCK):
        b = min(a + BLOCK, n)
        cycles = carry + np.cumsum(440.0 * 2.0 ** ((midi_s[a:b] - 69.0) / 12.0) / sr)
        carry = float(cycles[-1] % 1.0)
        x = np.mod(cycles, 1.0) * TABLE
        j0 = np.minimum(x.astype(np.int64), TABLE - 1)
        frac = (x - j0).astype(np.float32)
        pos = np.arange(a, b) * (FRAME_HZ / sr)
        i0 = np.minimum(pos.astype(np.int64), len(levels) - 2)
        w = (pos - i0).astype(np.float32)
        first, last = int(i0[0]), int(i0[-1]) + 1
        spectrum = np.zeros((last - first + 1, TABLE // 2 + 1), dtype=np.complex64)
        spectrum[:, 1:levels.shape[1] + 1] = -0.5j * TABLE * levels[first:last + 1]
        tables = np.fft.irfft(spectrum, n=TABLE, axis=1).astype(np.float32)
        tables = np.concatenate([tables, tables[:, :1]], axis=1).ravel()
        r0 = (i0 - first) * width + j0
        now = tables[r0] + frac * (tables[r0 + 1] - tables[r0])
        then = tables[r0 + width] + frac * (tables[r0 + width + 1] - tables[r0 + width])
        out[a:b] = now + w * (then - now)
    return out


def _envelope(c: MelodyControls, profile: Timbre, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At times ``t`` (s): the amplitude envelope, the onset burst (for the attack noise) and the
    time since the last note start (for the vibrato's delay)."""
    attack_s, tau_s = profile.attack_ms / 1000.0, profile.release_ms / 1000.0 / 6.9
    floors = np.where(c.onset_floor > 0, profile.legato_dip, 0.0)

    def attack(at_s):
        j = np.searchsorted(c.onsets_s, at_s, side="right") - 1
        since = at_s - c.onsets_s[np.maximum(j, 0)]
        f = floors[np.maximum(j, 0)]
        level = f + (1.0 - f) * np.sin(0.5 * np.pi * np.clip(since / attack_s, 0.0, 1.0))
        return np.where(j >= 0, level, 0.0), np.where(j >= 0, since, 0.0), np.where(j >= 0, 1.0 - f, 0.0)

    level, since, depth = attack(t)
    r = np.searchsorted(c.runs_s[:, 0], t, side="right") - 1
    end_s = c.runs_s[np.maximum(r, 0), 1]
    at_end, _, _ = attack(c.runs_s[:, 1] - 1e-6)
    after = np.maximum(t - end_s, 0.0)
    env = np.where(r < 0, 0.0, np.where(t < end_s, level, at_end[np.maximum(r, 0)] * np.exp(-after / tau_s)))
    k = np.minimum(np.searchsorted(c.onsets_s, t, side="right"), len(c.onsets_s) - 1)  # the next note start
    until = c.onsets_s[k] - t
    fall = floors[k] + (1.0 - floors[k]) * np.clip(until / DIP_S, 0.0, 1.0)
    env = np.minimum(env, np.where(until > 0, fall, 1.0))
    burst = depth * np.exp(-since / max(attack_s, 0.005)) * np.clip(since / BURST_RISE_S, 0.0, 1.0) * (r >= 0)
    return env, burst, since


def _noise(n: int, sr: int, profile: Timbre, seed: int) -> np.ndarray:
    """Seeded white noise band-passed to the profile's colour, scaled to RMS 1."""
    lo, hi = profile.noise_band_hz
    hi = min(hi, 0.45 * sr)
    lo = min(lo, 0.5 * hi)
    noise = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    shaped = sosfilt(butter(4, [lo, hi], btype="bandpass", fs=sr, output="sos"), noise).astype(np.float32)
    return shaped / max(float(np.sqrt(np.mean(shaped ** 2))), 1e-9)


def _body(y: np.ndarray, sr: int, profile: Timbre) -> np.ndarray:
    import pedalboard as pb

    b = profile.body
    board = pb.Pedalboard([pb.HighpassFilter(cutoff_frequency_hz=float(b["highpass_hz"])),
                           pb.LowpassFilter(cutoff_frequency_hz=float(min(b["lowpass_hz"], 0.45 * sr))),
                           pb.Reverb(room_size=float(b["reverb_room"]), damping=0.5, wet_level=float(b["reverb_wet"]),
                                     dry_level=1.0, width=0.0)])
    return board(y[None, :].astype(np.float32), sr)[0]


def _octave_shift(midi: np.ndarray, voiced: np.ndarray, profile: Timbre) -> float:
    """Whole octaves that bring the line's median pitch into the instrument's range (0 when it is in)."""
    lo, hi = profile.range_midi
    centre = float(np.median(midi[voiced]))
    if lo + 3 <= centre <= hi - 3:
        return 0.0
    return 12.0 * round(((lo + hi) / 2 - centre) / 12.0)


def synthesise(c: MelodyControls, profile: Timbre, n_samples: int, sample_rate: int, *, seed: int = 0,
               transpose_semitones: float = 0.0) -> np.ndarray:
    """The line of ``c`` played by ``profile`` (``n_samples`` of mono float32, before the body).

    Envelopes, vibrato and gains are computed on a CONTROL_HZ grid, then interpolated to samples.
    """
    sr = int(sample_rate)
    t = np.arange(int(np.ceil(n_samples / sr * CONTROL_HZ)) + 2) / CONTROL_HZ
    env, burst, since = _envelope(c, profile, t)
    frames = np.arange(len(c.midi)) / FRAME_HZ
    own = np.interp(t, frames, c.vibrato_cents)
    added = np.clip(1.0 - own * np.sqrt(2.0) / max(profile.vibrato_cents, 1e-9), 0.0, 1.0)
    fade_in = np.clip((since - profile.vibrato_delay_ms / 1000.0) / 0.3, 0.0, 1.0)
    vibrato_cents = profile.vibrato_cents * added * fade_in * np.sin(2 * np.pi * profile.vibrato_hz * t)
    midi = c.midi + transpose_semitones
    pitch = np.interp(t, frames, midi) + vibrato_cents / 100.0
    amp = 10.0 ** (np.interp(t, frames, c.loudness_db) / 20.0)
    noise_gain = amp * (10 ** (profile.noise_db / 20) * env + 10 ** (profile.attack_noise_db / 20) * burst)
    tone = _oscillators(_resampled(pitch, CONTROL_HZ, n_samples, sr),
                        harmonic_levels(profile, midi, c.loudness_db, sr), sr)
    tone *= _resampled(amp * env, CONTROL_HZ, n_samples, sr).astype(np.float32)
    noise = _noise(n_samples, sr, profile, seed) * _resampled(noise_gain, CONTROL_HZ, n_samples, sr).astype(np.float32)
    return (tone + noise).astype(np.float32)


def timbre_transfer(audio, sample_rate: int, *, instrument: str, f0_hz=None, voiced=None, seed: int = 0,
                    fit_range: bool = False, store=None, progress=None) -> np.ndarray:
    """The melody line of ``audio`` re-played by ``instrument`` (mono float32, same rate and length).

    Parameters
    ----------
    audio : a monophonic line (a vocal stem or a lead), mono or ``(n, channels)``.
    sample_rate : Hz.
    instrument : one of :func:`instruments` (``assets/timbres.json``).
    f0_hz, voiced : the line's pitch (Hz, 0 where unvoiced) and voicing per 10 ms frame; pesto
        finds them when they are not given (``voiced`` alone overrides pesto's voicing).
    seed : the noise generator's seed (equal inputs and seed give equal audio).
    fit_range : move the line by whole octaves into the instrument's range (a bass voice on a
        whistle); off, the pitch is kept.
    store : a :class:`core.store.store.Store` that caches pesto's pitch curve by content hash.
    progress : ``progress(fraction, message)``.

    The result has the input's RMS on its voiced frames (peaks kept under full scale).
    Raises :class:`TimbreError` for an unknown instrument, a silent part or one with no melody.
    """
    profile = timbre(instrument)
    report = progress or (lambda f, m="": None)
    y = _mono(audio)
    sr = int(sample_rate)
    if not 8000 <= sr <= 384000:
        raise TimbreError(f"A sample rate of {sr} Hz cannot be re-played; use 8 to 384 kHz audio.")
    report(0.0, "Following the melody (pitch and loudness)")
    c = melody_controls(y, sr, f0_hz=f0_hz, voiced=voiced, store=store)
    report(0.6, f"Playing it on the {profile.name.replace('_', ' ')}")
    shift = _octave_shift(c.midi, c.voiced, profile) if fit_range else 0.0
    out = _body(synthesise(c, profile, len(y), sr, seed=seed, transpose_semitones=shift), sr, profile)
    mask = _resampled(c.voiced.astype(float), FRAME_HZ, len(y), sr) > 0.5
    rms = lambda x: float(np.sqrt(np.mean(x[mask].astype(np.float64) ** 2)))  # noqa: E731
    out *= rms(y) / max(rms(out), 1e-9)
    peak = float(np.max(np.abs(out)))
    if peak > 0.99:
        out *= 0.99 / peak
    report(1.0, "Done")
    return out.astype(np.float32)
