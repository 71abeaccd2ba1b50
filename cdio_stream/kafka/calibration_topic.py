"""The calibration topic: ``cdio-stream calibrate`` publishes, the scheduler reads at start.

A compacted topic (``topics.calibration`` in topics.yaml) keeps the latest calibration
under one key; :func:`read_calibration` reads it to its end and decodes the newest one;
:func:`resolve_calibration` is the scheduler's choice between a file, the topic and the
shipped calibration.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from cdio_stream.calibration import Calibration, default_calibration, load_calibration
from cdio_stream.kafka.state_store import KafkaStateStore
from cdio_stream.settings import Settings
from cdio_stream.topology import Topology

__all__ = ["CALIBRATION_KEY", "publish_calibration", "read_calibration", "resolve_calibration"]

log = logging.getLogger(__name__)

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


def resolve_calibration(settings: Settings, topology: Topology, path: Path | None = None) -> Calibration:
    """The scheduler's calibration: ``path`` if given, else the newest one on the
    calibration topic (``cdio-stream calibrate``), else the one shipped with the package."""
    if path is not None:
        cal, where = load_calibration(path), f"file {path}"
    else:
        cal, where = None, ""
        if settings.bootstrap:
            # A loop of its own, never made the current one: the Faust worker that starts
            # next in this process finds the event loop state as it was.
            loop = asyncio.new_event_loop()
            try:
                cal = loop.run_until_complete(read_calibration(settings.bootstrap, topology.calibration.name))
            finally:
                loop.close()
            where = f"topic {topology.calibration.name}"
        if cal is None:
            cal, where = default_calibration(), "shipped default (cdio_stream/calibration.json)"
    log.info("calibration from the %s: %s", where, cal.source or "(no source given)")
    return cal
