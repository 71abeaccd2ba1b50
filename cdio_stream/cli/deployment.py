"""The worker processes of a deployment, as the launcher starts them.

A :class:`WorkerSpec` is one worker: its role's typed options (``agents/<role>.py``) and
a replica number. Its command line comes from :func:`cdio_stream.cli.worker.argv`, the
one place that knows the flags; :class:`cdio_stream.pipeline.launcher.Launcher` starts it.
:func:`pipeline_workers` lists every worker of a whole deployment (the demo, the
integration tests and the benchmarks run it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agents.base import RoleOptions
from agents.inference import InferenceOptions
from agents.preprocess import PreprocessOptions
from agents.scheduler import SchedulerOptions
from agents.sink import SinkOptions
from cdio_stream.cli.worker import argv
from cdio_stream.pipeline.shedding import DEFAULT_SHED
from cdio_stream.topology import Topology

__all__ = ["WorkerSpec", "pipeline_workers"]


@dataclass(frozen=True)
class WorkerSpec:
    """One worker process: its role's options and which replica of them it is."""

    options: RoleOptions
    replica: int = 1  # the n-th worker of the same role (and server): they share its consumer group

    @property
    def role(self) -> str:
        return self.options.role

    @property
    def name(self) -> str:
        name = self.options.worker_name
        return name if self.replica == 1 else f"{name}-{self.replica}"

    @property
    def argv(self) -> list[str]:
        """The ``cdio-stream`` arguments that start it."""
        return argv(self.options)


def pipeline_workers(
    topology: Topology,
    *,
    policy: str = SchedulerOptions.policy,
    dataset: Path | None = None,
    bandwidth: str = InferenceOptions.bandwidth,
    seed: int = 0,
    rpp_checkpoint: Path | None = None,
    sink: SinkOptions | None = None,
    reference_rate: float = SchedulerOptions.reference_rate,
    preprocess_workers: int = 1,
    shed: str = DEFAULT_SHED,
    inference_batch: int = InferenceOptions.batch_size,
    inference_batch_ms: float = InferenceOptions.batch_ms,
    calibration: Path | None = None,
) -> list[WorkerSpec]:
    """Every worker of a deployment of ``topology``: ``preprocess_workers`` preprocess
    workers (they split the frames partitions, one consumer group), the scheduler, the
    sink (``sink``: its options, e.g. a dashboard port; None: the defaults) and one inference worker per
    server. ``seed`` is the scheduler's policy seed and every link's; ``shed`` goes to
    the scheduler and the inference workers, ``inference_batch(_ms)`` to the inference
    workers; ``calibration`` is the scheduler's file (None: the calibration topic, else
    the shipped one)."""
    pre = PreprocessOptions(rpp_checkpoint=rpp_checkpoint)
    sched = SchedulerOptions(
        policy=policy, seed=seed, reference_rate=reference_rate, shed=shed, calibration=calibration
    )
    specs = [
        *(WorkerSpec(pre, replica=n) for n in range(1, preprocess_workers + 1)),
        WorkerSpec(sched),
        WorkerSpec(sink or SinkOptions()),
    ]
    for sid in topology.server_ids:
        inf = InferenceOptions(
            sid,
            dataset=dataset,
            bandwidth=bandwidth,
            seed=seed,
            shed=shed,
            batch_size=inference_batch,
            batch_ms=inference_batch_ms,
        )
        specs.append(WorkerSpec(inf))
    return specs
