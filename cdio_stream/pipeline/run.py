"""Run the whole pipeline: workers, frames in, results out (the demo and the tests).

:func:`pipeline_workers` lists the worker processes of a deployment (preprocess,
scheduler, one inference worker per server, sink). :class:`ResultCollector` reads the
results and dead-letter topics back until every frame is accounted for: each frame
sent ends as exactly one result or one dead-letter record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from cdio_stream.errors import CdioError
from cdio_stream.messages import Result
from cdio_stream.pipeline.dead_letter import DeadLetter, read_dead_letter
from cdio_stream.pipeline.launcher import WorkerSpec
from cdio_stream.pipeline.metrics import LiveMetrics
from cdio_stream.topology import Topology

__all__ = ["pipeline_workers", "ResultCollector"]


def pipeline_workers(
    topology: Topology,
    *,
    policy: str = "cdio",
    dataset: Path | None = None,
    bandwidth: str = "stable",
    seed: int = 0,
    rpp_checkpoint: Path | None = None,
    sink_args: tuple[str, ...] = (),
    reference_rate: float | None = None,
    preprocess_workers: int = 1,
    shed: str | None = None,
    inference_batch: int | None = None,
    inference_batch_ms: float | None = None,
    calibration: Path | None = None,
) -> list[WorkerSpec]:
    """Every worker of a deployment of ``topology``, as `cdio-stream worker` argument lists;
    ``sink_args`` are extra sink flags (e.g. ``--dashboard-port 0``); ``preprocess_workers``
    preprocess workers split the frames partitions (one consumer group); ``shed`` goes to
    the scheduler and the inference workers, ``inference_batch(_ms)`` to the inference
    workers (None: the workers' defaults)."""
    pre = ("--rpp-checkpoint", str(rpp_checkpoint)) if rpp_checkpoint else ()
    sched = ("--policy", policy, "--seed", str(seed))
    if reference_rate is not None:
        sched += ("--reference-rate", str(reference_rate))
    shedding = () if shed is None else ("--shed", shed)
    sched += shedding
    if calibration is not None:  # else the scheduler reads the calibration topic / shipped file
        sched += ("--calibration", str(calibration))
    specs = [
        *(WorkerSpec("preprocess", pre, replica=n) for n in range(1, preprocess_workers + 1)),
        WorkerSpec("scheduler", sched),
        WorkerSpec("sink", tuple(sink_args)),
    ]
    for sid in topology.server_ids:
        args = ["--server", sid, "--bandwidth", bandwidth, "--seed", str(seed)]
        if dataset is not None:
            args += ["--dataset", str(dataset)]
        args += shedding
        if inference_batch is not None:
            args += ["--batch-size", str(inference_batch)]
        if inference_batch_ms is not None:
            args += ["--batch-ms", str(inference_batch_ms)]
        specs.append(WorkerSpec("inference", tuple(args)))
    return specs


@dataclass
class ResultCollector:
    """Reads results and dead letters from the start of their topics (its own group)."""

    bootstrap: str
    topology: Topology
    metrics: LiveMetrics = field(default_factory=LiveMetrics)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    keep_results: bool = False  # also keep every decoded result in ``results`` (tests)
    results: list[Result] = field(default_factory=list)

    async def collect(
        self,
        expected: Callable[[], int | None],
        *,
        timeout_s: float,
        on_progress: Callable[[ResultCollector], None] | None = None,
        check: Callable[[], None] | None = None,
    ) -> None:
        """Consume until results + dead letters reach ``expected()`` (None: not known yet).

        ``check`` runs about once a second (e.g. to raise if a worker died); a timeout
        raises CdioError saying how many are missing.
        """
        consumer = AIOKafkaConsumer(
            self.topology.results.name,
            self.topology.dead_letter.name,
            bootstrap_servers=self.bootstrap,
            group_id=f"{self.topology.prefix}collector-{time.time_ns()}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_partition_fetch_bytes=self.topology.max_message_bytes,
            fetch_max_bytes=self.topology.max_message_bytes * 4,
        )
        await consumer.start()
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                target = expected()
                if target is not None and self.accounted >= target:
                    return
                if time.monotonic() > deadline:
                    raise CdioError(
                        f"timed out after {timeout_s:.0f} s: {self.metrics.count} results and "
                        f"{len(self.dead_letters)} dead letters of {target} frames"
                    )
                if check is not None:
                    check()
                batch = await consumer.getmany(timeout_ms=1000)
                for tp, records in batch.items():
                    for rec in records:
                        if tp.topic == self.topology.dead_letter.name:
                            self.dead_letters.append(read_dead_letter(rec.headers))
                        else:
                            result = self.metrics.add_encoded(rec.value)
                            if self.keep_results:
                                self.results.append(result)
                if batch and on_progress is not None:
                    on_progress(self)
        finally:
            await consumer.stop()

    @property
    def accounted(self) -> int:
        return self.metrics.count + len(self.dead_letters)
