"""Discrete-event simulator of the edge-cloud system on a virtual clock.

Tasks come from a trace (:mod:`.workload`): a task arrives at its capture time, spends
``preprocess_s`` in RPP (the paper measures 14 ms), and joins the slot in which it becomes
ready; slots are ``slot_s`` long and decided at their end. Links come from
:mod:`cdio_stream.system.network`: every cloud server is reached over the ONE shared WAN
uplink (all cloud traffic queues on it), each edge node over its own LAN port. Links are
FIFO; edge servers run one job at a time, the cloud batches dynamically (``max_batch`` in
devices.yaml, latency L(b) from :meth:`~cdio_stream.system.profiles.Profiles.batch_time`).
What happens to a task is :mod:`cdio_stream.sim.execution`'s, the code the live inference
stage uses too. For a task sent at decision time ``now`` to server j:

    link start  = max(now, link free)          sending = bytes * 8 / rate(link start)
    arrives     = link start + sending + link latency
    starts      = max(arrives, server free)    (or joins the batch starting at server free)
    inference   = L(batch size) x jitter       (L(1) = profile time(model, device))
    delay       = starts + inference - capture time

with jitter = the frame's traced latency / the model's mean traced latency (1 when the
trace has none; a batch takes its members' mean). Accuracy is the trace's per-(frame, model) mAP50 (scaled by the bitrate
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

Servers and latencies. A server's batch-1 inference time is its ``calibration``'s
(:meth:`~cdio_stream.calibration.Calibration.inference_s`, e.g. measured on the deployment)
when it has one, else its device profile's; with a calibrated time the profile's batching
curve is scaled to it, and a model without a profile (a registry detector such as the
shipped ``edge``/``cloud``) runs one frame at a time.

The live pipeline (``pipeline=``, a :class:`~cdio_stream.calibration.PipelinePrior` measured on
a running deployment). The paper's system above has no Kafka between its parts; the live
pipeline has, and its workers emulate their links themselves. Given the pipeline's measured
latencies the simulator models what the live pipeline does instead (every draw from the
prior's distributions, seeded by the workload's seed, the same for every policy):

* preprocess: the frames captured at one instant are one micro-batch of the preprocess
  worker, and each of its tasks waits for all of it: one per-frame draw x the batch's frames,
  instead of ``preprocess_s``;
* slots: the first task ready opens a slot, which is decided a ``schedule_s`` draw later
  (tasks hop, the scheduler's slot wait, its decision); tasks ready by then join it;
* dispatch: a decided task reaches its server's worker a ``dispatch_s`` draw later (the
  assignment hop); a worker serves one task at a time (batch 1, the inference worker's
  default) and emulates the uplink itself, so a task's transfer starts when it has reached
  the worker and the worker is done with the previous task plus a ``worker_overhead_s``
  draw (result send, ack, pick-up, decode), and its inference when the transfer arrives:

      link start = max(decided + dispatch, previous inference end + worker overhead)
      inference start = link start + sending + link latency

* inference: the trace's profiled latency of the frame (its detector alone on the machine)
  x the prior's ``slowdown`` for its detector and the number of detector calls on other
  servers in progress when it starts (CPU contention between the workers, measured; the
  calls counted are those already scheduled when the task is dispatched), where
  the trace has latencies and the prior a slowdown for the model; else the calibrated time
  x jitter;
* energy as the live stage charges it: idle power for the gaps between a server's detector
  calls only (nothing before its first call, no idle tail after its last).

Not modelled: contention beyond that (a call is not slowed down by calls that start after
it, except through the measured factor, which averages over what happened during such
calls; the pipeline's other processes are in the factor too), the feedback's hop back to
the scheduler, reference runs' forwarding (under ``feedback="reference"`` a shadow run is
dispatched at the decision, as in the paper's model) and inference batching (``--batch-size``).
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from cdio_stream.calibration import Calibration, PipelinePrior
from cdio_stream.errors import ConfigError, DatasetError
from cdio_stream.feedback import ReferenceJudge, ReferencePlan, ReferenceSampler, simulated_agreement
from cdio_stream.metrics import Metrics, TaskRecord, summarize
from cdio_stream.policy.base import Decision, Feedback, Policy, ServerSpec, ServerState, SlotTask, SystemState
from cdio_stream.policy.context import ContextSpace
from cdio_stream.policy.hindsight import Truth
from cdio_stream.sim import execution
from cdio_stream.sim.execution import LinkQueue, accuracy_at, sent_bytes
from cdio_stream.sim.workload import WorkloadConfig, build_tasks
from cdio_stream.system.cost import bandwidth_consumption, compute_consumption, wan_megabits
from cdio_stream.system.network import Link
from cdio_stream.system.profiles import Profiles, default_profiles
from cdio_stream.trace import TraceFrame

__all__ = ["FEEDBACK_MODES", "SimResult", "Simulator", "reference_card", "reference_prior"]

FEEDBACK_MODES = ("truth", "reference", "none")


def reference_prior(
    frames: Sequence[TraceFrame], model: str, buckets: int = 4, contexts: Sequence[str] | None = None
) -> ReferenceJudge:
    """The reference model's prior from an annotated trace: its accuracy quantiles per
    complexity quartile (what a card measured against annotations would give) and, with
    ``contexts`` (the policy's context of each frame's task), per context."""
    complexity = np.array([fr.complexity for fr in frames])
    return ReferenceJudge.from_samples(model, complexity, np.array([fr.accuracy[model] for fr in frames]),
                                       buckets=buckets, contexts=contexts)  # fmt: skip


def reference_card(
    frames: Sequence[TraceFrame],
    servers: Sequence[ServerSpec],
    workload: WorkloadConfig,
    spaces: Sequence[ContextSpace] = (),
    reference_tier: str = "cloud",
) -> ReferenceJudge:
    """The reference model's prior from annotated ``frames`` (not the run's own), stratified
    by the policies' contexts: the frames become tasks as the run's do (``workload``: the same
    requirements and preference source), each gets its context in every space of ``spaces``,
    and the reference's accuracy quantiles are kept per context (see
    :meth:`~cdio_stream.feedback.ReferenceJudge.from_samples`). Contexts matter because the
    preference is a statement about the frame: where RPP says the edge fails, the frame is
    hard for the reference too, and a prior by complexity alone would over-credit both."""
    model = next((s.model for s in servers if s.tier == reference_tier), None)
    edge_model = next((s.model for s in servers if s.tier != reference_tier), None)
    if model is None:
        raise ConfigError(f"a reference card needs a {reference_tier} server")
    tasks, frame_of = build_tasks(frames, edge_model, workload)
    card = [frames[f] for f in frame_of]
    judge = reference_prior(card, model)
    strata = tuple(
        stratum
        for space in spaces
        for stratum in reference_prior(
            card, model, contexts=[space.describe(space.index(t)) for t in tasks]
        ).strata
    )
    return replace(judge, strata=strata)


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
        calibration: Calibration | None = None,
        pipeline: PipelinePrior | None = None,
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
        self.pipeline = pipeline
        self._devices = [profiles.device(s.device) for s in self.servers]
        models = [s.model for s in self.servers]
        for m in set(models):
            if any(m not in fr.accuracy for fr in self.frames):
                raise DatasetError(f"the trace lacks accuracy for model {m!r} on some frames")
        edge_model = next((s.model for s in self.servers if s.tier == "edge"), None)
        self.tasks, frame_of = build_tasks(self.frames, edge_model, workload or WorkloadConfig())
        # Per task x server: accuracy and inference-time jitter, precomputed once.
        self._acc = np.array([[self.frames[f].accuracy[m] for m in models] for f in frame_of])
        self._jitter = np.ones_like(self._acc)
        traced: dict[str, float] = {}  # server id -> the trace's mean latency (its calls are contended)
        for j, (s, m) in enumerate(zip(self.servers, models, strict=True)):
            lat = np.array([self.frames[f].latency_s.get(m, np.nan) for f in frame_of])
            if np.all(np.isfinite(lat)) and lat.mean() > 0:
                self._jitter[:, j] = lat / lat.mean()
                if pipeline is not None and pipeline.slowdown_for(m, 0) is not None:
                    traced[s.id] = float(lat.mean())
        self._batch_s = [_batch_curve(s, dev, profiles, calibration, single=pipeline is not None,
                                      traced=traced.get(s.id))
                         for s, dev in zip(self.servers, self._devices, strict=True)]  # fmt: skip
        self._base_inf = [float(curve[0]) for curve in self._batch_s]
        self._max_batch = [len(curve) for curve in self._batch_s]
        # The detector of each server whose calls the pipeline's measured contention slows down.
        self._contended = [s.model if s.id in traced else None for s in self.servers]
        self._row = {t.task_id: i for i, t in enumerate(self.tasks)}
        self._pre = np.full(len(self.tasks), self.preprocess_s)
        if pipeline is not None:  # the live pipeline's latencies, drawn once: every policy gets the same
            rng = np.random.default_rng([(workload or WorkloadConfig()).seed, 0x9E1])
            instants, group = np.unique(
                np.round([t.arrival_time for t in self.tasks], 6), return_inverse=True
            )
            batch_s = pipeline.sample("preprocess_s", rng, len(instants)) * np.bincount(group)
            self._pre = batch_s[group]
            self._schedule = pipeline.sample("schedule_s", rng, len(self.tasks))  # one per slot, in order
            self._dispatch = pipeline.sample("dispatch_s", rng, len(self.tasks))
            self._overhead = pipeline.sample("worker_overhead_s", rng, len(self.tasks))
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
        run = _Run(self, policy)
        if self.pipeline is not None:
            ready = [t.arrival_time + float(self._pre[self._row[t.task_id]]) for t in tasks]
            order = sorted(range(len(tasks)), key=lambda k: (ready[k], k))
            start = 0
            while start < len(order):  # a slot opens at its first ready task, decided a schedule draw later
                decided = ready[order[start]] + float(self._schedule[run.slots])
                stop = start + 1
                while stop < len(order) and ready[order[stop]] <= decided:
                    stop += 1
                run.slot([tasks[k] for k in order[start:stop]], decided)
                start = stop
            return run.finish()
        slot_of = [int((t.arrival_time + self.preprocess_s) // self.slot_s) for t in tasks]
        start = 0
        while start < len(tasks):
            stop = start
            while stop < len(tasks) and slot_of[stop] == slot_of[start]:
                stop += 1
            run.slot(tasks[start:stop], (slot_of[start] + 1) * self.slot_s)
            start = stop
        return run.finish()


class _Batch:
    """Tasks one server runs together: they start at ``start`` and all wait its latency."""

    __slots__ = ("start", "idle", "factor", "members")

    def __init__(self, start: float, idle: float, factor: float = 1.0) -> None:
        self.start, self.idle, self.factor = start, idle, factor  # factor: the live pipeline's slowdown
        self.members: list[tuple[float, Callable[[float, float, float, float, int], None]]] = []


class _Pending:
    """A task's feedback, sent once every run of it (served, reference) has finished."""

    __slots__ = ("fb", "parts", "arrives", "judge")

    def __init__(self, parts: int) -> None:
        self.fb: Feedback | None = None
        self.parts, self.arrives = parts, 0.0
        self.judge: Callable[[Feedback], Feedback] | None = None


