"""``cdio-stream worker ROLE``: run one pipeline agent as its own Faust worker process.

Start more workers of a role (on more nodes) to split its partitions: all workers of a
role share one consumer group. One inference worker serves one server id. Run one
trainer: it numbers the RPP versions it publishes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cdio_stream.pipeline.shedding import DEFAULT_SHED, SHED_MODES
from cdio_stream.settings import Settings

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    from cdio_stream.pipeline import workers

    p = subparsers.add_parser(
        "worker",
        help="run one pipeline agent (preprocess, scheduler, inference, sink, trainer) as a Faust worker",
        description="Run one agent of the pipeline as a Faust worker on the broker given by --bootstrap.",
    )
    p.add_argument("role", choices=["preprocess", "scheduler", "inference", "sink", "trainer"])
    p.add_argument(
        "--server",
        help="inference: the server id this worker serves; one not in topics.yaml joins the running "
        "pipeline (it announces itself; give --tier, and --model/--profile unless its tier's first "
        "server's fit)",
    )
    p.add_argument("--tier", choices=["edge", "cloud"], help="inference: tier of a server not in topics.yaml")
    p.add_argument("--model", help="inference: model of a server not in topics.yaml (a model registry name)")
    p.add_argument("--profile", help="inference: device profile of a server not in topics.yaml")
    p.add_argument(
        "--rpp-checkpoint",
        type=Path,
        help="preprocess, trainer: LSTM checkpoint to start from (default: the shipped one); "
        "newer versions published on the model topic replace it",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help="preprocess: most frames per LSTM call (default 16); "
        "inference: most assignments per detector call (default 1: one at a time, no waiting)",
    )
    p.add_argument(
        "--batch-ms",
        type=float,
        help="longest wait to fill a batch (default: preprocess 20 ms, inference 10 ms)",
    )
    p.add_argument(
        "--shed",
        choices=SHED_MODES,
        default=DEFAULT_SHED,
        help="scheduler, inference: 'late' ends a task that can no longer meet its D^q as an expired "
        f"result (a delay failure) instead of inferring it; 'never' infers every task (default {DEFAULT_SHED})",
    )
    p.add_argument("--policy", default="cdio", help="scheduler: policy name (default cdio)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="scheduler: policy seed; inference: link seed; trainer: training seed",
    )
    p.add_argument("--calibration", type=Path,
                   help="scheduler: calibration file (`cdio-stream calibrate --out`); default: the newest on "
                        "the calibration topic, else the shipped one")  # fmt: skip
    p.add_argument("--slot-size", type=int, default=16, help="scheduler: most tasks per slot")
    p.add_argument("--slot-ms", type=float, default=50.0, help="scheduler: longest wait to fill a slot")
    p.add_argument(
        "--snapshot-s",
        type=float,
        default=2.0,
        help="scheduler, sink: seconds between state snapshots (records are acked once one includes them)",
    )
    p.add_argument("--dataset", type=Path, help="inference: UA-DETRAC-layout directory (ground truth)")
    p.add_argument("--bandwidth", choices=["stable", "fluctuating"], default="stable", help="inference: link")
    p.add_argument("--device", default="cpu", help="inference: cpu, cuda or cuda:N")
    p.add_argument("--models", type=Path, help="inference: extra model registry YAML")
    p.add_argument("--reference-rate", type=float, default=0.05,
                   help="scheduler: compute budget of the second runs on the other tier that judge accuracy "
                        "without ground truth, as a share of the served compute (the share of tasks for a "
                        "shadow of average cost; 0 turns reference feedback off; default 0.05)")  # fmt: skip
    p.add_argument("--reference-server", help="scheduler, inference: whose model is the reference "
                                              "(default: the first cloud server in topics.yaml)")  # fmt: skip
    p.add_argument("--metrics-port", type=int, default=0, help="sink: serve Prometheus metrics on this port")
    p.add_argument(
        "--dashboard-port",
        type=int,
        help="sink: serve the live dashboard page on this port (0: any free port; the URL is printed)",
    )
    p.add_argument(
        "--http-host",
        default="127.0.0.1",
        help="sink: address the metrics and dashboard servers listen on (0.0.0.0 in containers)",
    )
    t = workers.TrainerOptions()
    p.add_argument(
        "--retrain-every", type=int, default=t.retrain_every, help="trainer: new labels between retrains"
    )
    p.add_argument(
        "--retrain-interval-s", type=float, default=None, help="trainer: also retrain this often (seconds)"
    )
    p.add_argument(
        "--min-labels", type=int, default=t.min_labels, help="trainer: labels before the first retrain"
    )
    p.add_argument("--window", type=int, default=t.window, help="trainer: newest labels kept")
    p.add_argument(
        "--holdout",
        type=float,
        default=t.holdout_fraction,
        help="trainer: newest share of the window held out",
    )
    p.add_argument(
        "--min-improvement",
        type=float,
        default=t.min_improvement,
        help="trainer: held-out log-loss a candidate must gain to be promoted",
    )
    p.add_argument(
        "--epochs", type=int, default=t.epochs, help="trainer: most fine-tuning epochs per retrain"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from faust.worker import Worker

    from agents.app import WorkerParts, create_app
    from cdio_stream.errors import ConfigError
    from cdio_stream.kafka.calibration_topic import resolve_calibration
    from cdio_stream.pipeline import workers
    from cdio_stream.pipeline.launcher import READY_MARKER

    topology = settings.topology()
    parts = WorkerParts(role=args.role)
    if args.role == "preprocess":
        parts.preprocessor = workers.build_preprocessor(settings, topology, args.rpp_checkpoint)
        parts.batch_size, parts.batch_s = _batch(args, 16, 20.0)
        if parts.preprocessor.rpp.predictor is not None:  # the fallback rule takes no model updates
            parts.model_feed = workers.build_model_feed(settings, topology)
    elif args.role == "trainer":
        opts = workers.TrainerOptions(
            checkpoint=args.rpp_checkpoint,
            retrain_every=args.retrain_every,
            retrain_interval_s=args.retrain_interval_s,
            min_labels=args.min_labels,
            window=args.window,
            holdout_fraction=args.holdout,
            min_improvement=args.min_improvement,
            epochs=args.epochs,
            seed=args.seed,
        )
        parts.trainer = workers.build_trainer(settings, topology, opts)
        parts.model_feed = workers.build_model_feed(settings, topology)
    elif args.role == "scheduler":
        calibration = resolve_calibration(settings, topology, args.calibration)
        parts.scheduler, parts.state_store = workers.build_scheduler(
            settings,
            topology,
            args.policy,
            args.seed,
            reference_rate=args.reference_rate,
            reference_server=args.reference_server,
            models_file=args.models,
            shed=args.shed,
            calibration=calibration,
        )
        parts.slot_size, parts.slot_s = args.slot_size, args.slot_ms / 1000.0
    elif args.role == "inference":
        if not args.server:
            raise ConfigError("worker inference needs --server ID (one of topics.yaml's, or a new one with --tier)")
        topology = _joining(topology, args, settings)
        opts = workers.InferenceOptions(
            server_id=args.server,
            dataset=args.dataset,
            bandwidth=args.bandwidth,
            link_seed=args.seed,
            device=args.device,
            models_file=args.models,
            reference_server=args.reference_server,
            shed=args.shed,
        )
        parts.inference_batch, parts.inference_batch_s = _batch(args, 1, 10.0)
        if parts.inference_batch > 1 and parts.inference_batch_s <= 0:
            raise ConfigError(
                "--batch-ms must be > 0 with --batch-size above 1 (the wait that closes a batch)"
            )
        parts.inference = workers.build_inference(settings, topology, opts)
    else:
        parts.metrics, parts.state_store = workers.build_metrics(
            settings, topology, args.metrics_port, args.http_host
        )
        if args.dashboard_port is not None:
            if not 0 <= args.dashboard_port <= 65535:
                raise ConfigError(f"--dashboard-port must be 0-65535, got {args.dashboard_port}")
            parts.dashboard = workers.build_dashboard(
                settings, topology, parts.metrics, args.dashboard_port, args.http_host
            )
    if not args.snapshot_s > 0:
        raise ConfigError(f"--snapshot-s must be > 0, got {args.snapshot_s}")
    parts.snapshot_every_s = args.snapshot_s
    app = create_app(settings, topology, parts)

    class ReadyWorker(Worker):
        async def on_startup_finished(self) -> None:
            await super().on_startup_finished()
            print(READY_MARKER, flush=True)  # stdout, whatever the log level: the launcher waits for it

    worker = ReadyWorker(app, loglevel=settings.log_level.lower(), redirect_stdouts=False, quiet=True)
    worker.execute_from_commandline()  # returns by SystemExit when the worker stops
    return 0


def _joining(topology, args: argparse.Namespace, settings: Settings):
    """The topology with the server this worker serves; one not in topics.yaml is added
    (from --tier/--model/--profile) and its assignment topic created if it is missing."""
    import asyncio

    from cdio_stream.errors import ConfigError
    from cdio_stream.kafka.admin import create_topics
    from cdio_stream.topology import ServerSpec

    if args.server in topology.server_ids:
        if args.tier or args.model or args.profile:
            raise ConfigError(f"--tier/--model/--profile are for new servers; {args.server!r} is in topics.yaml")
        return topology
    if not args.tier:
        raise ConfigError(f"server {args.server!r} is not in topics.yaml: give its --tier (edge or cloud)")
    like = next(s for s in topology.servers if s.tier == args.tier)
    spec = ServerSpec(args.server, args.tier, args.model or like.model, args.profile or like.device)
    topology = topology.with_server(spec)
    if settings.bootstrap:
        asyncio.run(create_topics(settings.bootstrap, topology))  # existing topics are left alone
    return topology


def _batch(args: argparse.Namespace, size: int, ms: float) -> tuple[int, float]:
    """(most items, longest wait in s) of a role's batches: the flags, else the role's defaults."""
    from cdio_stream.errors import ConfigError

    size = size if args.batch_size is None else args.batch_size
    ms = ms if args.batch_ms is None else args.batch_ms
    if size < 1 or ms < 0:
        raise ConfigError(f"--batch-size must be >= 1 and --batch-ms >= 0, got {size}, {ms}")
    return size, ms / 1000.0
