"""CNNs on spectrogram tiles: one softmax network on 40 x 100 MFCC tiles (the NYU thesis's input)
or on 64 x 100 log-mel tiles (the UT deck's), and the thesis's bagged ensemble of binary
one-vs-all networks with sigmoid outputs.

Input: tiles of the first 40 MFCCs (``librosa.feature.mfcc``, ``n_mfcc=40``,
:func:`mfcc_tiles`) or of a 64-band log-mel spectrogram (:func:`logmel_tiles`) over 100 frames,
cut every ``tile_hop`` frames; both use the same hop, so the two kinds of tiles of a clip line up
one to one. Each coefficient (band) is standardised with the training tiles' mean and spread.
The network is smaller than the thesis's (three 3 x 3 convolution blocks with max-pooling and
dropout, global average pooling, one dense layer) so that it trains in minutes on two CPU cores.

- :func:`train_softmax`: one network, one output per label, cross-entropy.
- :func:`train_bagged`: one binary network per label, each trained on every positive tile and a
  uniform sample of the negatives (``negatives_per_positive`` times as many, drawn anew per
  network), sigmoid output; the per-label tagging threshold is the one that maximises F1 on the
  validation tiles. Scores are each network's confidence, ranked across labels. A tile may carry
  several true labels at once (``y`` as a boolean matrix: a render's genre, subgenre, mood and
  instruments), which is where the ensemble is natural (:func:`multilabel_scores`).

Deterministic for a seed: ``torch.manual_seed`` before each network, one thread, seeded
shuffling and sampling (:func:`cross_validate` restores the thread count it found).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from core.describe.compare import TABLE_COLUMNS, Comparison, confusion_table, scores
from core.errors import OptionError, StudioError

N_MFCC = 40
N_MELS = 64
TILE_FRAMES = 100


class CNNError(StudioError):
    """A CNN cannot be trained on the given tiles."""


@dataclass(frozen=True)
class CNNOptions:
    """How the networks are built and trained."""

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 2e-3
    channels: tuple[int, ...] = (8, 16, 32)
    dense: int = 32
    dropout: float = 0.3
    negatives_per_positive: float = 1.0  # the bagged ensemble's uniform sample of negatives
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.epochs <= 1000 or not 1 <= self.batch_size <= 4096:
            raise OptionError("epochs must be 1-1000 and batch_size 1-4096.")
        if not 0 < self.negatives_per_positive <= 100:
            raise OptionError("negatives_per_positive must be above 0 and at most 100.")


def _tile(rep: np.ndarray, tile_hop: int) -> np.ndarray:
    starts = range(0, rep.shape[1] - TILE_FRAMES + 1, tile_hop)
    return np.stack([rep[:, s:s + TILE_FRAMES] for s in starts]).astype(np.float32) if len(starts) else \
        np.zeros((0, rep.shape[0], TILE_FRAMES), np.float32)


def mfcc_tiles(samples: np.ndarray, sr: int, *, hop_length: int = 1024, tile_hop: int = 50) -> np.ndarray:
    """(n_tiles, 40, 100) float32 tiles of a mono signal's MFCCs (``hop_length`` 1024 at
    22,050 Hz: a tile is 4.6 s, about the UT deck's 5 s chunks); none when it is shorter than
    one tile."""
    import librosa

    return _tile(librosa.feature.mfcc(y=np.asarray(samples, dtype=np.float32), sr=sr, n_mfcc=N_MFCC,
                                      n_fft=2 * hop_length, hop_length=hop_length), tile_hop)


def logmel_tiles(samples: np.ndarray, sr: int, *, hop_length: int = 1024, tile_hop: int = 50) -> np.ndarray:
    """(n_tiles, 64, 100) float32 tiles of a mono signal's log-mel spectrogram (power in dB,
    64 bands up to half the sample rate), cut exactly where :func:`mfcc_tiles` cuts."""
    import librosa

    mel = librosa.feature.melspectrogram(y=np.asarray(samples, dtype=np.float32), sr=sr, n_fft=2 * hop_length,
                                         hop_length=hop_length, n_mels=N_MELS)
    return _tile(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), tile_hop)


def build_cnn(n_outputs: int, *, options: CNNOptions) -> nn.Module:
    """Conv(3 x 3)-BatchNorm-ReLU-MaxPool(2)-Dropout blocks, global average pool, dense, output."""
    layers: list[nn.Module] = []
    before = 1
    for i, width in enumerate(options.channels):
        layers += [nn.Conv2d(before, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
                   nn.Dropout(options.dropout * (i + 1) / len(options.channels))]
        before = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(before, options.dense), nn.ReLU(),
               nn.Dropout(0.5), nn.Linear(options.dense, n_outputs)]
    return nn.Sequential(*layers)


@contextmanager
def one_thread():
    """Torch on one thread inside (the thread count it found restored after): the same numbers
    on every run, and no fight with the other process on a 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _fit_net(net: nn.Module, x: torch.Tensor, target: torch.Tensor, loss_fn, *, options: CNNOptions,
             seed: int, progress=None) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=options.learning_rate, weight_decay=1e-4)
    with one_thread():
        _epochs(net, x, target, loss_fn, optimizer, generator, options=options, progress=progress)
    return net.eval()


