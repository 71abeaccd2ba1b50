"""Calibration from a live run: what the running pipeline itself adds to a task's delay,
and how long its detectors take while the whole deployment shares the machine.

A result (:class:`~cdio_stream.messages.Result`) carries its delay parts (preprocess,
queue, transmission, inference), its completion time and when the scheduler decided it
(``assigned_at``). From those, per task (:func:`delay_parts`)::

    started   = completed_at - inference           (the detector call began)
    created   = started - transmission - queue     (preprocess published the task)
    schedule  = assigned_at - created              (tasks hop, slot wait, decision)
    worker    = queue - schedule                   (assignment hop, waiting for the worker,
                                                    pick-up and JPEG decode)

:func:`calibration_from_results` turns a run's results into a
:class:`~cdio_stream.calibration.Calibration` with

* the pipeline's own latencies (:class:`~cdio_stream.calibration.PipelinePrior`): preprocess
  per frame (a task's preprocess time is its micro-batch's, here the tasks created at the same
  instant, so it is divided by their number), schedule, *dispatch* (``worker`` of the tasks whose worker had finished its previous call
  before the task was decided: nothing but hops and pick-up) and *worker overhead* (for tasks
  decided while their worker was still busy, by at least the median dispatch: from the end of
  the worker's previous detector call to this task's start, less its transmission: result
  send, ack, pick-up, decode);
* per server and per model the mean detector time in the running pipeline (the mean, not the
  median: five workers and the pipeline's own processes share the CPU, and the right-skewed
  slow-downs are part of what each task costs);
* with ``profiled`` (a trace of the run's frames profiled alone on the same machine, e.g. just
  before the run), each detector's *slowdown* by contention: the mean of in-pipeline time /
  the same frame's profiled time, over the calls that started while 0, 1, 2 or more other
  detector calls were in progress (a level with fewer than ``MIN_LEVEL_RESULTS`` calls takes
  the level below's factor; level 0 then the model's mean over all calls).

Measure it on a run of the same deployment (same workers, policy and pacing) on other
frames than the ones a simulation is compared against (``benchmarks/sim_vs_live.py``).
"""

from __future__ import annotations

import platform
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from cdio_stream.calibration import Calibration, ModelPrior, PipelinePrior, ServerPrior, distribution
from cdio_stream.errors import ConfigError
from cdio_stream.messages import Result
from cdio_stream.topology import ServerSpec
from cdio_stream.trace import TraceFrame

__all__ = ["DelayParts", "delay_parts", "calibration_from_results"]

MIN_SERVER_RESULTS = 10  # fewer results of a server: it gets its model's mean detector time
SLOWDOWN_LEVELS = 3  # other detector calls in progress at a call's start: 0, 1, 2 or more
MIN_LEVEL_RESULTS = 5


@dataclass(frozen=True, slots=True)
class DelayParts:
    """One result's delay, split as the module docstring says (seconds)."""

    server_id: str
    created: float  # unix seconds
    assigned: float
    started: float
    completed: float
    preprocess: float
    schedule: float
    worker: float
    transmission: float
    inference: float

    @property
    def total(self) -> float:
        return self.preprocess + self.schedule + self.worker + self.transmission + self.inference


def _server_means(parts: list[tuple[Result, DelayParts]], servers: Sequence[ServerSpec]) -> dict[str, float]:
    """Mean in-pipeline detector time per server: its own results', or with fewer than
    ``MIN_SERVER_RESULTS`` its model's (servers whose model served nothing get none)."""
    by_model: dict[str, list[float]] = defaultdict(list)
    by_server: dict[str, list[float]] = defaultdict(list)
    for r, p in parts:
        by_model[r.model].append(p.inference)
        by_server[r.server_id].append(p.inference)
    out = {}
    for s in servers:
        mine = by_server.get(s.id, [])
        pool = mine if len(mine) >= MIN_SERVER_RESULTS else by_model.get(s.model, [])
        if pool:
            out[s.id] = round(float(np.mean(pool)), 6)
    return out


def _per_frame_preprocess(parts: list[DelayParts]) -> list[float]:
    """Each task's preprocess time / the size of its micro-batch: the tasks created with it
    (``created`` is reconstructed from unix times, so "with it" is within a millisecond)."""
    order = sorted(range(len(parts)), key=lambda i: parts[i].created)
    batch_of, batch = {}, 0
    for prev, cur in zip([None, *order], order, strict=False):
        if prev is not None and parts[cur].created - parts[prev].created > 1e-3:
            batch += 1
        batch_of[cur] = batch
    size = Counter(batch_of.values())
    return [p.preprocess / size[batch_of[i]] for i, p in enumerate(parts)]


