"""Follow topics without a consumer group: read-only views that commit nothing.

The live dashboard needs records from topics the sink does not process (frames, dead
letters, policy views). Reading them in the sink's consumer group would commit offsets
there: a restarted sink would then skip the dead letters it had counted, and a first start
on a busy deployment would read the frames topic's whole retention. A follower instead
assigns itself every partition and starts each topic where its view needs it: ``"end"``
(only what comes next: frames) or ``"beginning"`` (everything still retained: dead
letters, the compacted policy view).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

__all__ = ["TopicFollower"]

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]  # called with each aiokafka ConsumerRecord


class TopicFollower:
    def __init__(
        self,
        bootstrap: str,
        topics: Mapping[str, tuple[str, Handler]],  # topic -> ("beginning" | "end", handler)
        *,
        max_fetch_bytes: int = 8 << 20,
    ) -> None:
        for topic, (start, _) in topics.items():
            if start not in ("beginning", "end"):
                raise ValueError(f"{topic}: start must be 'beginning' or 'end', got {start!r}")
        self.bootstrap = bootstrap
        self.topics = dict(topics)
        self.max_fetch_bytes = max_fetch_bytes
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self.handler_errors = 0

    async def start(self) -> None:
        """Assign and position every partition, then follow in the background."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=self.max_fetch_bytes,
            fetch_max_bytes=self.max_fetch_bytes * 4,
        )
        await consumer.start()
        self._consumer = consumer
        parts: dict[str, list[TopicPartition]] = {}
        for topic in self.topics:
            ids = await self._partitions(topic)
            parts[topic] = [TopicPartition(topic, p) for p in sorted(ids)]
        consumer.assign([tp for tps in parts.values() for tp in tps])
        for topic, tps in parts.items():
            if not tps:
                continue
            if self.topics[topic][0] == "end":
                await consumer.seek_to_end(*tps)
            else:
                await consumer.seek_to_beginning(*tps)
            for tp in tps:  # resolve the positions now: "end" means the end at start, not later
                await consumer.position(tp)
        self._task = asyncio.create_task(self._follow(), name="topic-follower")

    async def _partitions(self, topic: str) -> set[int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            for _ in range(50):  # a topic just created may take a moment to show in metadata
                for t in await admin.describe_topics([topic]):
                    if t["error_code"] == 0 and t["partitions"]:
                        return {p["partition"] for p in t["partitions"]}
                await asyncio.sleep(0.1)
        finally:
            await admin.close()
        log.warning("topic %s has no partitions; not followed", topic)
        return set()

    async def _follow(self) -> None:
        consumer = self._consumer
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                handler = self.topics[tp.topic][1]
                for rec in records:
                    try:
                        handler(rec)
                    except Exception:  # a view's bug must not stop the follower
                        self.handler_errors += 1
                        log.exception("follower handler for %s failed", tp.topic)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