def _epochs(net, x, target, loss_fn, optimizer, generator, *, options: CNNOptions, progress) -> None:
    for epoch in range(options.epochs):
        net.train()
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), options.batch_size):
            batch = order[start:start + options.batch_size]
            if len(batch) < 2:  # batch norm needs two tiles
                continue
            optimizer.zero_grad()
            loss_fn(net(x[batch]), target[batch]).backward()
            optimizer.step()
        if progress:
            progress((epoch + 1) / options.epochs, f"epoch {epoch + 1} of {options.epochs}")


def _outputs(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad(), one_thread():
        return torch.cat([net(x[s:s + 512]) for s in range(0, len(x), 512)]) if len(x) else torch.zeros((0, 1))


@dataclass
class TileModel:
    """Trained networks over standardised tiles; ``kind`` is ``softmax`` or ``bagged``."""

    kind: str
    labels: list[str]
    nets: list  # one network per label; None for a label no training tile carried (it scores 0)
    mean: np.ndarray  # (n_coefficients, 1) per-coefficient (per-band) mean of the training tiles
    std: np.ndarray
    thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0))  # bagged: per label

    def _x(self, tiles: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((tiles - self.mean) / self.std).astype(np.float32)[:, None])

    def scores(self, tiles: np.ndarray) -> np.ndarray:
        """(n_tiles, n_labels): softmax probabilities, or each binary network's sigmoid confidence."""
        x = self._x(tiles)
        if self.kind == "softmax":
            return torch.softmax(_outputs(self.nets[0], x), dim=1).numpy().astype(float)
        return np.column_stack([torch.sigmoid(_outputs(n, x))[:, 0].numpy() if n is not None else np.zeros(len(x))
                                for n in self.nets]).astype(float)

    def tags(self, tiles: np.ndarray) -> np.ndarray:
        """(n_tiles, n_labels) booleans: the labels whose confidence reaches their threshold."""
        return self.scores(tiles) >= self.thresholds[None, :]