def _slowdown(parts: list[tuple[Result, DelayParts]], profiled: Sequence[TraceFrame]) -> dict[str, tuple]:
    """Per model, in-pipeline / profiled time by the number of other calls running at the start."""
    alone = {f.key: f.latency_s for f in profiled}
    calls = sorted((p.started, p.completed) for _, p in parts)
    ratios: dict[str, list[list[float]]] = defaultdict(lambda: [[] for _ in range(SLOWDOWN_LEVELS)])
    for r, p in parts:
        lat = alone.get((r.stream_id, r.frame_no), {}).get(r.model)
        if not lat:
            continue
        running = sum(1 for s, e in calls if s <= p.started < e) - 1  # not itself
        ratios[r.model][min(running, SLOWDOWN_LEVELS - 1)].append(p.inference / lat)
    table = {}
    for model, levels in ratios.items():
        value = float(np.mean([x for level in levels for x in level]))
        factors = []
        for level in levels:
            value = float(np.mean(level)) if len(level) >= MIN_LEVEL_RESULTS else value
            factors.append(round(value, 4))
        table[model] = tuple(factors)
    return table


def delay_parts(result: Result) -> DelayParts | None:
    """The delay parts of a served result; None for an expired one or one without ``assigned_at``."""
    if result.expired is not None or result.assigned_at is None:
        return None
    t = result.timings
    started = result.completed_at - t.inference
    created = started - t.transmission - t.queue
    schedule = result.assigned_at - created
    return DelayParts(result.server_id, created, result.assigned_at, started, result.completed_at, t.preprocess,
                      schedule, t.queue - schedule, t.transmission, t.inference)  # fmt: skip


def calibration_from_results(
    results: Iterable[Result],
    servers: Sequence[ServerSpec],
    *,
    base: Calibration | None = None,
    profiled: Sequence[TraceFrame] = (),
    source: str = "",
) -> Calibration:
    """``base`` (default: empty) with the pipeline latencies and in-pipeline detector times of
    a live run (module docstring); the rest of ``base`` (complexity scale, accuracy priors,
    links) is kept.

    ``servers``: the deployment's (topics.yaml); each gets the mean detector time of its own
    results, or of its model's when it served fewer than ``MIN_SERVER_RESULTS``; each model
    that ``profiled`` has latencies of, its slowdown by contention.
    """
    parts = [(r, p) for r in results if r.error is None and (p := delay_parts(r)) is not None]
    if not parts:
        raise ConfigError(
            "no served results with assigned_at to calibrate from (a run of this version's pipeline?)"
        )
    by_server: dict[str, list[DelayParts]] = defaultdict(list)
    for _, p in parts:
        by_server[p.server_id].append(p)
    idle: list[float] = []
    waited: list[tuple[DelayParts, float]] = []  # (task, end of its worker's previous call)
    for tasks in by_server.values():
        tasks.sort(key=lambda p: p.started)
        for prev, cur in zip(tasks, tasks[1:], strict=False):
            if cur.assigned >= prev.completed:
                idle.append(cur.worker)
            else:
                waited.append((cur, prev.completed))
        if tasks:
            idle.append(tasks[0].worker)  # a worker's first task never waits for it
    typical = float(np.median(idle))
    overhead = [max(cur.started - cur.transmission - done, 0.0) for cur, done in waited
                if cur.assigned + typical <= done]  # fmt: skip
    host = platform.node() or "this machine"
    means = _server_means(parts, servers)
    slowdown = _slowdown(parts, profiled)
    pipeline = PipelinePrior(
        preprocess_s=distribution(_per_frame_preprocess([p for _, p in parts])),
        schedule_s=distribution(max(p.schedule, 0.0) for _, p in parts),
        dispatch_s=distribution(max(v, 0.0) for v in idle),
        worker_overhead_s=distribution(overhead) if overhead else None,
        slowdown=slowdown,
        source=f"{len(parts)} results ({len(idle)} on an idle worker, {len(overhead)} queued) of {source or 'a live run'}",
    )
    by_model: dict[str, list[float]] = defaultdict(list)
    for r, p in parts:
        by_model[r.model].append(p.inference)
    base = base or Calibration()
    models = dict(base.models)
    for name, v in sorted(by_model.items()):
        old = models.get(name, ModelPrior())
        latency = (
            f"latency: mean detector time of {len(v)} results of a live run ({source or 'live results'})"
        )
        models[name] = replace(old, inference_s=round(float(np.mean(v)), 6),
                               inference_p90_s=round(float(np.quantile(v, 0.9)), 6),
                               device=f"in the running pipeline on {host}",
                               source="; ".join(x for x in (old.source, latency) if x))  # fmt: skip
    per_server = dict(base.servers)
    for s in servers:
        old = per_server.get(s.id, ServerPrior(model=s.model))
        per_server[s.id] = replace(old, inference_s=means.get(s.id))
    joined = "; ".join(x for x in (base.source, source) if x)
    return replace(base, models=models, servers=per_server, source=joined, pipeline=pipeline)
