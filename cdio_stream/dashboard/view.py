"""What the live dashboard shows, as one JSON-ready snapshot (broker-free).

The whole-run figures are the sink's own :class:`~cdio_stream.pipeline.metrics.LiveMetrics`
(read, never recomputed), so the page shows the same numbers as the metrics log line and
the Prometheus gauges. This view adds only what a live page needs on top:

* per server, a rolling window (``window_s``, by arrival at the sink) of tasks/s and of
  accuracy / delay success, and the server's queue length (the Kafka consumer lag of its
  assignment topic, from :mod:`cdio_stream.dashboard.lag`);
* per stream, the newest result whose frame the sink also holds (JPEG bytes from the
  frames topic, a bounded buffer per stream), with its detections;
* WAN uplink: what results say was sent to the cloud tier (Mbit/s over the window, bytes
  per task over the run);
* dead letters by stage and reason, consumer lag per topic and group, and the policy's
  own view where the scheduler publishes one.

``accuracy_sources`` is the share of results per accuracy source (ground truth, reference
run, none). ``expired_share`` per server is the share of its results in the window that
were shed as late (``--shed late``; expired tasks also count as delay failures there).
"""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdio_stream.data.classes import DETRAC_CLASSES
from cdio_stream.messages import ACCURACY_SOURCES, Result
from cdio_stream.pipeline.metrics import LiveMetrics
from cdio_stream.topology import ServerSpec

