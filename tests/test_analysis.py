"""Analysis against ground truth made by construction, and its edge cases."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest

import core
from core import AnalysisOptions, OptionError, SegmentOptions, WindowGrid
from core.analysis.features import AMPER21, GTZAN, feature_columns
from core.analysis.segment import k_range


# ----------------------------------------------------------------------------- grid
def test_grid_full_and_partial_windows():
    starts, ends, partial = WindowGrid(10, 2).windows(25.0)
    assert list(starts) == [0, 2, 4, 6, 8, 10, 12, 14, 16]
    assert ends[-2] == 24 and ends[-1] == 25.0
    assert partial.tolist() == [False] * 8 + [True]


def test_grid_exact_fit_has_no_partial_window():
    starts, ends, partial = WindowGrid(10, 2).windows(20.0)
    assert ends[-1] == 20.0 and not partial.any()


def test_grid_clip_shorter_than_a_window_is_one_window():
    starts, ends, partial = WindowGrid(10, 2).windows(4.5)
    assert starts.tolist() == [0.0] and ends.tolist() == [4.5] and partial.tolist() == [True]


@pytest.mark.parametrize("kw", [dict(window_s=0.1), dict(window_s=10, hop_s=20), dict(window_s=10, hop_s=0)])
def test_grid_rejects_bad_settings(kw):
    with pytest.raises(OptionError):
        WindowGrid(**kw)


def test_k_range_rule():
    assert k_range(10) == (1, 1)
    assert k_range(25) == (1, 2)
    assert k_range(60) == (2, 4)
    lo, hi = k_range(240)
    assert lo >= 3 and hi <= 8


# ------------------------------------------------------------------ ground truth
def test_abac_tempo_key_and_form(abac_piece, abac_analysis):
    _, _, truth = abac_piece
    a = abac_analysis
    assert abs(a.tempo_bpm / truth.tempo_bpm - 1) < 0.02
    assert (a.tonic, a.mode) == ("D", "minor")
    right = (a.windows.tonic == "D") & (a.windows["mode"] == "minor")
    assert right.mean() >= 0.8
    ref = np.array(list(zip(truth.boundaries_s[:-1], truth.boundaries_s[1:])))
    est = a.segments[["start_s", "end_s"]].to_numpy()
    _, _, f3 = mir_eval.segment.detection(ref, est, window=3, trim=True)
    assert f3 >= 0.8, a.segments
    # windows tempo: every non-partial window within 2 %
    full = a.windows[~a.windows.partial]
    assert (np.abs(full.tempo_bpm / truth.tempo_bpm - 1) < 0.02).mean() >= 0.9


def test_returning_material_shares_its_label(abac_analysis):
    seg = abac_analysis.segments
    assert len(seg) == 4
    assert seg.label[0] == seg.label[2]  # A returns as A
    assert seg.label[0] != seg.label[1]


def test_per_window_table_contract(abac_analysis):
    w = abac_analysis.windows
    assert list(w.columns[:6]) == ["start_s", "end_s", "tempo_bpm", "tonic", "mode", "segment"]
    for name in ("amper21", "gtzan"):
        assert set(feature_columns(name)) <= set(w.columns)
    assert len(AMPER21) == 21 and len(GTZAN) == 58
    feats = w[feature_columns("amper21") + feature_columns("gtzan")].to_numpy()
    assert np.isfinite(feats).all()
    assert set(w.tonic) <= set(core.analysis.key.PITCH_CLASSES)
    assert set(w["mode"]) <= {"major", "minor"}
    assert w.segment.between(0, len(abac_analysis.segments) - 1).all()
    # windows on the ONE grid
    starts, ends, _ = WindowGrid().windows(abac_analysis.duration_s)
    assert np.allclose(w.start_s, starts) and np.allclose(w.end_s, ends, atol=1e-3)


def test_features_tell_textures_apart(abac_analysis):
    w = abac_analysis.windows
    a_win = w[(w.start_s >= 0) & (w.end_s <= 20)]
    c_win = w[(w.start_s >= 60) & (w.end_s <= 80)]
    # the C texture (distorted guitar, 16th hats) is brighter and busier than A
    assert c_win["amper21.spectral_centroid_hz"].mean() > a_win["amper21.spectral_centroid_hz"].mean()
    assert c_win["amper21.onset_rate_per_s"].mean() > a_win["amper21.onset_rate_per_s"].mean()


def test_summary_contract(abac_analysis):
    s = abac_analysis.summary()
    for key in ("duration_s", "tempo_bpm", "tonic", "mode", "key", "k"):
        assert key in s
    assert s["key"] == "D minor"


def test_same_input_same_result(abac_piece):
    audio, sr, _ = abac_piece
    clip = audio[: 30 * sr]
    a = core.analyze(core.track_from_array(clip, sr))
    b = core.analyze(core.track_from_array(clip, sr))
    assert a.windows.equals(b.windows) and a.segments.equals(b.segments)


def test_progress_is_reported(abac_piece):
    audio, sr, _ = abac_piece
    seen = []
    core.analyze(core.track_from_array(audio[: 12 * sr], sr), progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)


@pytest.mark.parametrize("major_tonic", ["A", "F#"])
def test_major_key_and_other_tempo(major_tonic):
    from core.generate.groundtruth import form_track

    audio, sr, truth = form_track(form="ABCA", tempo_bpm=128, tonic=major_tonic, mode="major", bars_per_section=6)
    a = core.analyze(core.track_from_array(audio, sr))
    assert abs(a.tempo_bpm / 128 - 1) < 0.02
    assert (a.tonic, a.mode) == (major_tonic, "major")


# -------------------------------------------------------------------- edge cases
def test_silence_is_analysed_and_said(tmp_path):
    tr = core.track_from_array(np.zeros((44100 * 15, 2), np.float32), 44100, name="silence")
    a = core.analyze(tr)
    assert a.windows.silent.all()
    assert np.isnan(a.tempo_bpm)
    assert a.tonic == "" and len(a.segments) == 1
    assert any("silent" in w for w in a.warnings)


def test_clip_shorter_than_a_window(abac_piece):
    audio, sr, _ = abac_piece
    a = core.analyze(core.track_from_array(audio[: int(4 * sr)], sr))
    assert len(a.windows) == 1 and bool(a.windows.partial[0])
    assert a.windows.end_s[0] == pytest.approx(4.0, abs=0.01)
    assert len(a.segments) == 1 and a.k == 1
    assert any("shorter than one" in w for w in a.warnings)


def test_tiny_clip_does_not_crash():
    tr = core.track_from_array(np.random.default_rng(0).normal(0, 0.1, (500, 1)).astype(np.float32), 22050)
    a = core.analyze(tr)
    assert len(a.windows) == 1


def test_8khz_input_keeps_tempo(abac_piece):
    import soxr

    audio, sr, truth = abac_piece
    low = soxr.resample(audio[: 40 * sr], sr, 8000).astype(np.float32)
    a = core.analyze(core.track_from_array(low, 8000))
    assert abs(a.tempo_bpm / truth.tempo_bpm - 1) < 0.02


def test_options_are_validated():
    with pytest.raises(OptionError):
        AnalysisOptions(window_s=10, hop_s=11)
    with pytest.raises(OptionError):
        AnalysisOptions(key_profile="nonsense")
    with pytest.raises(OptionError):
        SegmentOptions(boundary_method="magic")
    with pytest.raises(OptionError):
        SegmentOptions(k_min=5, k_max=2)


def test_knobs_change_the_result(abac_piece):
    audio, sr, _ = abac_piece
    tr = core.track_from_array(audio, sr)
    forced = core.analyze(tr, options=AnalysisOptions(segmentation=SegmentOptions(k_min=3, k_max=3)))
    assert forced.k == 3
    labels = core.analyze(tr, options=AnalysisOptions(segmentation=SegmentOptions(boundary_method="labels")))
    assert len(labels.segments) >= 2
    coarse = core.analyze(tr, options=AnalysisOptions(window_s=20, hop_s=5))
    assert coarse.windows.start_s.diff().dropna().eq(5).all()


def test_analysis_round_trips_through_bytes(abac_analysis):
    from core.analysis.analyze import analysis_from_bytes, analysis_to_bytes

    back = analysis_from_bytes(analysis_to_bytes(abac_analysis))
    assert back.summary() == abac_analysis.summary()
    assert np.allclose(back.chroma, abac_analysis.chroma)
    assert back.windows.shape == abac_analysis.windows.shape
    assert (back.windows.tonic == abac_analysis.windows.tonic).all()
    assert np.allclose(back.windows["gtzan.mfcc5_var"], abac_analysis.windows["gtzan.mfcc5_var"])


def test_a_held_tone_has_no_tempo():
    sr = 22050
    t = np.arange(30 * sr) / sr
    a = core.analyze(core.track_from_array((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr))
    assert np.isnan(a.tempo_bpm) and a.windows.tempo_bpm.isna().all()
    assert any("No steady pulse" in w for w in a.warnings)
    assert a.tonic == "A"


def test_very_quiet_track_reads_nothing():
    sr = 22050
    y = (10 ** (-70 / 20) * np.random.default_rng(0).standard_normal(30 * sr)).astype(np.float32)
    a = core.analyze(core.track_from_array(y, sr))
    assert np.isnan(a.tempo_bpm) and len(a.segments) == 1 and a.windows.silent.all()
    assert any("very quiet" in w for w in a.warnings)


def test_window_aggregation_matches_brute_force():
    from core.audio.grid import window_mean_var

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 500))
    grid = WindowGrid(3.0, 1.0)
    f0, f1 = grid.frame_bounds(11.6, sr=100, hop_length=2, n_frames=500)
    m, v = window_mean_var(x, f0, f1)
    for w in range(f0.size):
        assert np.allclose(m[w], x[:, f0[w]:f1[w]].mean(axis=1))
        assert np.allclose(v[w], x[:, f0[w]:f1[w]].var(axis=1))
    starts, ends, _ = grid.windows(11.6)
    assert np.all(f0 == np.round(starts * 50)) and f1[-1] == 500


def test_options_are_keyword_only_and_whole_numbers():
    with pytest.raises(TypeError):
        AnalysisOptions(10, 2)  # noqa
    with pytest.raises(OptionError, match="whole number"):
        SegmentOptions(k_min=2.5)


def test_harmonic_change_is_not_diluted_in_the_first_window():
    """Two chords alternating every third of a second, steadily (one second apart, the chord is
    always the other one): the chord-change features of the
    first window equal those of later windows (the first second is measured, not zero-padded)."""
    sr = 22050
    t = np.arange(int(sr / 3)) / sr
    chords = [(261.63, 329.63, 392.0), (293.66, 369.99, 440.0)]  # C major, D major
    half = [sum(np.sin(2 * np.pi * f * t) for f in c) * np.hanning(t.size) ** 0.2 for c in chords]
    y = 0.2 * np.tile(np.concatenate(half), 24).astype(np.float32)  # 16 s
    table = core.analysis.analyze.window_feature_table(core.track_from_array(y, sr))
    # the one-second lag is what zero-padding diluted (by a tenth of a 10 s window; the 8-frame
    # lag of harmonic_change only by 2 %, too little to test)
    first, second = table["tonal.harmonic_change_1s"].iloc[:2]
    assert second > 0.05 and abs(first / second - 1) < 0.03, (first, second)


# ----------------------------------------------------------------- key and feature-set APIs
def test_one_key_api_scores_and_estimates_agree():
    from core.analysis.key import estimate_keys, key_scores

    rng = np.random.default_rng(5)
    chroma = rng.uniform(0, 1, (30, 12))
    chroma[0] = 0.0  # no pitch content
    chroma[1] = 0.4  # all classes equal
    scores = key_scores(chroma)
    keys = estimate_keys(chroma)
    assert scores.corr.shape == (30, 24) and scores.flat[:2].all() and not scores.flat[2:].any()
    best = scores.corr.argmax(axis=1)
    assert (keys.tonic[2:] == best[2:] % 12).all() and (keys.mode[2:] == best[2:] // 12).all()
    assert (keys.tonic[:2] == -1).all() and np.allclose(keys.confidence[2:], scores.strength[2:])
    # a track context pulls an ambiguous window toward the track's key
    track = np.zeros(12)
    track[[2, 5, 9]] = 1.0  # D minor triad
    pulled = estimate_keys(np.full((1, 12), 0.5) + 0.01 * rng.uniform(size=(1, 12)), context=track, context_weight=5.0)
    assert (pulled.tonic_names()[0], pulled.mode_names()[0]) == ("D", "minor")


def test_feature_registry_is_the_one_contract(abac_analysis):
    from core.analysis.features import FEATURE_SETS, feature_columns, feature_set

    w = abac_analysis.windows
    registered = [c for fs in FEATURE_SETS.values() for c in fs.columns]
    assert list(w.columns[len(core.analysis.analyze.BASE_COLUMNS):]) == registered
    for name, fs in FEATURE_SETS.items():
        assert fs.name == name and feature_columns(name) == fs.columns
    with pytest.raises(OptionError, match="Unknown feature set"):
        feature_set("nonsense")


def test_a_new_feature_set_is_one_registry_entry(monkeypatch, abac_piece):
    from core.analysis import features
    from core.analysis.features import FeatureSet

    def loudest(inputs):
        return {"rms_max_db": np.array([20 * np.log10(max(inputs.frames.rms[a:b].max(), 1e-9))
                                        for a, b in zip(inputs.f0, inputs.f1)])}

    extra = FeatureSet("extra", {"rms_max_db": "loudest frame of the window (dBFS)"}, loudest)
    monkeypatch.setitem(features.FEATURE_SETS, "extra", extra)
    audio, sr, _ = abac_piece
    table = core.analysis.analyze.window_feature_table(core.track_from_array(audio[: 14 * sr], sr))
    assert list(table.columns[-1:]) == ["extra.rms_max_db"] and features.feature_columns("extra") == ["extra.rms_max_db"]
    assert (table["extra.rms_max_db"] >= table["amper21.rms_db"]).all()


def test_scale_degrees_start_on_the_windows_tonic(abac_analysis):
    """D minor: the tonal degree features put most weight on degrees 0, 3 and 7 (D, F, A)."""
    w = abac_analysis.windows[~abac_analysis.windows.silent]
    degrees = w[[f"tonal.degree_{k}" for k in range(12)]].to_numpy()
    assert np.allclose(degrees.sum(axis=1), 1.0)
    assert set(np.argsort(degrees.mean(axis=0))[-3:]) <= {0, 2, 3, 5, 7, 8, 10}


# ----------------------------------------------------------------- tempo on music with a real pulse (issue 13)
def _plucked_pulse(bpm: float, dur_s: float, *, hiss: float = 0.02, jitter_s: float = 0.015, seed: int = 0,
                   drift_to_bpm: float | None = None, sr: int = 22050) -> np.ndarray:
    """Decaying plucked notes on every beat (accented downbeats, human timing) over light hiss:
    a pulse anybody taps, with none of the renders' sharp drum onsets."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int((dur_s + 2) * sr))
    t_note = np.arange(int(1.5 * sr)) / sr
    t, k = 0.0, 0
    while t < dur_s:
        f_hz = rng.choice([196.0, 220.0, 247.0, 262.0, 294.0, 330.0])
        note = np.sin(2 * np.pi * f_hz * t_note) * np.exp(-3 * t_note) * (1 - np.exp(-200 * t_note))
        start = int(max(t + rng.normal(0, jitter_s), 0) * sr)
        y[start:start + note.size] += note * (1.0 if k % 4 == 0 else 0.6)
        bpm_now = bpm if drift_to_bpm is None else bpm + (drift_to_bpm - bpm) * t / dur_s
        t, k = t + 60.0 / bpm_now, k + 1
    y = y[: int(dur_s * sr)] + hiss * rng.standard_normal(int(dur_s * sr))
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def _tempo_of(y: np.ndarray, sr: int = 22050):
    from core.analysis.tempo import estimate_tempo
    from core.audio.frames import compute_frames

    frames = compute_frames(y, sr=sr, with_cqt=False)
    f0, f1 = WindowGrid().frame_bounds(y.size / sr, sr=sr, hop_length=frames.hop_length, n_frames=frames.n_frames)
    return estimate_tempo(frames.onset_env, sr=sr, hop_length=frames.hop_length, f0=f0, f1=f1), f0, f1


