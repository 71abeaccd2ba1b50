"""Replay a UA-DETRAC-layout dataset into the frames topic, one stream per sequence.

Each stream publishes its sequence's JPEG files unchanged (no re-encoding) as
:class:`~cdio_stream.messages.Frame` messages keyed by stream id (so a stream stays on one
partition, in order), paced at ``fps`` per stream or as fast as possible (``fps=0``).
Every frame carries sampled requirements A^q and D^q (:mod:`cdio_stream.data.requirements`)
and, when the sequence has an annotation file, a ground-truth reference
``"<sequence>/<frame>"`` that :meth:`DetracDataset.ground_truth` resolves on the same
dataset directory. ``frame_no`` is the dataset's frame number (plus a per-loop offset
when a sequence is replayed several times).

Stopping (``stop`` event set, e.g. on Ctrl-C) ends every stream after its current frame;
the producer is then flushed, so every frame counted as sent was acknowledged or counted
as failed. :class:`ReplayStats` holds the counters and renders the summary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer

from cdio_stream.data.detrac import DetracDataset, FrameRef, gt_ref
from cdio_stream.data.requirements import RequirementSampler
from cdio_stream.errors import ConfigError, MessageError
from cdio_stream.kafka.connect import start_client
from cdio_stream.messages import Frame, FrameMeta, encode_frame
from cdio_stream.topology import Topology

__all__ = [
    "ReplayConfig",
    "StreamPlan",
    "StreamStats",
    "ReplayStats",
    "plan_streams",
    "replay",
    "create_frame_producer",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayConfig:
    """How to replay: rate per stream (0 = as fast as possible), repeats, limits, requirements."""

    fps: float = 25.0
    loops: int = 1
    max_frames: int | None = None  # per stream, over all loops
    requirements: RequirementSampler = field(default_factory=RequirementSampler)
    progress_interval_s: float = 2.0
    linger_ms: int = 5

    def __post_init__(self) -> None:
        if self.fps < 0:
            raise ConfigError(f"fps must be >= 0 (0 = as fast as possible), got {self.fps}")
        if self.loops < 1:
            raise ConfigError(f"loops must be >= 1, got {self.loops}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ConfigError(f"max_frames must be >= 1, got {self.max_frames}")


@dataclass(frozen=True)
class StreamPlan:
    """One stream: its id, the sequence it replays, the frames that have an image."""

    stream_id: str
    sequence: str
    frames: tuple[FrameRef, ...]
    has_ground_truth: bool


def plan_streams(dataset: DetracDataset, streams: int | list[str] | None = None) -> list[StreamPlan]:
    """Streams to replay: every sequence (None), the first N, or the named sequences.

    Asking for more streams than there are sequences reuses sequences round-robin under
    ids ``<sequence>.<k>`` (k = 2, 3, ...), e.g. to load-test with the 1-sequence sample.
    """
    if isinstance(streams, list):
        names = list(streams)
        for name in names:
            _ = dataset[name]  # raises DatasetError naming what is available
    else:
        available = [s.name for s in dataset if s.images]
        if not available:
            raise ConfigError(f"no sequence under {dataset.root} has images to replay")
        count = len(available) if streams is None else streams
        if count < 1:
            raise ConfigError(f"number of streams must be >= 1, got {count}")
        names = [available[i % len(available)] for i in range(count)]
    plans, seen = [], {}
    for name in names:
        seq = dataset[name]
        seen[name] = seen.get(name, 0) + 1
        frames = tuple(seq.iter_images())
        if not frames:
            raise ConfigError(f"sequence {name} has no images to replay")
        stream_id = name if seen[name] == 1 else f"{name}.{seen[name]}"
        plans.append(StreamPlan(stream_id, name, frames, has_ground_truth=seq.xml_path is not None))
    return plans


@dataclass
class StreamStats:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0  # unreadable or invalid JPEG files
    bytes: int = 0
    max_lag_s: float = 0.0


@dataclass
class ReplayStats:
    """Counters of a replay; ``delivered`` counts broker acknowledgements."""

    streams: dict[str, StreamStats] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    interrupted: bool = False

    def total(self, attr: str) -> float:
        return sum(getattr(s, attr) for s in self.streams.values())

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate_fps(self) -> float:
        return self.total("delivered") / max(self.elapsed_s, 1e-9)

    def summary(self) -> str:
        lines = [
            f"{'stream':16s} {'sent':>7s} {'acked':>7s} {'failed':>6s} {'skipped':>7s} {'MB':>8s} {'max lag s':>9s}"
        ]
        for sid, s in self.streams.items():
            lines.append(
                f"{sid:16s} {s.sent:7d} {s.delivered:7d} {s.failed:6d} {s.skipped:7d} "
                f"{s.bytes / 1e6:8.2f} {s.max_lag_s:9.3f}"
            )
        lines.append(
            f"{'total':16s} {int(self.total('sent')):7d} {int(self.total('delivered')):7d} "
            f"{int(self.total('failed')):6d} {int(self.total('skipped')):7d} {self.total('bytes') / 1e6:8.2f}"
        )
        state = "interrupted" if self.interrupted else "done"
        lines.append(
            f"{state}: {int(self.total('delivered'))} frames in {self.elapsed_s:.2f} s = {self.rate_fps:.1f} frames/s, "
            f"{self.total('bytes') * 8 / max(self.elapsed_s, 1e-9) / 1e6:.1f} Mbit/s"
        )
        return "\n".join(lines)


def create_frame_producer(bootstrap: str, topology: Topology, *, linger_ms: int = 5) -> AIOKafkaProducer:
    """An (unstarted) producer sized for frames: requests up to the topology's message limit."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        max_request_size=topology.max_message_bytes,
        max_batch_size=1 << 20,  # several JPEG frames per batch when sending fast
        linger_ms=linger_ms,
        client_id="cdio-replay",
    )


