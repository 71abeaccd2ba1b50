"""Frame capture for camera gateways: an OpenCV reader thread feeding a one-slot holder.

The reader thread owns the ``cv2.VideoCapture`` (a video file, an RTSP/HTTP URL or a
device index) and puts every frame into a :class:`LatestSlot`, which holds at most one
frame: a frame not yet taken when the next one arrives is overwritten and counted as
dropped. So when the network or the broker is slower than the camera the gateway always
sends the newest frame and memory stays bounded. When a network stream or a device fails
(cannot open, read error, stream ends) the reader reopens it with exponential backoff. A
file is never retried: :func:`check_source` refuses a missing path, a directory, a still
image and anything OpenCV cannot open as video up front, and a file that vanishes later
ends its capture; at its end a video file either loops or ends the capture.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import cv2
import numpy as np

from cdio_stream.errors import ConfigError

__all__ = ["LatestSlot", "CapturedFrame", "SourceReader", "source_kind", "default_stream_id", "check_source"]

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


def check_source(source: str | int, *, allow_still_image: bool = False) -> None:
    """Raise a one-line ConfigError for a file source that can never deliver video.

    Network URLs and devices are not checked here: they may come up later, so the reader
    retries them. A still image is refused unless ``allow_still_image`` (it would publish
    one frame, or the same frame forever with ``--loop``).
    """
    if source_kind(source) != "file":
        return
    path = Path(str(source))
    if not path.exists():
        raise ConfigError(f"camera source {source}: file not found")
    if path.is_dir():
        raise ConfigError(f"camera source {source}: is a directory, not a video file")
    if cv2.haveImageReader(str(path)) and not allow_still_image:
        raise ConfigError(
            f"camera source {source}: is a still image, not a video (pass --still-image to publish it)"
        )
    with _native_stderr_silenced():  # FFmpeg's own "moov atom not found" etc.: we say it in one line
        cap = cv2.VideoCapture(str(path))
        try:
            readable = cap.isOpened() and cap.read()[0]
        finally:
            cap.release()
    if not readable:
        raise ConfigError(f"camera source {source}: OpenCV cannot open it as video")


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null: C libraries write there, not to ``sys.stderr``."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


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
                if cap is None and self.kind == "file":
                    log.error("camera source=%s: cannot open the file; capture ends", self.source)
                    return
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
