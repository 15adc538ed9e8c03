"""Audio loading: files or uploaded bytes in, a :class:`Track` out.

WAV, FLAC, OGG, MP3 and AIFF are decoded by libsndfile (through ``soundfile``).
Everything that can go wrong with a user's file ends in an :class:`~core.errors.AudioError`
with a message a musician understands; recoverable oddities (silence, repaired samples,
a truncated file, a very low sample rate) become ``Track.warnings``.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from core.errors import AudioError

#: Sample rate of the mono copy every analysis works on, in Hz.
ANALYSIS_SR = 22050
#: Default refusal limit for long files, in seconds (20 minutes).
DEFAULT_MAX_DURATION_S = 20 * 60.0
#: A track whose peak stays below this (about -80 dBFS) is treated as silence.
SILENCE_PEAK = 1e-4
#: Up to this fraction of NaN/inf samples is repaired (set to 0); more is refused.
MAX_REPAIRED_FRACTION = 0.01
#: Sample rates below this lose so much of the spectrum that timbre features suffer.
LOW_SR_HZ = 16000

SUPPORTED_FORMATS = ("WAV", "FLAC", "OGG", "MP3", "AIFF")
#: File name extensions of those formats (upload widgets offer these).
AUDIO_TYPES = ("wav", "flac", "ogg", "mp3", "aiff", "aif")

_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"{", "a text/JSON file"),
    (b"<", "an HTML/XML text file"),
    (b"MThd", "a MIDI file (notes, not audio)"),
)


@dataclass(frozen=True)
class Track:
    """A decoded piece of audio and its identity.

    Attributes
    ----------
    samples : np.ndarray
        float32 samples, shape ``(n_samples, channels)``, at ``sample_rate``; the original
        resolution kept for playback.
    sample_rate : int
        Hz.
    channels : int
        1 or 2.
    content_hash : str
        SHA-256 of the file bytes: the track's identity in the store and in caches.
    name : str
        File name without extension (used for output folders).
    format : str
        Container format as libsndfile reports it (``WAV``, ``FLAC``, ...).
    warnings : tuple of str
        Things the user should know about the file (silent, repaired, truncated, ...).
    """

    samples: np.ndarray = field(repr=False)
    sample_rate: int
    channels: int
    content_hash: str
    name: str = "track"
    format: str = "WAV"
    warnings: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.shape[0] / float(self.sample_rate)

    @property
    def is_silent(self) -> bool:
        return bool(self.samples.size == 0 or np.max(np.abs(self.samples)) < SILENCE_PEAK)

    def mono(self, *, sr: int = ANALYSIS_SR) -> np.ndarray:
        """Mono float32 copy at ``sr`` Hz (the analysis copy)."""
        y = self.samples.mean(axis=1) if self.channels > 1 else self.samples[:, 0]
        y = np.ascontiguousarray(y, dtype=np.float32)
        if self.sample_rate != sr and y.size:
            import soxr

            y = soxr.resample(y, self.sample_rate, sr, quality="HQ").astype(np.float32)
        return y


def content_hash(data: bytes) -> str:
    """SHA-256 hex digest of ``data``: the identity of a file's content."""
    return hashlib.sha256(data).hexdigest()


def _sniff(data: bytes) -> str | None:
    head = data[:16].lstrip()
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    return None


def _wav_declared_frames(data: bytes) -> tuple[int, int] | None:
    """(frames the WAV header declares, frames actually present), or None if not a RIFF WAV.

    libsndfile quietly clamps a truncated WAV to the bytes present; the header tells the truth.
    """
    import struct

    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, block_align = 12, 0
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if cid == b"fmt " and pos + 22 <= len(data):
            block_align = struct.unpack("<H", data[pos + 20 : pos + 22])[0]
        if cid == b"data":
            if not block_align or size in (0, 0xFFFFFFFF):
                return None
            return size // block_align, (len(data) - pos - 8) // block_align
        pos += 8 + size + (size & 1)
    return None


