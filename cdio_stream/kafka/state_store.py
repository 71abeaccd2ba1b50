"""A Kafka-backed snapshot store: the latest bytes per key on a compacted topic.

The scheduler persists its learned policy state here and restores it on start. A Faust
table would need every write to come from a stream event of the matching partition;
this store keeps one global snapshot per key, which is what a bandit's state is.

``load`` reads the topic from the beginning to its end offsets at call time and keeps
the last value per key; ``save`` appends a new snapshot and waits for the broker's ack
(``acks=all``). ``end_offsets`` and ``read`` serve the scheduler's recovery: where the
assignment topics ended when a snapshot was taken, and what was written after it.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

__all__ = ["KafkaStateStore"]

log = logging.getLogger(__name__)


class KafkaStateStore:
    def __init__(self, bootstrap: str, topic: str, *, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.max_bytes = max_bytes
        self._producer: AIOKafkaProducer | None = None
        self._offsets: AIOKafkaConsumer | None = None  # groupless: only asks for end offsets

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, max_request_size=self.max_bytes, acks="all"
        )
        await self._producer.start()
        self._offsets = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await self._offsets.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._offsets is not None:
            await self._offsets.stop()
            self._offsets = None

    async def save(self, key: str, value: bytes) -> None:
        if self._producer is None:
            raise RuntimeError("KafkaStateStore.save() before start()")
        await self._producer.send_and_wait(self.topic, value, key=key.encode())

    async def end_offsets(self, topics: list[str]) -> dict[str, int]:
        """``"topic/partition" -> end offset`` of every partition of ``topics``, now."""
        if self._offsets is None:
            raise RuntimeError("KafkaStateStore.end_offsets() before start()")
        tps = await _partitions(self._offsets, topics)
        ends = await self._offsets.end_offsets(tps) if tps else {}
        return {f"{tp.topic}/{tp.partition}": end for tp, end in ends.items()}

    async def load(self, key: str) -> bytes | None:
        """The newest snapshot stored under ``key``, or None if there is none."""
        latest: bytes | None = None
        wanted = key.encode()
        for rec in await self.read(topics=[self.topic]):
            if rec.key == wanted:
                latest = rec.value
        return latest

    async def read(
        self, topics: list[str], starts: dict[str, int] | None = None, max_bytes: int | None = None
    ) -> list[ConsumerRecord]:
        """Every record of ``topics`` from ``starts`` ("topic/partition" -> offset; default
        the beginning) up to the end offsets at call time."""
        fetch = max_bytes or self.max_bytes
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=fetch,
            max_partition_fetch_bytes=fetch,
        )
        await consumer.start()
        try:
            tps = await _partitions(consumer, topics)
            if not tps:
                return []
            consumer.assign(tps)
            end = await consumer.end_offsets(tps)
            remaining = set()
            for tp in tps:
                start = (starts or {}).get(f"{tp.topic}/{tp.partition}", 0)
                if start < end[tp]:
                    consumer.seek(tp, start)
                    remaining.add(tp)
            out: list[ConsumerRecord] = []
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                for tp, records in batch.items():
                    out += [r for r in records if r.offset < end[tp]]
                    if records and records[-1].offset + 1 >= end[tp]:
                        remaining.discard(tp)
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
            return out
        finally:
            await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    tps = []
    for topic in topics:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # topic may be new to this client
            partitions = consumer.partitions_for_topic(topic) or set()
        tps += [TopicPartition(topic, p) for p in sorted(partitions)]
    return tps
