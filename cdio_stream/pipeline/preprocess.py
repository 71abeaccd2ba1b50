"""Preprocess stage: a frame off the wire becomes a task with features and a preference.

Broker-free: the Faust agent hands it (value, headers) records, a micro-batch at a time
(one LSTM call per batch), and publishes what it returns. Bad input gives a
:class:`~cdio_stream.errors.CdioError` subclass for that record alone; the agent sends
the record to the dead-letter topic with that message as the reason.

:meth:`Preprocessor.adopt` takes a model published by the online trainer (an encoded
:class:`~cdio_stream.messages.RppModel`) and switches to it if it is newer than the one in
use: later tasks carry its version, without a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cdio_stream.errors import ConfigError
from cdio_stream.messages import Frame, Task, TaskFeatures, decode_frame, decode_rpp_model
from cdio_stream.rpp.pipeline import FrameTask, RppDecision, RppPipeline
from cdio_stream.rpp.rule import COMPUTE

__all__ = ["Preprocessor", "load_rpp"]

log = logging.getLogger(__name__)


def load_rpp(checkpoint: Path | None) -> RppPipeline:
    """The RPP step with the LSTM from ``checkpoint``, or the documented rule without one."""
    if checkpoint is None:
        return RppPipeline()
    from cdio_stream.rpp.predictor import PreferencePredictor  # torch: only when a model is used

    predictor = PreferencePredictor.load(checkpoint)
    return RppPipeline(predictor, config=predictor.feature_config or None)


class Preprocessor:
    def __init__(
        self, rpp: RppPipeline, max_frame_bytes: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.rpp = rpp
        self.max_frame_bytes = max_frame_bytes
        self.clock = clock

    def handle(self, value: bytes | None, headers: Any, source: str | None = None) -> Task:
        """One frame record; bad input raises. ``source``: where the record came from
        ("<partition>/<offset>"), kept on the task."""
        (out,) = self.handle_batch([(value, headers, source)])
        if isinstance(out, Exception):
            raise out
        return out

    def handle_batch(self, records: Sequence[tuple[bytes | None, Any, str | None]]) -> list[Task | Exception]:
        """Frame records ``(value, headers, source)`` -> one task, or the exception that
        rejects that record, per record, in order. A bad record does not spoil the others:
        features are per frame, the LSTM runs once over the batch's good frames. Each
        task's ``preprocess_s`` is the batch's time: what its frame waited in this stage."""
        t0 = time.perf_counter()
        out: list[Task | Exception | None] = [None] * len(records)
        frames: list[tuple[int, Frame]] = []
        for i, (value, headers, _) in enumerate(records):
            try:
                frames.append((i, decode_frame(value, headers, self.max_frame_bytes)))
            except Exception as exc:  # noqa: BLE001 - handed back, per record
                out[i] = exc
        self._log_new_streams(frames, records)
        # The features' scaled grey decode is strict (cdio_stream.jpeg): it is also the one
        # check that dead-letters a frame cut short, here, before it is scheduled.
        decisions = self.rpp.process_each(
            [
                FrameTask(f.meta.stream_id, f.meta.capture_time, f.jpeg, f.meta.a_req, f.meta.d_req)
                for _, f in frames
            ]
        )
        elapsed, now = time.perf_counter() - t0, self.clock()
        for (i, frame), decision in zip(frames, decisions, strict=True):
            out[i] = (
                decision
                if isinstance(decision, Exception)
                else self._task(frame, decision, records[i][2], elapsed, now)
            )
        return out  # type: ignore[return-value] - every slot is filled now

    def _log_new_streams(self, frames: list[tuple[int, Frame]], records: Sequence[tuple]) -> None:
        """One line per stream this worker starts keeping state for (its first frame here)."""
        seen: set[str] = set()
        for i, f in frames:
            sid = f.meta.stream_id
            if sid not in seen and sid not in self.rpp.extractor:
                seen.add(sid)
                log.info("new stream %s on this worker (first frame from %s)", sid, records[i][2])

    @staticmethod
    def _task(frame: Frame, decision: RppDecision, source: str | None, elapsed: float, now: float) -> Task:
        f = decision.features
        if decision.probability is not None:
            preference = decision.probability
        else:
            preference = 1.0 if decision.preference == COMPUTE else 0.0
        return Task(
            frame=frame,
            features=TaskFeatures(
                complexity=f.complexity,
                complexity_scales=f.complexity_scales,
                motion=f.motion,
                inter_arrival=f.inter_arrival,
            ),
            preference=preference,
            preprocess_s=elapsed,
            created_at=now,
            source=source,
            model_version=decision.model_version,
        )

    def adopt(self, value: bytes | None, headers: Any) -> int | None:
        """Switch to a published model if it is newer; returns its version, or None if not newer.

        Raises MessageError / ConfigError for a record that is not a usable model (the
        agent dead-letters it and keeps the model it has).
        """
        from cdio_stream.rpp.predictor import PreferencePredictor

        published = decode_rpp_model(value, headers)
        current = self.rpp.model_version
        if current is not None and published.version <= current:
            return None
        predictor = PreferencePredictor.from_bytes(published.checkpoint, f"RPP model v{published.version}")
        if predictor.version != published.version:
            raise ConfigError(
                f"RPP model record says version {published.version}, its checkpoint {predictor.version}"
            )
        self.rpp.use(predictor)
        return predictor.version
