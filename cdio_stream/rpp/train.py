"""Training the preference LSTM from a history of labelled tasks.

Samples: for every task, the input is the feature sequence of its stream's last
``seq_len`` tasks ending with it (left-padded like at serving time), the target its
label (:func:`~cdio_stream.rpp.history.preference_label`). Two splits:

* ``split="time"``: per stream, the last ``val_fraction`` of its tasks (in capture
  order) form the validation set: later frames of the streams it trained on;
* ``split="scene"``: ``val_fraction`` of the streams (whole sequences, seeded choice) are
  held out, so validation is on scenes the model never saw (what the shipped card reports).

Optimiser Adam on BCE-with-logits (eq. 7); early stopping on validation loss with
``patience`` epochs, restoring the best weights. Seeded: same seed, same history and
same thread count give the same model (torch's global RNG is forked, not disturbed).
:func:`fine_tune` runs the same loop from an existing predictor's weights and normaliser
(the online trainer's candidates, :mod:`cdio_stream.rpp.online`).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn

from cdio_stream.errors import ConfigError, DatasetError
from cdio_stream.rpp.evaluate import compare_to_baselines
from cdio_stream.rpp.features import FeatureConfig, feature_names, pad_sequence
from cdio_stream.rpp.history import HistoryRecord, scene_of
from cdio_stream.rpp.model import Normaliser, PreferenceLSTM
from cdio_stream.rpp.predictor import PreferencePredictor

__all__ = [
    "SPLITS",
    "EpochStats",
    "TrainConfig",
    "TrainResult",
    "build_sequences",
    "fine_tune",
    "stream_sequences",
    "train_predictor",
]

SPLITS = ("time", "scene")


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
    split: str = "time"  # "time" (tail of each stream) or "scene" (whole streams held out)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seq_len < 1 or self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ConfigError(f"seq_len, epochs, batch_size and patience must be >= 1: {self}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")


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
    heldout: dict  # validation scores of the model, the A^q-only baseline and the class prior


def build_sequences(
    records: Sequence[HistoryRecord],
    seq_len: int,
    *,
    val_fraction: float,
    both_fail: int = 0,
    split: str = "time",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(x_train, y_train, x_val, y_val, n_scales): raw (N, seq_len, F) sequences and labels.

    ``split`` as in the module docstring; ``seed`` picks the held-out streams of "scene".
    """
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    by_stream, n_scales = _by_stream(records)
    streams = sorted(by_stream)
    held_out: set[str] = set()
    if split == "scene":  # whole scenes: every requirement draw of a held-out stream (scene_of)
        scenes = sorted({scene_of(st) for st in streams})
        n_held = int(round(len(scenes) * val_fraction))
        order = np.random.default_rng(seed).permutation(len(scenes))
        held_scenes = {scenes[i] for i in order[:n_held]}
        held_out = {st for st in streams if scene_of(st) in held_scenes}
    xs: dict[bool, list[np.ndarray]] = {False: [], True: []}
    ys: dict[bool, list[int]] = {False: [], True: []}
    for stream in streams:
        recs = by_stream[stream]
        vecs = np.stack([r.features().vector() for r in recs])
        n_val = int(round(len(recs) * val_fraction))
        for i, rec in enumerate(recs):
            is_val = stream in held_out if split == "scene" else i >= len(recs) - n_val
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


