"""Consumer lag of the pipeline's worker groups: how far each role is behind its input.

Lag of (topic, group) = sum over partitions of (end offset - committed offset); a
partition the group never committed counts from the partition's first offset. Faust
commits every ``broker_commit_every`` records or few seconds, so the figure runs a
little behind: it is a queue length, not an exact count. An inference server's queue is
the lag of its assignment topic in its worker group.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cdio_stream.topology import Topology

__all__ = ["pipeline_consumers", "server_queues", "LagMonitor"]

log = logging.getLogger(__name__)


def pipeline_consumers(topology: Topology) -> list[tuple[str, str]]:
    """(topic, consumer group) of every worker input of the pipeline."""
    pairs = [
        (topology.frames.name, topology.worker_group("preprocess")),
        (topology.tasks.name, topology.worker_group("scheduler")),
        (topology.results.name, topology.worker_group("scheduler")),
        (topology.results.name, topology.worker_group("sink")),
    ]
    pairs += server_queues(topology).values()
    return pairs


def server_queues(topology: Topology) -> dict[str, tuple[str, str]]:
    """Server id -> the (topic, group) whose lag is that server's queue of assigned tasks."""
    return {
        sid: (topology.assignment_topic(sid).name, topology.worker_group("inference", sid))
        for sid in topology.server_ids
    }


class LagMonitor:
    """Reads the lag of fixed (topic, group) pairs; one admin client and one group-less consumer."""

    def __init__(self, bootstrap: str, pairs: list[tuple[str, str]]) -> None:
        self.bootstrap = bootstrap
        self.pairs = list(pairs)
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await self._admin.start()
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._consumer = None

    async def poll(self) -> dict[tuple[str, str], int]:
        assert self._admin is not None and self._consumer is not None, "LagMonitor.start() first"
        topics = sorted({topic for topic, _ in self.pairs})
        if not topics:  # describe_topics([]) would describe every topic of the cluster
            return {}
        parts: dict[str, list[TopicPartition]] = {topic: [] for topic in topics}
        for t in await self._admin.describe_topics(topics):
            if t["error_code"] == 0:  # a missing topic has no lag to show
                parts[t["topic"]] = sorted(
                    TopicPartition(t["topic"], p["partition"]) for p in t["partitions"]
                )
        every = [tp for tps in parts.values() for tp in tps]
        if not every:
            return {}
        end = await self._consumer.end_offsets(every)
        begin = await self._consumer.beginning_offsets(every)
        out: dict[tuple[str, str], int] = {}
        committed_of: dict[str, dict] = {}
        for topic, group in self.pairs:
            if group not in committed_of:
                committed_of[group] = await self._admin.list_consumer_group_offsets(group)
            committed = committed_of[group]
            lag = 0
            for tp in parts[topic]:
                meta = committed.get(tp)
                start = meta.offset if meta is not None and meta.offset >= 0 else begin[tp]
                lag += max(0, end[tp] - start)
            out[(topic, group)] = lag
        return out
