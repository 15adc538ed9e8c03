"""Timbre transfer (core/covers/timbre.py): the melody comes back at its pitch, instruments
sound different, bad input gets a clear message, equal inputs give equal audio."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest

from core.covers.notes import pesto_f0
from core.covers.timbre import (
    FRAME_HZ,
    TIMBRES_PATH,
    TimbreError,
    _oscillators,
    harmonic_levels,
    instruments,
    load_timbres,
    melody_controls,
    synthesise,
    timbre,
    timbre_transfer,
)
from core.errors import StudioError
from core.store.store import Store

SR = 22050


def glide(*, seconds: float = 2.0, lo_hz: float = 220.0, hi_hz: float = 440.0, gap: tuple = (0.9, 1.1)):
    """A voice-like glide (a sine and two harmonics) from ``lo_hz`` to ``hi_hz`` with a rest in it;
    returns the audio and its true f0 per 10 ms frame (0 in the rest and the fades)."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = lo_hz * (hi_hz / lo_hz) ** (t / seconds)
    phase = np.cumsum(2 * np.pi * f0 / SR)
    on = (t > 0.05) & (t < seconds - 0.05) & ~((t > gap[0]) & (t < gap[1]))
    env = np.convolve(on.astype(float), np.hanning(441) / np.hanning(441).sum(), "same")
    y = (env * (0.3 * np.sin(phase) + 0.12 * np.sin(2 * phase) + 0.05 * np.sin(3 * phase))).astype(np.float32)
    frames = np.arange(int(np.ceil(seconds * FRAME_HZ)) + 1) / FRAME_HZ
    f0_frames = np.where(np.interp(frames, t, on.astype(float)) > 0.99, np.interp(frames, t, f0), 0.0)
    return y, f0_frames