async def replay(
    plans: list[StreamPlan],
    *,
    bootstrap: str,
    topology: Topology,
    config: ReplayConfig = ReplayConfig(),  # noqa: B008 - frozen dataclass, safe as a default
    stop: asyncio.Event | None = None,
    on_progress: Callable[[ReplayStats], None] | None = None,
) -> ReplayStats:
    """Publish the planned streams concurrently; returns when all are done or ``stop`` is set."""
    stop = stop or asyncio.Event()
    stats = ReplayStats(streams={p.stream_id: StreamStats() for p in plans})
    producer = create_frame_producer(bootstrap, topology, linger_ms=config.linger_ms)
    await start_client(producer, bootstrap)
    reporter = asyncio.create_task(_report(stats, config.progress_interval_s, on_progress))
    try:
        tasks = [
            asyncio.create_task(
                _stream(producer, topology, plan, i, config, stop, stats.streams[plan.stream_id])
            )
            for i, plan in enumerate(plans)
        ]
        await asyncio.gather(*tasks)
    finally:
        stats.interrupted = stop.is_set()
        try:
            await producer.flush()
        finally:
            await producer.stop()
            reporter.cancel()
            stats.finished = time.monotonic()
    return stats


async def _stream(
    producer: AIOKafkaProducer,
    topology: Topology,
    plan: StreamPlan,
    index: int,
    config: ReplayConfig,
    stop: asyncio.Event,
    st: StreamStats,
) -> None:
    loop = asyncio.get_running_loop()
    requirements = config.requirements.for_stream(index)
    period = 1.0 / config.fps if config.fps > 0 else 0.0
    key = plan.stream_id.encode()
    offset = max(ref.num for ref in plan.frames)
    t0 = loop.time()
    n = 0
    for rep in range(config.loops):
        for ref in plan.frames:
            if stop.is_set() or (config.max_frames is not None and n >= config.max_frames):
                return
            due = t0 + n * period
            n += 1
            if period:
                wait = due - loop.time()
                if wait > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), wait)
                        return
                    except TimeoutError:
                        pass
                st.max_lag_s = max(st.max_lag_s, loop.time() - due)
            try:
                jpeg = Path(str(ref.image)).read_bytes()  # planned frames all have an image
                a_req, d_req = requirements.draw()
                meta = FrameMeta(
                    stream_id=plan.stream_id,
                    frame_no=ref.num + rep * offset,
                    capture_time=time.time(),
                    a_req=a_req,
                    d_req=d_req,
                    gt_ref=gt_ref(plan.sequence, ref.num) if plan.has_ground_truth else None,
                )
                value, headers = encode_frame(Frame(meta, jpeg), topology.max_frame_bytes)
            except (OSError, MessageError) as exc:
                st.skipped += 1
                log.warning(
                    "replay skip stream=%s frame=%d file=%s reason=%s",
                    plan.stream_id,
                    ref.num,
                    ref.image,
                    exc,
                )
                continue
            fut = await producer.send(topology.frames.name, value, key=key, headers=headers)
            st.sent += 1
            st.bytes += len(value)
            fut.add_done_callback(lambda f, st=st: _acked(f, st))
            if not period and n % 32 == 0:
                await asyncio.sleep(0)  # let other streams and acks run when unpaced


def _acked(fut: asyncio.Future, st: StreamStats) -> None:
    if fut.cancelled() or fut.exception() is not None:
        st.failed += 1
        if not fut.cancelled():
            log.warning("replay delivery failed: %s", fut.exception())
    else:
        st.delivered += 1


async def _report(
    stats: ReplayStats, interval: float, on_progress: Callable[[ReplayStats], None] | None
) -> None:
    last_n, last_t = 0, time.monotonic()
    while True:
        await asyncio.sleep(interval)
        now, n = time.monotonic(), int(stats.total("delivered"))
        lag = max((s.max_lag_s for s in stats.streams.values()), default=0.0)
        log.info(
            "replay progress sent=%d acked=%d rate=%.1f fps max_lag=%.3f s",
            int(stats.total("sent")),
            n,
            (n - last_n) / max(now - last_t, 1e-9),
            lag,
        )
        last_n, last_t = n, now
        if on_progress is not None:
            on_progress(stats)
