"""Audio loading: files or uploaded bytes in, a :class:`Track` out.

WAV, FLAC, OGG, MP3 and AIFF are decoded by libsndfile (through ``soundfile``).
Everything that can go wrong with a user's file ends in an :class:`~core.errors.AudioError`
with a message a musician understands; recoverable oddities (silence, repaired samples,
a truncated file, a very low sample rate) become ``Track.warnings``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import stat
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from core.bounds import positive_setting
from core.errors import AudioError

log = logging.getLogger(__name__)

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

#: Sample rates outside this range (Hz) are refused: a 1 Hz header would make 2.4 KB a 20-minute track.
MIN_SR_HZ = 4_000
MAX_SR_HZ = 768_000
#: One megabyte, as the size settings count it.
MB = 1 << 20
#: Decoded-size budget in MB (float32 samples plus the mono analysis copy): a 20-minute 96 kHz (even
#: 192 kHz) stereo master fits; 19.8 minutes at 384 kHz (3.6 GB from a 2 MB FLAC) does not.
DEFAULT_MAX_DECODED_MB = 2048
ENV_MAX_DECODED = "STUDIO_MAX_DECODED_MB"
#: Largest file read into memory, in MB (a 20-minute 96 kHz stereo float WAV is 880 MB).
DEFAULT_MAX_FILE_MB = 1024
ENV_MAX_FILE = "STUDIO_MAX_FILE_MB"
#: Float files peaking above full scale by more than this are turned down (with a warning) ...
FULL_SCALE_TOLERANCE = 1.0001
#: ... and files peaking above this (+80 dBFS) are damaged (1e30 overflows every energy feature).
MAX_PEAK = 1e4
#: Longest ``Track.name`` in bytes of UTF-8 (file systems allow 255 for a folder name).
MAX_NAME_BYTES = 200
#: A stream whose length the header does not tell is read in blocks of this many frames.
STREAM_BLOCK_FRAMES = 1 << 16
#: libsndfile reports at least this many frames for a stream of unknown length.
UNKNOWN_FRAMES = 1 << 62

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
        File name without extension, always safe as one folder or file name (the CLI writes
        ``OUT/<name>/``): no path separators or control characters, never ``.``, ``..`` or a name
        starting with a dot, at most ``MAX_NAME_BYTES`` bytes, ``"track"`` when nothing is left
        (see :func:`safe_track_name`).
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


def _setting_mb(env: str, default_mb: float) -> int:
    """A size limit in bytes from ``env`` (in MB) or ``default_mb``."""
    return int(positive_setting(env, default_mb, example="4096") * MB)


def max_decoded_bytes() -> int:
    """The decoded-size budget: ``STUDIO_MAX_DECODED_MB`` or ``DEFAULT_MAX_DECODED_MB``, in bytes."""
    return _setting_mb(ENV_MAX_DECODED, DEFAULT_MAX_DECODED_MB)


def max_file_bytes() -> int:
    """The largest file read into memory: ``STUDIO_MAX_FILE_MB`` or ``DEFAULT_MAX_FILE_MB``, in bytes."""
    return _setting_mb(ENV_MAX_FILE, DEFAULT_MAX_FILE_MB)


def decoded_bytes(*, frames: int, channels: int, sample_rate: int) -> int:
    """Memory a decoded file needs: its float32 samples plus the mono analysis copy."""
    return int(frames) * int(channels) * 4 + int(frames / sample_rate * ANALYSIS_SR) * 4


def safe_track_name(raw: str | None, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """``raw`` made safe as a single folder or file name (see :class:`Track`'s ``name``).

    Control characters and path separators become ``_``; leading and trailing dots and spaces go
    (so never ``.``, ``..`` or a hidden name); at most ``max_bytes`` bytes of UTF-8;
    ``"track"`` when nothing is left.
    """
    text = "".join(
        "_" if ch in "/\\" or unicodedata.category(ch).startswith("C") else ch for ch in str(raw or "")
    )
    text = text.strip(" ._")
    text = text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore").strip(" .")
    return text or "track"


def read_audio_file(path: Path) -> bytes:
    """The bytes of the audio file at ``path``: only a regular file (a device or FIFO is refused
    at once, never opened for blocking), at most ``STUDIO_MAX_FILE_MB``; else an AudioError."""
    try:
        st = os.stat(path)  # never open() first: opening a FIFO blocks until a writer comes
    except FileNotFoundError:
        raise AudioError(f"'{path}' does not exist.") from None
    except OSError as exc:
        raise AudioError(f"'{path}' could not be read: {exc.strerror or exc}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(f"'{path}' is a folder, not an audio file.")
    if not stat.S_ISREG(st.st_mode):
        raise AudioError(f"'{path}' is not a regular file (a device, pipe or socket): give an audio file.")
    limit = max_file_bytes()
    _check_file_size(str(path), st.st_size, limit)
    try:  # O_NONBLOCK: should the path have become a FIFO since the stat, open still returns at once
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise AudioError(f"'{path}' could not be read: {exc.strerror or exc}.") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AudioError(f"'{path}' is not a regular file (a device, pipe or socket): give an audio file.")
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise AudioError(f"'{path}' could not be read: {exc.strerror or exc}.") from None
    _check_file_size(str(path), len(data), limit)
    return data


def _check_file_size(label: str, size: int, limit: int) -> None:
    if size > limit:
        raise AudioError(
            f"'{label}' is {size / MB:,.0f} MB; files up to {limit / MB:,.0f} MB are read. Use a compressed "
            f"copy (FLAC) or raise the limit ({ENV_MAX_FILE}, in MB)."
        )


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
        A WAV, FLAC, OGG, MP3 or AIFF file, as a path (a regular file) or as the uploaded bytes.
    name : str, optional
        Display name; defaults to the file's stem (``"track"`` for bytes); made safe for a folder
        name (:func:`safe_track_name`).
    max_duration_s : float
        Longest accepted file in seconds; longer files are refused before decoding.

    The decoded size (``STUDIO_MAX_DECODED_MB``) and the file size (``STUDIO_MAX_FILE_MB``) are
    checked before anything large is read or decoded.

    Raises
    ------
    AudioError
        Empty, damaged, not audio, not a regular file, more than two channels, too long, too
        large once decoded, an unusable sample rate, or unusable samples.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = safe_track_name(name or "track")
        _check_file_size(label, len(data), max_file_bytes())
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = safe_track_name(name or path.stem)
        data = read_audio_file(path)
    else:
        raise AudioError(
            f"Cannot load audio from {type(source).__name__}: give a file path or the file's bytes."
        )
    return _decode(data, label=label, max_duration_s=max_duration_s)


def _open(data: bytes, *, label: str) -> sf.SoundFile:
    if len(data) == 0:
        raise AudioError(f"'{label}' is empty (0 bytes): the upload or export did not finish.")
    try:
        return sf.SoundFile(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        log.info("libsndfile could not open %r: %s", label, exc)  # the detail, for the server log
        what = _sniff(data)
        if what:
            raise AudioError(
                f"'{label}' is not audio: it looks like {what}. "
                f"Upload a {', '.join(SUPPORTED_FORMATS[:-1])} or {SUPPORTED_FORMATS[-1]} file."
            ) from None
        raise AudioError(
            f"'{label}' could not be decoded as audio (a damaged file or an unsupported format). "
            f"Supported: {', '.join(SUPPORTED_FORMATS)}."
        ) from None


def _check_header(label: str, *, sr: int, channels: int, frames: int, max_duration_s: float) -> None:
    """Refuse from the header alone: channels, sample rate, duration and decoded size."""
    if channels > 2:
        raise AudioError(
            f"'{label}' has {channels} channels (surround or multitrack). The studio works on "
            f"mono or stereo audio: export a stereo mix and upload that."
        )
    if channels < 1:
        raise AudioError(f"'{label}' declares {channels} channels: the file is damaged.")
    if not MIN_SR_HZ <= sr <= MAX_SR_HZ:
        raise AudioError(
            f"'{label}' has a sample rate of {sr:,} Hz; the studio reads {MIN_SR_HZ:,} to {MAX_SR_HZ:,} Hz. "
            "The file is damaged or mislabelled: export it at 44.1 or 48 kHz."
        )
    if frames and frames / sr > max_duration_s:
        raise AudioError(_too_long(label, frames / sr, max_duration_s))
    _check_budget(label, frames=frames, channels=channels, sr=sr)


def _check_budget(label: str, *, frames: int, channels: int, sr: int) -> None:
    need, limit = decoded_bytes(frames=frames, channels=channels, sample_rate=sr), max_decoded_bytes()
    if need > limit:
        raise AudioError(
            f"'{label}' would need {need / MB:,.0f} MB of memory once decoded ({frames / sr / 60:.1f} min at "
            f"{sr:,} Hz, {channels} channel{'s' if channels > 1 else ''}); the limit is {limit / MB:,.0f} MB. "
            f"Export it at a lower sample rate (48 kHz is plenty for analysis) or raise the limit "
            f"({ENV_MAX_DECODED}, in MB)."
        )


def _read_samples(handle: sf.SoundFile, *, label: str, frames: int, max_duration_s: float) -> np.ndarray:
    """All samples as float32 ``(n, channels)``. A length the header gives is allocated once; a
    stream of unknown length is read in blocks and stopped as soon as a limit is passed."""
    sr, channels = int(handle.samplerate), int(handle.channels)
    try:
        if frames:
            out = np.empty((frames, channels), dtype=np.float32)
            got = handle.read(dtype="float32", always_2d=True, out=out)
            return got.copy() if got.shape[0] < frames // 2 else got
        blocks, n = [], 0
        for block in handle.blocks(blocksize=STREAM_BLOCK_FRAMES, dtype="float32", always_2d=True):
            n += block.shape[0]
            if n / sr > max_duration_s:
                raise AudioError(_too_long(label, n / sr, max_duration_s))
            _check_budget(label, frames=2 * n, channels=channels, sr=sr)  # blocks + their join
            blocks.append(block.copy())
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(
            f"'{label}' is damaged: decoding stopped part-way ({exc}). Re-export or re-upload it."
        ) from None
    return np.concatenate(blocks) if blocks else np.zeros((0, channels), np.float32)


def _repair(samples: np.ndarray, *, label: str, warnings: list[str]) -> np.ndarray:
    """NaN/inf repaired (a few) or refused (many); absurd peaks refused; hot float masters scaled."""
    bad = ~np.isfinite(samples)
    n_bad = int(bad.sum())
    if n_bad:
        if n_bad > MAX_REPAIRED_FRACTION * samples.size:
            raise AudioError(
                f"'{label}' is damaged: {n_bad} of {samples.size} samples are not numbers (NaN/inf)."
            )
        samples = np.where(bad, 0.0, samples).astype(np.float32)
        warnings.append(f"{n_bad} damaged samples (NaN/inf) were replaced by silence.")
    peak = max(float(samples.max()), -float(samples.min())) if samples.size else 0.0
    if peak > MAX_PEAK:
        raise AudioError(
            f"'{label}' is damaged: its samples reach {peak:.3g} times full scale (real recordings stay "
            f"below {MAX_PEAK:g}). Re-export it from the original."
        )
    if peak > FULL_SCALE_TOLERANCE:
        samples = samples * np.float32(1.0 / peak)
        gain_db = 20 * np.log10(peak)
        warnings.append(
            f"The file peaks {gain_db:.1f} dB over full scale (a float master): it was turned down by "
            f"{gain_db:.1f} dB so it plays without clipping. Tempo, key and form are not affected."
        )
    return samples


def _decode(data: bytes, *, label: str, max_duration_s: float) -> Track:
    warnings: list[str] = []
    with _open(data, label=label) as handle:
        sr, channels, fmt = int(handle.samplerate), int(handle.channels), str(handle.format)
        declared = int(handle.frames) if 0 < handle.frames < UNKNOWN_FRAMES else 0
        _check_header(label, sr=sr, channels=channels, frames=declared, max_duration_s=max_duration_s)
        samples = _read_samples(handle, label=label, frames=declared, max_duration_s=max_duration_s)
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
    samples = _repair(samples, label=label, warnings=warnings)
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
