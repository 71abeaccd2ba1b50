"""Run the whole pipeline: results out (the demo, the tests and the benchmarks).

:class:`ResultCollector` reads the results and dead-letter topics back until every frame
is accounted for: each frame sent ends as exactly one result or one dead-letter record.
(The worker processes of a deployment are :func:`cdio_stream.cli.deployment.pipeline_workers`.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from cdio_stream.errors import CdioError
from cdio_stream.messages import Result
from cdio_stream.pipeline.dead_letter import DeadLetter, read_dead_letter
from cdio_stream.pipeline.metrics import LiveMetrics
from cdio_stream.topology import Topology

__all__ = ["ResultCollector"]


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
