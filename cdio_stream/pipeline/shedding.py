"""Deadline-aware load shedding: a task that can no longer meet D^q ends as ``expired``.

The rule (``--shed late``) is checked twice, with what each place knows:

* the scheduler, after the policy chose server s: elapsed + s's smoothed inference time
  (nothing when s has not answered yet; no queue term, so a task that could still make it
  on an idle s is never shed there);
* the inference worker, before the emulated uplink and the detector: elapsed + this task's
  transmission time + the worker's smoothed inference time (per call, so per batch).

Elapsed is what the delay metric counts so far, ``preprocess_s + (now - created_at)``
(:class:`~cdio_stream.messages.Timings`), so a task is shed only when the metric would
count it late anyway. ``--shed never`` (the default) infers every task, as the paper's
system does; shedding changes what a run serves, so it is opt-in.

An expired task still has exactly one outcome: an expired :class:`~cdio_stream.messages.Result`
(``expired`` = the stage, no detections, no accuracy, zero costs, ``payload_bytes`` 0:
nothing was sent), attributed to the server the policy chose. It is a delay failure in
the sink's totals, and the scheduler feeds it back to the policy as one
(:meth:`~cdio_stream.policy.base.Feedback.expired`). Reference-sampled shadow runs are
never shed: their task already has its served result.
"""

from __future__ import annotations

from cdio_stream.errors import ConfigError
from cdio_stream.messages import SHED_STAGES, Costs, Result, Task, TaskFeatures, Timings, split_task_id
from cdio_stream.topology import ServerSpec

__all__ = [
    "SHED_MODES",
    "DEFAULT_SHED",
    "check_shed_mode",
    "elapsed_s",
    "is_late",
    "expired_result",
    "expired_outcome",
]

SHED_MODES = ("never", "late")
DEFAULT_SHED = "never"


def check_shed_mode(mode: str) -> str:
    if mode not in SHED_MODES:
        raise ConfigError(f"shed mode must be one of {', '.join(SHED_MODES)}, got {mode!r}")
    return mode


def elapsed_s(task: Task, now: float) -> float:
    """The task's delay so far, as the delay metric counts it (preprocess + waiting)."""
    return task.preprocess_s + max(0.0, now - task.created_at)


def is_late(task: Task, now: float, remaining_s: float) -> bool:
    """True when the task cannot meet D^q: elapsed + the least remaining time exceeds it."""
    return elapsed_s(task, now) + remaining_s > task.frame.meta.d_req


def expired_result(task: Task, server: ServerSpec, stage: str, now: float) -> Result:
    """The one outcome of a shed task: a delay failure on ``server``, nothing inferred or sent."""
    meta = task.frame.meta
    return expired_outcome(
        task.task_id,
        server,
        stage,
        now,
        a_req=meta.a_req,
        d_req=meta.d_req,
        preprocess_s=task.preprocess_s,
        waited_from=task.created_at,
        source=task.source,
        features=task.features,
        preference=task.preference,
        capture_time=meta.capture_time,
    )


def expired_outcome(
    task_id: str,
    server: ServerSpec,
    stage: str,
    now: float,
    *,
    a_req: float,
    d_req: float,
    preprocess_s: float,
    waited_from: float,
    source: str | None = None,
    features: TaskFeatures | None = None,
    preference: float | None = None,
    capture_time: float | None = None,
) -> Result:
    """An expired result from what is known of the task (a shed task, or one whose server
    was lost: :meth:`~cdio_stream.pipeline.scheduler.SchedulerStage.expire_lost`): no
    detections, no accuracy, zero costs, its delay the preprocess time and the wait since
    ``waited_from``."""
    if stage not in SHED_STAGES:
        raise ValueError(f"shed stage must be one of {SHED_STAGES}, got {stage!r}")
    stream_id, frame_no = split_task_id(task_id)
    return Result(
        task_id=task_id,
        stream_id=stream_id,
        frame_no=frame_no,
        server_id=server.id,
        tier=server.tier,
        model=server.model,
        a_req=a_req,
        d_req=d_req,
        payload_bytes=0,
        detections=(),
        accuracy=None,
        timings=Timings(preprocess=preprocess_s, queue=max(0.0, now - waited_from)),
        costs=Costs(),
        completed_at=now,
        features=features,
        preference=preference,
        capture_time=capture_time,
        expired=stage,
        source=source,
    )
