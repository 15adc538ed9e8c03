"""Frame-level representations, computed ONCE per track and sliced per window.

Everything downstream (window features, tempo, key, segmentation) reads from a
:class:`Frames` object, so no transform is ever recomputed for an overlapping window.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

#: STFT / feature hop in samples at 22,050 Hz (23.2 ms).
HOP_LENGTH = 512
N_FFT = 2048
#: CQT resolution: 7 octaves from C1 at 3 bins per semitone.
CQT_BINS_PER_OCTAVE = 36
CQT_OCTAVES = 7
N_MELS = 128
#: The key's chroma: frames pooled before the HPSS, its median-filter sizes on the pooled CQT
#: (pooled frames, bins), and the weight of the octaves below KEY_LOWEST_OCTAVE (0 = C1; 2 = C3).
KEY_POOL_FRAMES = 4
KEY_HPSS_KERNEL = (9, 15)
KEY_LOWEST_OCTAVE = 2
KEY_BASS_WEIGHT = 0.25
N_MFCC = 20


@dataclass(frozen=True)
class Frames:
    """Per-frame matrices of one track at ``sr`` Hz with hop ``hop_length`` samples."""

    sr: int
    hop_length: int
    n_frames: int
    rms: np.ndarray  # (n,) linear RMS amplitude
    zcr: np.ndarray  # (n,) zero crossings per sample
    centroid_hz: np.ndarray  # (n,)
    bandwidth_hz: np.ndarray  # (n,)
    rolloff_hz: np.ndarray  # (n,) 85 % roll-off
    flatness: np.ndarray  # (n,) 0..1
    contrast_db: np.ndarray  # (n,) mean over the 7 contrast bands
    mfcc: np.ndarray  # (20, n)
    chroma_stft: np.ndarray  # (12, n) per-frame max-normalised
    harmonic_rms: np.ndarray  # (n,) RMS of the harmonic part (HPSS)
    percussive_rms: np.ndarray  # (n,) RMS of the percussive part (HPSS)
    onset_env: np.ndarray  # (n,) onset strength (spectral flux on log-mel)
    cqt_db: np.ndarray  # (252, n) CQT magnitude in dB (ref = max)
    chroma_cqt: np.ndarray  # (12, n) CQT chroma energy, not normalised per frame
    chroma_key: np.ndarray  # (12, n) chroma of the CQT's harmonic part from C3 up: what the key reads

    @property
    def frame_s(self) -> float:
        return self.hop_length / float(self.sr)


def _fit(a, n: int) -> np.ndarray:
    """float32, exactly ``n`` frames (edge-padded or cut)."""
    a = np.asarray(a, dtype=np.float32)
    if a.shape[-1] < n:
        pad = [(0, 0)] * (a.ndim - 1) + [(0, n - a.shape[-1])]
        a = np.pad(a, pad, mode="edge")
    return a[..., :n]


def _log_mel(mel: np.ndarray) -> np.ndarray:
    """Mel power in dB (ref 1.0), floored 100 dB below its maximum."""
    log_mel = librosa.power_to_db(mel, ref=1.0, top_db=None)
    return np.maximum(log_mel, log_mel.max() - 100.0)


def _tuning(stft: np.ndarray, *, sr: int) -> float:
    """Tuning offset (fractions of a semitone), estimated once and used by both chromas and the
    CQT, so a band tuned to 432 Hz still lands on the right pitch classes (0 for silence)."""
    if float(stft.max()) <= 1e-4:
        return 0.0
    return float(librosa.estimate_tuning(S=stft[: int(stft.shape[0] * 0.5)], sr=sr, n_fft=N_FFT))


def _spectral_series(y: np.ndarray, stft: np.ndarray, *, sr: int, n: int) -> dict[str, np.ndarray]:
    """The per-frame spectral and temporal descriptors of the magnitude STFT."""
    return {
        "rms": librosa.feature.rms(S=stft, frame_length=N_FFT)[0],
        "zcr": librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP_LENGTH)[0][:n],
        "centroid_hz": librosa.feature.spectral_centroid(S=stft, sr=sr)[0],
        "bandwidth_hz": librosa.feature.spectral_bandwidth(S=stft, sr=sr)[0],
        "rolloff_hz": librosa.feature.spectral_rolloff(S=stft, sr=sr, roll_percent=0.85)[0],
        "flatness": librosa.feature.spectral_flatness(S=stft)[0],
        "contrast_db": librosa.feature.spectral_contrast(S=stft, sr=sr).mean(axis=0),
    }


def _mel_series(mel: np.ndarray, *, sr: int) -> dict[str, np.ndarray]:
    """MFCCs, HPSS part levels and onset strength from the mel power spectrogram."""
    log_mel = _log_mel(mel)
    # HPSS on the mel power spectrogram: ~30x cheaper than on the linear STFT and
    # enough to split sustained (harmonic) from transient (percussive) energy.
    mel_h, mel_p = librosa.decompose.hpss(mel, kernel_size=(9, 17), margin=1.0)
    return {
        "mfcc": librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC),
        "harmonic_rms": np.sqrt(mel_h.sum(axis=0) / mel.shape[0]),
        "percussive_rms": np.sqrt(mel_p.sum(axis=0) / mel.shape[0]),
        "onset_env": librosa.onset.onset_strength(S=log_mel, sr=sr, hop_length=HOP_LENGTH),
    }


def _key_chroma(cqt: np.ndarray) -> np.ndarray:
    """Chroma for the key: the CQT's harmonic part (median-filter HPSS on the CQT itself, so drums
    and onsets smear no pitch class), with the octaves below C3 weighted down to KEY_BASS_WEIGHT
    (the bass' overtones and tuned kicks blur the tonic; a little bass still tells E power chords
    from A major). The HPSS runs on frames pooled by KEY_POOL_FRAMES (about 10x cheaper, the same
    keys on gtzan-dev) and is repeated back to the frame rate (README, Key estimation)."""
    n = cqt.shape[1]
    pad = (-n) % KEY_POOL_FRAMES
    padded = np.pad(cqt, ((0, 0), (0, pad)), mode="edge") if pad else cqt
    pooled = padded.reshape(cqt.shape[0], -1, KEY_POOL_FRAMES).mean(axis=2)
    harmonic = librosa.decompose.hpss(pooled, kernel_size=KEY_HPSS_KERNEL, margin=1.0)[0]
    harmonic[: KEY_LOWEST_OCTAVE * CQT_BINS_PER_OCTAVE] *= KEY_BASS_WEIGHT
    chroma = librosa.feature.chroma_cqt(C=harmonic, bins_per_octave=CQT_BINS_PER_OCTAVE, norm=None)
    return np.repeat(chroma, KEY_POOL_FRAMES, axis=1)[:, :n]


def _cqt_series(y: np.ndarray, *, sr: int, tuning: float, n: int) -> dict[str, np.ndarray]:
    """The CQT in dB (ref = its max), its chroma energy (not normalised per frame) and the key's chroma."""
    cqt = np.abs(librosa.cqt(y, sr=sr, hop_length=HOP_LENGTH, n_bins=CQT_BINS_PER_OCTAVE * CQT_OCTAVES,
                             bins_per_octave=CQT_BINS_PER_OCTAVE, tuning=tuning))[:, :n]
    chroma_cqt = librosa.feature.chroma_cqt(C=cqt, sr=sr, bins_per_octave=CQT_BINS_PER_OCTAVE, norm=None)
    cqt_db = librosa.amplitude_to_db(cqt, ref=np.max(cqt) if cqt.max() > 0 else 1.0)
    return {"cqt_db": cqt_db, "chroma_cqt": chroma_cqt, "chroma_key": _key_chroma(cqt)}


