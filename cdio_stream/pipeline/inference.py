"""Inference stage: one server's assignments become results with timings and costs.

The stage emulates the server's uplink (the transfer takes payload bits / link rate +
latency, on the link model of :mod:`cdio_stream.system.network`), runs its detector,
scores the detections against the frame's ground truth when the dataset is known, and
prices the task with the server's device profile (paper 4.2.3-4.2.5).

Timings of a result (seconds):
  preprocess    the preprocess agent's time (features + preference);
  queue         everything between the task's creation and the start of inference
                that is not the emulated transfer: scheduler slot wait, Kafka hops,
                this server's backlog;
  transmission  the emulated transfer of the JPEG to this server;
  inference     the detector's preprocess + forward + NMS time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from cdio_stream.errors import DatasetError, MessageError
from cdio_stream.inference.accuracy import frame_map50
from cdio_stream.inference.detections import Detections
from cdio_stream.jpeg import decode_bgr
from cdio_stream.messages import Assignment, Costs, Detection, Result, Timings, decode_assignment
from cdio_stream.system.cost import bandwidth_consumption, compute_consumption, task_energy
from cdio_stream.system.network import Link
from cdio_stream.system.profiles import DeviceProfile
from cdio_stream.topology import ServerSpec

__all__ = ["InferenceStage", "GroundTruthSource"]

log = logging.getLogger(__name__)


class DetectorLike(Protocol):
    def predict(self, frames: list[np.ndarray]) -> list[Detections]: ...


class GroundTruthSource(Protocol):
    def ground_truth(self, ref: str) -> Any: ...


@dataclass
class _ServerClock:
    started: float  # the link model's time origin
    last_done: float | None = None  # end of the previous inference (for idle energy)


class InferenceStage:
    def __init__(
        self,
        server: ServerSpec,
        detector: DetectorLike,
        device: DeviceProfile,
        link: Link,
        *,
        ground_truth: GroundTruthSource | None = None,
        max_frame_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server = server
        self.detector = detector
        self.device = device
        self.link = link
        self.ground_truth = ground_truth
        self.max_frame_bytes = max_frame_bytes
        self.clock = clock
        self._clock = _ServerClock(started=clock())

    def decode(self, value: bytes | None, headers: Any) -> Assignment:
        """Decode an assignment; one meant for another server is bad input here."""
        assignment = decode_assignment(value, headers, self.max_frame_bytes)
        if assignment.server_id != self.server.id:
            raise MessageError(
                f"assignment for server {assignment.server_id!r} arrived at server {self.server.id!r}"
            )
        return assignment

    def transmission_s(self, assignment: Assignment) -> float:
        """How long the emulated uplink takes for this payload, at the current link rate."""
        t = self.clock() - self._clock.started
        return self.link.transmission_time(len(assignment.task.frame.jpeg), t)

    def infer(self, assignment: Assignment, transmission_s: float) -> Result:
        """Run the detector (blocking: call it from an executor thread) and build the result."""
        task = assignment.task
        try:
            image = decode_bgr(task.frame.jpeg)  # strict: half a JPEG is never inferred
        except MessageError as exc:
            raise MessageError(f"task {task.task_id}: {exc}") from None
        started = self.clock()
        (detections,) = self.detector.predict([image])
        inference_s = detections.timings.total_s
        done = self.clock()
        idle_s = 0.0 if self._clock.last_done is None else max(0.0, started - self._clock.last_done)
        self._clock.last_done = done

        accuracy = None
        ref = task.frame.meta.gt_ref
        if ref is not None and self.ground_truth is not None:
            try:
                accuracy = frame_map50(detections, self.ground_truth.ground_truth(ref))
            except DatasetError as exc:  # the detections are still a result; only the score is unknown
                log.warning("task %s: no ground truth for %r: %s", task.task_id, ref, exc)

        payload = len(task.frame.jpeg)
        sending_s = max(0.0, transmission_s - self.link.latency_s)
        energy = task_energy(self.device, inference_s, idle_s, sending_s)
        return Result(
            task_id=task.task_id,
            stream_id=task.frame.meta.stream_id,
            frame_no=task.frame.meta.frame_no,
            server_id=self.server.id,
            tier=self.server.tier,
            model=self.server.model,
            a_req=task.frame.meta.a_req,
            d_req=task.frame.meta.d_req,
            payload_bytes=payload,
            detections=tuple(
                Detection(box=tuple(float(v) for v in box), cls=int(c), score=float(s))
                for box, c, s in zip(detections.boxes, detections.classes, detections.scores, strict=True)
            ),
            accuracy=accuracy,
            timings=Timings(
                preprocess=task.preprocess_s,
                queue=max(0.0, started - task.created_at - transmission_s),
                transmission=transmission_s,
                inference=inference_s,
            ),
            costs=Costs(
                compute=compute_consumption(self.device, inference_s),
                bandwidth=bandwidth_consumption(payload, transmission_s),
                energy=energy.total_j,
            ),
            completed_at=done,
            features=task.features,
            preference=task.preference,
            capture_time=task.frame.meta.capture_time,
        )