def stream_sequences(
    records: Sequence[HistoryRecord], seq_len: int, *, both_fail: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(x, y, streams) of every task, unsplit: its raw (seq_len, F) window, label and stream.

    Streams in name order, tasks in capture order, windows as in :func:`build_sequences`.
    """
    by_stream, _ = _by_stream(records)
    xs: list[np.ndarray] = []
    ys: list[int] = []
    names: list[str] = []
    for stream in sorted(by_stream):
        recs = by_stream[stream]
        vecs = np.stack([r.features().vector() for r in recs])
        for i, rec in enumerate(recs):
            xs.append(pad_sequence(vecs[max(0, i - seq_len + 1) : i + 1], seq_len))
            ys.append(rec.label(both_fail=both_fail))
            names.append(stream)
    return np.stack(xs), np.asarray(ys, np.float32), names


def _by_stream(records: Sequence[HistoryRecord]) -> tuple[dict[str, list[HistoryRecord]], int]:
    """Records per stream in capture order, and the number of complexity scales they share."""
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
    for recs in by_stream.values():
        recs.sort(key=lambda r: (r.capture_time, r.frame))
    return dict(by_stream), n_scales


def train_predictor(
    records: Sequence[HistoryRecord],
    config: TrainConfig = TrainConfig(),
    *,
    feature_config: FeatureConfig | None = None,
    progress: Callable[[EpochStats], None] | None = None,
) -> TrainResult:
    """Train an LSTM on ``records``; returns the best-on-validation predictor and stats."""
    xtr, ytr, xva, yva, n_scales = build_sequences(
        records,
        config.seq_len,
        val_fraction=config.val_fraction,
        both_fail=config.both_fail,
        split=config.split,
        seed=config.seed,
    )
    names = feature_names(n_scales)
    norm = Normaliser.fit(xtr[:, -1, :], names)  # each task once (its own last step)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = PreferenceLSTM(len(names), hidden=config.hidden, layers=config.layers, dropout=config.dropout)
    hp = {
        "n_features": len(names),
        "hidden": config.hidden,
        "layers": config.layers,
        "dropout": config.dropout,
    }
    return _fit(model, norm, hp, xtr, ytr, xva, yva, config, feature_config, progress)


def fine_tune(
    base: PreferencePredictor,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    progress: Callable[[EpochStats], None] | None = None,
) -> TrainResult:
    """Continue training a copy of ``base`` (same normaliser, same size) on new sequences.

    ``x_*`` are raw (N, seq_len, F) sequences as from :func:`build_sequences`; ``x_val``
    drives early stopping (the best epoch may be 0: the unchanged copy). ``base`` is not
    modified.
    """
    if x_train.shape[1:] != (base.seq_len, base.n_features) or x_val.shape[1:] != x_train.shape[1:]:
        raise ConfigError(
            f"sequences {x_train.shape[1:]} / {x_val.shape[1:]} do not fit the model "
            f"(seq_len {base.seq_len}, {base.n_features} features)"
        )
    if len(x_train) == 0 or len(x_val) == 0:
        raise DatasetError(
            f"fine-tuning needs training and validation sequences: {len(x_train)}, {len(x_val)}"
        )
    model = copy.deepcopy(base.model)
    return _fit(
        model,
        base.normaliser,
        base.hyperparameters,
        np.asarray(x_train, np.float32),
        np.asarray(y_train, np.float32),
        np.asarray(x_val, np.float32),
        np.asarray(y_val, np.float32),
        replace(config, seq_len=base.seq_len),
        base.feature_config,
        progress,
        threshold=base.threshold,
        evaluate_initial=True,
    )


def _fit(
    model: PreferenceLSTM,
    norm: Normaliser,
    hp: dict,
    xtr: np.ndarray,
    ytr: np.ndarray,
    xva: np.ndarray,
    yva: np.ndarray,
    config: TrainConfig,
    feature_config: FeatureConfig | None,
    progress: Callable[[EpochStats], None] | None,
    *,
    threshold: float = 0.5,
    evaluate_initial: bool = False,
) -> TrainResult:
    """Adam + BCE epochs with early stopping on validation loss; keeps the best weights.

    ``evaluate_initial`` scores the untrained weights as epoch 0, so fine-tuning never
    returns something worse on validation than what it started from.
    """
    xtr_t, ytr_t = torch.from_numpy(norm(xtr)), torch.from_numpy(ytr)
    xva_t, yva_t = torch.from_numpy(norm(xva)), torch.from_numpy(yva)
    loss_fn = nn.BCEWithLogitsLoss()

    def validate() -> tuple[float, float]:
        model.eval()
        with torch.inference_mode():
            logits = model(xva_t)
            return float(loss_fn(logits, yva_t)), float(((logits >= 0).float() == yva_t).float().mean())

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        gen = torch.Generator().manual_seed(config.seed)
        stats: list[EpochStats] = []
        initial = EpochStats(0, float("nan"), *validate()) if evaluate_initial else None
        best = (
            initial.val_loss if initial else float("inf"),
            0,
            {k: v.clone() for k, v in model.state_dict().items()},
        )
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
            st = EpochStats(epoch, total / len(order), *validate())
            stats.append(st)
            if progress is not None:
                progress(st)
            if st.val_loss < best[0] - 1e-6:
                best = (st.val_loss, epoch, {k: v.clone() for k, v in model.state_dict().items()})
            elif epoch - best[1] >= config.patience:
                break
    model.load_state_dict(best[2])
    model.eval()
    if best[1]:
        best_stats = stats[best[1] - 1]
    else:
        best_stats = initial or stats[0]
    majority = 1.0 if ytr.mean() >= 0.5 else 0.0
    with torch.inference_mode():
        p_val = torch.sigmoid(model(xva_t)).numpy()
    a_idx = list(norm.names).index("a_req")
    heldout = compare_to_baselines(p_val, yva, xva[:, -1, a_idx], ytr, xtr[:, -1, a_idx])
    metrics = {
        "val_accuracy": best_stats.val_accuracy,
        "val_loss": best_stats.val_loss,
        "best_epoch": best[1],
        "val_majority_accuracy": float((yva == majority).mean()),
        "n_train": len(ytr),
        "n_val": len(yva),
        "heldout": heldout,
        "train_config": asdict(config),
    }
    predictor = PreferencePredictor(
        model,
        norm,
        seq_len=config.seq_len,
        hyperparameters=hp,
        feature_config=feature_config,
        metrics=metrics,
        threshold=threshold,
    )
    return TrainResult(
        predictor=predictor,
        history=stats,
        best_epoch=best[1],
        val_accuracy=best_stats.val_accuracy,
        val_majority_accuracy=metrics["val_majority_accuracy"],
        n_train=len(ytr),
        n_val=len(yva),
        heldout=heldout,
    )
