"""The dashboard as the sink worker runs it: view + web server + side-topic follower +
consumer-lag reader.

The sink's Faust app (``agents/sink.py``) calls :meth:`on_result` for each result its
metrics counted; a timer calls :meth:`refresh_lag`. Everything else the page needs comes
from a :class:`~cdio_stream.kafka.follower.TopicFollower` outside the sink's consumer
group (it commits nothing, so the sink's exactly-once positions are untouched):

* frames from the end (only the newest matter): the sink keeps the newest JPEGs per
  stream, so the page draws a result's detections on its frame without results carrying
  images, and a first start never reads the topic's whole retention;
* dead letters from the beginning: counted by stage and reason over what the topic holds,
  the same after a sink restart;
* policy views from the beginning (compacted: the latest one at once).
"""

from __future__ import annotations

import logging
from typing import Any

from cdio_stream.dashboard.server import DashboardServer
from cdio_stream.dashboard.view import DashboardView
from cdio_stream.errors import MessageError
from cdio_stream.messages import Result, decode_frame, decode_policy_view
from cdio_stream.pipeline.dead_letter import read_dead_letter
from cdio_stream.pipeline.launcher import DASHBOARD_MARKER

__all__ = ["LiveDashboard"]

log = logging.getLogger(__name__)


class LiveDashboard:
    def __init__(
        self,
        view: DashboardView,
        server: DashboardServer,
        lag_monitor: Any = None,  # cdio_stream.kafka.lag.LagMonitor; None: no lag shown
        follower: Any = None,  # cdio_stream.kafka.follower.TopicFollower; None: no side topics
        *,
        max_frame_bytes: int,
        lag_every_s: float = 2.0,
    ) -> None:
        self.view = view
        self.server = server
        self.lag_monitor = lag_monitor
        self.follower = follower
        self.max_frame_bytes = max_frame_bytes
        self.lag_every_s = lag_every_s
        self._lag_started = False
        self.ignored_frames = 0

    @property
    def url(self) -> str:
        return self.server.url

    async def start(self) -> None:
        if self.follower is not None:
            await self.follower.start()  # positioned before the sink says it is ready
        await self.server.start()
        print(f"{DASHBOARD_MARKER}{self.url}", flush=True)  # stdout, whatever the log level

    async def stop(self) -> None:
        await self.server.stop()
        if self.follower is not None:
            await self.follower.stop()
        if self._lag_started:
            await self.lag_monitor.stop()
            self._lag_started = False

    async def refresh_lag(self) -> None:
        if self.lag_monitor is None:
            return
        try:
            if not self._lag_started:
                await self.lag_monitor.start()
                self._lag_started = True
            self.view.set_lag(await self.lag_monitor.poll())
        except Exception as exc:  # a broker hiccup must not stop the sink; the page says why
            log.warning("consumer lag not read: %r", exc)
            self.view.set_lag({}, error=repr(exc))

    def on_result(self, result: Result) -> None:
        self.view.add_result(result)

    def follow(self, frames_topic: str, dead_letter_topic: str, policy_view_topic: str) -> dict:
        """The follower's topic table: where each side topic starts and who handles it."""
        return {
            frames_topic: ("end", lambda rec: self.on_frame(rec.value, rec.headers)),
            dead_letter_topic: ("beginning", lambda rec: self.on_dead_letter(rec.headers)),
            policy_view_topic: ("beginning", lambda rec: self.on_policy_view(rec.value)),
        }

    def on_frame(self, value: bytes | None, headers: Any) -> None:
        try:
            frame = decode_frame(value, headers, self.max_frame_bytes)
        except MessageError:
            self.ignored_frames += 1  # preprocess dead-letters bad frames; the page has nothing to show
            return
        self.view.add_frame(frame.meta.stream_id, frame.meta.task_id, frame.jpeg)

    def on_policy_view(self, value: bytes | None) -> None:
        try:
            view = decode_policy_view(value)
        except MessageError as exc:
            log.warning("policy view ignored: %s", exc)
            return
        self.view.set_policy_view(
            {
                "policy": view.policy,
                "servers": list(view.servers),
                "what": view.what,
                "feedbacks": view.feedbacks,
                "published_at": view.published_at,
                "rows": [
                    {"context": r.context, "values": list(r.values), "counts": list(r.counts)}
                    for r in view.rows
                ],
            }
        )

    def on_dead_letter(self, headers: Any) -> None:
        try:
            dl = read_dead_letter(headers or ())
        except (ValueError, UnicodeDecodeError):
            self.view.add_dead_letter("unknown", "dead letter with unreadable dlq-* headers")
            return
        self.view.add_dead_letter(dl.stage or "unknown", dl.reason)
