"""Inference stage: one server's assignments become results with timings and costs.

The stage emulates the server's uplink (the transfer takes payload bits / link rate +
latency, on the link model of :mod:`cdio_stream.system.network`), runs its detector,
scores the detections against the frame's ground truth when the dataset is known, and
prices the task with the server's device profile (paper 4.2.3-4.2.5). The uplink, the
delay parts and the costs are :mod:`cdio_stream.sim.execution`'s, the code the simulator
uses: :meth:`InferenceStage.uplink` queues the payload on a
:class:`~cdio_stream.sim.execution.LinkQueue`, and every result is priced by
:func:`~cdio_stream.sim.execution.outcome` from the measured times.

DAO's quality decision (``Assignment.decision["quality"]`` < 1) is applied here: before the
emulated uplink the JPEG is re-encoded to that share of its bytes
(:func:`~cdio_stream.jpeg.reencode`), and the detector runs on the re-encoded frame, so the
result's payload, transmission and accuracy are those of what the uplink carried. A shadow
(reference) run always gets the frame as captured.

Timings of a result (seconds):
  preprocess    the preprocess agent's time (features + preference);
  queue         everything between the task's creation and the start of inference
                that is not the emulated transfer: scheduler slot wait, Kafka hops,
                this server's backlog;
  transmission  the emulated transfer of the JPEG to this server;
  inference     the detector's preprocess + forward + NMS time.

Reference-sampled tasks (``Assignment.shadow_server``, :mod:`cdio_stream.feedback`): the
served server does not publish its result but forwards it (:meth:`InferenceStage.forward`)
to the shadow server, whose stage runs its own model on the frame and publishes the served
result judged against the reference, with both tiers' outcomes and its own cost as
overhead (``Result.reference``). One result per task either way.

Batching (:meth:`InferenceStage.infer_batch`): the agent may hand several assignments to
one detector call. Each task's ``inference`` timing is then the whole call (what its frame
waited for detections, as preprocess does for its batches), while its compute and working
energy are its share of the call (the device was busy call / n per task).

Load shedding (``shed="late"``, :mod:`cdio_stream.pipeline.shedding`):
:meth:`InferenceStage.expire_if_late` turns a task that cannot meet D^q, given its
transmission and this server's smoothed inference time, into an expired result before
anything is sent or inferred.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from cdio_stream.errors import DatasetError, MessageError
from cdio_stream.feedback import ReferenceJudge
from cdio_stream.inference.accuracy import frame_map50
from cdio_stream.inference.detections import Detections
from cdio_stream.jpeg import decode_bgr, reencode
from cdio_stream.messages import (
    SHED_STAGES,
    Assignment,
    Costs,
    Detection,
    ReferenceOutcome,
    Result,
    Task,
    Timings,
    decode_assignment,
)
from cdio_stream.pipeline.shedding import DEFAULT_SHED, check_shed_mode, expired_result, is_late
from cdio_stream.policy.base import Decision, SlotTask
from cdio_stream.sim import execution
from cdio_stream.sim.execution import LinkQueue, Transfer
from cdio_stream.system.network import Link
from cdio_stream.system.profiles import DeviceProfile
from cdio_stream.topology import ServerSpec

__all__ = ["InferenceStage", "GroundTruthSource"]

log = logging.getLogger(__name__)


class DetectorLike(Protocol):
    """What the stage needs of a detector; one with ``takes_pixels = False`` (the no-op
    detector) gets an empty image in place of each decoded frame."""

    def predict(self, frames: list[np.ndarray]) -> list[Detections]: ...


_NO_PIXELS = np.empty((0, 0, 3), dtype=np.uint8)


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
        judge: ReferenceJudge | None = None,
        max_frame_bytes: int,
        shed: str = DEFAULT_SHED,
        smoothing: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server = server
        self.detector = detector
        self.device = device
        self.link = link
        self.ground_truth = ground_truth
        self.judge = judge  # judges shadow runs of reference-sampled tasks (cdio_stream.feedback)
        self.max_frame_bytes = max_frame_bytes
        self.shed = check_shed_mode(shed)
        self.smoothing = smoothing
        self.clock = clock
        self._clock = _ServerClock(started=clock())
        self._link = LinkQueue(link)  # on the link model's clock: seconds since the stage started
        self.inference_s: float | None = None  # smoothed time of one detector call (a batch)
        # Smoothed wall time of a whole infer_batch call (decode, detector, pricing): how long
        # it blocks its caller (the agent runs short ones on its event loop, long ones in a thread).
        self.blocking_s: float | None = None
        self.shed_tasks = 0

    def decode(self, value: bytes | None, headers: Any) -> Assignment:
        """Decode an assignment; one meant for another server is bad input here."""
        assignment = decode_assignment(value, headers, self.max_frame_bytes)
        if assignment.server_id != self.server.id:
            raise MessageError(
                f"assignment for server {assignment.server_id!r} arrived at server {self.server.id!r}"
            )
        return assignment

    def uplink(self, assignment: Assignment, *, commit: bool = True) -> tuple[Assignment, Transfer]:
        """The frame as the uplink carries it (re-encoded at the decision's quality, see the
        module docstring) and its transfer on this server's link, queued from now.
        ``commit=False`` leaves the link as it was (a task that may be shed); :meth:`commit`."""
        quality = float(assignment.decision.get("quality", 1.0))
        jpeg = assignment.task.frame.jpeg
        if assignment.served is None and quality < 1.0:
            try:
                jpeg = reencode(jpeg, execution.sent_bytes(len(jpeg), quality))
            except MessageError as exc:
                raise MessageError(f"task {assignment.task.task_id}: {exc}") from None
            task = replace(assignment.task, frame=replace(assignment.task.frame, jpeg=jpeg))
            assignment = replace(assignment, task=task)
        return assignment, self._link.send(len(jpeg), self.clock() - self._clock.started, commit=commit)

    def reencodes(self, assignment: Assignment) -> bool:
        """Whether :meth:`uplink` re-encodes this frame (DAO's quality below 1): CPU work, unlike
        the transfer itself, which is arithmetic on the link model."""
        return assignment.served is None and float(assignment.decision.get("quality", 1.0)) < 1.0

    def commit(self, transfer: Transfer) -> None:
        """Occupy the link with a transfer :meth:`uplink` computed with ``commit=False``."""
        self._link.commit(transfer)

    def transmission_s(self, assignment: Assignment) -> float:
        """How long the emulated uplink would take for this payload now (the link is left alone)."""
        return self.uplink(assignment, commit=False)[1].transmission_s

    def expire_if_late(self, assignment: Assignment, transmission_s: float) -> Result | None:
        """The expired result of a task that can no longer meet D^q here (``shed="late"``),
        else None. Shadow runs are never shed: their task has its served result already."""
        if self.shed != "late" or assignment.served is not None:
            return None
        now = self.clock()
        if not is_late(assignment.task, now, transmission_s + (self.inference_s or 0.0)):
            return None
        self.shed_tasks += 1
        return expired_result(assignment.task, self.server, SHED_STAGES[1], now)

    def infer(self, assignment: Assignment, transfer: Transfer | float) -> Result:
        """Run the detector (blocking: call it from an executor thread) and build the result.

        For a forwarded shadow assignment (``assignment.served`` set) the result is the
        served one, judged here: see :meth:`_judge`.
        """
        (out,) = self.infer_batch([(assignment, transfer)])
        if isinstance(out, Exception):
            raise out
        return out

    def infer_batch(self, items: list[tuple[Assignment, Transfer | float]]) -> list[Result | Exception]:
        """One detector call for several ``(assignment, transfer)`` (blocking); a transfer is
        :meth:`uplink`'s, or for callers that only know it the transmission time in seconds.

        One outcome per item, in order: its result, or the exception that makes it a dead
        letter (a JPEG that does not decode, a shadow run that cannot be judged); the other
        items of the batch are unaffected. A failing detector call raises.
        """
        t0 = time.perf_counter()
        outcomes: list[Result | Exception | None] = [None] * len(items)
        images, decoded = [], []
        # The JPEG was validated where it entered (preprocess's strict decode); it is decoded
        # again only for a detector that looks at pixels (not the no-op one).
        pixels = getattr(self.detector, "takes_pixels", True)
        for i, (assignment, _) in enumerate(items):
            try:
                images.append(decode_bgr(assignment.task.frame.jpeg) if pixels else _NO_PIXELS)  # strict
                decoded.append(i)
            except MessageError as exc:
                outcomes[i] = MessageError(f"task {assignment.task.task_id}: {exc}")
        if images:
            started = self.clock()
            batch = self.detector.predict(images)
            done = self.clock()
            call_s = sum(d.timings.total_s for d in batch)  # per-frame shares of the one call
            idle_s = 0.0 if self._clock.last_done is None else max(0.0, started - self._clock.last_done)
            self._clock.last_done = done
            old = self.inference_s
            self.inference_s = call_s if old is None else (1 - self.smoothing) * old + self.smoothing * call_s
            for k, (i, detections) in enumerate(zip(decoded, batch, strict=True)):
                assignment, transfer = items[i]
                timings, costs = self._price(
                    assignment,
                    self._as_transfer(assignment, transfer),
                    started,
                    call_s,
                    len(images),
                    idle_s if k == 0 else 0.0,
                )
                try:
                    outcomes[i] = self._result(assignment, detections, timings, costs, done)
                except Exception as exc:  # this task's own failure (e.g. a shadow run not judged here)
                    outcomes[i] = exc
        blocked, old = time.perf_counter() - t0, self.blocking_s
        self.blocking_s = blocked if old is None else (1 - self.smoothing) * old + self.smoothing * blocked
        return outcomes  # type: ignore[return-value]

    def _result(
        self, assignment: Assignment, detections: Detections, timings: Timings, costs: Costs, done: float
    ) -> Result:
        task = assignment.task
        if assignment.served is not None:
            return self._judge(assignment, detections, timings, costs)
        accuracy = self._truth(task, detections)
        return Result(
            task_id=task.task_id,
            stream_id=task.frame.meta.stream_id,
            frame_no=task.frame.meta.frame_no,
            server_id=self.server.id,
            tier=self.server.tier,
            model=self.server.model,
            a_req=task.frame.meta.a_req,
            d_req=task.frame.meta.d_req,
            payload_bytes=len(task.frame.jpeg),
            detections=tuple(
                Detection(box=tuple(float(v) for v in box), cls=int(c), score=float(s))
                for box, c, s in zip(detections.boxes, detections.classes, detections.scores, strict=True)
            ),
            accuracy=accuracy,
            timings=timings,
            costs=costs,
            completed_at=done,
            features=task.features,
            preference=task.preference,
            capture_time=task.frame.meta.capture_time,
            assigned_at=assignment.assigned_at,
        )

    def forward(self, assignment: Assignment, result: Result) -> Assignment:
        """The copy of a reference-sampled task that its shadow server runs and judges."""
        return replace(assignment, server_id=assignment.shadow_server, served=result)

    def _as_transfer(self, assignment: Assignment, transfer: Transfer | float) -> Transfer:
        if isinstance(transfer, Transfer):
            return transfer
        total = float(transfer)  # a transmission time only: the link latency, the rest sending
        sending = max(0.0, total - self.link.latency_s)
        nbytes = len(assignment.task.frame.jpeg)
        rate = nbytes * 8.0 / sending if sending > 0 else self.link.nominal_bps
        return Transfer(0.0, rate, sending, total - sending, nbytes)

    def _price(
        self,
        assignment: Assignment,
        transfer: Transfer,
        started: float,
        call_s: float,
        n: int,
        idle_s: float,
    ) -> tuple[Timings, Costs]:
        """Timings and costs of one task of a detector call of ``call_s`` over ``n`` tasks, by
        the simulator's code (:func:`cdio_stream.sim.execution.outcome`): the task waited the
        whole call, the device is charged ``call_s / n`` for it."""
        task, meta = assignment.task, assignment.task.frame.meta
        # A shadow run waits from the served run's end, a task from its creation (after preprocess).
        since = assignment.served.completed_at if assignment.served is not None else task.created_at
        slot_task = SlotTask(task.task_id, meta.stream_id, len(task.frame.jpeg), task.features.complexity,
                             task.preference, meta.a_req, meta.d_req, since - task.preprocess_s)  # fmt: skip
        quality = float(assignment.decision.get("quality", 1.0)) if assignment.served is None else 1.0
        out = execution.outcome(Decision(task.task_id, self.server.id, quality), slot_task, self.server, transfer,
                                self.device, preprocess_s=task.preprocess_s, start_s=started, inference_s=call_s,
                                busy_s=call_s / n, idle_s=idle_s, accuracy=None, batch_size=n)  # fmt: skip
        timings = Timings(preprocess=out.preprocess_s, queue=out.queue_s, transmission=out.transmission_s,
                          inference=out.inference_s)  # fmt: skip
        costs = Costs(compute=out.costs.compute_tflop, bandwidth=out.costs.bandwidth_bps,
                      energy=out.costs.energy.total_j)  # fmt: skip
        return timings, costs

    def _truth(self, task: Task, detections: Detections) -> float | None:
        ref = task.frame.meta.gt_ref
        if ref is None or self.ground_truth is None:
            return None
        try:
            return frame_map50(detections, self.ground_truth.ground_truth(ref))
        except DatasetError as exc:  # the detections are still a result; only the score is unknown
            log.warning("task %s: no ground truth for %r: %s", task.task_id, ref, exc)
            return None

    def _judge(self, assignment: Assignment, mine: Detections, timings: Timings, costs: Costs) -> Result:
        """The served result of a reference-sampled task, with both tiers' outcomes.

        Ground truth wins: with it both detection sets are scored against it. Without it,
        the non-reference model's detections are scored against the reference model's
        (whichever of the two runs that was) and credited by the reference's prior.
        """
        served, task = assignment.served, assignment.task
        if self.judge is None:
            raise MessageError(
                f"task {task.task_id}: shadow run on {self.server.id!r}, which has no reference judge"
            )
        theirs = _detections(served.detections)
        i_am_ref = self.server.model == self.judge.reference_model
        if not i_am_ref and served.model != self.judge.reference_model:
            raise MessageError(
                f"task {task.task_id}: neither {self.server.model!r} nor {served.model!r} is the reference model "
                f"{self.judge.reference_model!r}"
            )
        reference, cheap = (mine, theirs) if i_am_ref else (theirs, mine)
        agreement = self.judge.agreement(cheap, reference)
        my_truth = self._truth(task, mine)
        served_truth = served.accuracy if served.accuracy_source == "truth" else self._truth(task, theirs)
        c = task.features.complexity
        if served_truth is not None:
            served_acc, source = served_truth, "truth"
        else:
            served_acc, source = self.judge.credit(agreement if i_am_ref else None, c), "reference"
        if my_truth is None:
            my_truth = self.judge.credit(None if i_am_ref else agreement, c)
        edge_acc, cloud_acc = (my_truth, served_acc) if self.server.tier == "edge" else (served_acc, my_truth)
        my_delay = timings.preprocess + timings.transmission + timings.inference
        edge_delay, cloud_delay = (
            (my_delay, served.delay) if self.server.tier == "edge" else (served.delay, my_delay)
        )
        outcome = ReferenceOutcome(
            server_id=self.server.id,
            tier=self.server.tier,
            model=self.server.model,
            reference_model=self.judge.reference_model,
            score_threshold=self.judge.score_threshold,
            agreement=agreement,
            edge_accuracy=edge_acc,
            cloud_accuracy=cloud_acc,
            edge_delay=edge_delay,
            cloud_delay=cloud_delay,
            timings=timings,
            costs=costs,
            payload_bytes=len(task.frame.jpeg),
        )
        return replace(served, accuracy=served_acc, accuracy_source=source, reference=outcome)


def _detections(dets: tuple[Detection, ...]) -> Detections:
    return Detections(
        np.array([d.box for d in dets], dtype=np.float32).reshape(-1, 4),
        np.array([d.cls for d in dets], dtype=np.int64),
        np.array([d.score for d in dets], dtype=np.float32),
    )