class _Run:
    """The state of one :meth:`Simulator.run`: links, server queues, open batches, events.

    A server with ``max_batch`` > 1 batches dynamically: a task that arrives while the
    server is busy joins the batch that starts when it frees up (up to ``max_batch``), and
    every member of a batch of b waits the batch latency L(b) (x the members' mean jitter).
    A batch is closed, and its members' outcomes fixed, once no later task can join it: when
    it is full, when a task arrives after its start, or when the clock passes its start.
    """

    def __init__(self, sim: Simulator, policy: Policy) -> None:
        self.sim, self.policy = sim, policy
        m = len(sim.servers)
        self.ids = [s.id for s in sim.servers]
        self.index = {sid: j for j, sid in enumerate(self.ids)}
        queues: dict[int, LinkQueue] = {}
        self.link_q = [queues.setdefault(id(lk), LinkQueue(lk)) for lk in sim.links]  # shared WAN: one queue
        self.last_bw = [lk.rate_at(0.0) for lk in sim.links]
        self.server_free = [0.0] * m
        self.open: list[_Batch | None] = [None] * m
        self.running: list[deque[float]] = [deque() for _ in range(m)]
        self.events: list[tuple[float, int, Feedback]] = []
        self.records: list[TaskRecord | None] = []
        self._ref_costs: list[
            tuple[int, float, int, float, float]
        ] = []  # (record, TFLOP, bytes, J, WAN Mbit)
        self.seq = 0
        self.slots = 0
        # Detector calls started per server (the live stage charges no idle before the first one)
        # and, in the live pipeline's model, each call's interval (for the contention between them).
        self.calls = [0] * m
        self.call_starts: list[list[float]] = [[] for _ in range(m)]
        self.call_ends: list[list[float]] = [[] for _ in range(m)]
        self._shadow_cost: dict[str, tuple[str, float]] = {}  # task -> (shadow server, TFLOP)
        self.plan = None
        if sim.feedback == "reference":
            sampler = ReferenceSampler(sim.reference_rate, max_se=sim.reference_max_se, seed=policy.seed)
            self.plan = ReferencePlan(sim.servers, sim.judge, sampler, self.ids[sim._ref_j])

    # -------------------------------------------------------------- server queues
    def enqueue(self, j: int, arrival: float, jitter: float, done: Callable[[float, float, float, float, int], None]
                ) -> None:  # fmt: skip
        """Queue one job on server ``j``; ``done(start, latency, busy share, idle, batch size)``
        is called when its batch closes."""
        ob = self.open[j]
        if ob is not None and arrival <= ob.start and len(ob.members) < self.sim._max_batch[j]:
            ob.members.append((jitter, done))
        else:
            if ob is not None:
                self.close(j)
            begins = max(arrival, self.server_free[j])
            idle = max(begins - self.server_free[j], 0.0)
            if self.sim.pipeline is not None and self.calls[j] == 0:
                idle = 0.0
            self.calls[j] += 1
            model = self.sim._contended[j]
            factor = (
                1.0 if model is None else self.sim.pipeline.slowdown_for(model, self._running_at(j, begins))
            )
            ob = self.open[j] = _Batch(begins, idle, factor)
            ob.members.append((jitter, done))
        self.server_free[j] = ob.start + self._latency(j, ob)
        if self.sim.pipeline is not None:  # one call at a time: its interval is final
            self.call_starts[j].append(ob.start)
            self.call_ends[j].append(self.server_free[j])
        if len(ob.members) >= self.sim._max_batch[j]:
            self.close(j)

    def _running_at(self, j: int, t: float) -> int:
        """Detector calls of servers other than ``j`` in progress at ``t`` (the live pipeline's
        workers serve one call at a time, so each server's calls are sorted and disjoint)."""
        running = 0
        for i, starts in enumerate(self.call_starts):
            k = bisect.bisect_right(starts, t) - 1
            running += i != j and k >= 0 and self.call_ends[i][k] > t
        return running

    def _latency(self, j: int, ob: _Batch) -> float:
        b = len(ob.members)
        jitter = sum(jit for jit, _ in ob.members) / b
        return float(self.sim._batch_s[j][b - 1]) * jitter * ob.factor

    def close(self, j: int) -> None:
        ob = self.open[j]
        if ob is None:
            return
        self.open[j] = None
        b, latency = len(ob.members), self._latency(j, ob)
        for k, (_, done) in enumerate(ob.members):
            done(ob.start, latency, latency / b, ob.idle if k == 0 else 0.0, b)
            self.running[j].append(ob.start + latency)

    def settle(self, pending: _Pending, finished: float) -> None:
        pending.parts -= 1
        pending.arrives = max(pending.arrives, finished)
        if pending.parts == 0:
            fb = pending.judge(pending.fb) if pending.judge is not None else pending.fb
            heapq.heappush(self.events, (pending.arrives, self.seq, fb))
            self.seq += 1

    # -------------------------------------------------------------- slots
    def slot(self, slot: Sequence[SlotTask], now: float) -> None:
        self.slots += 1
        for j, ob in enumerate(self.open):
            if ob is not None and ob.start < now:  # every later arrival comes after its start
                self.close(j)
        batch = []
        while self.events and self.events[0][0] <= now:
            batch.append(heapq.heappop(self.events)[2])
        if batch:
            if self.plan is not None:  # the sampler's budget learns the runs' compute as results come back
                for fb in batch:
                    self.plan.observe(fb.server_id, fb.compute_tflop)
                    shadow = self._shadow_cost.pop(fb.task_id, None)
                    if shadow is not None:
                        self.plan.observe(*shadow, served=False)
            self.policy.feedback(batch)
        states = []
        for j in range(len(self.ids)):
            q = self.running[j]
            while q and q[0] <= now:
                q.popleft()
            waiting = len(self.open[j].members) if self.open[j] is not None else 0
            states.append(ServerState(self.ids[j], len(q) + waiting, max(self.server_free[j] - now, 0.0),
                                      self.last_bw[j], self.link_q[j].backlog_s(now)))  # fmt: skip
        by_id = {t.task_id: t for t in slot}
        for d in self.policy.assign(slot, SystemState(now, tuple(states))):
            self.dispatch(d, by_id[d.task_id], now)

    def dispatch(self, d: Decision, task: SlotTask, now: float) -> None:
        sim = self.sim
        j, i = self.index[d.server_id], sim._row[task.task_id]
        server = sim.servers[j]
        shadow = None
        if self.plan is not None:
            load = dict(zip(self.ids, self.server_free, strict=True))
            shadow = self.plan.shadow_for(task.stream_id, str(d.info.get("context", "-")), d.server_id, load)
        pending = _Pending(2 if shadow is not None else 1)
        slot_index = len(self.records)
        self.records.append(None)
        link_start = now
        if sim.pipeline is not None:  # the worker emulates the uplink once it has the task and is free
            link_start = max(now + float(sim._dispatch[i]), self.server_free[j] + float(sim._overhead[i]))
        transfer = self.link_q[j].send(sent_bytes(task.payload_bytes, d.quality), link_start)
        self.last_bw[j] = transfer.rate_bps
        accuracy = accuracy_at(float(sim._acc[i, j]), d.quality)
        preprocess = float(sim._pre[i])

        def served(start: float, latency: float, busy: float, idle: float, b: int) -> None:
            out = execution.outcome(d, task, server, transfer, sim._devices[j], preprocess_s=preprocess, start_s=start,
                          inference_s=latency, busy_s=busy, idle_s=idle, accuracy=accuracy, batch_size=b)  # fmt: skip
            rec = self.records[slot_index] = _record(out, task, server, d, now, transfer.start_s)
            fb = out.feedback()
            if sim.feedback == "none" or (self.plan is not None and shadow is None):
                rec.accuracy_source, fb = "none", replace(fb, accuracy=None, acc_ok=None)
            elif shadow is not None:
                rec.accuracy_source = "reference"
            pending.fb = fb
            self.settle(pending, out.finished_s)

        self.enqueue(j, transfer.arrival_s, float(sim._jitter[i, j]), served)
        if shadow is not None:
            self._reference_run(task, d, i, self.index[shadow], now, slot_index, pending)

    def _reference_run(self, task: SlotTask, d: Decision, i: int, k: int, now: float, slot_index: int,
                       pending: _Pending) -> None:  # fmt: skip
        """Run ``task`` a second time on server ``k`` (same decision time, competing for its
        link and queue); its feedback is the served result judged against the reference."""
        sim, plan = self.sim, self.plan
        j = self.index[d.server_id]
        ref_server = sim.servers[k]
        transfer = self.link_q[k].send(task.payload_bytes, now)
        served_acc = accuracy_at(float(sim._acc[i, j]), d.quality)
        other_truth = float(sim._acc[i, k])
        served_model = sim.servers[j].model
        if served_model == plan.reference.model:
            agreement = simulated_agreement(other_truth, served_acc)
        else:
            agreement = simulated_agreement(served_acc, other_truth)
        judged = plan.judged(served_model, agreement, task.a_req, task.complexity, d.info.get("context"))

        def shadow_done(start: float, latency: float, busy: float, idle: float, b: int) -> None:
            ref = execution.outcome(Decision(task.task_id, ref_server.id), task, ref_server, transfer, sim._devices[k],
                          preprocess_s=float(sim._pre[i]), start_s=start, inference_s=latency, busy_s=busy,
                          idle_s=idle, accuracy=other_truth, batch_size=b)  # fmt: skip
            costs = ref.costs
            pending.judge = lambda fb: replace(
                fb, accuracy=judged.served_accuracy, acc_ok=judged.served_accuracy >= task.a_req,
                acc_p=judged.served_p, other_accuracy=((judged.other_model, judged.other_accuracy, judged.other_p),))  # fmt: skip
            self._ref_costs.append((slot_index, costs.compute_tflop, transfer.nbytes, costs.energy.total_j,
                                    ref.wan_mbit))  # fmt: skip
            self._shadow_cost[task.task_id] = (ref_server.id, costs.compute_tflop)
            self.settle(pending, ref.finished_s)

        self.enqueue(k, transfer.arrival_s, float(sim._jitter[i, k]), shadow_done)

    def finish(self) -> SimResult:
        for j in range(len(self.ids)):
            self.close(j)
        if self.events:
            self.policy.feedback([e[2] for e in sorted(self.events)])
        records = self.records
        for idx, compute, nbytes, energy, wan in self._ref_costs:
            rec = records[idx]
            rec.ref_compute_tflop, rec.ref_payload_bytes, rec.ref_energy_j = compute, nbytes, energy
            rec.ref_wan_bytes = int(round(wan * 1e6 / 8))
        horizon = max((r.finished_s for r in records), default=0.0)
        tail = sum(dev.idle_power_w * max(horizon - free, 0.0) for dev, free in zip(self.sim._devices,
                                                                                     self.server_free, strict=True))  # fmt: skip
        if self.sim.pipeline is not None:  # as the live stage charges idle power: between calls only
            tail = 0.0
        return SimResult(self.policy.name, records, summarize(records, idle_tail_j=tail, horizon_s=horizon))


