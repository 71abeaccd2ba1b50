"""A Kafka-backed snapshot store: the latest bytes per key on a compacted topic.

The scheduler persists its learned policy state here and restores it on start. A Faust
table would need every write to come from a stream event of the matching partition;
this store keeps one global snapshot per key, which is what a bandit's state is.

``load`` reads the topic from the beginning to its end offsets at call time and keeps
the last value per key; ``save`` appends a new snapshot and waits for the broker's ack.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

__all__ = ["KafkaStateStore"]

log = logging.getLogger(__name__)


class KafkaStateStore:
    def __init__(self, bootstrap: str, topic: str, *, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.max_bytes = max_bytes
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, max_request_size=self.max_bytes, acks="all"
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def save(self, key: str, value: bytes) -> None:
        if self._producer is None:
            raise RuntimeError("KafkaStateStore.save() before start()")
        await self._producer.send_and_wait(self.topic, value, key=key.encode())

    async def load(self, key: str) -> bytes | None:
        """The newest snapshot stored under ``key``, or None if there is none."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=self.max_bytes,
            max_partition_fetch_bytes=self.max_bytes,
        )
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(self.topic) or set()
            if not partitions:
                await consumer._client.force_metadata_update()  # topic may be new to this client
                partitions = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            if not tps:
                return None
            consumer.assign(tps)
            end = await consumer.end_offsets(tps)
            await consumer.seek_to_beginning(*tps)
            latest: bytes | None = None
            wanted = key.encode()
            remaining = {tp for tp in tps if end[tp] > 0}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                for tp, records in batch.items():
                    for rec in records:
                        if rec.key == wanted:
                            latest = rec.value
                    if records and records[-1].offset + 1 >= end[tp]:
                        remaining.discard(tp)
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
            return latest
        finally:
            await consumer.stop()
