"""Frame capture for camera gateways: an OpenCV reader thread feeding a one-slot holder.

The reader thread owns the ``cv2.VideoCapture`` (a video file, an RTSP/HTTP URL or a
device index) and puts every frame into a :class:`LatestSlot`, which holds at most one
frame: a frame not yet taken when the next one arrives is overwritten and counted as
dropped. So when the network or the broker is slower than the camera the gateway always
sends the newest frame and memory stays bounded. When the source fails (cannot open, read
error, stream ends) the reader reopens it with exponential backoff; a video file either
loops or ends the capture.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import cv2
import numpy as np

__all__ = ["LatestSlot", "CapturedFrame", "SourceReader", "source_kind", "default_stream_id"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A one-item mailbox from a thread to an asyncio task that keeps only the newest item.

    ``put`` (any thread) never blocks; it overwrites an untaken item and counts it in
    ``dropped``. ``get`` (event loop) waits for an item; after :meth:`close` it returns the
    last item, then ``None``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._item: T | None = None
        self._closed = False
        self._ready = asyncio.Event()
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store ``item``; returns True when it replaced an item that was never taken."""
        with self._lock:
            if self._closed:
                return False
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
        self._loop.call_soon_threadsafe(self._ready.set)
        return replaced

    def close(self, *, discard: bool = False) -> None:
        """No more items; with ``discard`` an untaken item is dropped (counted) too."""
        with self._lock:
            self._closed = True
            if discard and self._item is not None:
                self._item = None
                self.dropped += 1
        self._loop.call_soon_threadsafe(self._ready.set)

    async def get(self) -> T | None:
        while True:
            with self._lock:
                item, self._item = self._item, None
                closed = self._closed
                if item is None and not closed:
                    self._ready.clear()
            if item is not None or closed:
                return item
            await self._ready.wait()


@dataclass(frozen=True)
class CapturedFrame:
    num: int  # 1-based count of frames captured from this source
    capture_time: float  # unix seconds when it was read
    image: np.ndarray  # BGR


def source_kind(source: str | int) -> str:
    """``"device"`` (an index), ``"url"`` (rtsp://, http://, ...) or ``"file"``."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return "device"
    return "url" if "://" in source else "file"


def default_stream_id(source: str | int) -> str:
    """A readable stream id from a source: ``cam0``, ``traffic`` (file stem), ``host-path`` (URL)."""
    kind = source_kind(source)
    if kind == "device":
        return f"cam{int(source)}"
    text = Path(str(source)).stem if kind == "file" else str(source).split("://", 1)[1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "camera"


class SourceReader(threading.Thread):
    """Reads a source into a :class:`LatestSlot` until stopped, the file ends, or ``max_frames``.

    ``realtime`` paces a file at its own frame rate (or ``fps``), as a camera would deliver
    it; devices and URLs deliver at their own pace. Counters: ``captured``, ``reconnects``.
    """

    def __init__(
        self,
        source: str | int,
        slot: LatestSlot[CapturedFrame],
        *,
        loop_file: bool = False,
        realtime: bool = True,
        fps: float | None = None,
        max_frames: int | None = None,
        backoff_s: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        super().__init__(name=f"camera-reader-{source}", daemon=True)
        self.source = source
        self.kind = source_kind(source)
        self.slot = slot
        self.loop_file = loop_file
        self.realtime = realtime
        self.fps = fps
        self.max_frames = max_frames
        self.backoff_s = backoff_s
        self.stop_event = threading.Event()
        self.captured = 0
        self.reconnects = 0
        self.ended = threading.Event()  # set when the reader has stopped for good

    def stop(self) -> None:
        self.stop_event.set()

    def _open(self) -> cv2.VideoCapture | None:
        if self.kind == "device":
            cap = cv2.VideoCapture(int(self.source))
        elif self.kind == "file" and not Path(str(self.source)).is_file():
            return None
        else:
            cap = cv2.VideoCapture(str(self.source))
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def run(self) -> None:
        delay = self.backoff_s[0]
        try:
            while not self.stop_event.is_set():
                cap = self._open()
                if cap is None:
                    self.reconnects += 1
                    log.warning("camera source=%s unavailable; retry in %.1f s", self.source, delay)
                    self.stop_event.wait(delay)
                    delay = min(delay * 2, self.backoff_s[1])
                    continue
                delay = self.backoff_s[0]
                try:
                    outcome = self._read(cap)
                finally:
                    cap.release()
                if outcome == "done":
                    return
                if outcome == "eof" and not self.loop_file:
                    log.info("camera source=%s ended after %d frames", self.source, self.captured)
                    return
                if outcome == "failed":
                    self.reconnects += 1
                    log.warning("camera source=%s read failed; reconnect in %.1f s", self.source, delay)
                    self.stop_event.wait(delay)
                    delay = min(delay * 2, self.backoff_s[1])
        finally:
            self.slot.close()
            self.ended.set()

    def _read(self, cap: cv2.VideoCapture) -> str:
        """Read until stop ("done"), end of file ("eof") or a read error ("failed")."""
        fps = self.fps or cap.get(cv2.CAP_PROP_FPS) or 25.0
        period = 1.0 / fps if (self.realtime and self.kind == "file") else 0.0
        next_t = time.monotonic()
        while not self.stop_event.is_set():
            ok, image = cap.read()
            if not ok or image is None:
                return "eof" if self.kind == "file" else "failed"
            self.captured += 1
            self.slot.put(CapturedFrame(self.captured, time.time(), image))
            if self.max_frames is not None and self.captured >= self.max_frames:
                return "done"
            if period:
                next_t += period
                wait = next_t - time.monotonic()
                if wait > 0:
                    self.stop_event.wait(wait)
                else:
                    next_t = time.monotonic()  # behind schedule: do not try to catch up
        return "done"
