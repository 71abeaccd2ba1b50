"""``cdio-stream camera``: camera gateways that publish live frames to the frames topic.

Examples::

    cdio-stream --bootstrap localhost:9092 camera rtsp://10.0.0.5/stream1 --size 960x540
    cdio-stream --bootstrap localhost:9092 camera 0 1 --quality 80        # two USB cameras
    cdio-stream --bootstrap localhost:9092 camera street.avi --loop       # a file as a camera

Each source gets its own stream id (``--stream-id``, else derived from the source). When
the broker or network is slower than the camera, the newest frame wins and the others are
counted as dropped; a failing network stream or device is reopened with backoff. A file
source that is missing, a directory, a still image (unless ``--still-image``) or not
video to OpenCV is refused at once (exit 2). Ctrl-C stops, waits for
the acknowledgements of what was sent and prints one summary line per camera (exit 130).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from cdio_stream.cli.accuracy_range import PAPER_RANGE, add_accuracy_range, resolve_accuracy_range
from cdio_stream.errors import ConfigError
from cdio_stream.settings import Settings

__all__ = ["register", "run"]


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 960x540, got {text!r}") from None
    return w, h


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("camera", help="run camera gateways (video file, RTSP/HTTP URL, device index)")
    p.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="video file, rtsp:// or http:// URL, or device index"
    )
    p.add_argument(
        "--stream-id", action="append", help="stream id per source, in order (default: from source)"
    )
    p.add_argument("--quality", type=int, default=90, help="JPEG quality 1-100 (default 90)")
    p.add_argument("--size", type=_size, help="resize frames to WxH, e.g. 960x540 (default: source size)")
    p.add_argument("--loop", action="store_true", help="restart video files at their end")
    p.add_argument(
        "--still-image", action="store_true", help="accept a still image file as a source (one frame)"
    )
    p.add_argument("--no-realtime", action="store_true", help="read video files as fast as possible")
    p.add_argument("--fps", type=float, help="pace video files at this rate (default: the file's)")
    p.add_argument("--max-frames", type=int, help="stop each camera after capturing this many frames")
    p.add_argument("--max-in-flight", type=int, default=2, help="unacknowledged sends per camera (default 2)")
    add_accuracy_range(p, PAPER_RANGE)
    p.add_argument("--delay-range", nargs=2, type=float, default=[0.2, 0.6], metavar=("LO", "HI"))
    p.add_argument("--seed", type=int, default=0, help="seed of the requirement sampling (default 0)")
    p.add_argument("--progress-interval", type=float, default=5.0, help="seconds between progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cdio_stream.data.camera import CameraConfig, run_gateways
    from cdio_stream.data.camera_source import check_source
    from cdio_stream.data.requirements import RequirementSampler

    for src in args.sources:
        check_source(src, allow_still_image=args.still_image)
    if not settings.bootstrap:
        raise ConfigError("camera needs a broker: pass --bootstrap or set CDIO_KAFKA_BOOTSTRAP")
    ids = args.stream_id or [None] * len(args.sources)
    if len(ids) != len(args.sources):
        raise ConfigError(f"got {len(ids)} --stream-id for {len(args.sources)} sources")
    a_range = resolve_accuracy_range(args.accuracy_range, settings)
    sampler = RequirementSampler(a_range, tuple(args.delay_range), seed=args.seed)
    configs = [
        CameraConfig(
            source=int(src) if src.isdigit() else src,
            stream_id=sid,
            jpeg_quality=args.quality,
            size=args.size,
            loop_file=args.loop,
            realtime=not args.no_realtime,
            fps=args.fps,
            max_frames=args.max_frames,
            max_in_flight=args.max_in_flight,
            requirements=sampler,
            stream_index=i,
        )
        for i, (src, sid) in enumerate(zip(args.sources, ids, strict=True))
    ]
    topology = settings.topology()
    print(
        f"cameras -> {topology.frames.name}: " + ", ".join(c.resolved_stream_id for c in configs), flush=True
    )

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            print("stopping cameras ...", flush=True)
            stop.set()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        stats = await run_gateways(
            configs,
            bootstrap=settings.bootstrap,
            topology=topology,
            stop=stop,
            progress_interval_s=args.progress_interval,
        )
        for s in stats:
            print(s.line())
        return 130 if stop.is_set() else (1 if any(s.failed for s in stats) else 0)

    return asyncio.run(main())
