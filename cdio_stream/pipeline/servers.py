"""Servers that join and leave: the ``servers`` topic, read by the scheduler and the sink.

Every inference worker announces itself on the compacted ``servers`` topic (key = server
id, :class:`~cdio_stream.messages.ServerAnnouncement`) when it starts and then every
heartbeat interval. A :class:`ServerDirectory` reads the topic whole and follows it
(outside any consumer group, like the model topic), keeping each server's latest
announcement:

- the scheduler adds a server it does not know yet (one not in ``topics.yaml``) to its
  policy, with new arms, and treats a server whose last heartbeat is older than the
  timeout as unavailable: the policy stops routing to it until it is heard again, and
  one silent for longer than ``LOST_AFTER_S`` as lost: the tasks still waiting on it end
  as expired results;
- the sink accepts results from announced servers as well as from ``topics.yaml``'s.

A server in ``topics.yaml`` that has never announced itself counts as available (fixed
deployments need not run the heartbeat). Heartbeats carry the worker's clock: the nodes'
clocks must agree to well within the timeout (NTP).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from cdio_stream.errors import MessageError
from cdio_stream.messages import ServerAnnouncement, decode_announcement

__all__ = ["ServerDirectory", "HEARTBEAT_S", "SERVER_TIMEOUT_S", "LOST_AFTER_S"]

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0  # how often an inference worker announces itself
SERVER_TIMEOUT_S = 5.0  # a server silent for longer is unavailable
# A server silent for longer is lost: the tasks still waiting on it expire (the scheduler's
# --lost-after-s). Longer than an inference worker's restart (model load, group rejoin:
# 10-33 s measured by benchmarks/faults.py), so a restart does not expire its backlog.
LOST_AFTER_S = 60.0


class ServerDirectory:
    """The latest announcement per server; ``follower`` is a
    :class:`~cdio_stream.kafka.follow.TopicFollower` on the servers topic."""

    def __init__(self, follower: Any, clock: Callable[[], float] = time.time) -> None:
        self.follower = follower
        self.clock = clock
        self.latest: dict[str, ServerAnnouncement] = {}
        self._changed = asyncio.Condition()

    def _apply(self, rec) -> ServerAnnouncement | None:
        try:
            ann = decode_announcement(rec.value)
        except MessageError as exc:  # a bad record costs only itself; never stops the reader
            log.warning("servers topic: skipping record offset=%s: %s", rec.offset, exc)
            return None
        self.latest[ann.server_id] = ann
        return ann

    async def catch_up(self) -> list[ServerAnnouncement]:
        """Every server's latest announcement so far."""
        out = [a for a in (self._apply(r) for r in await self.follower.catch_up()) if a is not None]
        return out

    async def follow(self) -> AsyncIterator[ServerAnnouncement]:
        async for rec in self.follower.follow():
            ann = self._apply(rec)
            if ann is not None:
                async with self._changed:
                    self._changed.notify_all()
                yield ann

    async def wait_for(self, server_id: str, timeout_s: float) -> bool:
        """True once ``server_id`` has announced itself (waits up to ``timeout_s``)."""

        async def heard() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: server_id in self.latest)

        try:
            await asyncio.wait_for(heard(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        await self.follower.stop()
