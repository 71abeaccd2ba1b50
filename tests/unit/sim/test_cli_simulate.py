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
