"""The musicnn music-tagging network in torch, loading the original TensorFlow checkpoints.

musicnn (Pons & Serra, "musicnn: pre-trained convolutional neural networks for music audio
tagging", ISMIR 2019 LBD; the ``musicnn==0.1.0`` wheel, ISC licence) reads 3 s patches of a
log-compressed mel spectrogram (16 kHz, 512-point FFT, hop 256, 96 mel bands,
``log10(10000 x + 1)``, 187 frames) and returns 50 tag probabilities per patch:

- front end: batch-normalised input; two timbral blocks (7x38 and 7x67 filters over time x
  frequency, 204 maps each) and three temporal blocks (128x1, 64x1, 32x1 filters, 51 maps each),
  each conv -> ReLU -> batch norm -> max over frequency; 561 channels per frame;
- mid end: three 1-D convolutions over time (7 frames, 64 channels), the second and third with
  residual connections; the front-end and mid-end outputs are concatenated (753 channels);
- back end: max and mean over time (interleaved as the original flattens them, 1506 values),
  batch norm, a 200-unit dense ReLU layer and batch norm (the *penultimate* embedding), then a
  50-unit dense layer and a sigmoid.

Every batch norm runs in inference mode (the checkpoint's moving statistics, epsilon 1e-3 as
``tf.compat.v1.layers.batch_normalization``). Dropout is off. The network is built once per
process per model and weights folder (:func:`load_musicnn`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import torch
from torch import nn

from core.embed.weights import CHECKPOINT_FILES, DEFAULT_MODEL, MODELS, missing_weights, musicnn_folder
from core.errors import AudioError, OptionError, SeparationError, check_choice
from core.separation.tfcheckpoint import read_checkpoint

__all__ = ["MusicnnResult", "embed", "load_musicnn", "tag_names", "window_table", "MODEL_SR", "PATCH_FRAMES"]

#: The input pipeline of the original (musicnn/configuration.py and extractor.py).
MODEL_SR = 16000
FFT_SIZE = 512
FFT_HOP = 256
N_MELS = 96
#: 3 s patches: ``librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1``.
PATCH_FRAMES = 187
PATCH_S = PATCH_FRAMES * FFT_HOP / MODEL_SR
_BN_EPS = 1e-3

MTT_LABELS = ('guitar', 'classical', 'slow', 'techno', 'strings', 'drums', 'electronic', 'rock', 'fast', 'piano',
              'ambient', 'beat', 'violin', 'vocal', 'synth', 'female', 'indian', 'opera', 'male', 'singing',
              'vocals', 'no vocals', 'harpsichord', 'loud', 'quiet', 'flute', 'woman', 'male vocal', 'no vocal',
              'pop', 'soft', 'sitar', 'solo', 'man', 'classic', 'choir', 'voice', 'new age', 'dance',
              'male voice', 'female vocal', 'beats', 'harp', 'cello', 'no voice', 'weird', 'country', 'metal',
              'female voice', 'choral')
MSD_LABELS = ('rock', 'pop', 'alternative', 'indie', 'electronic', 'female vocalists', 'dance', '00s',
              'alternative rock', 'jazz', 'beautiful', 'metal', 'chillout', 'male vocalists', 'classic rock',
              'soul', 'indie rock', 'Mellow', 'electronica', '80s', 'folk', '90s', 'chill', 'instrumental',
              'punk', 'oldies', 'blues', 'hard rock', 'ambient', 'acoustic', 'experimental', 'female vocalist',
              'guitar', 'Hip-Hop', '70s', 'party', 'country', 'easy listening', 'sexy', 'catchy', 'funk',
              'electro', 'heavy metal', 'Progressive rock', '60s', 'rnb', 'indie pop', 'sad', 'House', 'happy')


def tag_names(model: str = DEFAULT_MODEL) -> tuple[str, ...]:
    """The 50 tag names of ``model``, in output order."""
    check_choice(model, MODELS, what="musicnn model")
    return MTT_LABELS if model.startswith("MTT") else MSD_LABELS


# --------------------------------------------------------------------------- the network
class _Block(nn.Module):
    """conv -> ReLU -> batch norm -> max over frequency (a front-end timbral or temporal block)."""

    def __init__(self, filters: int, kernel: tuple[int, int], pad_t: tuple[int, int]):
        super().__init__()
        self.pad_t = pad_t
        self.conv = nn.Conv2d(1, filters, kernel)
        self.bn = nn.BatchNorm2d(filters, eps=_BN_EPS)

    def forward(self, x):  # x: (B, 1, T, F)
        conv = self.conv(nn.functional.pad(x, (0, 0, *self.pad_t)))
        # ReLU and the inference batch norm are monotone per channel (rising where gamma >= 0,
        # falling where gamma < 0), so max over frequency commutes with them: take the max (or the
        # min) first and normalise (B, filters, T) instead of the whole (B, filters, T, F) map.
        pick = torch.where(self.bn.weight[None, :, None] >= 0, conv.amax(dim=3), conv.amin(dim=3))
        bn = self.bn
        return nn.functional.batch_norm(torch.relu(pick), bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                        training=False, eps=bn.eps)


class _Midend(nn.Module):
    """conv over time (7 frames, all input channels) -> ReLU -> batch norm."""

    def __init__(self, in_channels: int, filters: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, filters, 7, padding=3)
        self.bn = nn.BatchNorm1d(filters, eps=_BN_EPS)

    def forward(self, x):  # x: (B, C, T)
        return self.bn(torch.relu(self.conv(x)))


class Musicnn(nn.Module):
    """The musicnn network (``build_musicnn`` in musicnn/models.py), inference only."""

    def __init__(self, *, n_classes: int = 50, midend_filters: int = 64, backend_units: int = 200):
        super().__init__()
        self.bn_input = nn.BatchNorm2d(1, eps=_BN_EPS)
        timbral = [_Block(204, (7, int(f * N_MELS)), (3, 3)) for f in (0.4, 0.7)]
        # TF "same" padding of an even kernel k puts (k - 1) // 2 before and the rest after.
        temporal = [_Block(51, (k, 1), ((k - 1) // 2, k // 2)) for k in (128, 64, 32)]
        self.frontend = nn.ModuleList(timbral + temporal)
        n_front = 2 * 204 + 3 * 51
        self.midend = nn.ModuleList([_Midend(n_front, midend_filters)] +
                                    [_Midend(midend_filters, midend_filters) for _ in range(2)])
        n_mid = n_front + 3 * midend_filters
        self.bn_pool = nn.BatchNorm1d(2 * n_mid, eps=_BN_EPS)
        self.dense = nn.Linear(2 * n_mid, backend_units)
        self.bn_dense = nn.BatchNorm1d(backend_units, eps=_BN_EPS)
        self.out = nn.Linear(backend_units, n_classes)

    def forward(self, patches):
        """(B, 187, 96) log-mel patches -> (tag probabilities (B, 50), penultimate (B, 200))."""
        x = self.bn_input(patches[:, None, :, :])
        front = torch.cat([block(x) for block in self.frontend], dim=1)  # (B, 561, T)
        m1 = self.midend[0](front)
        m2 = self.midend[1](m1) + m1
        m3 = self.midend[2](m2) + m2
        feats = torch.cat([front, m1, m2, m3], dim=1)  # (B, 753, T)
        # The original concatenates [max, mean] on a last axis and flattens: they interleave.
        pooled = torch.stack([feats.amax(dim=2), feats.mean(dim=2)], dim=2).flatten(1)
        penultimate = self.bn_dense(torch.relu(self.dense(self.bn_pool(pooled))))
        return torch.sigmoid(self.out(penultimate)), penultimate


# ----------------------------------------------------------------- checkpoint -> torch
def _bn_names(tf_name: str, layer: str, channels: int) -> dict[str, tuple[tuple[int, ...], str]]:
    parts = (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"), ("moving_variance", "running_var"))
    return {f"{tf_name}/{tf}": ((channels,), f"{layer}.{pt}") for tf, pt in parts}


def variable_table(net: Musicnn) -> dict[str, tuple[tuple[int, ...], str]]:
    """TF variable name -> (its TF shape, the torch parameter or buffer it fills), for every weight.

    The TF names follow the order the original builds its layers (``conv2d``, ``conv2d_1``, ...;
    ``batch_normalization``, ``batch_normalization_1``, ...).
    """
    convs = [(f"frontend.{i}.conv", blk.conv) for i, blk in enumerate(net.frontend)]
    convs += [(f"midend.{i}.conv", mid.conv) for i, mid in enumerate(net.midend)]
    bns = [("bn_input", 1)] + [(f"frontend.{i}.bn", b.bn.num_features) for i, b in enumerate(net.frontend)]
    bns += [(f"midend.{i}.bn", m.bn.num_features) for i, m in enumerate(net.midend)]
    bns += [("bn_pool", net.bn_pool.num_features), ("bn_dense", net.bn_dense.num_features)]
    table: dict[str, tuple[tuple[int, ...], str]] = {}
    for i, (layer, conv) in enumerate(convs):
        tf_name = "conv2d" if i == 0 else f"conv2d_{i}"
        out_ch, in_ch, *kernel = conv.weight.shape
        tf_shape = (kernel[0], kernel[1], 1, out_ch) if conv.weight.dim() == 4 else (kernel[0], in_ch, 1, out_ch)
        table[f"{tf_name}/kernel"] = (tf_shape, f"{layer}.weight")
        table[f"{tf_name}/bias"] = ((out_ch,), f"{layer}.bias")
    for i, (layer, channels) in enumerate(bns):
        table.update(_bn_names("batch_normalization" if i == 0 else f"batch_normalization_{i}", layer, channels))
    for tf_name, lin, layer in (("dense", net.dense, "dense"), ("dense_1", net.out, "out")):
        table[f"{tf_name}/kernel"] = ((lin.in_features, lin.out_features), f"{layer}.weight")
        table[f"{tf_name}/bias"] = ((lin.out_features,), f"{layer}.bias")
    return table


def _to_torch(array: np.ndarray, target: torch.Tensor) -> torch.Tensor:
    """TF layout -> torch layout: conv kernels (kh, kw, in, out) -> (out, in, kh, kw), dense transposed."""
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 4 and target.dim() == 4:
        a = a.transpose(3, 2, 0, 1)
    elif a.ndim == 4:  # a mid-end conv over all channels, read as a 1-D conv: (7, C, 1, out) -> (out, C, 7)
        a = a[:, :, 0, :].transpose(2, 1, 0)
    elif a.ndim == 2:
        a = a.T
    return torch.from_numpy(np.ascontiguousarray(a))


@functools.lru_cache(maxsize=4)
def load_musicnn(model: str = DEFAULT_MODEL, *, weights_dir: str | None = None) -> Musicnn:
    """Build ``model`` and fill it from its checkpoint (cached: once per process per model and folder).

    Raises
    ------
    EmbeddingError
        The checkpoint files are missing or damaged, or a variable is missing or has another shape.
    OptionError
        ``model`` is not one of :data:`core.embed.weights.MODELS`.
    """
    check_choice(model, MODELS, what="musicnn model")
    folder = musicnn_folder(model, weights_dir=weights_dir)
    absent = [name for name in CHECKPOINT_FILES if not (folder / name).is_file()]
    if absent:
        raise missing_weights(folder, f"{', '.join(absent)} not found")
    try:
        tensors = read_checkpoint(folder / "model")
    except SeparationError as exc:
        raise missing_weights(folder, f"the checkpoint could not be read ({exc})") from None
    return fill_network(Musicnn(n_classes=len(tag_names(model))), tensors, folder=folder)


def fill_network(net: Musicnn, tensors: dict[str, np.ndarray], *, folder: Path) -> Musicnn:
    """Copy the checkpoint's arrays into ``net`` (TF layout -> torch layout); returns it in eval mode.

    Raises :class:`EmbeddingError` (naming ``folder``) when a variable is missing or has another shape.
    """
    state = net.state_dict()
    for tf_name, (shape, torch_name) in variable_table(net).items():
        if tf_name not in tensors:
            raise missing_weights(folder, f"the variable {tf_name} is missing")
        if tuple(tensors[tf_name].shape) != shape:
            raise missing_weights(folder, f"{tf_name} has shape {tuple(tensors[tf_name].shape)}, expected {shape}")
        state[torch_name] = _to_torch(tensors[tf_name], state[torch_name])
    net.load_state_dict(state)
    return net.eval()



# --------------------------------------------------------------------------- the input
def log_mel(y: np.ndarray, sr: int) -> np.ndarray:
    """(n_frames, 96) input representation, as musicnn's ``batch_data`` computes it.

    ``y`` is mono, or ``(n_samples, channels)`` / ``(channels, n_samples)`` (averaged to mono). Mono at 16 kHz, librosa mel power spectrogram (reflect padding, as the librosa the models were
    trained with), rounded to float16 as the original does, then ``log10(10000 x + 1)``.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:  # (n_samples, channels) as a Track holds it, or (channels, n_samples)
        y = y.mean(axis=1) if y.shape[0] >= y.shape[1] else y.mean(axis=0)
    if y.ndim != 1 or y.size < FFT_HOP or not np.isfinite(y).all():
        raise AudioError("The audio is empty, too short (under 20 ms) or damaged (not finite): the tagger needs sound. "
                         "Load a longer or undamaged file.")
    if int(sr) != MODEL_SR:
        y = librosa.resample(y, orig_sr=int(sr), target_sr=MODEL_SR, res_type="soxr_hq")
    mel = librosa.feature.melspectrogram(y=y, sr=MODEL_SR, hop_length=FFT_HOP, n_fft=FFT_SIZE, n_mels=N_MELS,
                                         pad_mode="reflect").T
    return np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)


