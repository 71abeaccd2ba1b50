"""Training the preference LSTM from a history of labelled tasks.

Samples: for every task, the input is the feature sequence of its stream's last
``seq_len`` tasks ending with it (left-padded like at serving time), the target its
label (:func:`~cdio_stream.rpp.history.preference_label`). Split: per stream, the last
``val_fraction`` of its tasks (in capture order) form the validation set, so validation
is on later frames than training, never on shuffled neighbours of training frames.
Optimiser Adam on BCE-with-logits (eq. 7); early stopping on validation loss with
``patience`` epochs, restoring the best weights. Seeded: same seed, same history and
same thread count give the same model (torch's global RNG is forked, not disturbed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from cdio_stream.errors import ConfigError, DatasetError
from cdio_stream.rpp.features import FeatureConfig, feature_names, pad_sequence
from cdio_stream.rpp.history import HistoryRecord
from cdio_stream.rpp.model import Normaliser, PreferenceLSTM
from cdio_stream.rpp.predictor import PreferencePredictor

__all__ = ["EpochStats", "TrainConfig", "TrainResult", "build_sequences", "train_predictor"]


@dataclass(frozen=True)
class TrainConfig:
    seq_len: int = 8
    hidden: int = 32
    layers: int = 2
    dropout: float = 0.0
    epochs: int = 40
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    patience: int = 6
    val_fraction: float = 0.2
    both_fail: int = 0  # label of tasks neither tier serves, see history.preference_label
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seq_len < 1 or self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ConfigError(f"seq_len, epochs, batch_size and patience must be >= 1: {self}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float


@dataclass(frozen=True)
class TrainResult:
    predictor: PreferencePredictor
    history: list[EpochStats]
    best_epoch: int
    val_accuracy: float
    val_majority_accuracy: float  # accuracy of always predicting the training majority class
    n_train: int
    n_val: int


def build_sequences(
    records: Sequence[HistoryRecord], seq_len: int, *, val_fraction: float, both_fail: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(x_train, y_train, x_val, y_val, n_scales): raw (N, seq_len, F) sequences and labels."""
    if not records:
        raise DatasetError("history is empty")
    n_scales = len(records[0].complexity_scales)
    by_stream: dict[str, list[HistoryRecord]] = defaultdict(list)
    for r in records:
        if len(r.complexity_scales) != n_scales:
            raise DatasetError(
                f"history record {r.stream}/{r.frame} has {len(r.complexity_scales)} complexity "
                f"scales, the first record has {n_scales}"
            )
        by_stream[r.stream].append(r)
    xs: dict[bool, list[np.ndarray]] = {False: [], True: []}
    ys: dict[bool, list[int]] = {False: [], True: []}
    for stream in sorted(by_stream):
        recs = sorted(by_stream[stream], key=lambda r: (r.capture_time, r.frame))
        vecs = np.stack([r.features().vector() for r in recs])
        n_val = int(round(len(recs) * val_fraction))
        for i, rec in enumerate(recs):
            is_val = i >= len(recs) - n_val
            xs[is_val].append(pad_sequence(vecs[max(0, i - seq_len + 1) : i + 1], seq_len))
            ys[is_val].append(rec.label(both_fail=both_fail))
    if not xs[False] or not xs[True]:
        raise DatasetError(
            f"history too small to split: {len(xs[False])} training and {len(xs[True])} validation tasks"
        )
    return (
        np.stack(xs[False]),
        np.asarray(ys[False], np.float32),
        np.stack(xs[True]),
        np.asarray(ys[True], np.float32),
        n_scales,
    )


def train_predictor(
    records: Sequence[HistoryRecord],
    config: TrainConfig = TrainConfig(),
    *,
    feature_config: FeatureConfig | None = None,
    progress: Callable[[EpochStats], None] | None = None,
) -> TrainResult:
    """Train an LSTM on ``records``; returns the best-on-validation predictor and stats."""
    xtr, ytr, xva, yva, n_scales = build_sequences(
        records, config.seq_len, val_fraction=config.val_fraction, both_fail=config.both_fail
    )
    names = feature_names(n_scales)
    norm = Normaliser.fit(xtr[:, -1, :], names)  # each task once (its own last step)
    xtr_t, ytr_t = torch.from_numpy(norm(xtr)), torch.from_numpy(ytr)
    xva_t, yva_t = torch.from_numpy(norm(xva)), torch.from_numpy(yva)
    loss_fn = nn.BCEWithLogitsLoss()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = PreferenceLSTM(len(names), hidden=config.hidden, layers=config.layers, dropout=config.dropout)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        gen = torch.Generator().manual_seed(config.seed)
        stats: list[EpochStats] = []
        best = (float("inf"), 0, {k: v.clone() for k, v in model.state_dict().items()})
        for epoch in range(1, config.epochs + 1):
            model.train()
            order = torch.randperm(len(xtr_t), generator=gen)
            total = 0.0
            for start in range(0, len(order), config.batch_size):
                idx = order[start : start + config.batch_size]
                opt.zero_grad()
                loss = loss_fn(model(xtr_t[idx]), ytr_t[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            model.eval()
            with torch.inference_mode():
                logits = model(xva_t)
                val_loss = float(loss_fn(logits, yva_t))
                val_acc = float(((logits >= 0).float() == yva_t).float().mean())
            st = EpochStats(epoch, total / len(order), val_loss, val_acc)
            stats.append(st)
            if progress is not None:
                progress(st)
            if val_loss < best[0] - 1e-6:
                best = (val_loss, epoch, {k: v.clone() for k, v in model.state_dict().items()})
            elif epoch - best[1] >= config.patience:
                break
    model.load_state_dict(best[2])
    best_stats = stats[best[1] - 1] if best[1] else stats[0]
    majority = 1.0 if ytr.mean() >= 0.5 else 0.0
    hp = {
        "n_features": len(names),
        "hidden": config.hidden,
        "layers": config.layers,
        "dropout": config.dropout,
    }
    metrics = {
        "val_accuracy": best_stats.val_accuracy,
        "val_loss": best_stats.val_loss,
        "best_epoch": best[1],
        "val_majority_accuracy": float((yva == majority).mean()),
        "n_train": len(ytr),
        "n_val": len(yva),
        "train_config": asdict(config),
    }
    predictor = PreferencePredictor(
        model,
        norm,
        seq_len=config.seq_len,
        hyperparameters=hp,
        feature_config=feature_config,
        metrics=metrics,
    )
    return TrainResult(
        predictor=predictor,
        history=stats,
        best_epoch=best[1],
        val_accuracy=best_stats.val_accuracy,
        val_majority_accuracy=metrics["val_majority_accuracy"],
        n_train=len(ytr),
        n_val=len(yva),
    )
