"""``cdio-stream worker ROLE``: run one pipeline agent as its own Faust worker process.

Start more workers of a role (on more nodes) to split its partitions: all workers of a
role share one consumer group. One inference worker serves one server id. Run one
trainer: it numbers the RPP versions it publishes.

This module is the one place that knows the worker's flags. Each flag's ``dest`` is a
field of a role's options dataclass (``agents/<role>.py``, picked by ``agents.app.ROLES``):
:func:`options` turns parsed flags into the role's options, :func:`argv` turns options
back into a command line (what :class:`cdio_stream.cli.deployment.WorkerSpec` gives the
launcher), and ``options(parse(argv(o))) == o``. A flag of another role is accepted and
ignored, as it always was.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields
from pathlib import Path

from agents.app import ROLES, create_app
from agents.base import RoleOptions
from agents.inference import InferenceOptions
from agents.preprocess import PreprocessOptions
from agents.scheduler import SchedulerOptions
from cdio_stream.errors import ConfigError
from cdio_stream.pipeline.servers import SERVER_TIMEOUT_S
from cdio_stream.pipeline.shedding import SHED_MODES
from cdio_stream.settings import Settings

__all__ = ["FLAGS", "register", "run", "options", "argv"]

# What a missing required flag is, for its one-line error.
_REQUIRED = {"server_id": "ID (one of topics.yaml's, or a new one with --tier)"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "worker",
        help=f"run one pipeline agent ({', '.join(ROLES)}) as a Faust worker",
        description="Run one agent of the pipeline as a Faust worker on the broker given by --bootstrap.",
    )
    _add_flags(p)
    p.set_defaults(func=run)


def _add_flags(p: argparse.ArgumentParser) -> dict[str, str]:
    """Add the role and every role's flags to ``p``; returns each option field's flag.

    No flag has a parser default (None: not given); an option not given keeps its
    options dataclass's default, which is what the help texts quote."""
    pre, sched, inf = PreprocessOptions, SchedulerOptions, InferenceOptions
    p.add_argument("role", choices=list(ROLES))
    flags = [
        p.add_argument(
            "--server",
            dest="server_id",
            metavar="SERVER",
            help="inference: the server id this worker serves; one not in topics.yaml joins the running "
            "pipeline (it announces itself; give --tier, and --model/--profile unless its tier's first "
            "server's fit)",
        ),
        p.add_argument(
            "--tier", choices=["edge", "cloud"], help="inference: tier of a server not in topics.yaml"
        ),
        p.add_argument(
            "--model", help="inference: model of a server not in topics.yaml (a model registry name)"
        ),
        p.add_argument("--profile", help="inference: device profile of a server not in topics.yaml"),
        p.add_argument(
            "--rpp-checkpoint",
            type=Path,
            help="preprocess, trainer: LSTM checkpoint to start from (default: the shipped one); "
            "newer versions published on the model topic replace it",
        ),
        p.add_argument(
            "--batch-size",
            type=int,
            help=f"preprocess: most frames per LSTM call (default {pre.batch_size}); "
            f"inference: most assignments per detector call (default {inf.batch_size}: one at a time, no waiting)",
        ),
        p.add_argument(
            "--batch-ms",
            type=float,
            help=f"longest wait to fill a batch (default: preprocess {pre.batch_ms:g} ms, inference {inf.batch_ms:g} ms)",
        ),
        p.add_argument(
            "--shed",
            choices=SHED_MODES,
            help="scheduler, inference: 'late' ends a task that can no longer meet its D^q as an expired "
            "result (a delay failure) instead of inferring it; 'never' infers every task "
            f"(default {sched.shed})",
        ),
        p.add_argument("--policy", help=f"scheduler: policy name (default {sched.policy})"),
        p.add_argument(
            "--seed",
            type=int,
            help="scheduler: policy seed; inference: link seed; trainer: training seed",
        ),
        p.add_argument(
            "--calibration",
            type=Path,
            help="scheduler: calibration file (`cdio-stream calibrate --out`); default: the newest "
            "on the calibration topic, else the shipped one",
        ),
        p.add_argument(
            "--lost-after-s",
            type=float,
            help="scheduler: a server silent this long (it stops getting tasks after "
            f"{SERVER_TIMEOUT_S:g} s) is lost: the tasks still waiting on it end as expired results "
            f"(delay failures); 0: they wait for it (default {sched.lost_after_s:g})",
        ),
        p.add_argument("--slot-size", type=int, help="scheduler: most tasks per slot"),
        p.add_argument("--slot-ms", type=float, help="scheduler: longest wait to fill a slot"),
        p.add_argument(
            "--snapshot-s",
            type=float,
            help="scheduler, sink: seconds between state snapshots (records are acked once one includes them)",
        ),
        p.add_argument("--dataset", type=Path, help="inference: UA-DETRAC-layout directory (ground truth)"),
        p.add_argument("--bandwidth", choices=["stable", "fluctuating"], help="inference: link"),
        p.add_argument("--device", help="inference: cpu, cuda or cuda:N"),
        p.add_argument(
            "--models",
            type=Path,
            dest="models_file",
            metavar="MODELS",
            help="inference: extra model registry YAML",
        ),
        p.add_argument(
            "--reference-rate",
            type=float,
            help="scheduler: compute budget of the second runs on the other tier that judge accuracy "
            "without ground truth, as a share of the served compute (the share of tasks for a "
            "shadow of average cost; 0 turns reference feedback off; "
            f"default {sched.reference_rate})",
        ),
        p.add_argument(
            "--reference-server",
            help="scheduler, inference: whose model is the reference "
            "(default: the first cloud server in topics.yaml)",
        ),
        p.add_argument("--metrics-port", type=int, help="sink: serve Prometheus metrics on this port"),
        p.add_argument(
            "--dashboard-port",
            type=int,
            help="sink: serve the live dashboard page on this port (0: any free port; the URL is printed)",
        ),
        p.add_argument(
            "--http-host",
            help="sink: address the metrics and dashboard servers listen on (0.0.0.0 in containers)",
        ),
        p.add_argument("--retrain-every", type=int, help="trainer: new labels between retrains"),
        p.add_argument("--retrain-interval-s", type=float, help="trainer: also retrain this often (seconds)"),
        p.add_argument("--min-labels", type=int, help="trainer: labels before the first retrain"),
        p.add_argument("--window", type=int, help="trainer: newest labels kept"),
        p.add_argument(
            "--holdout",
            type=float,
            dest="holdout_fraction",
            metavar="HOLDOUT",
            help="trainer: newest share of the window held out",
        ),
        p.add_argument(
            "--min-improvement",
            type=float,
            help="trainer: held-out log-loss a candidate must gain to be promoted",
        ),
        p.add_argument("--epochs", type=int, help="trainer: most fine-tuning epochs per retrain"),
    ]
    return {a.dest: a.option_strings[0] for a in flags}


