"""``cdio-stream calibrate``: measure the deployment's detectors and write its calibration.

    cdio-stream calibrate DATASET --out calibration.json [--server edge-1] [--limit N]

Runs the model of each server in topics.yaml (or of the ``--server`` ones) on the frames
of a UA-DETRAC-layout dataset on this machine (``--device``): latency per model, the
per-frame mAP50 distribution where the dataset has ground truth (else the model card's),
and the frames' complexity quantiles and bucket edges (the live feature scale). The
result goes to ``--out`` and, with a broker (``--bootstrap``), to the compacted
calibration topic, merged over the calibration already there (so each node can calibrate
its own servers), where the scheduler reads it at start (or pass it with ``worker
scheduler --calibration FILE``). Run it on the machine that serves those servers.

``--live-results FILE`` (what ``cdio-stream demo --results`` writes: every result of a live
run) adds what only a running pipeline shows (:mod:`cdio_stream.live_calibration`): the
detectors' mean time inside the running deployment, which then wins over the profiled one,
and the pipeline's own latencies (preprocess, scheduling, dispatch, worker overhead), with
which ``cdio-stream simulate --topology topics.yaml --calibration FILE`` models the live
pipeline. Take them from a run on other frames than the ones you simulate.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
from pathlib import Path

from cdio_stream.errors import ConfigError
from cdio_stream.settings import Settings

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("calibrate", help="measure the deployed detectors; write the calibration",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("dataset", type=Path, help="UA-DETRAC-layout dataset directory")
    p.add_argument("--out", type=Path, help="calibration JSON to write")
    p.add_argument("--server", action="append", dest="servers", metavar="ID",
                   help="calibrate only this server (repeatable; default: every server of topics.yaml)")  # fmt: skip
    p.add_argument("--limit", type=int, help="use only the first N frames (dataset order)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--models", type=Path, help="extra model registry YAML (as the workers' --models)")
    p.add_argument("--buckets", type=int, default=4, help="complexity buckets of the bandit (default 4)")
    p.add_argument("--trace", type=Path, help="keep the profiling trace here (resumable)")
    p.add_argument("--fps", type=float, default=25.0,
                   help="frame rate of the trace's capture times (default 25; the demo replays at 2.5)")  # fmt: skip
    p.add_argument("--live-results", type=Path, metavar="RESULTS_JSONL",
                   help="results of a live run (`demo --results`): in-pipeline detector times and the "
                        "pipeline's own latencies")  # fmt: skip
    p.add_argument("--no-publish", action="store_true", help="do not write to the calibration topic")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cdio_stream.calibration import Calibration
    from cdio_stream.data.detrac import DetracDataset
    from cdio_stream.inference.profiler import profile_dataset
    from cdio_stream.inference.registry import load_registry
    from cdio_stream.inference.runner import Detector
    from cdio_stream.system.network import make_links
    from cdio_stream.trace import read_trace

    publish = bool(settings.bootstrap) and not args.no_publish
    if args.out is None and not publish:
        raise ConfigError(
            "calibrate writes nowhere: pass --out FILE and/or --bootstrap (the calibration topic)"
        )
    if args.buckets < 1 or (args.limit is not None and args.limit < 1):
        raise ConfigError(f"--buckets and --limit must be >= 1, got {args.buckets}, {args.limit}")
    topology = settings.topology()
    servers = [topology.server(sid) for sid in args.servers] if args.servers else list(topology.servers)
    registry = load_registry(args.models)
    models = sorted({s.model for s in servers})
    detectors = {m: Detector(registry.spec(m), settings=settings, device=args.device) for m in models}
    dataset = DetracDataset(args.dataset)
    with tempfile.TemporaryDirectory(prefix="cdio-calibrate-") as tmp:
        trace_path = args.trace or Path(tmp) / "trace.jsonl"
        profile_dataset(dataset, detectors, trace_path, limit=args.limit, fps=args.fps)
        frames = read_trace(trace_path)
    if not frames:
        raise ConfigError(f"{args.dataset}: no frames to calibrate on")
    device = f"{args.device} on {platform.node() or 'this machine'}"
    source = (f"cdio-stream calibrate {args.dataset} ({len(frames)} frames, models {', '.join(models)}, "
              f"{device})")  # fmt: skip
    cal = Calibration.from_trace(frames, servers=servers, device=device, n_buckets=args.buckets,
                                 links=make_links(topology.servers), source=source)  # fmt: skip
    cal = Calibration.from_cards(registry, models, base=cal)  # models without ground truth here
    if args.live_results is not None:
        cal = _with_live_results(cal, args.live_results, topology, frames)
    if publish:
        from cdio_stream.kafka.calibration_topic import publish_calibration, read_calibration

        topic = topology.calibration.name
        old = asyncio.run(read_calibration(settings.bootstrap, topic))
        cal = old.merged(cal) if old is not None else cal
        asyncio.run(publish_calibration(settings.bootstrap, topic, cal))
        print(f"published to {topic}", file=sys.stderr)
    if args.out is not None:
        cal.save(args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    _print(cal, servers)
    return 0


def _with_live_results(cal, path: Path, topology, frames):
    from cdio_stream.errors import MessageError
    from cdio_stream.jsonl import iter_jsonl
    from cdio_stream.live_calibration import calibration_from_results
    from cdio_stream.messages import decode_result

    def parse(line: bytes):
        try:
            return decode_result(line)
        except MessageError as exc:  # reported with the file and line by iter_jsonl
            raise ValueError(str(exc)) from None

    results = list(iter_jsonl(path, parse, "result"))
    return calibration_from_results(results, topology.servers, base=cal, profiled=frames,
                                    source=f"live results {path}")  # fmt: skip


def _print(cal, servers) -> None:
    print(f"{cal.complexity_frames} frames; complexity edges "
          + ", ".join(f"{e:.5f}" for e in cal.complexity_edges)
          + (f"; median {cal.complexity_median:.5f}" if cal.complexity_median is not None else ""))  # fmt: skip
    print(f"{'server':<10}{'model':<14}{'latency ms':>11}{'p90 ms':>8}{'mAP50 mean':>11}{'p50':>7}{'p90':>7}"
          f"{'frames':>7}{'link Mbps':>10}")  # fmt: skip
    for s in servers:
        prior = cal.model(s)
        dist = (prior.per_frame_map50 if prior else None) or {}

        def ms(v):
            return "-" if v is None else f"{v * 1000:.1f}"

        def num(v):
            return "-" if v is None else f"{v:.1f}"

        link = cal.link_bps(s)
        print(f"{s.id:<10}{s.model:<14}{ms(cal.inference_s(s)):>11}{ms(prior.inference_p90_s if prior else None):>8}"
              f"{num(cal.accuracy(s)):>11}{num(dist.get('p50')):>7}{num(dist.get('p90')):>7}"
              f"{dist.get('frames', '-'):>7}{num(None if link is None else link / 1e6):>10}")  # fmt: skip