def _batch_curve(
    server: ServerSpec,
    device,
    profiles: Profiles,
    calibration: Calibration | None,
    *,
    single: bool,
    traced: float | None = None,
) -> np.ndarray:
    """Seconds a batch of 1..max_batch frames takes on ``server`` (module docstring); ``traced``:
    the batch-1 time from the trace's latencies, which wins (the pipeline's slowdown is applied
    per call)."""
    calibrated = (
        traced if traced is not None else None if calibration is None else calibration.inference_s(server)
    )
    profiled = server.model in profiles.models
    if calibrated is None and not profiled:
        raise ConfigError(f"server {server.id} runs model {server.model!r}, which has no profile in models.yaml "
                          "and no inference time in the calibration (measure one: cdio-stream calibrate)")  # fmt: skip
    if not profiled:
        return np.array([calibrated])
    sizes = range(1, 2 if single else device.max_batch + 1)
    curve = np.array([profiles.batch_time(server.model, server.device, b) for b in sizes])
    return curve if calibrated is None else curve * (calibrated / curve[0])


def _record(
    out, task: SlotTask, server: ServerSpec, d: Decision, now: float, link_start: float
) -> TaskRecord:
    return TaskRecord(
        task.task_id, task.stream_id, server.id, server.tier, server.model, d.quality, task.complexity,
        task.preference, task.a_req, task.d_req, task.arrival_time, now, out.finished_s, out.nbytes, out.accuracy,
        out.preprocess_s, out.queue_s, out.transmission_s, out.inference_s, out.total_s, out.costs.compute_tflop,
        out.costs.bandwidth_bps, out.costs.energy.total_j, out.acc_ok, out.delay_ok, d.info,
        wan_bytes=out.nbytes if out.wan_mbit > 0 else 0, batch_size=out.batch_size,
        link_start_s=link_start,
    )  # fmt: skip
