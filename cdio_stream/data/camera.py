"""Camera gateway: capture a live source and publish its newest frames as JPEG to the frames topic.

Pipeline per camera: :class:`~cdio_stream.data.camera_source.SourceReader` (thread,
OpenCV) -> one-slot :class:`~cdio_stream.data.camera_source.LatestSlot` -> this async
sender, which waits for a free in-flight slot (at most ``max_in_flight`` unacknowledged
sends), takes the newest frame, encodes it (resized, at the configured JPEG quality) in a
worker thread, and publishes it keyed by stream id with sampled requirements A^q, D^q and
no ground truth. A slow broker or network therefore never builds a queue: frames are
overwritten in the slot and counted as ``dropped``.

Several gateways run side by side: one process per camera (each its own stream id), or
several in one process with :func:`run_gateways` sharing one producer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from aiokafka import AIOKafkaProducer

from cdio_stream.data.camera_source import CapturedFrame, LatestSlot, SourceReader, default_stream_id
from cdio_stream.data.replay import create_frame_producer
from cdio_stream.data.requirements import RequirementSampler
from cdio_stream.errors import ConfigError, MessageError
from cdio_stream.kafka.connect import start_client
from cdio_stream.messages import Frame, FrameMeta, encode_frame
from cdio_stream.topology import Topology

__all__ = ["CameraConfig", "CameraStats", "CameraGateway", "run_gateways", "encode_jpeg"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraConfig:
    """One camera: where frames come from, how they are encoded, how the source is treated."""

    source: str | int  # video file, rtsp:// or http:// URL, or device index
    stream_id: str | None = None  # default: derived from the source (file stem, host-path, camN)
    jpeg_quality: int = 90
    size: tuple[int, int] | None = None  # (width, height) to resize to; None keeps the source size
    loop_file: bool = False  # restart a video file at its end instead of stopping
    realtime: bool = True  # pace a video file at its frame rate, like a live camera
    fps: float | None = None  # pacing rate for files; default: the file's own
    max_frames: int | None = None  # stop after capturing this many frames
    max_in_flight: int = 2  # unacknowledged sends before frames start being dropped
    backoff_s: tuple[float, float] = (0.5, 10.0)  # reconnect delay: first, maximum
    requirements: RequirementSampler = field(default_factory=RequirementSampler)
    stream_index: int = 0  # which requirement stream to draw from (seeded per gateway)

    def __post_init__(self) -> None:
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg quality must be in 1..100, got {self.jpeg_quality}")
        if self.size is not None and (self.size[0] < 16 or self.size[1] < 16):
            raise ConfigError(f"frame size must be at least 16x16, got {self.size[0]}x{self.size[1]}")
        if self.max_in_flight < 1:
            raise ConfigError(f"max_in_flight must be >= 1, got {self.max_in_flight}")

    @property
    def resolved_stream_id(self) -> str:
        return self.stream_id or default_stream_id(self.source)


@dataclass
class CameraStats:
    stream_id: str
    captured: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0  # overwritten in the slot before they could be sent
    skipped: int = 0  # frames that could not be encoded
    reconnects: int = 0
    max_in_flight_seen: int = 0
    bytes: int = 0

    def line(self) -> str:
        return (
            f"{self.stream_id:16s} captured={self.captured} sent={self.sent} acked={self.delivered} "
            f"failed={self.failed} dropped={self.dropped} skipped={self.skipped} reconnects={self.reconnects}"
        )


def encode_jpeg(image: np.ndarray, quality: int, size: tuple[int, int] | None = None) -> bytes:
    """BGR image -> JPEG bytes, resized to ``size`` (width, height) when given."""
    if size is not None and (image.shape[1], image.shape[0]) != size:
        interp = cv2.INTER_AREA if size[0] < image.shape[1] else cv2.INTER_LINEAR
        image = cv2.resize(image, size, interpolation=interp)
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise MessageError("JPEG encoding failed")
    return buf.tobytes()


class CameraGateway:
    """One camera's capture thread and sender; :meth:`run` until stopped or the source ends.

    ``before_send`` (optional coroutine function) is awaited before the newest frame is
    taken for each send; it lets callers throttle or pause the uplink (tests use it to
    stall sending and watch frames being dropped instead of queued).
    """

    def __init__(
        self,
        config: CameraConfig,
        topology: Topology,
        *,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self.topology = topology
        self.before_send = before_send
        self.stats = CameraStats(config.resolved_stream_id)
        self._reader: SourceReader | None = None
        self._slot: LatestSlot[CapturedFrame] | None = None

    def _sync_counters(self) -> None:
        if self._reader is not None and self._slot is not None:
            self.stats.captured = self._reader.captured
            self.stats.reconnects = self._reader.reconnects
            self.stats.dropped = self._slot.dropped

    async def run(self, producer: AIOKafkaProducer, stop: asyncio.Event) -> CameraStats:
        """Capture and publish until ``stop`` is set or the source ends; waits for all acks."""
        c = self.config
        loop = asyncio.get_running_loop()
        self._slot = slot = LatestSlot[CapturedFrame](loop)
        self._reader = reader = SourceReader(
            c.source, slot, loop_file=c.loop_file, realtime=c.realtime, fps=c.fps, max_frames=c.max_frames,
            backoff_s=c.backoff_s,
        )  # fmt: skip
        requirements = c.requirements.for_stream(c.stream_index)
        in_flight = asyncio.Semaphore(c.max_in_flight)
        pending: set[asyncio.Future] = set()
        key = self.stats.stream_id.encode()
        watcher = asyncio.create_task(self._watch_stop(stop, reader, slot))
        reader.start()
        try:
            while True:
                await in_flight.acquire()
                if stop.is_set():
                    break
                if self.before_send is not None:
                    await self.before_send()
                item = await slot.get()
                if item is None:
                    in_flight.release()
                    break
                try:
                    jpeg = await asyncio.to_thread(encode_jpeg, item.image, c.jpeg_quality, c.size)
                    a_req, d_req = requirements.draw()
                    meta = FrameMeta(self.stats.stream_id, item.num, item.capture_time, a_req, d_req, None)
                    value, headers = encode_frame(Frame(meta, jpeg), self.topology.max_frame_bytes)
                except MessageError as exc:
                    self.stats.skipped += 1
                    in_flight.release()
                    log.warning("camera stream=%s frame=%d skipped: %s", self.stats.stream_id, item.num, exc)
                    continue
                fut = await producer.send(self.topology.frames.name, value, key=key, headers=headers)
                self.stats.sent += 1
                self.stats.bytes += len(value)
                pending.add(fut)
                self.stats.max_in_flight_seen = max(self.stats.max_in_flight_seen, len(pending))
                fut.add_done_callback(lambda f: self._acked(f, pending, in_flight))
        finally:
            reader.stop()
            slot.close(discard=True)
            watcher.cancel()
            if pending:  # flush: wait for the acks of what was sent (bounded if the broker is gone)
                await asyncio.wait(pending, timeout=30.0)
            await asyncio.to_thread(reader.join, 5.0)
            self._sync_counters()
        return self.stats

    def _acked(self, fut: asyncio.Future, pending: set, in_flight: asyncio.Semaphore) -> None:
        pending.discard(fut)
        in_flight.release()
        if fut.cancelled() or fut.exception() is not None:
            self.stats.failed += 1
            log.warning("camera stream=%s delivery failed: %s", self.stats.stream_id, fut)
        else:
            self.stats.delivered += 1

    @staticmethod
    async def _watch_stop(stop: asyncio.Event, reader: SourceReader, slot: LatestSlot) -> None:
        await stop.wait()
        reader.stop()
        slot.close(discard=True)

    def progress(self) -> CameraStats:
        """Current counters (safe to call while running)."""
        self._sync_counters()
        return self.stats


async def run_gateways(
    configs: list[CameraConfig],
    *,
    bootstrap: str,
    topology: Topology,
    stop: asyncio.Event | None = None,
    progress_interval_s: float = 5.0,
    before_send: Callable[[], Awaitable[None]] | None = None,
) -> list[CameraStats]:
    """Run one gateway per config on one shared producer; returns each camera's stats."""
    ids = [c.resolved_stream_id for c in configs]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"stream ids must be distinct, got {', '.join(ids)}")
    stop = stop or asyncio.Event()
    gateways = [CameraGateway(c, topology, before_send=before_send) for c in configs]
    producer = create_frame_producer(bootstrap, topology, linger_ms=0)
    await start_client(producer, bootstrap)

    async def report() -> None:
        while True:
            await asyncio.sleep(progress_interval_s)
            for g in gateways:
                log.info("camera progress %s", g.progress().line())

    reporter = asyncio.create_task(report())
    started = time.monotonic()
    tasks = [asyncio.create_task(g.run(producer, stop)) for g in gateways]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        if any(t.exception() is not None for t in done):
            stop.set()  # one camera failed: stop the others cleanly, then report the failure
        await asyncio.wait(tasks)
        return [t.result() for t in tasks]
    finally:
        reporter.cancel()
        await producer.stop()
        log.info("cameras stopped after %.1f s", time.monotonic() - started)
