"""Scheduler stage: slots of tasks become assignments; results become bandit feedback.

Holds the policy (any :class:`~cdio_stream.policy.base.Policy`), the tasks it has
assigned and not yet heard back about, and running estimates of each server's backlog
and link rate that form the :class:`SystemState` the policy decides on.

Its snapshot (policy state, pending and recently answered tasks, counters, and the input
positions the state includes) is what the scheduler agent persists in Kafka and restores
on start, so learning survives a restart and results of tasks assigned before the
restart still reach the policy exactly once.

Exactly one assignment per task, under redelivery: task ids are deterministic
(``stream/frame``), and every task remembers the frame record it came from
(:attr:`Task.source`). A task id seen again with the same source is a redelivery (the
preprocess worker restarted before committing) and is skipped; with another source it is
a duplicate frame, dead-lettered alone. ``recover`` re-learns assignments sent after the
snapshot, read back from the assignment topics, so a re-read task is not decided twice.

Load shedding (``shed="late"``, :mod:`cdio_stream.pipeline.shedding`): a decided task that
cannot meet D^q even if its server started on it at once gets an expired result instead of
an assignment. It stays pending until that result comes back on the results topic like any
other, and then feeds the policy a delay failure. ``recover`` also takes the expired
results published after the snapshot, so a restarted scheduler does not decide them again.

A task ends as one result or one dead letter. The scheduler hears of both: results on the
results topic, and the dead letters of its assignments (the inference stage could not
process them) on the dead-letter topic (:meth:`SchedulerStage.on_dead_letter`). A
dead-lettered task leaves ``pending`` for ``done`` and its decision is released from the
policy without feedback, so neither the backlog the policy sees nor the bandit's pending
decisions keep tasks that will never be answered.

A task waiting on a server that is lost (announced, then silent for longer than
``lost_after_s``; :mod:`cdio_stream.pipeline.servers`) ends as an expired result too
(:meth:`SchedulerStage.expire_lost`): no frame waits forever on a server that never
comes back.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, field, replace
from typing import Any

import orjson

from cdio_stream.errors import ConfigError, MessageError
from cdio_stream.feedback import ReferencePlan
from cdio_stream.messages import (
    Assignment,
    PolicyView,
    Result,
    ServerAnnouncement,
    Task,
    assignment_route,
    decode_result,
    decode_task,
)
from cdio_stream.pipeline.dead_letter import read_dead_letter
from cdio_stream.pipeline.positions import InputPositions
from cdio_stream.pipeline.servers import LOST_AFTER_S, SERVER_TIMEOUT_S
from cdio_stream.pipeline.shedding import (
    DEFAULT_SHED,
    check_shed_mode,
    expired_outcome,
    expired_result,
    is_late,
)
from cdio_stream.policy.base import Feedback, Policy, ServerState, SlotTask, SystemState
from cdio_stream.policy.codec import decode_state, encode_state
from cdio_stream.topology import ServerSpec, Topology

__all__ = ["SchedulerStage", "PendingTask", "SlotOutcome", "lost_task_result"]

log = logging.getLogger(__name__)

# v3: the policy's state is part of the snapshot's one encoding (v2 nested an encoded blob).
# v4: pending tasks also keep their shadow server, creation, preprocess time and "ended";
# a v3 snapshot is still read (those take their defaults).
SNAPSHOT_VERSION = 4
READABLE_SNAPSHOTS = (3, 4)
POLICY_ARRAY_PREFIX = "policy/"


@dataclass(frozen=True)
class PendingTask:
    server_id: str
    a_req: float
    d_req: float
    assigned_at: float
    source: str | None = None  # the task's frame record, see Task.source
    shadow_server: str | None = None  # reference-sampled: the server its second run goes to
    created_at: float | None = None  # Task.created_at (None: not known, e.g. re-learned)
    preprocess_s: float = 0.0  # Task.preprocess_s
    # Its one outcome is published already (an expired result on its way back): nothing
    # more may be published for it.
    ended: bool = False


@dataclass(frozen=True)
class SlotOutcome:
    assignments: list[Assignment]
    failed: list[tuple[int, Exception]]  # index in the slot, why: each is dead-lettered alone
    redelivered: list[int]  # indexes of tasks already assigned (same id, same source): nothing to send
    expired: list[Result] = field(default_factory=list)  # shed as late: publish to the results topic


class SchedulerStage:
    def __init__(
        self,
        policy: Policy,
        topology: Topology,
        *,
        max_pending: int = 100_000,
        max_done: int = 20_000,
        smoothing: float = 0.2,
        reference: ReferencePlan | None = None,
        shed: str = DEFAULT_SHED,
        clock: Callable[[], float] = time.time,
        server_timeout_s: float = SERVER_TIMEOUT_S,
        lost_after_s: float = LOST_AFTER_S,
    ) -> None:
        if lost_after_s and lost_after_s < server_timeout_s:
            raise ConfigError(
                f"lost_after_s ({lost_after_s:g} s) must be 0 (never) or at least the server timeout "
                f"({server_timeout_s:g} s): a server is unavailable before it is lost"
            )
        unknown = set(policy.server_ids) - set(topology.server_ids)
        if unknown:
            raise MessageError(f"policy servers {sorted(unknown)} are not in topics.yaml")
        self.policy = policy
        self.topology = topology
        self.max_pending = max_pending
        self.max_done = max_done
        self.smoothing = smoothing
        self.reference = reference  # reference sampling and judging (cdio_stream.feedback); None: off
        self.shed = check_shed_mode(shed)  # "late": expire tasks that cannot meet D^q
        self.clock = clock
        self.pending: OrderedDict[str, PendingTask] = OrderedDict()
        # Answered tasks, newest last (bounded): task id -> (server id, source). Redelivered
        # results and tasks are recognised here, long after their feedback was applied.
        self.done: OrderedDict[str, tuple[str, str | None]] = OrderedDict()
        self.positions = InputPositions()  # tasks and results records the state includes
        self.output_ends: dict[str, int] = {}  # assignment topics' ends when the snapshot was taken
        self.decisions = 0
        self.feedbacks = 0
        self.expired = 0  # pending tasks dropped unanswered when max_pending was exceeded
        self.redelivered_tasks = 0
        self.duplicate_results = 0
        self.recovered = 0  # assignments re-learned from the assignment topics after a restore
        self.shed_tasks = 0  # tasks this scheduler expired instead of assigning (shed="late")
        self.dead_lettered = 0  # assigned tasks that ended as a dead letter of the inference stage
        # assignment topic -> its server, to tell which dead letters are of assignments
        self._topic_server = {topology.assignment_topic(s).name: s for s in topology.server_ids}
        # Servers that join and leave (cdio_stream.pipeline.servers): last heartbeat per
        # announced server; one silent for longer than server_timeout_s is unavailable.
        self.server_timeout_s = server_timeout_s
        # One silent for longer than lost_after_s is lost: the tasks still waiting on it
        # end as expired results (expire_lost); 0 turns that off.
        self.lost_after_s = lost_after_s
        self.lost_tasks = 0  # tasks ended because their server (or shadow server) was lost
        self.heartbeats: dict[str, float] = {}
        self.joined: list[str] = []  # servers added while running, not in topics.yaml
        self._service_s: dict[str, float] = {}  # smoothed inference time per server
        self._rate_bps: dict[str, float] = {}  # smoothed observed link rate per server

    # -------------------------------------------------------------- tasks -> assignments
    def decode_task(self, value: bytes | None, headers: Any) -> Task:
        return decode_task(value, headers, self.topology.max_frame_bytes)

    def decide(self, tasks: Sequence[Task]) -> list[Assignment | Result]:
        """One slot: ask the policy, remember what was sent where, return one outcome per
        task: its assignment, or (``shed="late"``) its expired result."""
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
        state = self.system_state(now)
        decisions = self.policy.assign(slot, state)
        load = {s.server_id: float(s.queue_length) for s in state.servers}
        by_id = {t.task_id: t for t in tasks}
        assignments = []
        for d in decisions:
            task = by_id[d.task_id]
            pending = PendingTask(
                d.server_id,
                task.frame.meta.a_req,
                task.frame.meta.d_req,
                now,
                task.source,
                created_at=task.created_at,
                preprocess_s=task.preprocess_s,
            )
            if self.shed == "late" and is_late(task, now, self._service_s.get(d.server_id, 0.0)):
                # Pending until its expired result comes back: then the policy learns the miss.
                self.pending[d.task_id] = replace(pending, ended=True)
                assignments.append(expired_result(task, self.topology.server(d.server_id), "scheduler", now))
                self.shed_tasks += 1
                continue
            info = dict(d.info)
            if d.quality != 1.0:
                info["quality"] = d.quality
            shadow = None
            if self.reference is not None:
                context = str(info.get("context", "-"))
                has_truth = task.frame.meta.gt_ref is not None
                shadow = self.reference.shadow_for(
                    task.frame.meta.stream_id, context, d.server_id, load, has_truth
                )
                if shadow is not None:
                    load[shadow] = load.get(shadow, 0.0) + 1.0
            self.pending[d.task_id] = replace(pending, shadow_server=shadow)
            assignments.append(
                Assignment(
                    task=task,
                    server_id=d.server_id,
                    policy=self.policy.name,
                    decision=info,
                    assigned_at=now,
                    shadow_server=shadow,
                )
            )
        self.decisions += len(decisions)
        while len(self.pending) > self.max_pending:
            self.pending.popitem(last=False)
            self.expired += 1
        return assignments

    def decide_slot(self, tasks: Sequence[Task]) -> SlotOutcome:
        """Decide a slot: skip redeliveries, reject duplicates, decide the rest.

        If the policy fails on the slot, each task is decided alone: one bad task costs
        only its own dead letter.
        """
        fresh: list[tuple[int, Task]] = []
        failed: list[tuple[int, Exception]] = []
        redelivered: list[int] = []
        in_slot: dict[str, str | None] = {}
        for i, task in enumerate(tasks):
            try:
                if self._already_assigned(task, in_slot):
                    redelivered.append(i)
                    continue
            except MessageError as exc:
                failed.append((i, exc))
                continue
            in_slot[task.task_id] = task.source
            fresh.append((i, task))
        try:
            outcomes = self.decide([t for _, t in fresh])
        except Exception as exc:
            if len(fresh) == 1:
                return SlotOutcome([], sorted(failed + [(fresh[0][0], exc)], key=_first), redelivered)
            outcomes = []
            for i, task in fresh:
                try:
                    outcomes += self.decide([task])
                except Exception as one_exc:
                    failed.append((i, one_exc))
        return SlotOutcome(
            [o for o in outcomes if isinstance(o, Assignment)],
            sorted(failed, key=_first),
            redelivered,
            [o for o in outcomes if isinstance(o, Result)],
        )

    def _already_assigned(self, task: Task, in_slot: dict[str, str | None]) -> bool:
        """True for a redelivery of an assigned task; MessageError for a duplicate frame."""
        tid = task.task_id
        if tid in in_slot:
            first = in_slot[tid]
        elif tid in self.pending:
            first = self.pending[tid].source
        elif tid in self.done:
            first = self.done[tid][1]
        else:
            return False
        if task.source is not None and task.source == first:
            self.redelivered_tasks += 1
            return True
        raise MessageError(
            f"duplicate task {tid!r}: frame record {task.source} repeats {first}, which is already scheduled"
        )

    def recover(self, assignments: Sequence[Assignment | Result]) -> int:
        """Re-learn assignments that were sent after the restored snapshot was taken, and
        the tasks this scheduler shed then (their expired results, ``expired="scheduler"``;
        other results are ignored).

        Their tasks become pending again (results for them are then expected, not
        unknown), and re-reading those tasks is recognised as a redelivery. Returns how
        many were new to this state.
        """
        n = 0
        for a in assignments:
            if isinstance(a, Result):
                if a.expired != "scheduler" or a.task_id in self.pending or a.task_id in self.done:
                    continue
                self.pending[a.task_id] = PendingTask(
                    a.server_id, a.a_req, a.d_req, a.completed_at, a.source, ended=True
                )
                n += 1
                continue
            tid = a.task.task_id
            if a.served is not None or tid in self.pending or tid in self.done:
                continue  # a shadow run's forwarded copy is not a decision
            m = a.task.frame.meta
            self.pending[tid] = PendingTask(
                a.server_id,
                m.a_req,
                m.d_req,
                a.assigned_at,
                a.task.source,
                shadow_server=a.shadow_server,
                created_at=a.task.created_at,
                preprocess_s=a.task.preprocess_s,
            )
            n += 1
        self.recovered += n
        self.decisions += n
        return n

    # -------------------------------------------------------------- servers join and leave
    def on_announcement(self, ann: ServerAnnouncement) -> bool:
        """A server's heartbeat; returns True if it is a new server, added to the policy."""
        added = False
        if ann.server_id not in self.policy.index:
            self.add_server(ServerSpec(ann.server_id, ann.tier, ann.model, ann.device))
            added = True
        else:
            known = self.topology.server(ann.server_id)
            if (known.tier, known.model, known.device) != (ann.tier, ann.model, ann.device):
                raise MessageError(
                    f"server {ann.server_id!r} announced tier/model/device {ann.tier}/{ann.model}/{ann.device}, "
                    f"it is known as {known.tier}/{known.model}/{known.device}"
                )
        self.heartbeats[ann.server_id] = max(self.heartbeats.get(ann.server_id, 0.0), ann.heartbeat_at)
        return added

    def add_server(self, server: ServerSpec) -> None:
        """Schedule one more server from now on: new arms in the policy, its assignment topic."""
        topology = self.topology.with_server(server)  # validates the id and tier
        policy = self.policy.with_server(server)
        self.topology, self.policy = topology, policy
        if self.reference is not None:  # its tasks can be reference-sampled, it can shadow
            self.reference.add_server(server)
        self._topic_server[topology.assignment_topic(server.id).name] = server.id
        self.joined.append(server.id)

    def available(self, server_id: str, now: float) -> bool:
        """False for a server that announced itself and then went silent past the timeout."""
        last = self.heartbeats.get(server_id)
        return last is None or now - last <= self.server_timeout_s

    def expire_lost(self, now: float) -> list[Result]:
        """The one outcome of every task still waiting on a lost server: an expired result.

        A server that announced itself and has been silent for longer than
        ``lost_after_s`` is lost. Its pending tasks (and the reference-sampled tasks whose
        shadow run it was to do) are past any D^q by then, so each ends as an expired
        result (``expired="scheduler"``, a delay failure), published like a shed task's and
        pending until it comes back. Nothing is re-decided: the frame's bytes are on the
        lost server's topic only. If the server returns and serves its stale assignments,
        those results are repeats of answered tasks and are dropped here and in the sink.
        """
        if not self.lost_after_s:
            return []
        lost = {sid for sid, last in self.heartbeats.items() if now - last > self.lost_after_s}
        if not lost:
            return []
        out = []
        for tid, p in self.pending.items():
            if p.ended or (p.server_id not in lost and p.shadow_server not in lost):
                continue
            out.append(lost_task_result(tid, p, self.topology.server(p.server_id), now))
            self.pending[tid] = replace(p, ended=True)  # same key: the order is kept
        self.lost_tasks += len(out)
        return out

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
                    available=self.available(sid, now),
                )
            )
        return SystemState(time=now, servers=tuple(servers))

    # -------------------------------------------------------------- results -> feedback
    def on_result(self, value: bytes | None) -> Result | None:
        """Feed one result back to the policy; unknown tasks or servers are bad input.

        A second result of an answered task from the same server (a redelivery, or the
        inference worker restarted before committing) returns None and changes nothing.
        """
        result = decode_result(value)
        if result.server_id not in self.policy.index:
            raise MessageError(
                f"result for task {result.task_id!r} names unknown server {result.server_id!r}"
            )
        answered = self.done.get(result.task_id)
        if answered is not None:
            if answered[0] != result.server_id:
                raise MessageError(
                    f"result for task {result.task_id!r} came from {result.server_id!r}, "
                    f"it was assigned to {answered[0]!r} and has been answered"
                )
            self.duplicate_results += 1
            return None
        pending = self.pending.get(result.task_id)
        if pending is None:
            raise MessageError(f"result for unknown task {result.task_id!r} (not assigned by this scheduler)")
        if pending.server_id != result.server_id:
            raise MessageError(
                f"result for task {result.task_id!r} came from {result.server_id!r}, "
                f"it was assigned to {pending.server_id!r}"
            )
        del self.pending[result.task_id]
        self._answered(result.task_id, pending)
        t = result.timings
        if result.expired is not None:  # shed as late: a delay failure, no inference to learn from
            self.policy.feedback(
                [
                    Feedback.expired_task(
                        result.task_id,
                        result.server_id,
                        d_req=pending.d_req,
                        preprocess_s=t.preprocess,
                        queue_s=t.queue,
                    )
                ]
            )
            self.feedbacks += 1
            return result
        acc_p, other = self._reference_terms(result, pending.a_req)
        if self.reference is not None:  # the sampler's compute budget: what runs cost
            self.reference.observe(result.server_id, result.costs.compute)
            ref = result.reference
            if ref is not None and ref.error is None:
                self.reference.observe(ref.server_id, ref.costs.compute, served=False)
        self.policy.feedback(
            [
                Feedback.measured(
                    result.task_id,
                    result.server_id,
                    accuracy=result.accuracy,
                    acc_p=acc_p,
                    other_accuracy=other,
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

    def on_dead_letter(self, headers: Any) -> str | None:
        """A dead letter of one of this scheduler's assignments ends its task.

        Returns the task id it ended, or None: dead letters of other stages (a frame, a
        task, a result: never assigned, or answered already) and of tasks that are not
        pending here (ended already, a redelivered dead letter) change nothing. The task
        moves to ``done`` (a later result for it is a redelivery, not unknown), and the
        policy forgets the decision without learning from it.
        """
        letter = read_dead_letter(headers or ())
        addressee = self._topic_server.get(letter.source_topic)
        if letter.stage != "inference" or addressee is None:
            return None
        route = assignment_route(headers)
        pending = self.pending.get(route.task_id)
        if pending is None:
            return None
        # Only the copy this scheduler sent (or its served server forwarded) ends the task;
        # a stray copy on another server's topic is its own bad record, not this task's end.
        sent_by_us = route.served_by is None and route.server_id == pending.server_id
        forwarded = route.served_by == pending.server_id
        if route.server_id != addressee or not (sent_by_us or forwarded):
            return None
        task_id = route.task_id
        del self.pending[task_id]
        self._answered(task_id, pending)
        self.policy.release([task_id])
        self.dead_lettered += 1
        return task_id

    def _answered(self, task_id: str, pending: PendingTask) -> None:
        self.done[task_id] = (pending.server_id, pending.source)
        while len(self.done) > self.max_done:
            self.done.popitem(last=False)

    def _reference_terms(self, result: Result, a_req: float) -> tuple[float | None, tuple]:
        """P(C1 met) of a reference-judged result, and the other tier's outcome of a sampled task."""
        ref = result.reference
        if ref is None:
            return None, ()
        if result.accuracy_source == "reference" and ref.agreement is not None and self.reference is not None:
            c = result.features.complexity if result.features is not None else None
            j = self.reference.judged(result.model, ref.agreement, a_req, c)
            return j.served_p, ((j.other_model, j.other_accuracy, j.other_p),)
        other = ref.cloud_accuracy if result.tier == "edge" else ref.edge_accuracy
        if result.accuracy_source == "truth" and other is not None:  # both tiers scored on ground truth
            return None, ((ref.model, other, float(other >= a_req)),)
        return None, ()

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
            "redelivered_tasks": self.redelivered_tasks,
            "duplicate_results": self.duplicate_results,
            "recovered": self.recovered,
            "shed_tasks": self.shed_tasks,
            "lost_tasks": self.lost_tasks,
            "dead_lettered": self.dead_lettered,
            "joined": [[sid, *_spec_row(self.topology.server(sid))] for sid in self.joined],
            "heartbeats": self.heartbeats,
            # Rows of PendingTask's fields in order; a v3 row has the first five.
            "pending": [[tid, *astuple(p)] for tid, p in self.pending.items()],
            "done": [[tid, sid, source] for tid, (sid, source) in self.done.items()],
            "positions": self.positions.to_dict(),
            "output_ends": self.output_ends,
            "service_s": self._service_s,
            "rate_bps": self._rate_bps,
            "reference_sampler": None if self.reference is None else self.reference.sampler.state(),
        }
        # The policy's state goes into the same encoding (its arrays under "policy/"), not
        # as an encoded blob inside it: one encode per snapshot.
        policy_meta, policy_arrays = self.policy.state_parts()
        header["policy"] = policy_meta
        return encode_state(header, {POLICY_ARRAY_PREFIX + k: a for k, a in policy_arrays.items()})

    def restore(self, data: bytes) -> None:
        header, arrays = decode_state(data)
        if header.get("v") not in READABLE_SNAPSHOTS or not isinstance(header.get("policy"), dict):
            raise MessageError(
                f"scheduler snapshot version {header.get('v')!r} is not one of {READABLE_SNAPSHOTS}"
            )
        for sid, tier, model, device in header.get("joined", []):  # servers that had joined before
            if sid not in self.policy.index:
                self.add_server(ServerSpec(sid, tier, model, device))
        self.heartbeats = {str(k): float(v) for k, v in header.get("heartbeats", {}).items()}
        n = len(POLICY_ARRAY_PREFIX)
        policy_arrays = {k[n:]: a for k, a in arrays.items() if k.startswith(POLICY_ARRAY_PREFIX)}
        meta = header["policy"]
        saved, now = meta.get("params"), orjson.loads(orjson.dumps(self.policy.params()))
        if meta.get("policy") == self.policy.name and saved != now:
            # The same policy under other parameters (e.g. a new calibration): what it learned
            # does not carry over. Another policy's snapshot still fails in load_state_parts.
            changed = sorted(k for k in {*(saved or {}), *now} if (saved or {}).get(k) != now.get(k))
            log.warning("policy %s: parameters %s differ from the snapshot's (a new calibration?); the policy "
                        "starts fresh, the rest of the scheduler's state is restored", self.policy.name,
                        ", ".join(changed))  # fmt: skip
        else:
            self.policy.load_state_parts(meta, policy_arrays)
        self.decisions = int(header["decisions"])
        self.feedbacks = int(header["feedbacks"])
        self.expired = int(header["expired"])
        self.redelivered_tasks = int(header["redelivered_tasks"])
        self.duplicate_results = int(header["duplicate_results"])
        self.recovered = int(header["recovered"])
        self.shed_tasks = int(header.get("shed_tasks", 0))  # absent from snapshots before shedding
        self.dead_lettered = int(header.get("dead_lettered", 0))  # absent in snapshots before it was counted
        self.lost_tasks = int(header.get("lost_tasks", 0))  # absent from v3 snapshots
        self.pending = OrderedDict((row[0], PendingTask(*row[1:])) for row in header["pending"])
        self.done = OrderedDict((tid, (sid, source)) for tid, sid, source in header["done"])
        self.positions = InputPositions(header["positions"])
        self.output_ends = dict(header["output_ends"])
        self._service_s = dict(header["service_s"])
        self._rate_bps = dict(header["rate_bps"])
        if self.reference is not None and header.get("reference_sampler"):
            self.reference.sampler.load_state(header["reference_sampler"])

    def policy_view(self) -> PolicyView | None:
        """The policy's running estimates as a message, or None if it keeps none."""
        estimates = self.policy.running_view()
        if estimates is None:
            return None
        return PolicyView(
            self.policy.name,
            self.policy.server_ids,
            estimates.what,
            estimates.rows,
            self.feedbacks,
            self.clock(),
        )

    def stats(self) -> dict[str, int]:
        return {
            "decisions": self.decisions,
            "feedbacks": self.feedbacks,
            "pending": len(self.pending),
            "expired": self.expired,
            "redelivered_tasks": self.redelivered_tasks,
            "duplicate_results": self.duplicate_results,
            "recovered": self.recovered,
            "shed": self.shed_tasks,
            "lost": self.lost_tasks,
            "dead_lettered": self.dead_lettered,
            "joined": len(self.joined),
        }


def lost_task_result(task_id: str, pending: PendingTask, server: ServerSpec, now: float) -> Result:
    """The expired result of a task whose server was lost (:meth:`SchedulerStage.expire_lost`):
    built from what the scheduler kept of it, so it carries no features and no capture time."""
    return expired_outcome(
        task_id,
        server,
        "scheduler",
        now,
        a_req=pending.a_req,
        d_req=pending.d_req,
        preprocess_s=pending.preprocess_s,
        waited_from=pending.created_at if pending.created_at is not None else pending.assigned_at,
        source=pending.source,
    )


def _spec_row(server: ServerSpec) -> list[str]:
    return [server.tier, server.model, server.device]


def _first(item: tuple[int, Exception]) -> int:
    return item[0]