def load_track(
    source: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
) -> Track:
    """Decode an audio file (path or raw bytes) into a :class:`Track`.

    Parameters
    ----------
    source : path or bytes
        A WAV, FLAC, OGG, MP3 or AIFF file, as a path or as the uploaded bytes.
    name : str, optional
        Display name; defaults to the file's stem (``"track"`` for bytes).
    max_duration_s : float
        Longest accepted file in seconds; longer files are refused before decoding.

    Raises
    ------
    AudioError
        Empty, damaged, not audio, more than two channels, too long, or unusable samples.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "track"
    else:
        path = Path(source)
        label = name or path.stem
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise AudioError(f"'{path}' does not exist.") from None
        except IsADirectoryError:
            raise AudioError(f"'{path}' is a folder, not an audio file.") from None
        except OSError as exc:
            raise AudioError(f"'{path}' could not be read: {exc.strerror or exc}.") from None
    return _decode(data, label=label, max_duration_s=max_duration_s)


def _decode(data: bytes, *, label: str, max_duration_s: float) -> Track:
    if len(data) == 0:
        raise AudioError(f"'{label}' is empty (0 bytes): the upload or export did not finish.")
    try:
        handle = sf.SoundFile(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        what = _sniff(data)
        if what:
            raise AudioError(
                f"'{label}' is not audio: it looks like {what}. "
                f"Upload a {', '.join(SUPPORTED_FORMATS[:-1])} or {SUPPORTED_FORMATS[-1]} file."
            ) from None
        raise AudioError(
            f"'{label}' could not be decoded as audio (damaged file or unsupported format: {exc}). "
            f"Supported: {', '.join(SUPPORTED_FORMATS)}."
        ) from None
    warnings: list[str] = []
    with handle:
        sr, channels, fmt = int(handle.samplerate), int(handle.channels), str(handle.format)
        declared = int(handle.frames) if handle.frames and handle.frames > 0 else 0
        if channels > 2:
            raise AudioError(
                f"'{label}' has {channels} channels (surround or multitrack). The studio works on "
                f"mono or stereo audio: export a stereo mix and upload that."
            )
        if sr <= 0:
            raise AudioError(f"'{label}' declares an invalid sample rate ({sr} Hz).")
        if declared and declared / sr > max_duration_s:
            raise AudioError(_too_long(label, declared / sr, max_duration_s))
        try:
            samples = handle.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(
                f"'{label}' is damaged: decoding stopped part-way ({exc}). Re-export or re-upload it."
            ) from None
    n = samples.shape[0]
    if n == 0:
        raise AudioError(f"'{label}' contains no audio samples (a header with nothing after it).")
    if n / sr > max_duration_s:
        raise AudioError(_too_long(label, n / sr, max_duration_s))
    wav = _wav_declared_frames(data)
    if wav is not None and wav[0] > wav[1]:
        declared = wav[0]
    if declared and n < declared * 0.99:
        warnings.append(
            f"The file ends early: its header promises {declared / sr:.1f} s but only "
            f"{n / sr:.1f} s could be read (truncated upload?). Analysing what is there."
        )
    bad = ~np.isfinite(samples)
    n_bad = int(bad.sum())
    if n_bad:
        if n_bad > MAX_REPAIRED_FRACTION * samples.size:
            raise AudioError(
                f"'{label}' is damaged: {n_bad} of {samples.size} samples are not numbers (NaN/inf)."
            )
        samples = np.where(bad, 0.0, samples).astype(np.float32)
        warnings.append(f"{n_bad} damaged samples (NaN/inf) were replaced by silence.")
    if sr < LOW_SR_HZ:
        warnings.append(
            f"Low sample rate ({sr} Hz): nothing above {sr // 2} Hz is in the file, so brightness "
            "and timbre readings are less reliable."
        )
    track = Track(
        samples=np.ascontiguousarray(samples),
        sample_rate=sr,
        channels=channels,
        content_hash=content_hash(data),
        name=label,
        format=fmt,
        warnings=tuple(warnings),
    )
    if track.is_silent:
        track = replace(track, warnings=track.warnings + (
            "The track is silent (peak below -80 dBFS): there is no tempo, key or form to find.",
        ))
    return track


def _too_long(label: str, duration_s: float, limit_s: float) -> str:
    return (
        f"'{label}' is {duration_s / 60:.1f} minutes long; the limit is {limit_s / 60:.0f} minutes. "
        "Trim it or raise the limit (STUDIO_MAX_DURATION_S)."
    )


def track_from_array(
    samples: np.ndarray, sample_rate: int, *, name: str = "track"
) -> Track:
    """Wrap in-memory samples (``(n,)`` or ``(n, channels)``) as a Track.

    The content hash is that of the 32-bit float WAV the samples would be saved as, so a track
    built in memory and the same track written to disk by :func:`to_wav_bytes` agree.
    """
    y = np.asarray(samples, dtype=np.float32)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] not in (1, 2):
        raise AudioError("Audio must be mono or stereo: shape (n,) or (n, 2).")
    data = to_wav_bytes(y, sample_rate, subtype="FLOAT")
    return _decode(data, label=name, max_duration_s=float("inf"))


def to_wav_bytes(samples: np.ndarray, sample_rate: int, *, subtype: str = "PCM_16") -> bytes:
    """Encode samples as a WAV file in memory."""
    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples, dtype=np.float32), sample_rate, format="WAV", subtype=subtype)
    return buf.getvalue()


#: libvorbis (through libsndfile) crashes the process (SIGSEGV) on rates from about 256 kHz up;
#: previews of tracks above this rate are resampled to ``PREVIEW_RATE_HZ`` first.
MAX_VORBIS_RATE_HZ = 192_000
PREVIEW_RATE_HZ = 48_000


def ogg_rate(sample_rate: int) -> int:
    """The rate an OGG Vorbis preview of audio at ``sample_rate`` is written at (Hz)."""
    return int(sample_rate) if sample_rate <= MAX_VORBIS_RATE_HZ else PREVIEW_RATE_HZ


def to_ogg_bytes(samples: np.ndarray, sample_rate: int, *, block: int = 8192) -> bytes:
    """Encode samples as OGG Vorbis (compact, for players in the browser).

    Hi-res audio above ``MAX_VORBIS_RATE_HZ`` (a 384 kHz master) is resampled to
    ``PREVIEW_RATE_HZ`` for the preview: Vorbis at such rates crashes the encoder. Written in
    blocks: libvorbis needs stack in proportion to the block it is handed, and one whole-track
    write overflows the smaller stack of a worker thread (segfault).
    """
    y = np.asarray(samples, dtype=np.float32)
    if y.ndim == 1:
        y = y[:, None]
    rate = ogg_rate(sample_rate)
    if rate != sample_rate:
        import soxr

        y = np.asarray(soxr.resample(y, sample_rate, rate), dtype=np.float32).reshape(-1, y.shape[1])
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=rate, channels=y.shape[1], format="OGG", subtype="VORBIS") as out:
        for i in range(0, y.shape[0], block):
            out.write(y[i : i + block])
    return buf.getvalue()
