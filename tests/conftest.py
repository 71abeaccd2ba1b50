"""Shared fixtures.

``kafka_bootstrap`` (session): a real Kafka broker for the whole test session, chosen as
1. ``CDIO_KAFKA_BOOTSTRAP`` when set (an existing broker);
2. testcontainers' Kafka container (KRaft) when a Docker engine answers;
3. otherwise the project's local KRaft broker from the Apache Kafka jars.

``detrac_sample`` (session): the real UA-DETRAC sample (one sequence's full XML and a few
frames), from ``CDIO_DETRAC_SAMPLE``, else ``../shared/datasets/ua-detrac-sample`` beside
the checkout. Without it the tests that need it skip (a user's fresh clone has none); under
``CI=true`` they fail instead, so CI keeps testing real data.

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


def pytest_configure(config: pytest.Config) -> None:
    # Tests never download model weights (CI and these machines are offline); worker
    # processes the tests start inherit it.
    os.environ.setdefault("CDIO_OFFLINE", "1")


REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_ENV = "CDIO_DETRAC_SAMPLE"
SAMPLE_BESIDE_CHECKOUT = REPO_ROOT.parent / "shared" / "datasets" / "ua-detrac-sample"


def _is_sample(path: Path) -> bool:
    return (path / "DETRAC-Train-Annotations-XML" / "MVI_20011.xml").is_file()


@pytest.fixture(scope="session")
def detrac_sample() -> Path:
    configured = os.environ.get(SAMPLE_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not _is_sample(path):  # asked for and wrong: say so rather than skip quietly
            pytest.fail(
                f"{SAMPLE_ENV}={configured}: no DETRAC-Train-Annotations-XML/MVI_20011.xml there",
                pytrace=False,
            )
        return path
    if _is_sample(SAMPLE_BESIDE_CHECKOUT):
        return SAMPLE_BESIDE_CHECKOUT
    reason = (
        f"UA-DETRAC sample (DETRAC-Train-Annotations-XML/MVI_20011.xml + Insight-MVT_Annotation_Train/"
        f"MVI_20011/img0000[1-9].jpg) not found: set {SAMPLE_ENV}=/path/to/ua-detrac-sample"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: CI must test the real sample)", pytrace=False)
    pytest.skip(reason)


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
