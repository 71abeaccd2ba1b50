"""The ``simulate`` sub-command (built through its own ``register``, as cdio_stream.cli does)."""

from __future__ import annotations

import argparse
import json

import orjson
import pytest

from cdio_stream.cli import simulate
from cdio_stream.errors import ConfigError
from cdio_stream.settings import Settings
from cdio_stream.sim import SyntheticTraceConfig, synthetic_trace
from cdio_stream.trace import write_trace


def parse(argv):
    parser = argparse.ArgumentParser()
    simulate.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["simulate", *argv])


class TestSimulateCommand:
    def test_table_for_two_policies(self, capsys):
        args = parse(
            ["--policy", "cdio", "--policy", "all-edge", "--streams", "2", "--frames", "50", "--edges", "2"]
        )
        assert args.func(args, Settings()) == 0
        out = capsys.readouterr().out
        assert "100 tasks" in out and "cdio" in out and "all-edge" in out

    def test_json_and_records_from_a_trace_file(self, tmp_path, capsys):
        trace = tmp_path / "t.jsonl"
        write_trace(trace, synthetic_trace(SyntheticTraceConfig(streams=2, frames=30, seed=4)))
        records = tmp_path / "r.jsonl"
        args = parse(["--trace", str(trace), "--policy", "sniper", "--json", "--records", str(records),
                      "--deployment", "V3"])  # fmt: skip
        assert args.func(args, Settings()) == 0
        metrics = json.loads(capsys.readouterr().out)
        assert metrics["sniper"]["tasks"] == 60
        lines = [orjson.loads(line) for line in records.read_bytes().splitlines()]
        assert len(lines) == 60 and {line["policy"] for line in lines} == {"sniper"}
        assert all(line["model"] in ("yolov5s6", "yolov5l6") for line in lines)

    def test_unknown_policy(self):
        args = parse(["--policy", "magic"])
        with pytest.raises(ConfigError, match="magic"):
            args.func(args, Settings())


class TestFeedbackAndPreferenceFlags:
    @pytest.mark.parametrize("feedback", ["truth", "reference", "none"])
    def test_feedback_modes_keep_the_json_keys(self, capsys, feedback):
        args = parse(["--streams", "2", "--frames", "60", "--edges", "2", "--feedback", feedback, "--json"])
        assert args.func(args, Settings()) == 0
        m = json.loads(capsys.readouterr().out)["cdio"]
        assert {"acc_success", "delay_success", "compute_tflop", "cloud_share"} <= set(m)
        assert m[f"feedback_{feedback}"] > 0
        assert (m["reference_compute_tflop"] > 0) == (feedback == "reference")

    def test_reference_table_has_an_overhead_line(self, capsys):
        args = parse(["--streams", "2", "--frames", "60", "--edges", "2", "--feedback", "reference"])
        assert args.func(args, Settings()) == 0
        assert "reference overhead" in capsys.readouterr().out

    def test_lstm_preference_runs(self, capsys):
        args = parse(["--streams", "2", "--frames", "40", "--edges", "2", "--preference", "lstm", "--json"])
        assert args.func(args, Settings()) == 0
        assert json.loads(capsys.readouterr().out)["cdio"]["tasks"] == 80


class TestSimulatingTheLiveDeployment:
    """``simulate --trace --topology topics.yaml --calibration FILE --replay``: the path the
    sim-vs-live benchmark takes, on a profiled-like trace of the registry detectors."""

    def test_it_runs_and_prints_the_metrics_a_live_run_reports(self, tmp_path, capsys):
        from tests.unit.sim.test_live_pipeline import CAL, ROOT, SIX, live_trace

        trace, cal = tmp_path / "trace.jsonl", tmp_path / "cal.json"
        write_trace(trace, live_trace())
        CAL.save(cal)
        args = parse(["--trace", str(trace), "--topology", str(ROOT / "topics.yaml"), "--calibration", str(cal),
                      "--replay", "--accuracy-range", "auto", "--preference", "lstm", "--policy", "cdio",
                      "--policy", "all-edge", "--seed", "0", "--json"])  # fmt: skip
        assert args.func(args, Settings()) == 0
        out = json.loads(capsys.readouterr().out)
        for name in ("cdio", "all-edge"):
            assert out[name]["tasks"] == 120 and set(SIX) <= set(out[name])
            assert all(out[name][k] == out[name][k] for k in SIX)  # no NaN
        assert out["all-edge"]["cloud_share"] == 0.0 and out["all-edge"]["wan_mbps"] == 0.0

    def test_registry_detectors_need_a_calibration(self, tmp_path):
        from tests.unit.sim.test_live_pipeline import ROOT, live_trace

        trace = tmp_path / "trace.jsonl"
        write_trace(trace, live_trace(streams=1, frames=3))
        args = parse(["--trace", str(trace), "--topology", str(ROOT / "topics.yaml")])
        with pytest.raises(ConfigError, match="no inference time in the calibration"):
            args.func(args, Settings())
