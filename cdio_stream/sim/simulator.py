"""Discrete-event simulator of the edge-cloud system on a virtual clock.

Tasks come from a trace (:mod:`.workload`): a task arrives at its capture time, spends
``preprocess_s`` in RPP (the paper measures 14 ms), and joins the slot in which it becomes
ready; slots are ``slot_s`` long and decided at their end. Each server has its own link
(:mod:`cdio_stream.system.network`; edge = LAN, cloud = WAN) and both the link and the
server are FIFO, one job at a time. For a task sent at decision time ``now`` to server j:

    link start  = max(now, link free)          sending = bytes * 8 / rate(link start)
    arrives     = link start + sending + link latency
    starts      = max(arrives, server free)    inference = profile time(model, device) x jitter
    delay       = starts + inference - capture time

with jitter = the frame's traced latency / the model's mean traced latency (1 when the
trace has none). Accuracy is the trace's per-(frame, model) mAP50 (scaled by the bitrate
model of :mod:`cdio_stream.system.cost` when a policy lowers quality). Costs and energy
follow :mod:`cdio_stream.system.cost`. Feedback reaches the policy when the task finishes
(delivered before each later decision), never earlier. The system state handed to the
policy: exact queue and link backlogs, queue lengths, and as bandwidth the rate of the
latest transmission started on the link (nominal before the first).

What the policy learns about accuracy depends on ``feedback``:

* ``truth`` (default): every task's feedback carries its true accuracy (an annotated trace);
* ``none``: no feedback carries accuracy (a deployment without labels or references);
* ``reference``: a :class:`~cdio_stream.feedback.ReferenceSampler` marks tasks (``reference_rate``,
  seeded) for a second run on the other tier, dispatched at the same decision time on that
  server's link and queue (so it competes with real tasks, and its cost is counted apart as
  overhead). The served result is judged as the live inference stage judges it
  (:mod:`cdio_stream.feedback.judge`), with :func:`~cdio_stream.feedback.simulated_agreement`
  standing in for matching detections, and the reference model's prior from
  ``reference_judge`` (default: :func:`reference_prior` of the trace itself; the CLI measures
  it on a synthetic trace of another seed, a card from other annotated frames). The feedback arrives when both runs are done
  and carries the other tier's credited accuracy too. Unsampled tasks carry none.

The records' and metrics' accuracy is always the true one: feedback only changes what the
policy learns.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from cdio_stream.errors import ConfigError, DatasetError
from cdio_stream.feedback import ReferenceJudge, ReferencePlan, ReferenceSampler, simulated_agreement
from cdio_stream.metrics import Metrics, TaskRecord, summarize
from cdio_stream.policy.base import Decision, Feedback, Policy, ServerSpec, ServerState, SlotTask, SystemState
from cdio_stream.policy.hindsight import Truth
from cdio_stream.sim.workload import WorkloadConfig, build_tasks
from cdio_stream.system.cost import (
    bandwidth_consumption,
    compute_consumption,
    scaled_accuracy,
    scaled_payload,
    task_costs,
    wan_megabits,
)
from cdio_stream.system.network import Link
from cdio_stream.system.profiles import Profiles, default_profiles
from cdio_stream.trace import TraceFrame

__all__ = ["FEEDBACK_MODES", "SimResult", "Simulator", "reference_prior"]

FEEDBACK_MODES = ("truth", "reference", "none")


def reference_prior(frames: Sequence[TraceFrame], model: str, buckets: int = 4) -> ReferenceJudge:
    """The reference model's prior from an annotated trace: its accuracy quantiles per
    complexity quartile (what a card measured against annotations would give)."""
    complexity = np.array([fr.complexity for fr in frames])
    return ReferenceJudge.from_samples(model, complexity, np.array([fr.accuracy[model] for fr in frames]),
                                       buckets=buckets)  # fmt: skip


@dataclass(frozen=True)
class SimResult:
    policy: str
    records: list[TaskRecord]
    metrics: Metrics


class Simulator:
    def __init__(
        self,
        trace: Sequence[TraceFrame],
        servers: Sequence[ServerSpec],
        links: Mapping[str, Link],
        *,
        workload: WorkloadConfig | None = None,
        slot_s: float = 0.04,
        preprocess_s: float = 0.014,
        profiles: Profiles | None = None,
        feedback: str = "truth",
        reference_rate: float = 0.05,
        reference_max_se: float = 0.2,
        reference_tier: str = "cloud",
        reference_judge: ReferenceJudge | None = None,
    ) -> None:
        if slot_s <= 0 or preprocess_s < 0:
            raise ConfigError(f"slot_s must be > 0 and preprocess_s >= 0, got {slot_s}, {preprocess_s}")
        if feedback not in FEEDBACK_MODES:
            raise ConfigError(f"feedback must be one of {', '.join(FEEDBACK_MODES)}, got {feedback!r}")
        self.feedback = feedback
        self.reference_rate, self.reference_max_se = float(reference_rate), float(reference_max_se)
        self.servers = tuple(servers)
        missing = [s.id for s in self.servers if s.id not in links]
        if missing:
            raise ConfigError(f"no link for servers {missing}")
        profiles = profiles or default_profiles()
        self.frames = list(trace)
        if not self.frames:
            raise DatasetError("the trace is empty")
        if len({fr.key for fr in self.frames}) != len(self.frames):
            raise DatasetError("the trace repeats (stream, frame) keys")
        self.slot_s, self.preprocess_s = float(slot_s), float(preprocess_s)
        self.links = [links[s.id] for s in self.servers]
        self._devices = [profiles.device(s.device) for s in self.servers]
        self._base_inf = [profiles.inference_time(s.model, s.device) for s in self.servers]
        models = [s.model for s in self.servers]
        for m in set(models):
            if any(m not in fr.accuracy for fr in self.frames):
                raise DatasetError(f"the trace lacks accuracy for model {m!r} on some frames")
        edge_model = next((s.model for s in self.servers if s.tier == "edge"), None)
        self.tasks, frame_of = build_tasks(self.frames, edge_model, workload or WorkloadConfig())
        # Per task x server: accuracy and inference-time jitter, precomputed once.
        self._acc = np.array([[self.frames[f].accuracy[m] for m in models] for f in frame_of])
        self._jitter = np.ones_like(self._acc)
        for j, m in enumerate(models):
            lat = np.array([self.frames[f].latency_s.get(m, np.nan) for f in frame_of])
            if np.all(np.isfinite(lat)) and lat.mean() > 0:
                self._jitter[:, j] = lat / lat.mean()
        self._row = {t.task_id: i for i, t in enumerate(self.tasks)}
        self._ref_j = next((j for j, s in enumerate(self.servers) if s.tier == reference_tier), None)
        if feedback == "reference" and (self._ref_j is None or len({s.tier for s in self.servers}) < 2):
            raise ConfigError(
                f"reference feedback needs a {reference_tier} server and a server of another tier"
            )
        self.judge = reference_judge
        if self._ref_j is not None and reference_judge is None:  # no card given: the trace is the card
            self.judge = reference_prior(self.frames, self.servers[self._ref_j].model)
        if self.judge is not None and self._ref_j is not None:
            if self.judge.reference_model != self.servers[self._ref_j].model:
                raise ConfigError(f"the reference judge is for {self.judge.reference_model!r}, "
                                  f"the reference server runs {self.servers[self._ref_j].model!r}")  # fmt: skip

    # ------------------------------------------------------------------ ground truth
    def truth(self, task: SlotTask, server: ServerSpec, now: float) -> Truth:
        """What ``task`` would get on ``server`` (hindsight oracle input)."""
        i, j = self._row[task.task_id], self.servers.index(server)
        link, dev = self.links[j], self._devices[j]
        inf = self._base_inf[j] * self._jitter[i, j]
        sending = link.serialisation_time(task.payload_bytes, now)
        tx = sending + link.latency_s
        return Truth(
            accuracy=float(self._acc[i, j]),
            inference_s=float(inf),
            serialisation_s=sending,
            latency_s=link.latency_s,
            compute_tflop=compute_consumption(dev, float(inf)),
            bandwidth_bps=bandwidth_consumption(task.payload_bytes, tx),
            wan_mbit=wan_megabits(server.tier, task.payload_bytes),
        )

    # ------------------------------------------------------------------ run
    def run(self, policy: Policy, *, limit: int | None = None) -> SimResult:
        if tuple(policy.server_ids) != tuple(s.id for s in self.servers):
            raise ConfigError(f"policy servers {policy.server_ids} differ from the simulator's")
        tasks = self.tasks[:limit] if limit is not None else self.tasks
        m = len(self.servers)
        ids = [s.id for s in self.servers]
        index = {sid: j for j, sid in enumerate(ids)}
        link_free, server_free = [0.0] * m, [0.0] * m
        last_bw = [lk.rate_at(0.0) for lk in self.links]
        running: list[deque[float]] = [deque() for _ in range(m)]
        events: list[tuple[float, int, Feedback]] = []
        records: list[TaskRecord] = []
        seq = 0
        plan = None
        if self.feedback == "reference":
            sampler = ReferenceSampler(self.reference_rate, max_se=self.reference_max_se, seed=policy.seed)
            plan = ReferencePlan(self.servers, self.judge, sampler, ids[self._ref_j])
        slot_of = [int((t.arrival_time + self.preprocess_s) // self.slot_s) for t in tasks]
        start = 0
        while start < len(tasks):
            stop = start
            while stop < len(tasks) and slot_of[stop] == slot_of[start]:
                stop += 1
            now = (slot_of[start] + 1) * self.slot_s
            batch = []
            while events and events[0][0] <= now:
                batch.append(heapq.heappop(events)[2])
            if batch:
                policy.feedback(batch)
            servers_state = []
            for j in range(m):
                q = running[j]
                while q and q[0] <= now:
                    q.popleft()
                servers_state.append(ServerState(ids[j], len(q), max(server_free[j] - now, 0.0), last_bw[j],
                                                 max(link_free[j] - now, 0.0)))  # fmt: skip
            slot = tasks[start:stop]
            by_id = {t.task_id: t for t in slot}
            for d in policy.assign(slot, SystemState(now, tuple(servers_state))):
                j = index[d.server_id]
                task = by_id[d.task_id]
                rec, fb, rate = self._dispatch(d, task, j, now, link_free, server_free)
                last_bw[j] = rate
                running[j].append(rec.finished_s)
                arrives = rec.finished_s
                if self.feedback == "none":
                    rec.accuracy_source, fb = "none", replace(fb, accuracy=None, acc_ok=None)
                elif plan is not None:
                    load = dict(zip(ids, server_free, strict=True))
                    shadow = plan.shadow_for(task.stream_id, str(d.info.get("context", "-")), ids[j], load)
                    if shadow is not None:
                        k = index[shadow]
                        done, fb = self._reference_run(plan, task, rec, fb, k, now, link_free, server_free)
                        running[k].append(done)
                        arrives = max(arrives, done)
                    else:
                        rec.accuracy_source, fb = "none", replace(fb, accuracy=None, acc_ok=None)
                records.append(rec)
                heapq.heappush(events, (arrives, seq, fb))
                seq += 1
            start = stop
        if events:
            policy.feedback([e[2] for e in sorted(events)])
        horizon = max((r.finished_s for r in records), default=0.0)
        tail = sum(dev.idle_power_w * max(horizon - free, 0.0) for dev, free in zip(self._devices, server_free,
                                                                                     strict=True))  # fmt: skip
        return SimResult(policy.name, records, summarize(records, idle_tail_j=tail, horizon_s=horizon))

    def _execute(self, i: int, j: int, nbytes: int, now: float, link_free: list[float],
                 server_free: list[float]) -> tuple[float, float, float, float, float, float, float]:  # fmt: skip
        """Send ``nbytes`` of task row ``i`` to server ``j`` at ``now`` through its FIFO link and
        queue; returns (link start, rate, sending, arrival, start, inference, idle gap ended)."""
        link = self.links[j]
        tx_start = max(now, link_free[j])
        rate = link.rate_at(tx_start)
        sending = link.serialisation_time(nbytes, tx_start)
        link_free[j] = tx_start + sending
        arrives = tx_start + sending + link.latency_s
        begins = max(arrives, server_free[j])
        inference = self._base_inf[j] * float(self._jitter[i, j])
        idle = max(begins - server_free[j], 0.0)
        server_free[j] = begins + inference
        return tx_start, rate, sending, arrives, begins, inference, idle

    def _dispatch(self, d: Decision, task: SlotTask, j: int, now: float, link_free: list[float],
                  server_free: list[float]) -> tuple[TaskRecord, Feedback, float]:  # fmt: skip
        i = self._row[task.task_id]
        server, link, dev = self.servers[j], self.links[j], self._devices[j]
        nbytes = task.payload_bytes if d.quality >= 1.0 else scaled_payload(task.payload_bytes, d.quality)
        tx_start, rate, sending, arrives, begins, inference, idle = self._execute(
            i, j, nbytes, now, link_free, server_free
        )
        finished = begins + inference
        accuracy = float(self._acc[i, j])
        if d.quality < 1.0:
            accuracy = scaled_accuracy(accuracy, d.quality)
        ready = task.arrival_time + self.preprocess_s
        queue = (now - ready) + (tx_start - now) + (begins - arrives)
        transmission = sending + link.latency_s
        total = finished - task.arrival_time
        costs = task_costs(dev, inference, idle, nbytes, transmission, sending)
        compute, bandwidth, energy = costs.compute_tflop, costs.bandwidth_bps, costs.energy.total_j
        acc_ok, delay_ok = accuracy >= task.a_req, total <= task.d_req
        fb = Feedback(task.task_id, server.id, accuracy, self.preprocess_s, queue, transmission, inference, total,
                      compute, bandwidth, energy, nbytes, acc_ok, delay_ok)  # fmt: skip
        rec = TaskRecord(
            task.task_id, task.stream_id, server.id, server.tier, server.model, d.quality, task.complexity,
            task.preference, task.a_req, task.d_req, task.arrival_time, now, finished, nbytes, accuracy,
            self.preprocess_s, queue, transmission, inference, total, compute, bandwidth, energy, acc_ok, delay_ok,
            d.info,
        )  # fmt: skip
        return rec, fb, rate

    def _reference_run(self, plan: ReferencePlan, task: SlotTask, rec: TaskRecord, fb: Feedback, k: int,
                       now: float, link_free: list[float], server_free: list[float]) -> tuple[float, Feedback]:  # fmt: skip
        """Run ``task`` a second time on server ``k``, judge the served result against the
        reference, and return when the shadow run ends and the feedback the policy gets."""
        i = self._row[task.task_id]
        dev = self._devices[k]
        _, _, sending, _, begins, inference, idle = self._execute(i, k, task.payload_bytes, now, link_free,
                                                                  server_free)  # fmt: skip
        costs = task_costs(
            dev, inference, idle, task.payload_bytes, sending + self.links[k].latency_s, sending
        )
        rec.ref_compute_tflop = costs.compute_tflop
        rec.ref_payload_bytes = task.payload_bytes
        rec.ref_energy_j = costs.energy.total_j
        other_truth = float(self._acc[i, k])
        if rec.model == plan.reference.model:
            agreement = simulated_agreement(other_truth, rec.accuracy)
        else:
            agreement = simulated_agreement(rec.accuracy, other_truth)
        judged = plan.judged(rec.model, agreement, task.a_req, task.complexity)
        rec.accuracy_source = "reference"
        fb = replace(fb, accuracy=judged.served_accuracy, acc_ok=judged.served_accuracy >= task.a_req,
                     acc_p=judged.served_p,
                     other_accuracy=((judged.other_model, judged.other_accuracy, judged.other_p),))  # fmt: skip
        return begins + inference, fb