@pytest.mark.parametrize("bpm", [80.0, 100.0])
def test_plucked_pulse_without_drums_gets_a_tempo_and_a_confidence(bpm):
    # The shipped code abstained ("No steady pulse") on these: the tempogram peak stood less than
    # 0.2 above its median, as on a third of real GTZAN clips.
    result, _, _ = _tempo_of(_plucked_pulse(bpm, 20.0))
    assert abs(result.tempo_bpm / bpm - 1) < 0.02
    assert 0.1 < result.confidence <= 1.0


def test_noise_has_no_tempo():
    for seed in range(3):
        y = (0.3 * np.random.default_rng(seed).standard_normal(20 * 22050)).astype(np.float32)
        result, _, _ = _tempo_of(y)
        assert np.isnan(result.tempo_bpm) and np.isnan(result.window_tempo_bpm).all()
        assert result.confidence == 0.0


def test_window_tempo_follows_a_real_tempo_drift():
    # 100 -> 120 BPM over a minute, human timing, no drums: each window reads the tempo it plays.
    sr, dur_s = 22050, 60.0
    result, f0, f1 = _tempo_of(_plucked_pulse(100.0, dur_s, drift_to_bpm=120.0, jitter_s=0.005), sr)
    centers_s = (f0 + f1) / 2 * 512 / sr
    full = (f1 - f0) * 512 / sr > 9.5
    truth = 100.0 + 20.0 * centers_s[full] / dur_s
    got = result.window_tempo_bpm[full]
    assert np.isfinite(got).all()
    assert (np.abs(got / truth - 1) < 0.04).mean() >= 0.9
    assert got[-1] - got[0] > 12