def compute_frames(y: np.ndarray, *, sr: int, with_cqt: bool = True, progress=None) -> Frames:
    """All frame-level matrices of a mono signal ``y`` at ``sr`` Hz.

    ``with_cqt=False`` skips the constant-Q transform (key and form need it; the window
    features do not): ``cqt_db``, ``chroma_cqt`` and ``chroma_key`` are then empty (zero rows).
    """
    step = progress or (lambda f, m: None)
    min_len = 2 * sr  # the CQT's lowest octaves need a couple of seconds of signal
    if y.size < min_len:
        y = np.pad(y, (0, min_len - y.size))
    step(0.0, "Spectrogram")
    stft = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH))
    power = stft**2
    n = stft.shape[1]
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=N_MELS)
    step(0.25, "Timbre features")
    tuning = _tuning(stft, sr=sr)
    series = {**_spectral_series(y, stft, sr=sr, n=n), **_mel_series(mel, sr=sr),
              "chroma_stft": librosa.feature.chroma_stft(S=power, sr=sr, tuning=tuning)}
    if with_cqt:
        step(0.5, "Constant-Q transform")
        series.update(_cqt_series(y, sr=sr, tuning=tuning, n=n))
    else:
        empty = np.zeros((0, n), dtype=np.float32)
        series.update(cqt_db=empty, chroma_cqt=empty, chroma_key=empty)
    step(1.0, "Frames ready")
    return Frames(sr=sr, hop_length=HOP_LENGTH, n_frames=n, **{k: _fit(v, n) for k, v in series.items()})
