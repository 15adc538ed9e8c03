"""CNNs on 40 x 100 MFCC tiles: one softmax network, and the NYU thesis's bagged ensemble of
binary one-vs-all networks with sigmoid outputs.

Input (the thesis's): tiles of the first 40 MFCCs (``librosa.feature.mfcc``, ``n_mfcc=40``)
over 100 frames, cut every ``tile_hop`` frames (:func:`mfcc_tiles`); each coefficient is
standardised with the training tiles' mean and spread. The network is smaller than the
thesis's (three 3 x 3 convolution blocks with max-pooling and dropout, global average pooling,
one dense layer) so that it trains in minutes on two CPU cores.

- :func:`train_softmax`: one network, 10 outputs, cross-entropy.
- :func:`train_bagged`: one binary network per label, each trained on every positive tile and a
  uniform sample of the negatives (``negatives_per_positive`` times as many, drawn anew per
  network), sigmoid output; the per-label tagging threshold is the one that maximises F1 on the
  validation tiles. Scores are each network's confidence, ranked across labels.

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


def mfcc_tiles(samples: np.ndarray, sr: int, *, hop_length: int = 1024, tile_hop: int = 50) -> np.ndarray:
    """(n_tiles, 40, 100) float32 tiles of a mono signal's MFCCs (``hop_length`` 1024 at
    22,050 Hz: a tile is 4.6 s, about the UT deck's 5 s chunks); none when it is shorter than
    one tile."""
    import librosa

    mfcc = librosa.feature.mfcc(y=np.asarray(samples, dtype=np.float32), sr=sr, n_mfcc=N_MFCC,
                                n_fft=2 * hop_length, hop_length=hop_length)
    starts = range(0, mfcc.shape[1] - TILE_FRAMES + 1, tile_hop)
    return np.stack([mfcc[:, s:s + TILE_FRAMES] for s in starts]).astype(np.float32) if len(starts) else \
        np.zeros((0, N_MFCC, TILE_FRAMES), np.float32)


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
    nets: list[nn.Module]
    mean: np.ndarray  # (40, 1) per-coefficient mean of the training tiles
    std: np.ndarray
    thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0))  # bagged: per label

    def _x(self, tiles: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((tiles - self.mean) / self.std).astype(np.float32)[:, None])

    def scores(self, tiles: np.ndarray) -> np.ndarray:
        """(n_tiles, n_labels): softmax probabilities, or each binary network's sigmoid confidence."""
        x = self._x(tiles)
        if self.kind == "softmax":
            return torch.softmax(_outputs(self.nets[0], x), dim=1).numpy().astype(float)
        return np.column_stack([torch.sigmoid(_outputs(n, x))[:, 0].numpy() for n in self.nets]).astype(float)

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


def train_bagged(tiles: np.ndarray, y: np.ndarray, labels: list[str], *, validation: tuple | None = None,
                 options: CNNOptions = CNNOptions(), progress=None) -> TileModel:
    """One binary sigmoid network per label on all its positives and a uniform sample of the
    negatives; thresholds chosen on ``validation`` (tiles, label indices), else 0.5."""
    mean, std = _standardise(tiles)
    model = TileModel("bagged", list(labels), [], mean, std, np.full(len(labels), 0.5))
    x = model._x(tiles)
    rng = np.random.default_rng(options.seed)
    for j in range(len(labels)):
        pos = np.flatnonzero(y == j)
        neg = np.flatnonzero(y != j)
        take = rng.choice(neg, size=min(neg.size, max(1, int(round(options.negatives_per_positive * max(pos.size, 1))))),
                          replace=False)
        rows = torch.as_tensor(np.sort(np.concatenate([pos, take])))
        torch.manual_seed(options.seed + j)
        target = torch.as_tensor((y[rows.numpy()] == j).astype(np.float32))[:, None]
        net = _fit_net(build_cnn(1, options=options), x[rows], target, nn.BCEWithLogitsLoss(), options=options,
                       seed=options.seed + j,
                       progress=(lambda f, m, j=j: progress((j + f) / len(labels), f"{labels[j]}: {m}"))
                       if progress else None)
        model.nets.append(net)
    if validation is not None and len(validation[0]):
        s = model.scores(validation[0])
        model.thresholds = np.array([_best_threshold(s[:, j], validation[1] == j) for j in range(len(labels))])
    return model


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


def cross_validate(tiles: np.ndarray, y: np.ndarray, tracks: np.ndarray, groups: np.ndarray, *, labels: list[str],
                   folds: int = 5, seed: int = 0, options: CNNOptions = CNNOptions(), progress=None) -> Comparison:
    """The softmax CNN and the bagged ensemble in the same grouped folds (``StratifiedGroupKFold``
    by ``groups``): per tile and per track (mean of its tiles' scores) accuracy, macro F1,
    coverage error and LRAP, plus the ensemble's thresholded tags' precision and recall."""
    from sklearn.model_selection import StratifiedGroupKFold

    report = progress or (lambda f, m="": None)
    out = {k: np.zeros((len(y), len(labels))) for k in ("cnn_softmax", "cnn_bagged")}
    tagged = np.zeros((len(y), len(labels)), dtype=bool)
    cost = {k: 0.0 for k in out}  # training seconds
    spent = {k: 0.0 for k in out}  # prediction seconds
    plan = list(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(y, y, groups))
    with one_thread():
        for i, (tr, te) in enumerate(plan):
            t0 = time.perf_counter()
            soft = train_softmax(tiles[tr], y[tr], labels, options=options,
                                 progress=lambda f, m: report((i + f / 3) / folds, f"fold {i + 1} softmax {m}"))
            cost["cnn_softmax"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            out["cnn_softmax"][te] = soft.scores(tiles[te])
            spent["cnn_softmax"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            fit, val = _validation_split(groups[tr], y[tr], seed=seed)
            bag = train_bagged(tiles[tr][fit], y[tr][fit], labels, validation=(tiles[tr][val], y[tr][val]),
                               options=options,
                               progress=lambda f, m: report((i + 1 / 3 + 2 * f / 3) / folds, f"fold {i + 1} {m}"))
            cost["cnn_bagged"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            out["cnn_bagged"][te] = bag.scores(tiles[te])
            spent["cnn_bagged"] += time.perf_counter() - t0
            tagged[te] = bag.tags(tiles[te])
    rows, confusion, track_confusion = [], {}, {}
    for name, s in out.items():
        m = _tile_metrics(y, s, tracks, labels, tagged if name == "cnn_bagged" else s >= s.max(axis=1, keepdims=True))
        size = sum(p.numel() * 4 for p in (bag if name == "cnn_bagged" else soft).nets[0].parameters())
        rows.append({"model": name, **m, "train_s": cost[name] / folds, "predict_ms_per_window": 1000 * spent[name] / len(y),
                     "size_bytes": size * (len(labels) if name == "cnn_bagged" else 1)})
        confusion[name], track_confusion[name] = confusion_table(y, s, tracks, labels)
    report(1.0, "Done")
    table = pd.DataFrame(rows)
    table = table[list(TABLE_COLUMNS) + ["tag_precision", "tag_recall"]]
    return Comparison(table=table, labels=list(labels), confusion=confusion, track_confusion=track_confusion,
                      split={"kind": "group", "folds": folds, "tiles": int(len(y)), "tracks": int(np.unique(tracks).size),
                             "seed": seed, "options": options.__dict__})
