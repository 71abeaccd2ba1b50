"""Replay throughput: frames/s that ``cdio-stream replay`` puts into a real broker, unpaced.

960x540 JPEG frames (synthetic DETRAC-format sequences, JPEG quality 90, and the real
UA-DETRAC sample looped) are replayed as fast as possible (``--fps 0``) with 1 and 4
concurrent streams; a frame counts when the broker acknowledged it. Each case runs
``--repeats`` times on fresh topics; the table shows the median.

    .venv/bin/python benchmarks/replay_throughput.py [--bootstrap HOST:PORT] [--frames 1200] [--out FILE]

Without ``--bootstrap`` (or CDIO_KAFKA_BOOTSTRAP) a local throwaway KRaft broker is started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdio_stream.data.detrac import DetracDataset  # noqa: E402
from cdio_stream.data.replay import ReplayConfig, plan_streams, replay  # noqa: E402
from cdio_stream.data.synth import SynthConfig, generate_dataset  # noqa: E402
from cdio_stream.kafka.admin import create_topics  # noqa: E402
from cdio_stream.settings import Settings  # noqa: E402

# The real UA-DETRAC sample: CDIO_DETRAC_SAMPLE, else ../shared/datasets/ua-detrac-sample.
SAMPLE = Path(
    os.environ.get("CDIO_DETRAC_SAMPLE")
    or Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "ua-detrac-sample"
)


def run_case(bootstrap: str, settings: Settings, dataset: DetracDataset, streams: int, frames: int) -> dict:
    topology = settings.topology().with_prefix(f"bench{uuid.uuid4().hex[:8]}.")
    asyncio.run(create_topics(bootstrap, topology))
    plans = plan_streams(dataset, streams)
    # warm-up (not timed): fresh topics elect partition leaders while the first sends retry
    warm = ReplayConfig(fps=0.0, max_frames=3, progress_interval_s=3600.0)
    asyncio.run(replay(plans, bootstrap=bootstrap, topology=topology, config=warm))
    per_stream = frames // streams
    loops = -(-per_stream // min(len(p.frames) for p in plans))
    config = ReplayConfig(fps=0.0, loops=loops, max_frames=per_stream, progress_interval_s=3600.0)
    stats = asyncio.run(replay(plans, bootstrap=bootstrap, topology=topology, config=config))
    delivered = int(stats.total("delivered"))
    return {
        "frames": delivered,
        "failed": int(stats.total("failed")),
        "seconds": stats.elapsed_s,
        "frames_per_s": stats.rate_fps,
        "mbit_per_s": stats.total("bytes") * 8 / stats.elapsed_s / 1e6,
        "mean_jpeg_bytes": stats.total("bytes") / max(delivered, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", default=os.environ.get("CDIO_KAFKA_BOOTSTRAP"))
    ap.add_argument("--frames", type=int, default=1200, help="frames per run (default 1200)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--streams", default="1,4", help="comma-separated stream counts (default 1,4)")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "replay_throughput.json"
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # aiokafka retries on fresh topics are expected noise
    settings = Settings.from_env()
    stream_counts = [int(s) for s in args.streams.split(",")]

    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        from cdio_stream.kafka.broker import LocalKafkaBroker

        broker = LocalKafkaBroker(settings.cache_dir)
        broker.start()
        bootstrap = broker.bootstrap
    try:
        with tempfile.TemporaryDirectory() as tmp:
            generate_dataset(tmp, SynthConfig(sequences=4, frames=50, width=960, height=540, seed=0))
            datasets = {"synthetic 960x540": DetracDataset(tmp)}
            if SAMPLE.is_dir():
                datasets["UA-DETRAC sample 960x540"] = DetracDataset(SAMPLE)
            rows = []
            for label, ds in datasets.items():
                for streams in stream_counts:
                    runs = [
                        run_case(bootstrap, settings, ds, streams, args.frames) for _ in range(args.repeats)
                    ]
                    med = statistics.median(r["frames_per_s"] for r in runs)
                    row = {
                        "dataset": label,
                        "streams": streams,
                        "frames_per_s_median": med,
                        "frames_per_s_runs": [r["frames_per_s"] for r in runs],
                        "mbit_per_s_median": statistics.median(r["mbit_per_s"] for r in runs),
                        "mean_jpeg_bytes": runs[0]["mean_jpeg_bytes"],
                        "frames_per_run": runs[0]["frames"],
                        "failed": sum(r["failed"] for r in runs),
                    }
                    rows.append(row)
                    print(
                        f"{label:26s} streams={streams:<2d} {med:8.1f} frames/s "
                        f"{row['mbit_per_s_median']:7.1f} Mbit/s  jpeg {row['mean_jpeg_bytes'] / 1e3:6.1f} kB  "
                        f"runs {', '.join(f'{x:.0f}' for x in row['frames_per_s_runs'])}",
                        flush=True,
                    )
    finally:
        if broker is not None:
            broker.stop()

    print()
    print(f"{'dataset':26s} {'streams':>7s} {'frames/s':>9s} {'Mbit/s':>8s} {'kB/frame':>9s}")
    for r in rows:
        print(
            f"{r['dataset']:26s} {r['streams']:7d} {r['frames_per_s_median']:9.1f} "
            f"{r['mbit_per_s_median']:8.1f} {r['mean_jpeg_bytes'] / 1e3:9.1f}"
        )
    result = {
        "benchmark": "replay_throughput",
        "unit": "frames/s acknowledged by the broker, unpaced replay (--fps 0)",
        "bootstrap": "local KRaft broker" if broker is not None else "external",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
