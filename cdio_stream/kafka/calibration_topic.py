"""The calibration topic: ``cdio-stream calibrate`` publishes, the scheduler reads at start.

A compacted topic (``topics.calibration`` in topics.yaml) keeps the latest calibration
under one key; :func:`read_calibration` reads it to its end and decodes the newest one.
"""

from __future__ import annotations

from cdio_stream.calibration import Calibration
from cdio_stream.kafka.state_store import KafkaStateStore

__all__ = ["CALIBRATION_KEY", "publish_calibration", "read_calibration"]

CALIBRATION_KEY = "calibration"


async def publish_calibration(bootstrap: str, topic: str, calibration: Calibration) -> None:
    store = KafkaStateStore(bootstrap, topic)
    await store.start()
    try:
        await store.save(CALIBRATION_KEY, calibration.to_json())
    finally:
        await store.stop()


async def read_calibration(bootstrap: str, topic: str) -> Calibration | None:
    """The newest calibration on ``topic``, None when there is none (or no such topic); a
    record that does not decode is a one-line ConfigError naming the topic."""
    store = KafkaStateStore(bootstrap, topic)
    data = await store.load(CALIBRATION_KEY)
    if data is None:
        return None
    return Calibration.from_json(data, where=f"calibration topic {topic}")
