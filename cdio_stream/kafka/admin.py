"""Provision the topics of a :class:`~cdio_stream.topology.Topology` on a broker."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cdio_stream.errors import BrokerError
from cdio_stream.kafka.connect import start_client
from cdio_stream.topology import TopicSpec, Topology

__all__ = ["ProvisionReport", "create_topics", "topic_configs"]

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code


@dataclass(frozen=True)
class ProvisionReport:
    created: tuple[str, ...]
    existing: tuple[str, ...]


def topic_configs(topology: Topology) -> list[tuple[TopicSpec, dict[str, str]]]:
    """Each topic with its broker-side config; topics with large values get the size limit."""
    frame_carrying = {topology.frames.name, topology.tasks.name, topology.dead_letter.name}
    frame_carrying.add(topology.rpp_models.name)  # model checkpoints
    frame_carrying |= {topology.assignment_topic(s).name for s in topology.server_ids}
    return [
        (spec, spec.config(topology.max_message_bytes if spec.name in frame_carrying else None))
        for spec in topology.all_topics()
    ]


async def create_topics(bootstrap: str, topology: Topology, timeout_ms: int = 30_000) -> ProvisionReport:
    """Create every topic of the topology; topics that already exist are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    await start_client(admin, bootstrap)
    try:
        new = [
            NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=topology.replication_factor,
                topic_configs=cfg,
            )
            for spec, cfg in topic_configs(topology)
        ]
        response = await admin.create_topics(new, timeout_ms=timeout_ms)
    finally:
        await admin.close()
    created, existing = [], []
    for item in response.topic_errors:
        name, code = item[0], item[1]
        message = item[2] if len(item) > 2 else ""
        if code == 0:
            created.append(name)
        elif code == _TOPIC_ALREADY_EXISTS:
            existing.append(name)
        else:
            raise BrokerError(f"creating topic {name!r} failed with Kafka error {code}: {message}")
    log.info("topics created=%d existing=%d", len(created), len(existing))
    return ProvisionReport(created=tuple(sorted(created)), existing=tuple(sorted(existing)))
