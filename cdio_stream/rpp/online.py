"""An RPP that keeps learning: retrain the LSTM from reference-labelled live tasks.

Reference-sampled tasks have outcomes on both tiers (cdio_stream.feedback), so each gives
a label by :func:`~cdio_stream.rpp.history.preference_label`. :class:`OnlineTrainer` is
the broker-free core of the trainer worker:

1. :meth:`~OnlineTrainer.observe_features` records every result's task features per
   stream (bounded), so a labelled task gets the same ``seq_len`` window the preprocess
   worker fed the LSTM; :meth:`~OnlineTrainer.observe_label` adds a labelled task to a
   sliding window of the newest ``window`` labels.
2. :meth:`~OnlineTrainer.due`: every ``retrain_every`` new labels, or every
   ``retrain_interval_s`` seconds when at least one label is new, once ``min_labels``
   are there.
3. :meth:`~OnlineTrainer.retrain`: the newest ``holdout_fraction`` of the window is the
   held-out window; the older labels fine-tune a copy of the current model
   (:func:`~cdio_stream.rpp.train.fine_tune`, early stopping on their own newest 20 %).
   Candidate and current model are scored on the held-out window; the candidate is
   promoted, as version current + 1, only if its log-loss is lower by more than
   ``min_improvement``. The held-out labels are newer than anything either model trained
   on: the holdout's start only moves forward, and a promoted model trained only on
   labels older than its own holdout.

Fine-tuning keeps the current model's normaliser, so a promoted model reads features on
the scale the shipped checkpoint was trained on (cdio_stream/rpp/checkpoints/README.md).
Labels live in memory: a restarted trainer starts an empty window from the newest
published model.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.rpp.evaluate import score
from cdio_stream.rpp.features import TaskFeatures, pad_sequence
from cdio_stream.rpp.history import HistoryRecord
from cdio_stream.rpp.predictor import PreferencePredictor
from cdio_stream.rpp.train import TrainConfig, fine_tune

__all__ = ["LabelledTask", "OnlineConfig", "OnlineTrainer", "RetrainOutcome", "StreamWindows"]


@dataclass(frozen=True)
class OnlineConfig:
    retrain_every: int = 200  # new labels between retrains
    retrain_interval_s: float | None = None  # also retrain this often (with >= 1 new label)
    min_labels: int = 100  # labels in the window before the first retrain
    window: int = 2000  # newest labels kept
    holdout_fraction: float = 0.25  # newest share of the window used only to compare models
    min_improvement: float = 0.0  # held-out log-loss the candidate must gain to be promoted
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    patience: int = 3
    both_fail: int = 0  # label of tasks neither tier serves (history.preference_label)
    seed: int = 0
    max_streams: int = 1024
    frames_per_stream: int = 64  # task features kept per stream for the LSTM windows

    def __post_init__(self) -> None:
        if self.retrain_every < 1 or self.window < 4 or self.frames_per_stream < 1 or self.max_streams < 1:
            raise ConfigError(f"retrain_every, window, frames_per_stream and max_streams too small: {self}")
        if not 2 <= self.min_labels <= self.window:
            raise ConfigError(f"min_labels must be in [2, window={self.window}], got {self.min_labels}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ConfigError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")
        if self.retrain_interval_s is not None and self.retrain_interval_s <= 0:
            raise ConfigError(f"retrain_interval_s must be > 0, got {self.retrain_interval_s}")
        if self.min_improvement < 0:
            raise ConfigError(f"min_improvement must be >= 0, got {self.min_improvement}")

    def train_config(self, seq_len: int) -> TrainConfig:
        return TrainConfig(
            seq_len=seq_len,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            patience=self.patience,
            both_fail=self.both_fail,
            seed=self.seed,
        )


class StreamWindows:
    """The newest task features of each stream, to rebuild an LSTM input window.

    Results arrive out of capture order (tiers differ in speed), so entries are kept per
    frame and sorted when a window is asked for. At most ``max_streams`` streams (least
    recently seen evicted) and ``per_stream`` frames each.
    """

    def __init__(self, *, per_stream: int = 64, max_streams: int = 1024) -> None:
        self.per_stream = per_stream
        self.max_streams = max_streams
        self._streams: OrderedDict[str, deque[tuple[float, int, np.ndarray]]] = OrderedDict()

    def add(self, stream: str, frame: int, capture_time: float, features: TaskFeatures) -> None:
        entries = self._streams.get(stream)
        if entries is None:
            entries = self._streams[stream] = deque(maxlen=self.per_stream)
            while len(self._streams) > self.max_streams:
                self._streams.popitem(last=False)
        else:
            self._streams.move_to_end(stream)
        if any(f == frame for _, f, _ in entries):
            return  # a result seen twice adds its frame once
        entries.append((capture_time, frame, features.vector()))

    def sequence(self, stream: str, frame: int, capture_time: float, seq_len: int) -> np.ndarray:
        """(seq_len, F) raw vectors ending with ``frame``, left-padded like at serving time."""
        entries = sorted(
            (e for e in self._streams.get(stream, ()) if (e[0], e[1]) <= (capture_time, frame)),
            key=lambda e: (e[0], e[1]),
        )
        if not entries or entries[-1][1] != frame:
            raise ConfigError(f"no features recorded for {stream}/{frame}")
        return pad_sequence(np.stack([v for _, _, v in entries[-seq_len:]]), seq_len)


@dataclass(frozen=True)
class LabelledTask:
    stream: str
    frame: int
    sequence: np.ndarray  # (seq_len, F) raw feature vectors, the task's own last
    label: int  # 1 compute, 0 bandwidth


@dataclass(frozen=True)
class RetrainOutcome:
    promoted: bool
    model: PreferencePredictor  # the current model after this step (the candidate if promoted)
    card: dict = field(repr=False)  # what was compared and decided; published with the model


class OnlineTrainer:
    """Collects labels, fine-tunes candidates and promotes the ones that predict better."""

    def __init__(self, current: PreferencePredictor, config: OnlineConfig = OnlineConfig()) -> None:
        self.current = current
        self.config = config
        self.windows = StreamWindows(per_stream=config.frames_per_stream, max_streams=config.max_streams)
        self.labels: deque[LabelledTask] = deque(maxlen=config.window)
        self.new_labels = 0  # since the last retrain
        self.labels_total = 0
        self.retrains = 0
        self.promotions = 0
        self._last_retrain: float | None = None

    def observe_features(self, stream: str, frame: int, capture_time: float, features: TaskFeatures) -> None:
        """Any task's features (labelled or not): its stream's window needs them."""
        if features.size != self.current.n_features:
            raise ConfigError(
                f"task {stream}/{frame} has {features.size} features, the model expects {self.current.n_features}"
            )
        self.windows.add(stream, frame, capture_time, features)

    def observe_label(self, record: HistoryRecord) -> LabelledTask:
        """A task with outcomes on both tiers: record its features and its label."""
        self.observe_features(record.stream, record.frame, record.capture_time, record.features())
        seq = self.windows.sequence(record.stream, record.frame, record.capture_time, self.current.seq_len)
        task = LabelledTask(record.stream, record.frame, seq, record.label(both_fail=self.config.both_fail))
        self.labels.append(task)
        self.new_labels += 1
        self.labels_total += 1
        return task

    def due(self, now: float) -> bool:
        cfg = self.config
        if len(self.labels) < cfg.min_labels or self.new_labels == 0:
            return False
        if self.new_labels >= cfg.retrain_every:
            return True
        if cfg.retrain_interval_s is None:
            return False
        since = self._last_retrain
        return since is None or now - since >= cfg.retrain_interval_s

    def retrain(self, now: float) -> RetrainOutcome:
        """Fine-tune a candidate on the older labels, compare on the newest, maybe promote."""
        cfg = self.config
        tasks = list(self.labels)
        if len(tasks) < cfg.min_labels:
            raise ConfigError(f"retrain needs {cfg.min_labels} labels, has {len(tasks)}")
        n_hold = max(1, int(round(len(tasks) * cfg.holdout_fraction)))
        older, holdout = tasks[:-n_hold], tasks[-n_hold:]
        n_stop = max(1, int(round(len(older) * 0.2)))
        fit, stop = older[:-n_stop], older[-n_stop:]
        self._last_retrain = now
        self.new_labels = 0
        self.retrains += 1
        base = {
            "parent_version": self.current.version,
            "decided_at": now,
            "labels": {
                "window": len(tasks),
                "fine_tune": len(fit),
                "early_stopping": len(stop),
                "holdout": len(holdout),
                "compute_in_window": int(sum(t.label for t in tasks)),
                "total_seen": self.labels_total,
            },
        }
        if not fit:
            return RetrainOutcome(False, self.current, {**base, "promoted": False, "why": "too few labels"})
        x_fit, y_fit = _arrays(fit)
        x_stop, y_stop = _arrays(stop)
        x_hold, y_hold = _arrays(holdout)
        result = fine_tune(self.current, x_fit, y_fit, x_stop, y_stop, cfg.train_config(self.current.seq_len))
        candidate = result.predictor
        current_scores = score(y_hold, self.current.predict_proba(x_hold))
        cand_scores = score(y_hold, candidate.predict_proba(x_hold))
        gain = current_scores.log_loss - cand_scores.log_loss
        promoted = gain > cfg.min_improvement
        card = {
            **base,
            "promoted": promoted,
            "why": (
                f"held-out log-loss {cand_scores.log_loss:.4f} vs current {current_scores.log_loss:.4f} "
                f"({'better' if promoted else 'not better'} by more than {cfg.min_improvement})"
            ),
            "holdout": {"candidate": cand_scores.to_dict(), "current": current_scores.to_dict()},
            "fine_tune": {
                "best_epoch": result.best_epoch,
                "config": asdict(cfg.train_config(self.current.seq_len)),
            },
        }
        if promoted:
            version = self.current.version + 1
            card["version"] = version
            candidate.metrics = {**candidate.metrics, "online": card}
            self.current = candidate.with_version(version)
            self.promotions += 1
        return RetrainOutcome(promoted, self.current, card)

    def adopt(self, model: PreferencePredictor) -> None:
        """Continue from a newer model (one published before this trainer started)."""
        if model.n_features != self.current.n_features:
            raise ConfigError(
                f"model v{model.version} reads {model.n_features} features, not {self.current.n_features}"
            )
        if model.version > self.current.version:
            if model.seq_len != self.current.seq_len:
                self.labels.clear()  # their windows have the old length
            self.current = model


def _arrays(tasks: list[LabelledTask]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.stack([t.sequence for t in tasks]).astype(np.float32),
        np.asarray([t.label for t in tasks], dtype=np.float32),
    )