def centroid_hz(y: np.ndarray, f0_frames: np.ndarray) -> float:
    c = librosa.feature.spectral_centroid(y=y, sr=SR, hop_length=SR // 100)[0]
    n = min(len(c), len(f0_frames))
    return float(np.median(c[:n][f0_frames[:n] > 0]))


@pytest.mark.parametrize("instrument", ["violin", "clarinet"])
def test_a_glide_comes_back_at_its_pitch(instrument, tmp_path):
    y, f0 = glide()
    store = Store(tmp_path / "store")
    out = timbre_transfer(y, SR, instrument=instrument, store=store)  # pesto follows the line
    assert out.dtype == np.float32 and out.shape == y.shape and np.all(np.isfinite(out))
    _, midi, _ = pesto_f0(out, SR)
    n = min(len(midi), len(f0))
    voiced = f0[:n] > 0
    cents = 1200 * np.abs(np.log2(440 * 2 ** ((midi[:n][voiced] - 69) / 12) / f0[:n][voiced]))
    assert np.mean(cents < 50) >= 0.9
    assert list((tmp_path / "store" / "timbre-f0").glob("*.json"))  # pesto's curve is kept ...
    np.testing.assert_array_equal(timbre_transfer(y, SR, instrument=instrument, store=store), out)  # ... and reused


def test_instruments_differ_in_colour():
    y, f0 = glide()
    bright = timbre_transfer(y, SR, instrument="violin", f0_hz=f0)
    pure = timbre_transfer(y, SR, instrument="whistle", f0_hz=f0)
    assert centroid_hz(bright, f0) > 1.5 * centroid_hz(pure, f0)
    midi = np.full(10, 57.0)
    loud = np.full(10, -20.0)
    clarinet, sax = (harmonic_levels(timbre(n), midi, loud, SR)[0] for n in ("clarinet", "saxophone"))

    def odd_even_db(levels):
        return 10 * np.log10(np.sum(levels[2:10:2] ** 2) / np.sum(levels[1:10:2] ** 2))

    assert odd_even_db(clarinet) > 15 > odd_even_db(sax) + 10  # a clarinet's missing even partials


def test_soft_notes_are_darker_than_loud_ones():
    midi = np.full(2, 60.0)
    levels = harmonic_levels(timbre("trumpet"), midi, np.array([-40.0, -10.0]), SR)
    k = np.arange(1, levels.shape[1] + 1)
    soft, loud = (float(np.sum(k * lv ** 2) / np.sum(lv ** 2)) for lv in levels)
    assert loud > soft + 1.0


def test_the_wavetable_bank_is_the_sum_of_sines():
    n = SR // 2
    t = np.arange(n) / SR
    midi_s = 57 + 5 * t + 0.3 * np.sin(2 * np.pi * 5 * t)
    frames = np.arange(int(n / SR * FRAME_HZ) + 3)
    levels = harmonic_levels(timbre("saxophone"), np.interp(frames / FRAME_HZ, t, midi_s), np.full(len(frames), -12.0), SR)
    fast = _oscillators(midi_s, levels, SR)
    phase = 2 * np.pi * np.cumsum(440 * 2 ** ((midi_s - 69) / 12) / SR)
    pos = np.arange(n) * FRAME_HZ / SR
    amps = np.stack([np.interp(pos, frames, levels[:, k]) for k in range(levels.shape[1])], axis=1)
    direct = np.sum(amps * np.sin(phase[:, None] * np.arange(1, levels.shape[1] + 1)), axis=1)
    assert np.max(np.abs(fast - direct)) < 0.01 * np.max(np.abs(direct))


def test_equal_inputs_give_equal_audio_and_the_seed_changes_the_noise():
    y, f0 = glide(seconds=1.0, gap=(2, 2))
    a = timbre_transfer(y, SR, instrument="flute", f0_hz=f0, seed=1)
    np.testing.assert_array_equal(a, timbre_transfer(y, SR, instrument="flute", f0_hz=f0, seed=1))
    assert not np.array_equal(a, timbre_transfer(y, SR, instrument="flute", f0_hz=f0, seed=2))
    stereo = timbre_transfer(np.stack([y, y], axis=1), SR, instrument="flute", f0_hz=f0, seed=1)
    np.testing.assert_allclose(stereo, a, atol=1e-6)


def test_unvoiced_frames_fade_out():
    y, f0 = glide(seconds=2.0)
    profile = timbre("trumpet")
    dry = synthesise(melody_controls(y, SR, f0_hz=f0), profile, len(y), SR)
    out = timbre_transfer(y, SR, instrument="trumpet", f0_hz=f0)
    level_db = lambda x, a, b: 20 * np.log10(np.sqrt(np.mean(x[int(a * SR):int(b * SR)] ** 2)) / np.sqrt(np.mean(x ** 2)))  # noqa: E731
    assert level_db(dry, 1.02, 1.08) < -60  # 110 ms into the rest: the trumpet's 70 ms release is over
    assert level_db(out, 1.02, 1.08) < -30  # only the short room rings on


def test_fit_range_moves_a_low_line_onto_the_whistle():
    y, f0 = glide(seconds=1.0, lo_hz=110, hi_hz=120, gap=(2, 2))
    high = timbre_transfer(y, SR, instrument="whistle", f0_hz=f0, fit_range=True)
    kept = timbre_transfer(y, SR, instrument="whistle", f0_hz=f0)
    peak_hz = lambda x: np.argmax(np.abs(np.fft.rfft(x))) * SR / len(x)  # noqa: E731
    assert peak_hz(kept) < 150 and peak_hz(high) > 800


def test_progress_runs_to_the_end():
    y, f0 = glide(seconds=0.5, gap=(2, 2))
    seen = []
    timbre_transfer(y, SR, instrument="synth lead", f0_hz=f0, progress=lambda f, m="": seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_every_profile_loads_and_the_unknown_one_is_named():
    assert {"violin", "flute", "trumpet", "clarinet", "saxophone", "synth_lead", "whistle"} <= set(instruments())
    with pytest.raises(TimbreError, match="bagpipes.*choose one of.*clarinet.*violin"):
        timbre_transfer(np.zeros(SR, dtype=np.float32), SR, instrument="bagpipes")
    assert issubclass(TimbreError, StudioError)


def test_a_damaged_profile_file_is_refused(tmp_path):
    bad = tmp_path / "timbres.json"
    raw = json.loads(TIMBRES_PATH.read_text())
    raw["instruments"]["violin"]["attack_ms"] = -5
    bad.write_text(json.dumps(raw))
    with pytest.raises(TimbreError, match="timbres.json cannot be used"):
        load_timbres(bad)


def test_silence_and_noise_have_no_melody():
    with pytest.raises(TimbreError, match="silent"):
        timbre_transfer(np.zeros(SR, dtype=np.float32), SR, instrument="violin")
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    with pytest.raises(TimbreError, match="No melody"):
        timbre_transfer(noise, SR, instrument="violin")
    with pytest.raises(TimbreError, match="No melody"):
        timbre_transfer(noise, SR, instrument="violin", f0_hz=np.zeros(101))


@pytest.mark.parametrize("audio, options, message", [
    (np.zeros(0, dtype=np.float32), {}, "empty"),
    (np.full(SR, np.nan, dtype=np.float32), {}, "damaged"),
    (np.ones(SR, dtype=np.float32) * 0.1, {"f0_hz": np.full(40, 220.0)}, "40 frames"),
    (np.ones(SR, dtype=np.float32) * 0.1, {"f0_hz": np.full(101, 220.0), "voiced": np.ones(7)}, "voicing has 7"),
    (np.ones(SR, dtype=np.float32) * 0.1, {"voiced": np.ones(7)}, "voicing has 7"),
])
def test_bad_input_gets_a_clear_message(audio, options, message):
    with pytest.raises(TimbreError, match=message):
        melody_controls(audio, SR, **options)
