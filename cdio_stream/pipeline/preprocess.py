"""Preprocess stage: a frame off the wire becomes a task with features and a preference.

Broker-free: the Faust agent hands it (value, headers) and publishes what it returns.
Bad input raises a :class:`~cdio_stream.errors.CdioError` subclass; the agent sends the
record to the dead-letter topic with that message as the reason.

:meth:`Preprocessor.adopt` takes a model published by the online trainer (an encoded
:class:`~cdio_stream.messages.RppModel`) and switches to it if it is newer than the one in
use: later tasks carry its version, without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cdio_stream.errors import ConfigError
from cdio_stream.messages import Task, TaskFeatures, decode_frame, decode_rpp_model
from cdio_stream.rpp.pipeline import FrameTask, RppPipeline
from cdio_stream.rpp.rule import COMPUTE

__all__ = ["Preprocessor", "load_rpp"]


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
        """``source``: where the frame record came from ("<partition>/<offset>"), kept on the task."""
        t0 = time.perf_counter()
        frame = decode_frame(value, headers, self.max_frame_bytes)
        m = frame.meta
        # The features' scaled grey decode is strict (cdio_stream.jpeg): it is also the one
        # check that dead-letters a frame cut short, here, before it is scheduled.
        (decision,) = self.rpp.process([FrameTask(m.stream_id, m.capture_time, frame.jpeg, m.a_req, m.d_req)])
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
            preprocess_s=time.perf_counter() - t0,
            created_at=self.clock(),
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
