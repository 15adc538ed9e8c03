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


def compute_frames(y: np.ndarray, *, sr: int, with_cqt: bool = True, progress=None) -> Frames:
    """All frame-level matrices of a mono signal ``y`` at ``sr`` Hz.

    ``with_cqt=False`` skips the constant-Q transform (key and form need it; the window
    features do not): ``cqt_db`` and ``chroma_cqt`` are then empty (zero rows).
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
    log_mel = librosa.power_to_db(mel, ref=1.0, top_db=None)
    floor = log_mel.max() - 100.0
    log_mel = np.maximum(log_mel, floor)
    step(0.25, "Timbre features")
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC)
    rms = librosa.feature.rms(S=stft, frame_length=N_FFT)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP_LENGTH)[0][:n]
    centroid = librosa.feature.spectral_centroid(S=stft, sr=sr)[0]
    bandwidth = librosa.feature.spectral_bandwidth(S=stft, sr=sr)[0]
    rolloff = librosa.feature.spectral_rolloff(S=stft, sr=sr, roll_percent=0.85)[0]
    flatness = librosa.feature.spectral_flatness(S=stft)[0]
    contrast = librosa.feature.spectral_contrast(S=stft, sr=sr).mean(axis=0)
    # Tuning offset (fractions of a semitone) estimated once, used by both chromas and
    # the CQT, so a band tuned to 432 Hz still lands on the right pitch classes.
    tuning = 0.0
    if float(stft.max()) > 1e-4:
        tuning = float(librosa.estimate_tuning(S=stft[: int(stft.shape[0] * 0.5)], sr=sr, n_fft=N_FFT))
    chroma_stft = librosa.feature.chroma_stft(S=power, sr=sr, tuning=tuning)
    # HPSS on the mel power spectrogram: ~30x cheaper than on the linear STFT and
    # enough to split sustained (harmonic) from transient (percussive) energy.
    mel_h, mel_p = librosa.decompose.hpss(mel, kernel_size=(9, 17), margin=1.0)
    harmonic_rms = np.sqrt(mel_h.sum(axis=0) / mel.shape[0])
    percussive_rms = np.sqrt(mel_p.sum(axis=0) / mel.shape[0])
    onset_env = librosa.onset.onset_strength(S=log_mel, sr=sr, hop_length=HOP_LENGTH)
    if not with_cqt:
        step(1.0, "Frames ready")
        empty = np.zeros((0, n), dtype=np.float32)
        return Frames(sr=sr, hop_length=HOP_LENGTH, n_frames=n, rms=_fit(rms, n), zcr=_fit(zcr, n),
                      centroid_hz=_fit(centroid, n), bandwidth_hz=_fit(bandwidth, n), rolloff_hz=_fit(rolloff, n),
                      flatness=_fit(flatness, n), contrast_db=_fit(contrast, n), mfcc=_fit(mfcc, n),
                      chroma_stft=_fit(chroma_stft, n), harmonic_rms=_fit(harmonic_rms, n),
                      percussive_rms=_fit(percussive_rms, n), onset_env=_fit(onset_env, n), cqt_db=empty,
                      chroma_cqt=empty)
    step(0.5, "Constant-Q transform")
    cqt = np.abs(
        librosa.cqt(
            y,
            sr=sr,
            hop_length=HOP_LENGTH,
            n_bins=CQT_BINS_PER_OCTAVE * CQT_OCTAVES,
            bins_per_octave=CQT_BINS_PER_OCTAVE,
            tuning=tuning,
        )
    )[:, :n]
    chroma_cqt = librosa.feature.chroma_cqt(
        C=cqt, sr=sr, bins_per_octave=CQT_BINS_PER_OCTAVE, norm=None
    )
    cqt_db = librosa.amplitude_to_db(cqt, ref=np.max(cqt) if cqt.max() > 0 else 1.0)
    step(1.0, "Frames ready")

    def fit(a):
        return _fit(a, n)

    return Frames(
        sr=sr,
        hop_length=HOP_LENGTH,
        n_frames=n,
        rms=fit(rms),
        zcr=fit(zcr),
        centroid_hz=fit(centroid),
        bandwidth_hz=fit(bandwidth),
        rolloff_hz=fit(rolloff),
        flatness=fit(flatness),
        contrast_db=fit(contrast),
        mfcc=fit(mfcc),
        chroma_stft=fit(chroma_stft),
        harmonic_rms=fit(harmonic_rms),
        percussive_rms=fit(percussive_rms),
        onset_env=fit(onset_env),
        cqt_db=fit(cqt_db),
        chroma_cqt=fit(chroma_cqt),
    )
