"""``cdio-stream worker``: flags become a role's typed options and options become flags again.

The launcher starts workers from options (``WorkerSpec.argv``), so a flag that does not
survive the round trip would start a worker other than the one asked for.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agents.app import ROLES
from agents.inference import InferenceOptions
from agents.preprocess import PreprocessOptions
from agents.scheduler import SchedulerOptions
from agents.sink import SinkOptions
from agents.trainer import TrainerOptions
from cdio_stream.cli import build_parser
from cdio_stream.cli.deployment import WorkerSpec, pipeline_workers
from cdio_stream.cli.worker import argv, options
from cdio_stream.errors import ConfigError
from cdio_stream.topology import load_topology

ROOT = Path(__file__).resolve().parents[3]

# Every field of every role at a value other than its default.
NOT_DEFAULT = [
    PreprocessOptions(rpp_checkpoint=Path("/models/rpp.pt"), batch_size=4, batch_ms=7.5),
    SchedulerOptions(
        policy="dao",
        seed=7,
        calibration=Path("cal.json"),
        slot_size=3,
        slot_ms=12.5,
        snapshot_s=0.5,
        lost_after_s=12.0,
        reference_rate=0.125,
        reference_server="edge-2",
        models_file=Path("/etc/models.yaml"),
        shed="late",
    ),
    InferenceOptions(
        "edge-9",
        tier="edge",
        model="yolov5s",
        profile="jetson-xavier-nx",
        dataset=Path("/data/UA-DETRAC"),
        bandwidth="fluctuating",
        seed=3,
        device="cuda:1",
        models_file=Path("models.yaml"),
        reference_server="cloud-2",
        shed="late",
        batch_size=8,
        batch_ms=2.5,
    ),
    SinkOptions(metrics_port=9108, dashboard_port=0, http_host="0.0.0.0", snapshot_s=10.0),
    TrainerOptions(
        rpp_checkpoint=Path("start.pt"),
        retrain_every=8,
        retrain_interval_s=30.0,
        min_labels=9,
        window=200,
        holdout_fraction=0.5,
        min_improvement=-0.01,
        epochs=2,
        seed=11,
    ),
]
DEFAULTS = [
    PreprocessOptions(),
    SchedulerOptions(),
    InferenceOptions("edge-1"),
    SinkOptions(),
    TrainerOptions(),
]


def parse(args: list[str]):
    return options(build_parser().parse_args(args))


class TestRoundTrip:
    def test_every_role_and_every_field_is_covered(self):
        assert sorted(o.role for o in NOT_DEFAULT) == sorted(ROLES) == sorted(o.role for o in DEFAULTS)
        for opts in NOT_DEFAULT:
            for f in dataclasses.fields(opts):
                if f.default is not dataclasses.MISSING:
                    assert getattr(opts, f.name) != f.default, f"{opts.role}.{f.name}"

    @pytest.mark.parametrize(
        "opts",
        NOT_DEFAULT + DEFAULTS,
        ids=[f"{o.role}-set" for o in NOT_DEFAULT] + [f"{o.role}-default" for o in DEFAULTS],
    )
    def test_parse_of_argv_is_the_options(self, opts):
        assert parse(argv(opts)) == opts

    def test_defaults_are_left_out_of_the_command_line(self):
        assert argv(SinkOptions()) == ["worker", "sink"]
        assert argv(InferenceOptions("edge-1")) == ["worker", "inference", "--server", "edge-1"]
        assert argv(SchedulerOptions(policy="all-edge", reference_rate=0.0)) == [
            "worker", "scheduler", "--policy", "all-edge", "--reference-rate", "0.0",
        ]  # fmt: skip

    def test_a_value_that_looks_like_a_flag_survives(self):
        opts = SchedulerOptions(policy="-odd", seed=-3)
        line = argv(opts)
        assert line[2:] == ["--policy=-odd", "--seed=-3"]
        assert parse(line) == opts

    def test_the_options_of_the_flags_as_a_user_types_them(self):
        line = "worker inference --server edge-5 --tier edge --batch-size 4 --batch-ms 200 --holdout 0.3"
        # --holdout is a trainer flag: the inference worker takes it and ignores it, as ever.
        assert parse(line.split()) == InferenceOptions("edge-5", tier="edge", batch_size=4, batch_ms=200.0)
        assert parse("worker trainer --holdout 0.3 --models m.yaml".split()) == TrainerOptions(
            holdout_fraction=0.3
        )


class TestChecks:
    def test_inference_needs_a_server(self):
        with pytest.raises(ConfigError, match=r"^worker inference needs --server ID \(one of topics.yaml's"):
            parse(["worker", "inference"])

    @pytest.mark.parametrize(
        "args, message",
        [
            ("worker preprocess --batch-size 0", "--batch-size must be >= 1 and --batch-ms >= 0, got 0, 20.0"),
            ("worker inference --server e --batch-ms -1", "--batch-size must be >= 1 and --batch-ms >= 0, got 1, -1.0"),
            # no wait closes a batch of 4: Faust's take would wait for the fourth frame forever
            ("worker preprocess --batch-ms 0", "--batch-ms must be > 0 with --batch-size above 1 (the wait that closes a batch)"),
            ("worker inference --server e --batch-size 4 --batch-ms 0", "--batch-ms must be > 0 with --batch-size above 1 (the wait that closes a batch)"),
            ("worker sink --dashboard-port 70000", "--dashboard-port must be 0-65535, got 70000"),
            ("worker sink --snapshot-s 0", "--snapshot-s must be > 0, got 0.0"),
            # refused for a role that takes no snapshots too, as before roles were objects
            ("worker preprocess --snapshot-s -1", "--snapshot-s must be > 0, got -1.0"),
            ("worker scheduler --lost-after-s 2", "--lost-after-s must be 0 (never) or at least 5 s (the server timeout), got 2"),
        ],
    )  # fmt: skip
    def test_values_no_worker_runs_with(self, args, message):
        with pytest.raises(ConfigError) as info:
            parse(args.split())
        assert str(info.value) == message

    def test_a_batch_flag_of_a_role_without_batches_is_ignored(self):
        assert parse("worker sink --batch-size 0".split()) == SinkOptions()


class TestWorkerSpec:
    def test_names_come_from_the_options(self):
        assert WorkerSpec(InferenceOptions("edge-2")).name == "inference-edge-2"
        assert WorkerSpec(InferenceOptions("edge-2"), replica=2).name == "inference-edge-2-2"
        assert WorkerSpec(PreprocessOptions(), replica=3).name == "preprocess-3"
        assert WorkerSpec(SinkOptions(dashboard_port=0)).name == "sink"

    def test_a_deployment_has_every_role_but_the_trainer_and_one_inference_worker_per_server(self):
        topology = load_topology(ROOT / "topics.yaml")
        specs = pipeline_workers(topology, preprocess_workers=2, shed="late", seed=4)
        assert [s.name for s in specs] == [
            "preprocess", "preprocess-2", "scheduler", "sink",
            *(f"inference-{sid}" for sid in topology.server_ids),
        ]  # fmt: skip
        by_name = {s.name: s for s in specs}
        assert by_name["scheduler"].options == SchedulerOptions(seed=4, shed="late")
        assert by_name["inference-cloud"].options == InferenceOptions("cloud", seed=4, shed="late")
        for spec in specs:
            assert parse(spec.argv) == spec.options
