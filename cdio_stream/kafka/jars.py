"""Fetch and cache the Apache Kafka broker jars with Maven.

The jars come from Maven Central through ``mvn dependency:copy-dependencies`` on the
small POM shipped in ``resources/pom.xml``; they are cached under
``<cache_dir>/kafka/<kafka version>/libs`` and fetched only once per machine.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from cdio_stream.errors import BrokerError

__all__ = ["KAFKA_VERSION", "LOG4J_VERSION", "ensure_kafka_jars", "jar_dir"]

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"  # the log4j2 release Kafka 4.1 builds against
_STAMP = "COMPLETE"


def jar_dir(cache_dir: Path, kafka_version: str = KAFKA_VERSION) -> Path:
    return Path(cache_dir) / "kafka" / kafka_version / "libs"


def ensure_kafka_jars(cache_dir: Path, kafka_version: str = KAFKA_VERSION, timeout_s: float = 900) -> Path:
    """Return the folder with the broker's jars, fetching them with Maven if needed."""
    target = jar_dir(cache_dir, kafka_version)
    if (target / _STAMP).is_file():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven ('mvn') is not on PATH; it is needed once to fetch the Kafka broker jars")
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("fetching Apache Kafka %s broker jars with Maven into %s", kafka_version, target)
    with tempfile.TemporaryDirectory(prefix="cdio-kafka-pom-", dir=target.parent) as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_bytes(resources.files("cdio_stream.kafka").joinpath("resources/pom.xml").read_bytes())
        staging = Path(tmp) / "libs"
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            f"-Dkafka.version={kafka_version}",
            f"-Dlog4j.version={LOG4J_VERSION}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise BrokerError(f"Maven did not fetch the Kafka jars within {timeout_s:.0f} s") from None
        if proc.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            tail = (proc.stdout + proc.stderr)[-3000:]
            raise BrokerError(f"Maven failed to fetch the Kafka {kafka_version} jars:\n{tail}")
        (staging / _STAMP).write_text(kafka_version)
        if target.exists():  # a half-written folder from an interrupted run
            shutil.rmtree(target)
        staging.rename(target)
    return target
