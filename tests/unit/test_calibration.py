"""Calibration: the typed object, its JSON file, what each policy takes from it, clear errors."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from cdio_stream.calibration import (
    CALIBRATION_FILE,
    Calibration,
    ModelPrior,
    PipelinePrior,
    ServerPrior,
    default_calibration,
    distribution,
    load_calibration,
)
from cdio_stream.errors import ConfigError
from cdio_stream.policy.registry import calibrated_kwargs, make_policy
from cdio_stream.sim import SyntheticTraceConfig, synthetic_trace
from cdio_stream.topology import ServerSpec

SERVERS = (
    ServerSpec("edge-1", "edge", "edge", "jetson-xavier-nx"),
    ServerSpec("edge-2", "edge", "edge", "jetson-xavier-nx"),
    ServerSpec("cloud", "cloud", "cloud", "a100-40gb"),
)


class TestDefault:
    def test_shipped_file_holds_the_values_with_sources(self):
        cal = default_calibration()
        assert CALIBRATION_FILE.is_file()
        assert cal.complexity_edges == (0.0033, 0.0043, 0.0075)
        assert cal.complexity_median == 0.0043
        assert {n: (p.inference_s, p.accuracy) for n, p in cal.models.items()} == {
            "edge": (0.028, 13.3),
            "cloud": (0.034, 37.7),
        }
        assert all(p.source for p in cal.models.values()) and cal.source

    def test_policies_take_what_they_need(self):
        cal = default_calibration()
        assert calibrated_kwargs("cdio", SERVERS, cal) == {"complexity_edges": (0.0033, 0.0043, 0.0075)}
        assert calibrated_kwargs("javp", SERVERS, cal)["threshold"] == 0.0043
        dao = calibrated_kwargs("dao", SERVERS, cal)
        assert dao["inference_s"] == {"edge-1": 0.028, "edge-2": 0.028, "cloud": 0.034}
        assert dao["accuracy_prior"] == {"edge-1": 13.3, "edge-2": 13.3, "cloud": 37.7}
        assert calibrated_kwargs("random", SERVERS, cal) == {}
        policy = make_policy("dao", SERVERS, calibration=cal)
        assert policy.params()["accuracy_prior"]["cloud"] == 37.7

    def test_explicit_kwargs_win_and_no_calibration_keeps_defaults(self):
        cal = default_calibration()
        assert make_policy("javp", SERVERS, calibration=cal, threshold=0.9).params()["threshold"] == 0.9
        assert make_policy("javp", SERVERS).params()["threshold"] == 0.5

    def test_truth_goes_to_the_oracle_only(self):
        def truth(task_id, server_id):
            raise AssertionError("not called while building")

        assert make_policy("oracle", SERVERS, truth=truth).truth is truth
        make_policy("cdio", SERVERS, truth=truth)  # ignored, no TypeError


class TestPerServer:
    def test_server_values_win_over_the_model(self):
        cal = Calibration(
            models={"edge": ModelPrior(inference_s=0.03, accuracy=20.0)},
            servers={"edge-2": ServerPrior(model="edge", inference_s=0.5, link_bps=1e6)},
        )
        assert cal.per_server(SERVERS, "inference_s") == {"edge-1": 0.03, "edge-2": 0.5}
        assert cal.per_server(SERVERS, "accuracy") == {"edge-1": 20.0, "edge-2": 20.0}
        assert cal.per_server(SERVERS, "link_bps") == {"edge-2": 1e6}


class TestLinks:
    def test_heuristics_assume_the_calibrated_link_until_measured(self):
        from cdio_stream.policy.base import ServerState, SlotTask, SystemState

        cal = Calibration(
            models={"edge": ModelPrior(inference_s=0.03), "cloud": ModelPrior(inference_s=0.03)},
            servers={"edge-1": ServerPrior(link_bps=1e5, link_latency_s=0.5)},
        )
        kwargs = calibrated_kwargs("sniper", SERVERS, cal)
        assert kwargs["link_bps"] == {"edge-1": 1e5} and kwargs["latency_s"] == {"edge-1": 0.5}
        task = SlotTask("t", "s", 100_000, 0.5, None, 60.0, 1.0, 0.0)
        state = SystemState(0.0, tuple(ServerState(s.id) for s in SERVERS))
        assert make_policy("sniper", SERVERS, calibration=cal).assign((task,), state)[0].server_id == "edge-2"
        assert (
            make_policy("sniper", SERVERS, inference_s=cal.per_server(SERVERS, "inference_s"))
            .assign((task,), state)[0]
            .server_id
            == "edge-1"
        )  # the same policy without the link prior: ties go to the first
        measured = SystemState(0.0, (ServerState("edge-1", bandwidth_bps=1e9), *state.servers[1:]))
        dao = make_policy(
            "dao", SERVERS, calibration=cal, accuracy_prior={"edge-1": 50, "edge-2": 50, "cloud": 10}
        )
        assert dao.assign((task,), measured)[0].server_id == "edge-2"  # latency prior still 0.5 s on edge-1
        assert dao.params()["link_bps"] == {"edge-1": 1e5}


class TestFromTrace:
    def test_complexity_and_model_priors(self):
        trace = synthetic_trace(
            SyntheticTraceConfig(streams=2, frames=50, models=("yolov5s", "yolov5l"), seed=3)
        )
        cal = Calibration.from_trace(trace, device="cpu-host")
        c = np.array([f.complexity for f in trace])
        assert cal.complexity_frames == 100
        assert cal.complexity_edges == pytest.approx(tuple(np.quantile(c, [0.25, 0.5, 0.75])))
        assert cal.complexity_median == pytest.approx(float(np.median(c)))
        s = cal.models["yolov5s"]
        assert s.inference_s == pytest.approx(np.median([f.latency_s["yolov5s"] for f in trace]), abs=1e-6)
        assert s.accuracy == pytest.approx(np.mean([f.accuracy["yolov5s"] for f in trace]), abs=1e-3)
        assert len(s.per_frame_map50["quantiles"]) == 20 and s.device == "cpu-host"
        assert cal.models["yolov5l"].accuracy > s.accuracy  # the synthetic big model is better
        assert Calibration.from_trace(trace, models=False).models == {}

    def test_empty_trace_is_an_error(self):
        with pytest.raises(ConfigError, match="at least one frame"):
            Calibration.from_trace([])


DIST = '{"mean": 0.1, "quantiles": [0.1, 0.2]}'
PIPE = f'"preprocess_s": {DIST}, "schedule_s": {DIST}'


class TestPipelinePrior:
    def test_draws_follow_the_quantiles(self):
        prior = PipelinePrior(*(distribution(np.linspace(0.01, 0.05, 101)),) * 3)
        draws = prior.sample("dispatch_s", np.random.default_rng(0), 20_000)
        assert draws.min() >= 0.01 - 1e-9 and draws.max() <= 0.05 + 1e-9
        assert np.median(draws) == pytest.approx(0.03, abs=1e-3) and draws.mean() == pytest.approx(
            0.03, abs=1e-3
        )
        assert not prior.sample("worker_overhead_s", np.random.default_rng(0), 3).any()  # not measured: 0
        assert prior.mean("worker_overhead_s") == 0.0

    def test_merged_keeps_the_pipeline_unless_the_newer_has_one(self):
        prior = PipelinePrior(*(distribution([0.01]),) * 3)
        assert Calibration(pipeline=prior).merged(Calibration(source="x")).pipeline == prior
        other = replace(prior, source="newer")
        assert Calibration(pipeline=prior).merged(Calibration(pipeline=other)).pipeline == other


class TestFile:
    def test_round_trip(self, tmp_path):
        cal = Calibration(
            complexity_edges=(0.1, 0.2),
            complexity_quantiles={0.5: 0.15},
            complexity_frames=9,
            models={"edge": ModelPrior(0.02, 0.03, "cpu-host", 30.0, distribution([10, 30, 50]), "x")},
            servers={"cloud": ServerPrior("cloud", 0.04, 40.0, 3e8, 0.02)},
            source="test",
            pipeline=PipelinePrior(
                *(distribution([0.01, 0.02, 0.05]),) * 3, None, {"cloud": (1.5, 2.0)}, "a run"
            ),
        )
        back = load_calibration(cal.save(tmp_path / "c.json"))
        assert back == cal and back.pipeline.slowdown == {"cloud": (1.5, 2.0)}

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ("{not json", "not valid JSON"),
            ('{"version": 2}', "version 2 is not 1"),
            ('{"version": 1, "colour": 1}', "unknown key(s) colour"),
            ('{"version": 1, "complexity": {"edges": [0.3, 0.1]}}', "strictly increasing"),
            ('{"version": 1, "models": {"edge": {"inference_s": "fast"}}}', "models.edge.inference_s"),
            ('{"version": 1, "models": {"edge": {"accuracy": 120}}}', "models.edge.accuracy must be mAP50"),
            ('{"version": 1, "servers": {"edge-1": {"speed": 1}}}', "servers.edge-1: unknown key(s) speed"),
            ("[1, 2]", "expected an object"),
            (
                '{"version": 1, "pipeline": {"preprocess_s": {"mean": 0.1, "quantiles": [0.1]}}}',
                "pipeline: missing schedule_s, dispatch_s",
            ),
            (
                f'{{"version": 1, "pipeline": {{{PIPE}, "dispatch_s": {{"mean": 1, "quantiles": [0.2, 0.1]}}}}}}',
                "pipeline.dispatch_s: quantiles must be non-decreasing",
            ),
            (
                f'{{"version": 1, "pipeline": {{{PIPE}, "dispatch_s": {{"quantiles": [0.1]}}}}}}',
                "pipeline.dispatch_s: needs 'mean'",
            ),
            (
                f'{{"version": 1, "pipeline": {{{PIPE}, "dispatch_s": {DIST}, "slowdown": {{"cloud": [1, 0]}}}}}}',
                "pipeline.slowdown.cloud must be a list of numbers > 0",
            ),
        ],
    )
    def test_bad_file_is_a_one_line_error_naming_it(self, tmp_path, body, message):
        path = tmp_path / "bad.json"
        path.write_text(body)
        with pytest.raises(ConfigError) as err:
            load_calibration(path)
        text = str(err.value)
        assert message in text and str(path) in text and "\n" not in text

    def test_missing_file(self, tmp_path):
        with pytest.raises(ConfigError, match="cannot read calibration file"):
            load_calibration(tmp_path / "nope.json")

    def test_shipped_file_is_what_to_dict_writes(self):
        raw = json.loads(CALIBRATION_FILE.read_text())
        assert Calibration.from_dict(raw) == default_calibration()


class TestDeploymentFlags:
    def test_the_demo_passes_a_calibration_file_to_the_scheduler_only(self, tmp_path):
        from cdio_stream.cli.deployment import pipeline_workers
        from cdio_stream.topology import load_topology

        topology = load_topology(CALIBRATION_FILE.parent.parent / "topics.yaml")
        specs = {s.name: s.argv for s in pipeline_workers(topology, calibration=tmp_path / "c.json")}
        sched = specs["scheduler"]
        assert sched[sched.index("--calibration") + 1] == str(tmp_path / "c.json")
        assert not any("--calibration" in args for name, args in specs.items() if name != "scheduler")
        plain = {s.name: s.argv for s in pipeline_workers(topology)}
        assert "--calibration" not in plain["scheduler"]

    def test_demo_with_a_bad_calibration_file_fails_before_starting_anything(self, tmp_path, capsys):
        from cdio_stream.cli import main

        bad = tmp_path / "c.json"
        bad.write_text("{}")
        assert main(["demo", "--calibration", str(bad)]) == 2
        err = capsys.readouterr().err
        assert f"calibration file {bad}: version None is not 1" in err and "broker" not in err

    def test_the_demo_passes_its_reference_rate_to_the_scheduler(self, capsys):
        from cdio_stream.cli import main
        from cdio_stream.cli.deployment import pipeline_workers
        from cdio_stream.topology import load_topology

        topology = load_topology(CALIBRATION_FILE.parent.parent / "topics.yaml")
        sched = next(s.argv for s in pipeline_workers(topology, reference_rate=0.0) if s.name == "scheduler")
        assert sched[sched.index("--reference-rate") + 1] == "0.0"
        assert main(["demo", "--reference-rate", "1.5"]) == 2
        err = capsys.readouterr().err
        assert "--reference-rate must be in [0, 1], got 1.5" in err and "broker" not in err


class TestRestoreAfterRecalibration:
    def test_learned_state_carries_over_only_under_the_same_parameters(self, caplog):
        from agents.scheduler import SchedulerOptions, scheduler_stage
        from cdio_stream.policy.base import ServerState, SlotTask, SystemState
        from cdio_stream.topology import load_topology

        topology = load_topology(CALIBRATION_FILE.parent.parent / "topics.yaml")

        def stage(edges):
            cal = Calibration(complexity_edges=edges)
            return scheduler_stage(topology, SchedulerOptions(policy="cdio", reference_rate=0.0), cal)

        before = stage((0.1, 0.2, 0.3))
        task = SlotTask("t1", "s", 100_000, 0.15, 0.3, 60.0, 0.5, 0.0)
        before.policy.assign((task,), SystemState(0.0, tuple(ServerState(s.id) for s in topology.servers)))
        snapshot = before.snapshot()

        same = stage((0.1, 0.2, 0.3))
        same.restore(snapshot)
        assert "t1" in same.policy.pending
        other = stage((0.1, 0.2))  # a new calibration with fewer buckets: the arrays do not fit
        with caplog.at_level("WARNING"):
            other.restore(snapshot)
        assert other.policy.pending == {} and "complexity_edges" in caplog.text
        assert other.stats() == same.stats()  # the scheduler's own counters are restored either way
