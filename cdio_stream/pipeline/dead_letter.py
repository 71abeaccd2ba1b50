"""Dead-letter records: what could not be processed, kept whole, with the reason.

The original value is kept byte for byte as the dead-letter value, with its original
headers, so nothing is lost and a fixed consumer can replay it. The reason, the stage
and where the record came from are added as ``dlq-*`` headers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DeadLetter", "dead_letter", "read_dead_letter"]

_PREFIX = "dlq-"


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    stage: str  # which agent gave up on it: preprocess, scheduler, inference, sink
    source_topic: str
    source_partition: int
    source_offset: int
    failed_at: float


def dead_letter(
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]] | None,
    *,
    reason: str,
    stage: str,
    source_topic: str,
    source_partition: int = -1,
    source_offset: int = -1,
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The (value, headers) to publish on the dead-letter topic for one failed record."""
    kept = [(k, bytes(v)) for k, v in (headers or ()) if not k.startswith(_PREFIX)]
    extra = [
        (f"{_PREFIX}reason", reason[:2000].encode()),
        (f"{_PREFIX}stage", stage.encode()),
        (f"{_PREFIX}source-topic", source_topic.encode()),
        (f"{_PREFIX}source-partition", str(source_partition).encode()),
        (f"{_PREFIX}source-offset", str(source_offset).encode()),
        (f"{_PREFIX}failed-at", repr(time.time()).encode()),
    ]
    return (value or b""), kept + extra


def read_dead_letter(headers: Iterable[tuple[str, bytes]]) -> DeadLetter:
    """Parse the ``dlq-*`` headers of a dead-letter record."""
    h = {k[len(_PREFIX) :]: bytes(v).decode() for k, v in headers if k.startswith(_PREFIX)}
    return DeadLetter(
        reason=h.get("reason", ""),
        stage=h.get("stage", ""),
        source_topic=h.get("source-topic", ""),
        source_partition=int(h.get("source-partition", "-1")),
        source_offset=int(h.get("source-offset", "-1")),
        failed_at=float(h.get("failed-at", "0")),
    )
