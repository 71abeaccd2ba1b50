"""Trainer stage: results in, promoted RPP models out (broker-free).

Every result gives its task's features to the per-stream LSTM windows; a result of a
reference-sampled task (``Result.reference`` with both tiers' outcomes) is also a label
(:func:`history_record`). When :class:`~cdio_stream.rpp.online.OnlineTrainer` says a
retrain is due, :meth:`TrainerStage.retrain` fine-tunes, compares on held-out labels and,
if the candidate wins, returns the :class:`~cdio_stream.messages.RppModel` to publish on
the model topic. The agent runs :meth:`~TrainerStage.retrain` in a thread and feeds no
results meanwhile, so the label window never changes under it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cdio_stream.messages import Result, RppModel, decode_result, decode_rpp_model
from cdio_stream.rpp.features import TaskFeatures
from cdio_stream.rpp.history import HistoryRecord
from cdio_stream.rpp.online import OnlineTrainer, RetrainOutcome

__all__ = ["TrainerStage", "history_record"]


def history_record(result: Result) -> HistoryRecord | None:
    """The RPP label of a reference-sampled result, or None when it has no two-tier outcome."""
    ref, f = result.reference, result.features
    if ref is None or ref.error or result.error or f is None or result.capture_time is None:
        return None
    if ref.edge_accuracy is None or ref.cloud_accuracy is None:
        return None
    return HistoryRecord(
        stream=result.stream_id,
        frame=result.frame_no,
        capture_time=result.capture_time,
        complexity=f.complexity,
        complexity_scales=tuple(f.complexity_scales),
        motion=f.motion,
        inter_arrival=f.inter_arrival,
        a_req=result.a_req,
        d_req=result.d_req,
        edge_accuracy=ref.edge_accuracy,
        edge_delay=ref.edge_delay,
        cloud_accuracy=ref.cloud_accuracy,
        cloud_delay=ref.cloud_delay,
    )


class TrainerStage:
    def __init__(self, trainer: OnlineTrainer, clock: Callable[[], float] = time.time) -> None:
        self.trainer = trainer
        self.clock = clock
        self.results = 0
        self.without_features = 0  # results that cannot feed the LSTM windows (no features)

    def on_result(self, value: bytes | None) -> bool:
        """Feed one encoded result; True if it was a label. MessageError for bad input."""
        result = decode_result(value)
        self.results += 1
        record = history_record(result)
        if record is not None:
            self.trainer.observe_label(record)
            return True
        f = result.features
        if f is None or result.capture_time is None:
            self.without_features += 1
            return False
        features = TaskFeatures(
            f.complexity, tuple(f.complexity_scales), f.motion, f.inter_arrival, result.a_req, result.d_req
        )
        self.trainer.observe_features(result.stream_id, result.frame_no, result.capture_time, features)
        return False

    def adopt(self, value: bytes | None, headers: object) -> bool:
        """Continue from a published model if it is newer than the current one."""
        from cdio_stream.rpp.predictor import PreferencePredictor

        published = decode_rpp_model(value, headers)
        if published.version <= self.trainer.current.version:
            return False
        self.trainer.adopt(
            PreferencePredictor.from_bytes(published.checkpoint, f"RPP model v{published.version}")
        )
        return True

    def due(self) -> bool:
        return self.trainer.due(self.clock())

    def retrain(self) -> tuple[RetrainOutcome, RppModel | None]:
        """Fine-tune and compare (seconds of CPU); the model to publish if one was promoted."""
        now = self.clock()
        outcome = self.trainer.retrain(now)
        if not outcome.promoted:
            return outcome, None
        model = outcome.model
        return outcome, RppModel(
            version=model.version, checkpoint=model.to_bytes(), card=outcome.card, published_at=now
        )

    def stats(self) -> dict:
        t = self.trainer
        return {
            "results": self.results,
            "labels": t.labels_total,
            "window": len(t.labels),
            "retrains": t.retrains,
            "promotions": t.promotions,
            "model_version": t.current.version,
        }
