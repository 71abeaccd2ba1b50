"""Dead-letter records: what could not be processed, with the reason, always small enough to send.

The original value is kept byte for byte as the dead-letter value, with its original
headers, so nothing is lost and a fixed consumer can replay it. The reason, the stage,
where the record came from, the original value's size and its sha256 are added as
``dlq-*`` headers.

A dead letter must fit the dead-letter topic's and the producer's size limit, or the
send fails and the record would be lost with it. When the original does not fit (an
oversize frame, a huge header), its value is cut to what fits and ``dlq-truncated``
says so; ``dlq-original-size`` and ``dlq-sha256`` still identify the whole original.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from cdio_stream.errors import CdioError

__all__ = ["DeadLetter", "DeadLetterError", "dead_letter", "read_dead_letter", "send_with_retries"]

log = logging.getLogger(__name__)

_PREFIX = "dlq-"
# Room for Kafka's record and batch framing (varints, CRC, timestamps) and the key.
RECORD_OVERHEAD = 1024
# Original headers kept on a dead letter, at most (a record may be dead-lettered for a huge header).
MAX_KEPT_HEADER_BYTES = 512 * 1024


class DeadLetterError(CdioError):
    """A dead letter could not be written: the agent must stop rather than ack the record."""


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    stage: str  # which agent gave up on it: preprocess, scheduler, inference, sink
    source_topic: str
    source_partition: int
    source_offset: int
    failed_at: float
    original_size: int = -1  # bytes of the original value
    sha256: str = ""  # of the original value, hex
    truncated: bool = False  # the value is only the first part of the original


def dead_letter(
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]] | None,
    *,
    reason: str,
    stage: str,
    source_topic: str,
    source_partition: int = -1,
    source_offset: int = -1,
    max_bytes: int | None = None,
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The (value, headers) to publish on the dead-letter topic for one failed record.

    ``max_bytes`` is the most the record may weigh (the topic's ``max.message.bytes``);
    value and kept headers are cut so that value + headers + framing stay below it.
    """
    value = bytes(value or b"")
    kept: list[tuple[str, bytes]] = []
    kept_bytes = 0
    dropped = 0
    for k, v in headers or ():
        if k.startswith(_PREFIX):
            continue
        v = bytes(v)
        if kept_bytes + len(k) + len(v) > MAX_KEPT_HEADER_BYTES:
            dropped += 1
            continue
        kept.append((k, v))
        kept_bytes += len(k) + len(v)
    extra = [
        (f"{_PREFIX}reason", reason[:2000].encode()),
        (f"{_PREFIX}stage", stage.encode()),
        (f"{_PREFIX}source-topic", source_topic.encode()),
        (f"{_PREFIX}source-partition", str(source_partition).encode()),
        (f"{_PREFIX}source-offset", str(source_offset).encode()),
        (f"{_PREFIX}failed-at", repr(time.time()).encode()),
        (f"{_PREFIX}original-size", str(len(value)).encode()),
        (f"{_PREFIX}sha256", hashlib.sha256(value).hexdigest().encode()),
    ]
    if dropped:
        extra.append((f"{_PREFIX}dropped-headers", str(dropped).encode()))
    if max_bytes is not None:
        header_bytes = sum(len(k) + len(v) for k, v in kept + extra) + len(_PREFIX) + 20
        room = max(0, max_bytes - RECORD_OVERHEAD - header_bytes)
        if len(value) > room:
            value = value[:room]
            extra.append((f"{_PREFIX}truncated", b"true"))
    return value, kept + extra


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
        original_size=int(h.get("original-size", "-1")),
        sha256=h.get("sha256", ""),
        truncated=h.get("truncated") == "true",
    )


async def send_with_retries(
    send: Callable[[], Awaitable[object]], *, what: str, attempts: int = 5, backoff_s: float = 0.5
) -> None:
    """Await ``send()`` until it succeeds; after ``attempts`` failures raise DeadLetterError.

    The backoff doubles after each failure (0.5, 1, 2, 4 s by default: a broker that
    restarts within ~8 s loses nothing).
    """
    for attempt in range(1, attempts + 1):
        try:
            await send()
            return
        except Exception as exc:
            if attempt == attempts:
                raise DeadLetterError(
                    f"could not write the dead letter for {what} after {attempts} attempts "
                    f"({exc!r}); stopping without acking the record, so it is retried on restart"
                ) from exc
            delay = backoff_s * 2 ** (attempt - 1)
            log.warning(
                "dead letter for %s failed (%r); attempt %d of %d in %.1f s",
                what,
                exc,
                attempt + 1,
                attempts,
                delay,
            )
            await asyncio.sleep(delay)
