"""``cdio-stream replay``: publish a UA-DETRAC-layout dataset into the frames topic.

Examples::

    cdio-stream --bootstrap localhost:9092 replay runs/synth --fps 25
    cdio-stream --bootstrap localhost:9092 replay ../shared/datasets/ua-detrac-sample --streams 4 --fps 0

Progress is logged every few seconds (frames sent and acknowledged, rate, lag behind the
schedule); a summary table ends the run. Ctrl-C (or SIGTERM) stops every stream, flushes
what was sent, prints the summary and exits with 130.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from cdio_stream.cli.accuracy_range import PAPER_RANGE, add_accuracy_range, resolve_accuracy_range
from cdio_stream.errors import ConfigError
from cdio_stream.settings import Settings

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("replay", help="replay a UA-DETRAC-layout dataset into the frames topic")
    p.add_argument("dataset", type=Path, help="dataset directory (UA-DETRAC split layout or flat)")
    p.add_argument(
        "--fps", type=float, default=25.0, help="frames per second per stream; 0 = as fast as possible"
    )
    p.add_argument(
        "--streams",
        nargs="+",
        metavar="N|SEQ",
        help="a number of streams (sequences reused round-robin if fewer) or sequence names; default: all",
    )
    p.add_argument("--loops", type=int, default=1, help="replay each sequence this many times (default 1)")
    p.add_argument("--max-frames", type=int, help="stop each stream after this many frames")
    add_accuracy_range(p, PAPER_RANGE)
    p.add_argument(
        "--delay-range", nargs=2, type=float, default=[0.2, 0.6], metavar=("LO", "HI"),
        help="D^q range in seconds (default 0.2 0.6, paper 4.2.1)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the requirement sampling (default 0)")
    p.add_argument("--progress-interval", type=float, default=2.0, help="seconds between progress lines")
    p.set_defaults(func=run)


def _streams(values: list[str] | None) -> int | list[str] | None:
    if not values:
        return None
    if len(values) == 1 and values[0].isdigit():
        return int(values[0])
    return values


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cdio_stream.data.detrac import DetracDataset
    from cdio_stream.data.replay import ReplayConfig, plan_streams, replay
    from cdio_stream.data.requirements import RequirementSampler

    if not settings.bootstrap:
        raise ConfigError("replay needs a broker: pass --bootstrap or set CDIO_KAFKA_BOOTSTRAP")
    config = ReplayConfig(
        fps=args.fps,
        loops=args.loops,
        max_frames=args.max_frames,
        requirements=RequirementSampler(
            accuracy_range=resolve_accuracy_range(args.accuracy_range, settings),
            delay_range=tuple(args.delay_range),
            seed=args.seed,
        ),
        progress_interval_s=args.progress_interval,
    )
    plans = plan_streams(DetracDataset(args.dataset), _streams(args.streams))
    topology = settings.topology()
    rate = f"{config.fps:g} fps per stream" if config.fps else "as fast as possible"
    print(
        f"replaying {len(plans)} streams into {topology.frames.name} at {rate}: {', '.join(p.stream_id for p in plans)}"
    )

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            print("stopping: flushing what was sent ...", flush=True)
            stop.set()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)  # a second Ctrl-C interrupts hard

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        stats = await replay(plans, bootstrap=settings.bootstrap, topology=topology, config=config, stop=stop)
        print(stats.summary())
        if stats.interrupted:
            return 130
        return 1 if stats.total("failed") else 0

    return asyncio.run(main())