def patch_starts(n_frames: int, hop_frames: int) -> np.ndarray:
    """First frame of every full 187-frame patch (one patch at 0 when the audio is shorter)."""
    return np.arange(0, max(n_frames - PATCH_FRAMES, 0) + 1, hop_frames)


def _patches(rep: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if rep.shape[0] < PATCH_FRAMES:  # shorter than 3 s: pad with silence (log10(1) = 0)
        rep = np.pad(rep, ((0, PATCH_FRAMES - rep.shape[0]), (0, 0)))
    return np.stack([rep[s : s + PATCH_FRAMES] for s in starts]).astype(np.float32)


@dataclass(frozen=True)
class MusicnnResult:
    """musicnn's output for one piece of audio, one row per 3 s patch.

    Attributes
    ----------
    model : str
        ``MTT_musicnn`` or ``MSD_musicnn``.
    start_s, end_s : ndarray (n_patches,)
        Where each patch starts and ends, in seconds.
    tags : ndarray (n_patches, 50)
        Tag probabilities (0..1; tags are independent, rows do not sum to 1).
    embedding : ndarray (n_patches, 200)
        The penultimate layer (after its batch norm).
    tag_names : tuple of str
        The 50 tag names, in column order.
    """

    model: str
    start_s: np.ndarray
    end_s: np.ndarray
    tags: np.ndarray
    embedding: np.ndarray
    tag_names: tuple[str, ...]

    def top_tags(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` tags with the highest mean probability over all patches."""
        mean = self.tags.mean(axis=0)
        return [(self.tag_names[i], float(mean[i])) for i in np.argsort(-mean, kind="stable")[:k]]


def embed(y: np.ndarray, sr: int, *, model: str = DEFAULT_MODEL, hop_s: float = PATCH_S,
          weights_dir: str | None = None, batch_size: int = 32) -> MusicnnResult:
    """Tag probabilities and embeddings of every 3 s patch of ``y``, patches every ``hop_s`` seconds.

    ``hop_s`` defaults to the patch length (the original's non-overlapping taggram). Audio
    shorter than one patch is padded with silence to one patch. CPU, no gradients, deterministic.
    """
    if not 0.1 <= hop_s <= 30.0:
        raise OptionError(f"The musicnn patch hop must be between 0.1 and 30 s (got {hop_s} s).")
    rep = log_mel(y, sr)
    net = load_musicnn(model, weights_dir=None if weights_dir is None else str(weights_dir))
    hop_frames = max(1, int(round(hop_s * MODEL_SR / FFT_HOP)))
    starts = patch_starts(rep.shape[0], hop_frames)
    patches = _patches(rep, starts)
    tags, emb = [], []
    with torch.no_grad():
        for i in range(0, len(patches), batch_size):
            t, e = net(torch.from_numpy(patches[i : i + batch_size]))
            tags.append(t.numpy())
            emb.append(e.numpy())
    start_s = starts * FFT_HOP / MODEL_SR
    return MusicnnResult(model=model, start_s=start_s, end_s=start_s + PATCH_S, tags=np.concatenate(tags),
                         embedding=np.concatenate(emb), tag_names=tag_names(model))


# --------------------------------------------------------------------- the window grid
def column_names(model: str = DEFAULT_MODEL, *, prefix: str = "musicnn") -> list[str]:
    """``musicnn.tag_<name>`` for the 50 tags, then ``musicnn.emb_000`` ... ``emb_199``.

    With ``prefix=""`` the bare names (``tag_rock``), as a feature set's ``features`` lists them.
    """
    lead = f"{prefix}." if prefix else ""
    tags = [f"{lead}tag_{name.lower().replace(' ', '_').replace('-', '_')}" for name in tag_names(model)]
    return tags + [f"{lead}emb_{i:03d}" for i in range(200)]


def window_table(y: np.ndarray, sr: int, *, starts_s: np.ndarray, ends_s: np.ndarray, model: str = DEFAULT_MODEL,
                 hop_s: float = PATCH_S, weights_dir: str | None = None, prefix: str = "musicnn") -> dict[str, np.ndarray]:
    """Patch outputs averaged onto windows (e.g. the ONE grid: ``WindowGrid().windows(duration_s)``).

    Patches are ``hop_s`` apart (default: back to back, about 3 patches per 10 s window; the
    network costs about 3 s per minute of audio per model on 2 cores, and a smaller hop
    multiplies that). A window averages every patch whose centre lies inside it; a window no patch centre falls in
    (shorter than a patch) takes the patch nearest its centre. Returns one (n_windows,) array per
    column of :func:`column_names`, in that order.
    """
    starts_s, ends_s = np.asarray(starts_s, dtype=float), np.asarray(ends_s, dtype=float)
    res = embed(y, sr, model=model, hop_s=hop_s, weights_dir=weights_dir)
    values = np.concatenate([res.tags, res.embedding], axis=1).astype(np.float64)
    centres = (res.start_s + res.end_s) / 2
    out = np.zeros((starts_s.size, values.shape[1]))
    for w, (a, b) in enumerate(zip(starts_s, ends_s)):
        inside = (centres >= a) & (centres < b)
        out[w] = values[inside].mean(axis=0) if inside.any() else values[np.argmin(np.abs(centres - (a + b) / 2))]
    return {name: out[:, i] for i, name in enumerate(column_names(model, prefix=prefix))}