__all__ = ["DashboardView", "StreamFrame"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class _Seen:
    """One counted result inside the rolling window."""

    at: float
    server_id: str
    tier: str
    payload_bytes: int
    accuracy_met: bool | None
    delay_met: bool
    expired: bool = False


@dataclass
class StreamFrame:
    """One stream's recent frames (task id -> JPEG) and results, both bounded."""

    frames: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    results: deque[Result] = field(default_factory=deque)

    def shown(self) -> Result | None:
        """The newest result whose frame is here (results can overtake their frame)."""
        for r in reversed(self.results):
            if r.task_id in self.frames:
                return r
        return None


class DashboardView:
    """Live state behind the dashboard; the sink feeds it, the web server reads it.

    Everything runs on the sink's event loop, so no locks. ``clock`` is injectable so
    that tests control the rolling window.
    """

    def __init__(
        self,
        servers: Sequence[ServerSpec],
        metrics: LiveMetrics,
        *,
        window_s: float = 30.0,
        frames_per_stream: int = 32,
        max_streams: int = 64,
        queue_lag: Mapping[str, tuple[str, str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        if frames_per_stream < 1:
            raise ValueError(f"frames_per_stream must be at least 1, got {frames_per_stream}")
        self.servers = tuple(servers)
        self.metrics = metrics
        self.window_s = window_s
        self.frames_per_stream = frames_per_stream
        self.max_streams = max_streams
        self.clock = clock
        self.queue_lag = dict(queue_lag or {})  # server id -> the (topic, group) whose lag is its queue
        self.started_at = clock()
        self._window: deque[_Seen] = deque()
        self._streams: OrderedDict[str, StreamFrame] = OrderedDict()
        self._wan_bytes = 0
        self._sources: Counter[str] = Counter()
        self._dead_letters: Counter[tuple[str, str]] = Counter()
        self._lag: dict[tuple[str, str], int] = {}
        self._lag_error: str | None = None
        self._policy: dict[str, Any] | None = None

    # ------------------------------------------------------------ feeding

    def add_result(self, r: Result) -> None:
        """A result the sink's metrics counted (call it once per counted result)."""
        tier = r.tier
        self._window.append(
            _Seen(
                self.clock(),
                r.server_id,
                tier,
                r.payload_bytes,
                r.accuracy_met,
                r.delay_met,
                r.expired is not None,
            )
        )
        if tier == "cloud":
            self._wan_bytes += r.payload_bytes
        self._sources[r.accuracy_source or "none"] += 1
        stream = self._stream(r.stream_id)
        stream.results.append(r)
        while len(stream.results) > self.frames_per_stream:
            stream.results.popleft()

    def add_frame(self, stream_id: str, task_id: str, jpeg: bytes) -> None:
        frames = self._stream(stream_id).frames
        frames[task_id] = jpeg
        while len(frames) > self.frames_per_stream:
            frames.popitem(last=False)

    def add_dead_letter(self, stage: str, reason: str) -> None:
        self._dead_letters[(stage, reason)] += 1

    def set_lag(self, lag: Mapping[tuple[str, str], int], error: str | None = None) -> None:
        """Consumer lag per (topic, group); ``error`` says why it could not be read."""
        if error is None:
            self._lag = dict(lag)
        self._lag_error = error

    def set_policy_view(self, view: Mapping[str, Any] | None) -> None:
        self._policy = dict(view) if view is not None else None

    def frame_jpeg(self, stream_id: str, task_id: str) -> bytes | None:
        stream = self._streams.get(stream_id)
        return None if stream is None else stream.frames.get(task_id)

    def _stream(self, stream_id: str) -> StreamFrame:
        stream = self._streams.get(stream_id)
        if stream is None:
            stream = self._streams[stream_id] = StreamFrame()
            while len(self._streams) > self.max_streams:  # the longest-known stream goes first
                self._streams.popitem(last=False)
        return stream

    # ------------------------------------------------------------ reading

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        while self._window and self._window[0].at < now - self.window_s:
            self._window.popleft()
        # Rates over the window, or over the time since start while the window is not full yet.
        span = max(min(self.window_s, now - self.started_at), 1e-9)
        m = self.metrics
        summary = {k: _finite(v) for k, v in m.summary().items()}
        for src in ACCURACY_SOURCES:  # the page shows them together, as accuracy_sources
            summary.pop(f"feedback_{src}")
        wan_window = sum(s.payload_bytes for s in self._window if s.tier == "cloud")
        return {
            "v": SCHEMA_VERSION,
            "now": now,
            "window_s": self.window_s,
            "classes": list(DETRAC_CLASSES),
            "run": {
                **summary,
                "duplicates": m.duplicates,
                "wan_uplink_mbps": wan_window * 8 / span / 1e6,
                "wan_bytes_per_task": self._wan_bytes / m.count if m.count else None,
                "accuracy_sources": {src: n / m.count for src, n in sorted(self._sources.items())}
                if m.count
                else None,
            },
            "servers": [self._server(s, span) for s in self.servers],
            "streams": [self._stream_view(sid, st) for sid, st in sorted(self._streams.items())],
            "lag": [
                {"topic": topic, "group": group, "lag": n} for (topic, group), n in sorted(self._lag.items())
            ],
            "lag_error": self._lag_error,
            "dead_letters": [
                {"stage": stage, "reason": reason, "count": n}
                for (stage, reason), n in self._dead_letters.most_common()
            ],
            "policy": self._policy,
        }

    def _server(self, spec: ServerSpec, span: float) -> dict[str, Any]:
        seen = [s for s in self._window if s.server_id == spec.id]
        judged = [s.accuracy_met for s in seen if s.accuracy_met is not None]
        total = self.metrics.per_server.get(spec.id, 0)
        queue_key = self.queue_lag.get(spec.id)
        return {
            "id": spec.id,
            "tier": spec.tier,
            "tasks": total,
            "share": total / self.metrics.count if self.metrics.count else None,
            "tasks_per_s": len(seen) / span,
            "window_tasks": len(seen),
            "accuracy_success": sum(judged) / len(judged) if judged else None,
            "delay_success": sum(s.delay_met for s in seen) / len(seen) if seen else None,
            "queue": self._lag.get(queue_key) if queue_key else None,
            "expired_share": sum(s.expired for s in seen) / len(seen) if seen else None,
        }

    def _stream_view(self, stream_id: str, stream: StreamFrame) -> dict[str, Any]:
        r = stream.shown()
        latest = stream.results[-1] if stream.results else None
        out: dict[str, Any] = {
            "id": stream_id,
            "latest_frame_no": latest.frame_no if latest else None,
            "frame": None,
        }
        if r is not None:
            out["frame"] = {
                "task_id": r.task_id,
                "frame_no": r.frame_no,
                "server_id": r.server_id,
                "tier": r.tier,
                "model": r.model,
                "a_req": r.a_req,
                "accuracy": r.accuracy,
                "accuracy_source": r.accuracy_source,
                "accuracy_met": r.accuracy_met,
                "d_req": r.d_req,
                "delay": r.delay,
                "delay_met": r.delay_met,
                "error": r.error,
                "detections": [[*d.box, d.cls, d.score] for d in r.detections],
            }
        return out


def _finite(x: float) -> float | None:
    return None if isinstance(x, float) and not math.isfinite(x) else x
