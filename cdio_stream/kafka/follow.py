"""Read a compacted topic whole, then follow it: every process sees every record.

A consumer *group* would split the topic's partitions between the workers of a role;
published models must reach every preprocess worker, so this consumer joins no group:
it assigns itself all partitions, reads them from the beginning up to the end offsets it
saw at start (:meth:`TopicFollower.catch_up`), then yields what arrives later
(:meth:`TopicFollower.follow`). Nothing is committed: a restarted process reads the
(compacted) topic again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import ConsumerStoppedError

__all__ = ["TopicFollower"]

log = logging.getLogger(__name__)


class TopicFollower:
    def __init__(self, bootstrap: str, topic: str, *, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.max_bytes = max_bytes
        self._consumer: AIOKafkaConsumer | None = None

    async def catch_up(self) -> list[ConsumerRecord]:
        """Start, and return every record from the beginning to the current end offsets."""
        consumer = self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=self.max_bytes,
            max_partition_fetch_bytes=self.max_bytes,
        )
        await consumer.start()
        partitions = consumer.partitions_for_topic(self.topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # the topic may be new to this client
            partitions = consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        if not tps:
            log.warning("topic %s has no partitions (not created?); following nothing", self.topic)
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[ConsumerRecord] = []
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for records in batch.values():
                out.extend(records)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return out

    async def follow(self) -> AsyncIterator[ConsumerRecord]:
        """Records published after :meth:`catch_up`, until :meth:`stop`."""
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("TopicFollower.follow() before catch_up()")
        while self._consumer is not None:
            try:
                batch = await consumer.getmany(timeout_ms=1000)
            except ConsumerStoppedError:
                return
            for records in batch.values():
                for rec in records:
                    yield rec

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