def _standardise(tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(tiles) < 2:
        raise CNNError("A CNN needs at least two tiles (4.6 s of audio each) to train on.")
    return tiles.mean(axis=(0, 2))[:, None], tiles.std(axis=(0, 2))[:, None] + 1e-6


def train_softmax(tiles: np.ndarray, y: np.ndarray, labels: list[str], *, options: CNNOptions = CNNOptions(),
                  progress=None) -> TileModel:
    """One network with a softmax over ``labels`` (``y``: label indices)."""
    mean, std = _standardise(tiles)
    model = TileModel("softmax", list(labels), [], mean, std)
    torch.manual_seed(options.seed)
    net = build_cnn(len(labels), options=options)
    model.nets = [_fit_net(net, model._x(tiles), torch.as_tensor(y, dtype=torch.long), nn.CrossEntropyLoss(),
                           options=options, seed=options.seed, progress=progress)]
    return model


def _best_threshold(score: np.ndarray, positive: np.ndarray) -> float:
    """The confidence cut with the best F1 on validation tiles (0.5 when there is no positive)."""
    if not positive.any():
        return 0.5
    best, cut = -1.0, 0.5
    for c in np.unique(np.round(score, 3)):
        tagged = score >= c
        tp = np.sum(tagged & positive)
        f1 = 2 * tp / max(tagged.sum() + positive.sum(), 1)
        if f1 > best:
            best, cut = f1, float(c)
    return cut


def _multi_hot(y: np.ndarray, n_labels: int) -> np.ndarray:
    """Label indices (n,) or a boolean matrix (n, n_labels) -> the boolean matrix."""
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape[1] != n_labels:
            raise CNNError(f"The label matrix has {y.shape[1]} columns for {n_labels} labels.")
        return y.astype(bool)
    return np.eye(n_labels, dtype=bool)[y.astype(int)]


def train_bagged(tiles: np.ndarray, y: np.ndarray, labels: list[str], *, validation: tuple | None = None,
                 options: CNNOptions = CNNOptions(), progress=None) -> TileModel:
    """One binary sigmoid network per label on all its positives and a uniform sample of the
    negatives; thresholds chosen on ``validation`` (tiles, labels), else 0.5. ``y`` (and the
    validation labels) are label indices, or a boolean matrix with one column per label when a
    tile has several true labels. A label that no training tile carries gets no network: it
    scores 0 everywhere."""
    mean, std = _standardise(tiles)
    truth = _multi_hot(y, len(labels))
    model = TileModel("bagged", list(labels), [], mean, std, np.full(len(labels), 0.5))
    x = model._x(tiles)
    rng = np.random.default_rng(options.seed)
    for j in range(len(labels)):
        pos = np.flatnonzero(truth[:, j])
        neg = np.flatnonzero(~truth[:, j])
        if not pos.size:  # nothing to learn: the label scores 0 and is never tagged
            model.nets.append(None)
            continue
        take = rng.choice(neg, size=min(neg.size, max(1, int(round(options.negatives_per_positive * pos.size)))),
                          replace=False)
        rows = np.sort(np.concatenate([pos, take]))
        torch.manual_seed(options.seed + j)
        target = torch.as_tensor(truth[rows, j].astype(np.float32))[:, None]
        net = _fit_net(build_cnn(1, options=options), x[torch.as_tensor(rows)], target, nn.BCEWithLogitsLoss(),
                       options=options, seed=options.seed + j,
                       progress=(lambda f, m, j=j: progress((j + f) / len(labels), f"{labels[j]}: {m}"))
                       if progress else None)
        model.nets.append(net)
    if validation is not None and len(validation[0]):
        s, v = model.scores(validation[0]), _multi_hot(validation[1], len(labels))
        model.thresholds = np.array([_best_threshold(s[:, j], v[:, j]) for j in range(len(labels))])
    return model


def multilabel_scores(truth: np.ndarray, score: np.ndarray, tracks: np.ndarray) -> dict:
    """Coverage error and LRAP (``sklearn.metrics``) of scores against a boolean label matrix,
    per tile and per track (the mean of its tiles' scores; a track's labels are any of its tiles'),
    as the NYU thesis reports them; coverage's best possible value is the mean number of true labels."""
    from sklearn.metrics import coverage_error, label_ranking_average_precision_score

    truth = np.asarray(truth, dtype=bool)
    names, inverse = np.unique(np.asarray(tracks).astype(str), return_inverse=True)
    per_track = np.zeros((names.size, score.shape[1]))
    np.add.at(per_track, inverse, score)
    per_track /= np.bincount(inverse)[:, None]
    track_truth = np.zeros((names.size, truth.shape[1]), dtype=bool)
    np.logical_or.at(track_truth, inverse, truth)
    return {"tile_lrap": float(label_ranking_average_precision_score(truth, score)),
            "tile_coverage": float(coverage_error(truth, score)),
            "track_lrap": float(label_ranking_average_precision_score(track_truth, per_track)),
            "track_coverage": float(coverage_error(track_truth, per_track)),
            "best_coverage": float(truth.sum(axis=1).mean()), "tracks": int(names.size)}


def _validation_split(groups: np.ndarray, y: np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training rows split about 80/20 by group (artist) for the thresholds."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise CNNError("The ensemble's thresholds are chosen on held-out artists; the training part has only one.")
    splitter = StratifiedGroupKFold(n_splits=min(5, n_groups), shuffle=True, random_state=seed)
    return next(splitter.split(y, y, groups))


def _tile_metrics(truth, s, tiles_of, labels, tagged) -> dict:
    out = scores(truth, s, tiles_of, labels)
    onehot = np.eye(len(labels), dtype=bool)[truth]
    tp = (tagged & onehot).sum()
    out["tag_precision"] = float(tp / max(tagged.sum(), 1))
    out["tag_recall"] = float(tp / onehot.sum())
    return out


def _train(kind: str, x: np.ndarray, y: np.ndarray, groups: np.ndarray, labels: list[str], *, seed: int,
           options: CNNOptions, progress) -> TileModel:
    if kind == "softmax":
        return train_softmax(x, y, labels, options=options, progress=progress)
    fit, val = _validation_split(groups, y, seed=seed)
    return train_bagged(x[fit], y[fit], labels, validation=(x[val], y[val]), options=options, progress=progress)


def cross_validate(tiles: np.ndarray, y: np.ndarray, tracks: np.ndarray, groups: np.ndarray, *, labels: list[str],
                   logmel: np.ndarray | None = None, folds: int = 5, seed: int = 0, options: CNNOptions = CNNOptions(),
                   progress=None) -> Comparison:
    """The softmax CNN and the bagged ensemble on MFCC ``tiles`` (and a softmax CNN on the
    ``logmel`` tiles of the same cuts, when given) in the same grouped folds
    (``StratifiedGroupKFold`` by ``groups``): per tile and per track (mean of its tiles' scores)
    accuracy, macro F1, coverage error and LRAP, plus the ensemble's thresholded tags' precision
    and recall."""
    from sklearn.model_selection import StratifiedGroupKFold

    if logmel is not None and len(logmel) != len(tiles):
        raise CNNError(f"{len(logmel)} log-mel tiles for {len(tiles)} MFCC tiles: they must be cut alike.")
    report = progress or (lambda f, m="": None)
    specs = {"cnn_softmax": (tiles, "softmax"), "cnn_bagged": (tiles, "bagged")}
    if logmel is not None:
        specs["cnn_logmel"] = (logmel, "softmax")
    out = {k: np.zeros((len(y), len(labels))) for k in specs}
    tagged = np.zeros((len(y), len(labels)), dtype=bool)
    cost, spent, size = dict.fromkeys(specs, 0.0), dict.fromkeys(specs, 0.0), dict.fromkeys(specs, 0)
    plan = list(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(y, y, groups))
    steps = len(plan) * len(specs)
    with one_thread():
        for i, (tr, te) in enumerate(plan):
            for j, (name, (x, kind)) in enumerate(specs.items()):
                t0 = time.perf_counter()
                model = _train(kind, x[tr], y[tr], groups[tr], labels, seed=seed, options=options,
                               progress=lambda f, m, step=i * len(specs) + j, name=name:
                               report((step + f) / steps, f"fold {i + 1} {name} {m}"))
                t1 = time.perf_counter()
                out[name][te] = model.scores(x[te])
                cost[name] += t1 - t0
                spent[name] += time.perf_counter() - t1
                if kind == "bagged":
                    tagged[te] = model.tags(x[te])
                size[name] = sum(p.numel() * 4 for net in model.nets if net is not None for p in net.parameters())
    rows, confusion, track_confusion = [], {}, {}
    for name, s in out.items():
        m = _tile_metrics(y, s, tracks, labels, tagged if name == "cnn_bagged" else s >= s.max(axis=1, keepdims=True))
        rows.append({"model": name, **m, "train_s": cost[name] / folds, "predict_ms_per_window": 1000 * spent[name] / len(y),
                     "size_bytes": size[name]})
        confusion[name], track_confusion[name] = confusion_table(y, s, tracks, labels)
    report(1.0, "Done")
    table = pd.DataFrame(rows)
    table = table[list(TABLE_COLUMNS) + ["tag_precision", "tag_recall"]]
    return Comparison(table=table, labels=list(labels), confusion=confusion, track_confusion=track_confusion,
                      split={"kind": "group", "folds": folds, "tiles": int(len(y)), "tracks": int(np.unique(tracks).size),
                             "seed": seed, "options": options.__dict__})