# ----------------------------------------------------------------- key and tempo confidence on real-like music (issue 13)
def _drummed_cadence(tonic_hz: float, *, bpm: float = 100.0, bars: int = 8, sr: int = 22050, seed: int = 0):
    """I-IV-V-I in a major key as soft sustained triads, under loud drums: a kick (a low sine
    sweep) on 1 and 3, a snare (noise burst) on 2 and 4, 8th-note hats. The drums carry most of
    the energy, as on a pop master."""
    rng = np.random.default_rng(seed)
    beat_s = 60.0 / bpm
    n = int(bars * 4 * beat_s * sr)
    y = np.zeros(n)
    t = np.arange(n) / sr
    ratios = {0: (1, 5 / 4, 3 / 2), 1: (4 / 3, 5 / 3, 2), 2: (3 / 2, 15 / 8, 9 / 4), 3: (1, 5 / 4, 3 / 2)}
    for bar in range(bars):
        a, b = int(bar * 4 * beat_s * sr), int((bar + 1) * 4 * beat_s * sr)
        for r in ratios[bar % 4]:
            y[a:b] += 0.08 * np.sin(2 * np.pi * tonic_hz * r * t[a:b])
    hit = np.arange(int(0.15 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-30 * hit)) * hit) * np.exp(-20 * hit)
    snare = rng.standard_normal(hit.size) * np.exp(-25 * hit)
    hat = rng.standard_normal(hit.size) * np.exp(-120 * hit)
    for k in range(bars * 8):
        start = int(k * beat_s / 2 * sr)
        for sound, gain, every in ((kick, 0.9, (0, 4)), (snare, 0.5, (2, 6)), (hat, 0.15, range(8))):
            if k % 8 in every and start + hit.size <= n:
                y[start:start + hit.size] += gain * sound
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize("tonic, tonic_hz", [("C", 261.63), ("A", 220.0)])
def test_key_of_chords_under_loud_drums(tonic, tonic_hz):
    # The key reads the harmonic part of the CQT from C3 up: the drums smear no pitch class.
    a = core.analyze(core.track_from_array(_drummed_cadence(tonic_hz), 22050))
    assert a.key == f"{tonic} major"
    assert abs(a.tempo_bpm - 100.0) < 2.0


def test_tempo_confidence_is_reported_and_zero_without_a_pulse(abac_analysis):
    assert 0.1 < abac_analysis.tempo_confidence <= 1.0
    assert abac_analysis.summary()["tempo_confidence"] == round(abac_analysis.tempo_confidence, 3)
    sr = 22050
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(20 * sr) / sr)).astype(np.float32)
    assert core.analyze(core.track_from_array(tone, sr)).tempo_confidence == 0.0
