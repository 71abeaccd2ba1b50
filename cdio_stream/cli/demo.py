"""``cdio-stream demo``: the whole pipeline on this machine, end to end.

Starts a throwaway Kafka broker (or uses --bootstrap), creates the topics, starts every
worker (preprocess, scheduler with CDIO, one inference worker per server of topics.yaml:
4 edge + 1 cloud, sink), replays a synthetic DETRAC-format dataset (or a real UA-DETRAC
directory with --dataset), shows progress, and prints the paper's metrics for the run.
Everything it started is stopped again, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from pathlib import Path

from cdio_stream.cli.accuracy_range import add_accuracy_range, resolve_accuracy_range
from cdio_stream.errors import CdioError, ConfigError
from cdio_stream.pipeline.shedding import DEFAULT_SHED, SHED_MODES
from cdio_stream.settings import Settings

__all__ = ["register", "run"]

log = logging.getLogger(__name__)

DEMO_SYNTH_SEED = 1000  # synthetic scenes of the demo: seeds 1000 + --seed


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="run the whole pipeline on a local throwaway broker and print metrics"
    )
    p.add_argument(
        "--dataset", type=Path, help="UA-DETRAC-layout directory (default: generate a synthetic one)"
    )
    p.add_argument(
        "--sequences", type=int, default=4, help="synthetic sequences = camera streams (default 4)"
    )
    p.add_argument("--frames", type=int, default=40, help="frames per stream (default 40)")
    p.add_argument(
        "--fps", type=float, default=2.5, help="replay rate per stream (default 2.5; 0 = flat out)"
    )
    p.add_argument("--policy", default="cdio", help="scheduling policy (default cdio)")
    p.add_argument("--calibration", type=Path,
                   help="the scheduler's calibration file (`cdio-stream calibrate --out`; default: the shipped one)")  # fmt: skip
    add_accuracy_range(p, ("auto",))
    p.add_argument("--reference-rate", type=float,
                   help="the scheduler's reference-run compute budget (default: the worker's, 0.05; 0 turns "
                        "reference runs off)")  # fmt: skip
    p.add_argument("--bandwidth", choices=["stable", "fluctuating"], default="stable")
    p.add_argument(
        "--shed",
        choices=SHED_MODES,
        default=DEFAULT_SHED,
        help="'late': scheduler and inference workers expire tasks that can no longer meet D^q "
        f"(counted as delay failures) instead of inferring them (default {DEFAULT_SHED})",
    )
    p.add_argument(
        "--inference-batch", type=int, default=1, help="most assignments per detector call (default 1)"
    )
    p.add_argument(
        "--inference-batch-ms",
        type=float,
        default=10.0,
        help="longest wait to fill an inference batch (default 10 ms; only with --inference-batch > 1)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=480.0, help="give up waiting for results after N s")
    p.add_argument(
        "--worker-threads", type=int, default=1, help="torch threads per worker process (default 1)"
    )
    p.add_argument("--logs", type=Path, help="folder for worker logs (default: <cache>/demo-logs/<run>)")
    p.add_argument("--json", type=Path, help="also write the run's metrics to this JSON file")
    p.add_argument(
        "--results",
        type=Path,
        help="also write every result, as the results topic carries it, to this JSON Lines file",
    )
    p.add_argument(
        "--dashboard",
        action="store_true",
        help="serve the live dashboard from the sink, print its URL, open it in a browser, "
        "and keep it up after the run until Ctrl-C",
    )
    p.add_argument(
        "--dashboard-port", type=int, default=0, help="port of the dashboard (default: any free port)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agents.sink import SinkOptions
    from cdio_stream.cli.deployment import pipeline_workers
    from cdio_stream.kafka.admin import create_topics
    from cdio_stream.kafka.broker import LocalKafkaBroker
    from cdio_stream.pipeline.launcher import Launcher
    from cdio_stream.pipeline.run import ResultCollector

    if args.dataset is not None:  # before any broker or worker starts: fail in seconds
        from cdio_stream.data.detrac import DetracDataset

        given = DetracDataset(args.dataset)
        print(f"dataset {args.dataset}: {len(given)} sequences, {given.validate()} images", flush=True)
    if args.reference_rate is not None and not 0.0 <= args.reference_rate <= 1.0:
        raise ConfigError(f"--reference-rate must be in [0, 1], got {args.reference_rate}")
    if args.calibration is not None:  # a bad file stops here, not in the scheduler's log
        from cdio_stream.calibration import load_calibration

        print(f"calibration {args.calibration}: {load_calibration(args.calibration).source}", flush=True)
    a_range = resolve_accuracy_range(args.accuracy_range, settings)
    how = " (auto: edge model's median .. cloud model's 90th percentile per-frame mAP50, from their cards)"
    print(f"accuracy requirements A^q ~ U[{a_range[0]:g}, {a_range[1]:g}] mAP50 %"
          f"{how if args.accuracy_range == ['auto'] else ''}", flush=True)  # fmt: skip
    run_id = time.strftime("%Y%m%d-%H%M%S")
    with contextlib.ExitStack() as stack:
        if settings.bootstrap:
            # A shared cluster: keep this run's topics apart from everything else on it.
            settings = replace(settings, topic_prefix=settings.topic_prefix or f"cdio-demo-{run_id}.")
        else:
            print("starting a local Kafka broker ...", flush=True)
            broker = stack.enter_context(LocalKafkaBroker(settings.cache_dir))
            settings = replace(settings, bootstrap=broker.bootstrap)
            print(f"Kafka broker at {broker.bootstrap}", flush=True)
        topology = settings.topology()
        asyncio.run(create_topics(settings.bootstrap, topology))
        print(f"topics created ({len(topology.all_topics())}, prefix {topology.prefix!r})", flush=True)

        dataset = args.dataset or _synthetic_dataset(settings, args)
        logs = args.logs or settings.cache_dir / "demo-logs" / run_id
        launcher = Launcher(replace(settings, torch_threads=args.worker_threads), logs)
        stack.callback(launcher.stop_all)
        specs = pipeline_workers(
            topology,
            policy=args.policy,
            dataset=dataset,
            bandwidth=args.bandwidth,
            seed=args.seed,
            sink=SinkOptions(dashboard_port=args.dashboard_port if args.dashboard else None),
            shed=args.shed,
            inference_batch=args.inference_batch,
            inference_batch_ms=args.inference_batch_ms,
            calibration=args.calibration,
            **({} if args.reference_rate is None else {"reference_rate": args.reference_rate}),
        )
        for spec in specs:
            launcher.start(spec)
        print(f"starting {len(specs)} workers (logs in {logs}) ...", flush=True)
        ready_s = launcher.wait_ready(timeout_s=args.timeout)
        print(f"all workers ready in {ready_s:.0f} s: {', '.join(s.name for s in specs)}", flush=True)
        if args.dashboard:
            _open_dashboard(launcher)

        collector = ResultCollector(settings.bootstrap, topology, keep_results=args.results is not None)
        t0 = time.monotonic()
        stats = asyncio.run(
            _replay_and_collect(settings, topology, dataset, args, a_range, collector, launcher, t0)
        )
        elapsed = time.monotonic() - t0
        print(
            f"all {stats.total('delivered'):.0f} frames accounted for in {elapsed:.1f} s "
            f"({collector.metrics.count / elapsed:.2f} results/s)"
        )
        print()
        print(stats.summary())
        print()
        print(
            f"Metrics of this run (policy {args.policy}, {args.bandwidth} bandwidth, shed {args.shed}, "
            f"A^q in [{a_range[0]:g}, {a_range[1]:g}]):"
        )
        print(collector.metrics.table())
        if collector.dead_letters:
            print(f"dead letters: {len(collector.dead_letters)}")
            for dl in collector.dead_letters[:10]:
                print(f"  {dl.stage}: {dl.reason}")
        if args.json:
            _write_json(args.json, args, a_range, collector, elapsed)
            print(f"metrics written to {args.json}")
        if args.results:
            _write_results(args.results, collector)
            print(f"{len(collector.results)} results written to {args.results}")
        if args.dashboard:
            _linger(launcher)
        print("stopping workers and broker ...", flush=True)
    return 0


def _open_dashboard(launcher) -> None:
    import webbrowser

    url = launcher.workers["sink"].dashboard_url
    if url is None:  # printed before the sink reports ready; a missing URL is a bug, not a wait
        raise CdioError("the sink started without printing its dashboard URL; see its log")
    print(f"live dashboard: {url}", flush=True)
    try:
        opened = webbrowser.open(url)
    except Exception:  # no browser registered or it failed to start: the printed URL is enough
        opened = False
    if not opened:
        print("  (no browser to open here: open the URL above yourself)", flush=True)


def _linger(launcher) -> None:
    """Keep the workers (and so the page) up after the run until Ctrl-C."""
    print(f"the dashboard stays up at {launcher.workers['sink'].dashboard_url}; Ctrl-C to stop", flush=True)
    try:
        while True:
            launcher.check()
            time.sleep(1.0)
    except KeyboardInterrupt:
        print()


async def _replay_and_collect(settings, topology, dataset, args, a_range, collector, launcher, t0: float):
    from cdio_stream.data.detrac import DetracDataset
    from cdio_stream.data.replay import ReplayConfig, plan_streams, replay
    from cdio_stream.data.requirements import RequirementSampler

    plans = plan_streams(DetracDataset(dataset), args.sequences if args.dataset is None else None)
    config = ReplayConfig(
        fps=args.fps,
        max_frames=args.frames,
        requirements=RequirementSampler(accuracy_range=a_range, seed=args.seed),
        progress_interval_s=3600,  # the collector reports progress instead
    )
    sent: dict[str, int | None] = {"frames": None}
    last = {"t": 0.0}

    def progress(c) -> None:
        now = time.monotonic()
        if now - last["t"] >= 2.0:
            last["t"] = now
            rate = c.metrics.count / max(now - t0, 1e-9)
            print(
                f"[{now - t0:5.0f} s] results {c.metrics.count:4d}  dead letters {len(c.dead_letters):3d}  "
                f"of {sent['frames'] if sent['frames'] is not None else '...'} frames  {rate:4.1f} results/s  "
                f"| {c.metrics.log_line()}",
                flush=True,
            )

    async def produce():
        stats = await replay(plans, bootstrap=settings.bootstrap, topology=topology, config=config)
        sent["frames"] = int(stats.total("delivered"))
        return stats

    producing = asyncio.create_task(produce())
    collecting = asyncio.create_task(
        collector.collect(
            lambda: sent["frames"], timeout_s=args.timeout, on_progress=progress, check=launcher.check
        )
    )
    try:
        stats = await producing
        await collecting
    finally:
        for task in (producing, collecting):
            task.cancel()
    return stats


def _write_json(path: Path, args: argparse.Namespace, a_range, collector, elapsed_s: float) -> None:
    import orjson

    m = collector.metrics
    doc = {
        "policy": args.policy,
        "bandwidth": args.bandwidth,
        "shed": args.shed,
        "inference_batch": args.inference_batch,
        "streams": args.sequences,
        "frames_per_stream": args.frames,
        "fps_per_stream": args.fps,
        "accuracy_range": list(a_range),
        "elapsed_s": elapsed_s,
        "results_per_s": m.count / elapsed_s if elapsed_s > 0 else None,
        "summary": m.summary(),
        "per_server": dict(m.per_server),
        "stage_p50_p95_s": m.stage_percentiles(),
        "dead_letters": [dl.reason for dl in collector.dead_letters],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))


def _write_results(path: Path, collector) -> None:
    from cdio_stream.messages import encode_result

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(encode_result(r) + b"\n" for r in collector.results))


def _synthetic_dataset(settings: Settings, args: argparse.Namespace) -> Path:
    """Generate (once, cached) the synthetic DETRAC-format set the demo replays."""
    from cdio_stream.data.synth import SynthConfig, generate_dataset

    # Seed 0 made the detectors' training data (cdio_stream/weights/); the demo's scenes are new to them.
    config = SynthConfig(sequences=args.sequences, frames=args.frames, seed=DEMO_SYNTH_SEED + args.seed)
    out = settings.cache_dir / "datasets" / f"synth-{config.sequences}x{config.frames}-seed{config.seed}"
    if not (out / ".complete").is_file():
        print(
            f"generating a synthetic dataset ({config.sequences} x {config.frames} frames) in {out} ...",
            flush=True,
        )
        generate_dataset(out, config)
        (out / ".complete").write_text("ok\n")
    return out
