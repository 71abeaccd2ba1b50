"""Scheduler stage: slots of tasks become assignments; results become bandit feedback.

Holds the policy (any :class:`~cdio_stream.policy.base.Policy`), the tasks it has
assigned and not yet heard back about, and running estimates of each server's backlog
and link rate that form the :class:`SystemState` the policy decides on.

Its snapshot (policy state + pending tasks + counters) is what the scheduler agent
persists in Kafka and restores on start, so learning survives a restart and results of
tasks assigned before the restart still reach the policy.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cdio_stream.errors import MessageError
from cdio_stream.messages import Assignment, Result, Task, decode_result, decode_task
from cdio_stream.policy.base import Feedback, Policy, ServerState, SlotTask, SystemState
from cdio_stream.policy.codec import decode_state, encode_state
from cdio_stream.topology import Topology

__all__ = ["SchedulerStage", "PendingTask"]

SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class PendingTask:
    server_id: str
    a_req: float
    d_req: float
    assigned_at: float


class SchedulerStage:
    def __init__(
        self,
        policy: Policy,
        topology: Topology,
        *,
        max_pending: int = 100_000,
        smoothing: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        unknown = set(policy.server_ids) - set(topology.server_ids)
        if unknown:
            raise MessageError(f"policy servers {sorted(unknown)} are not in topics.yaml")
        self.policy = policy
        self.topology = topology
        self.max_pending = max_pending
        self.smoothing = smoothing
        self.clock = clock
        self.pending: OrderedDict[str, PendingTask] = OrderedDict()
        self.decisions = 0
        self.feedbacks = 0
        self.expired = 0  # pending tasks dropped unanswered when max_pending was exceeded
        self._service_s: dict[str, float] = {}  # smoothed inference time per server
        self._rate_bps: dict[str, float] = {}  # smoothed observed link rate per server

    # -------------------------------------------------------------- tasks -> assignments
    def decode_task(self, value: bytes | None, headers: Any) -> Task:
        return decode_task(value, headers, self.topology.max_frame_bytes)

    def decide(self, tasks: Sequence[Task]) -> list[Assignment]:
        """One slot: ask the policy, remember what was sent where, return the assignments."""
        if not tasks:
            return []
        now = self.clock()
        slot = [
            SlotTask(
                task_id=t.task_id,
                stream_id=t.frame.meta.stream_id,
                payload_bytes=len(t.frame.jpeg),
                complexity=t.features.complexity,
                preference=t.preference,
                a_req=t.frame.meta.a_req,
                d_req=t.frame.meta.d_req,
                arrival_time=t.created_at,
            )
            for t in tasks
        ]
        decisions = self.policy.assign(slot, self.system_state(now))
        by_id = {t.task_id: t for t in tasks}
        assignments = []
        for d in decisions:
            task = by_id[d.task_id]
            self.pending[d.task_id] = PendingTask(
                d.server_id, task.frame.meta.a_req, task.frame.meta.d_req, now
            )
            info = dict(d.info)
            if d.quality != 1.0:
                info["quality"] = d.quality
            assignments.append(
                Assignment(
                    task=task, server_id=d.server_id, policy=self.policy.name, decision=info, assigned_at=now
                )
            )
        self.decisions += len(decisions)
        while len(self.pending) > self.max_pending:
            self.pending.popitem(last=False)
            self.expired += 1
        return assignments

    def system_state(self, now: float) -> SystemState:
        backlog: dict[str, int] = {sid: 0 for sid in self.policy.server_ids}
        for p in self.pending.values():
            if p.server_id in backlog:
                backlog[p.server_id] += 1
        servers = []
        for sid in self.policy.server_ids:
            service = self._service_s.get(sid)
            servers.append(
                ServerState(
                    server_id=sid,
                    queue_length=backlog[sid],
                    queue_delay_s=None if service is None else backlog[sid] * service,
                    bandwidth_bps=self._rate_bps.get(sid),
                )
            )
        return SystemState(time=now, servers=tuple(servers))

    # -------------------------------------------------------------- results -> feedback
    def on_result(self, value: bytes | None) -> Result:
        """Feed one result back to the policy; unknown tasks or servers are bad input."""
        result = decode_result(value)
        if result.server_id not in self.policy.index:
            raise MessageError(
                f"result for task {result.task_id!r} names unknown server {result.server_id!r}"
            )
        pending = self.pending.get(result.task_id)
        if pending is None:
            raise MessageError(f"result for unknown task {result.task_id!r} (not assigned by this scheduler)")
        if pending.server_id != result.server_id:
            raise MessageError(
                f"result for task {result.task_id!r} came from {result.server_id!r}, "
                f"it was assigned to {pending.server_id!r}"
            )
        del self.pending[result.task_id]
        t = result.timings
        self.policy.feedback(
            [
                Feedback.measured(
                    result.task_id,
                    result.server_id,
                    accuracy=result.accuracy,
                    a_req=pending.a_req,
                    d_req=pending.d_req,
                    preprocess_s=t.preprocess,
                    queue_s=t.queue,
                    transmission_s=t.transmission,
                    inference_s=t.inference,
                    compute_tflop=result.costs.compute,
                    bandwidth_bps=result.costs.bandwidth,
                    energy_j=result.costs.energy,
                    payload_bytes=result.payload_bytes,
                )
            ]
        )
        self.feedbacks += 1
        self._smooth(self._service_s, result.server_id, t.inference)
        if t.transmission > 0:
            self._smooth(self._rate_bps, result.server_id, result.payload_bytes * 8 / t.transmission)
        return result

    def _smooth(self, table: dict[str, float], key: str, value: float) -> None:
        old = table.get(key)
        table[key] = value if old is None else (1 - self.smoothing) * old + self.smoothing * value

    # -------------------------------------------------------------- persistence
    def snapshot(self) -> bytes:
        header = {
            "v": SNAPSHOT_VERSION,
            "decisions": self.decisions,
            "feedbacks": self.feedbacks,
            "expired": self.expired,
            "pending": [
                [tid, p.server_id, p.a_req, p.d_req, p.assigned_at] for tid, p in self.pending.items()
            ],
            "service_s": self._service_s,
            "rate_bps": self._rate_bps,
        }
        policy = np.frombuffer(self.policy.state_bytes(), dtype=np.uint8)
        return encode_state(header, {"policy": policy})

    def restore(self, data: bytes) -> None:
        header, arrays = decode_state(data)
        if header.get("v") != SNAPSHOT_VERSION or "policy" not in arrays:
            raise MessageError(f"scheduler snapshot version {header.get('v')!r} is not {SNAPSHOT_VERSION}")
        self.policy.load_state(arrays["policy"].tobytes())
        self.decisions = int(header["decisions"])
        self.feedbacks = int(header["feedbacks"])
        self.expired = int(header["expired"])
        self.pending = OrderedDict(
            (tid, PendingTask(sid, a, d, at)) for tid, sid, a, d, at in header["pending"]
        )
        self._service_s = dict(header["service_s"])
        self._rate_bps = dict(header["rate_bps"])

    def stats(self) -> dict[str, int]:
        return {
            "decisions": self.decisions,
            "feedbacks": self.feedbacks,
            "pending": len(self.pending),
            "expired": self.expired,
        }
