"""Shared fixtures.

``kafka_bootstrap`` (session): a real Kafka broker for the whole test session, chosen as
1. ``CDIO_KAFKA_BOOTSTRAP`` when set (an existing broker);
2. testcontainers' Kafka container (KRaft) when a Docker engine answers;
3. otherwise the project's local KRaft broker from the Apache Kafka jars.

``topology_factory``: a fresh copy of topics.yaml with a unique topic prefix per call,
its topics created on the broker, so tests never share topics or consumer groups.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cdio_stream.settings import Settings
from cdio_stream.topology import Topology, load_topology

log = logging.getLogger("tests")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"
DETRAC_SAMPLE = SHARED_DIR / "datasets" / "ua-detrac-sample"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


def _testcontainers_kafka():
    """A started KRaft Kafka container, or None when no Docker engine answers."""
    try:
        from docker.errors import DockerException
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:
        return None
    try:
        container = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft()
        container.start()
    except DockerException as exc:
        log.info("no Docker engine (%s); using the local KRaft broker", exc.__class__.__name__)
        return None
    return container


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: Settings) -> Iterator[str]:
    if os.environ.get("CDIO_KAFKA_BOOTSTRAP"):
        yield os.environ["CDIO_KAFKA_BOOTSTRAP"]
        return
    container = _testcontainers_kafka()
    if container is not None:
        try:
            yield container.get_bootstrap_server()
        finally:
            container.stop()
        return
    from cdio_stream.kafka.broker import LocalKafkaBroker

    with LocalKafkaBroker(settings.cache_dir) as broker:
        yield broker.bootstrap


@pytest.fixture
def topology_factory(kafka_bootstrap: str) -> Callable[..., Topology]:
    """Make a Topology with a unique prefix and create its topics on the test broker."""
    from cdio_stream.kafka.admin import create_topics

    def make(path: Path | None = None, create: bool = True) -> Topology:
        base = load_topology(path or REPO_ROOT / "topics.yaml")
        topology = base.with_prefix(f"t{uuid.uuid4().hex[:10]}.")
        if create:
            asyncio.run(create_topics(kafka_bootstrap, topology))
        return topology

    return make
