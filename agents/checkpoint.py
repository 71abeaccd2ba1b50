"""Checkpoints of a stateful agent: its state and input positions saved together, then acks.

The scheduler and the sink apply records to in-memory state. A record is acked (so Faust
may commit its offset) only after a snapshot that includes it has been written, and the
snapshot carries the input positions it includes (:class:`InputPositions`). On restart
the consumer resumes at or before those positions; records the restored state already
includes are skipped. State and offsets therefore never disagree, whichever moment a
worker is killed at.

``lock`` makes applying one unit of work (a slot and its sends, a result) and capturing
a snapshot mutually exclusive, so a snapshot never sees half a slot. Before the snapshot
is written, the producer is flushed: every output the snapshot implies is on the broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Checkpoint"]

log = logging.getLogger("cdio.agents")


class Checkpoint:
    def __init__(
        self,
        *,
        capture: Callable[[], bytes],
        save: Callable[[bytes], Awaitable[None]],
        flush: Callable[[], Awaitable[None]],
        before_capture: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.capture = capture  # the stage's snapshot, taken synchronously under the lock
        self.save_bytes = save
        self.flush = flush
        self.before_capture = before_capture
        self.lock = asyncio.Lock()
        self._saving = asyncio.Lock()
        self._unacked: list[tuple[Any, Any]] = []  # (stream, event) applied since the last capture
        self.changed = False

    def applied(self, stream: Any, event: Any) -> None:
        """``event`` is in the state now; ack it once a snapshot including it is saved."""
        self._unacked.append((stream, event))
        self.changed = True

    async def save(self) -> bool:
        """Save a snapshot if anything changed; returns whether one was written."""
        async with self._saving:
            if not self.changed:
                return False
            if self.before_capture is not None:
                await self.before_capture()
            async with self.lock:
                data = self.capture()
                covered, self._unacked = self._unacked, []
                self.changed = False
            try:
                await self.flush()
                await self.save_bytes(data)
            except BaseException:
                self._unacked = covered + self._unacked  # not saved: these stay unacked
                self.changed = True
                raise
            for stream, event in covered:
                await stream.ack(event)
            return True