# Each option field's flag, e.g. FLAGS["models_file"] == "--models".
FLAGS = _add_flags(argparse.ArgumentParser(add_help=False))


def options(args: argparse.Namespace) -> RoleOptions:
    """The options of ``args.role`` from its flags; a flag not given keeps the default."""
    cls = ROLES[args.role].Options
    values = {}
    for f in fields(cls):
        value = getattr(args, f.name)
        if value is not None:
            values[f.name] = value
        elif f.default is MISSING:
            raise ConfigError(
                f"worker {args.role} needs {FLAGS[f.name]} {_REQUIRED.get(f.name, '')}".rstrip()
            )
    if args.snapshot_s is not None and not args.snapshot_s > 0:  # refused whichever the role, as ever
        raise ConfigError(f"--snapshot-s must be > 0, got {args.snapshot_s}")
    opts = cls(**values)
    _check(opts)
    return opts


def _check(opts: RoleOptions) -> None:
    """Values no role can run with, by option (whichever roles have it)."""
    lost = getattr(opts, "lost_after_s", 0.0)
    if lost and lost < SERVER_TIMEOUT_S:
        raise ConfigError(
            f"--lost-after-s must be 0 (never) or at least {SERVER_TIMEOUT_S:g} s (the server timeout), got {lost:g}"
        )
    port = getattr(opts, "dashboard_port", None)
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"--dashboard-port must be 0-65535, got {port}")


def argv(opts: RoleOptions) -> list[str]:
    """The ``cdio-stream`` arguments that start a worker with ``opts`` (defaults left out)."""
    out = ["worker", opts.role]
    for f in fields(opts):
        value = getattr(opts, f.name)
        if value is None or (f.default is not MISSING and value == f.default):
            continue
        text = str(value)
        # A value starting with "-" is glued to its flag (--seed=-3): never taken for a flag.
        out += [f"{FLAGS[f.name]}={text}"] if text.startswith("-") else [FLAGS[f.name], text]
    return out


def run(args: argparse.Namespace, settings: Settings) -> int:
    from faust.worker import Worker

    from cdio_stream.pipeline.launcher import READY_MARKER

    app = create_app(settings, settings.topology(), options(args))

    class ReadyWorker(Worker):
        async def on_startup_finished(self) -> None:
            await super().on_startup_finished()
            print(READY_MARKER, flush=True)  # stdout, whatever the log level: the launcher waits for it

    worker = ReadyWorker(app, loglevel=settings.log_level.lower(), redirect_stdouts=False, quiet=True)
    worker.execute_from_commandline()  # returns by SystemExit when the worker stops
    return 0
