"""``cdio-stream calibrate`` on the real UA-DETRAC sample with small untrained models (offline),
and the scheduler loading what it wrote; bad calibration files fail in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.scheduler import SchedulerOptions, scheduler_stage
from cdio_stream.calibration import load_calibration
from cdio_stream.cli import main
from cdio_stream.kafka.calibration_topic import resolve_calibration
from cdio_stream.settings import Settings
from cdio_stream.system.network import make_links
from cdio_stream.topology import load_topology
from cdio_stream.trace import read_trace

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """topics.yaml whose servers run two tiny untrained detectors, and their registry."""
    tmp = tmp_path_factory.mktemp("deploy")
    registry = tmp / "models.yaml"
    registry.write_text(
        "models:\n  tiny-edge: {arch: yolov5n, imgsz: 64}\n  tiny-cloud: {arch: yolov5n, imgsz: 96}\n"
    )
    raw = yaml.safe_load((ROOT / "topics.yaml").read_text())
    raw["servers"] = [
        {"id": "edge-1", "tier": "edge", "model": "tiny-edge", "device": "jetson-xavier-nx"},
        {"id": "edge-2", "tier": "edge", "model": "tiny-edge", "device": "jetson-xavier-nx"},
        {"id": "cloud", "tier": "cloud", "model": "tiny-cloud", "device": "a100-40gb"},
    ]
    topics = tmp / "topics.yaml"
    topics.write_text(yaml.safe_dump(raw))
    return topics, registry, tmp


@pytest.fixture(scope="module")
def calibrated(deployment, detrac_sample):
    topics, registry, tmp = deployment
    out, trace = tmp / "calibration.json", tmp / "trace.jsonl"
    argv = ["--topics", str(topics), "--cache-dir", str(tmp / "cache"), "--torch-threads", "2", "--offline",
            "calibrate", str(detrac_sample), "--models", str(registry), "--out", str(out), "--trace", str(trace),
            "--no-publish"]  # fmt: skip
    assert main(argv) == 0
    return out, read_trace(trace)


class TestCalibrate:
    def test_writes_what_it_measured_on_the_sample(self, calibrated, deployment):
        out, trace = calibrated
        cal = load_calibration(out)
        assert cal.complexity_frames == len(trace) > 0
        c = np.array([f.complexity for f in trace])
        assert 0.0 < c.min() < 0.1  # the live feature scale, not the simulator's [0, 1]
        assert cal.complexity_edges == pytest.approx(tuple(np.unique(np.quantile(c, [0.25, 0.5, 0.75]))))
        assert cal.complexity_median == pytest.approx(float(np.median(c)))
        topology = load_topology(deployment[0])
        links = make_links(topology.servers)
        for s in topology.servers:
            lat = [f.latency_s[s.model] for f in trace]
            acc = [f.accuracy[s.model] for f in trace if s.model in f.accuracy]
            assert (
                cal.inference_s(s) == pytest.approx(float(np.median(lat)), abs=1e-6)
                and cal.inference_s(s) > 0
            )
            assert acc, "the sample has ground truth"
            assert cal.accuracy(s) == pytest.approx(float(np.mean(acc)), abs=1e-3)
            assert cal.model(s).per_frame_map50["frames"] == len(acc)
            assert cal.link_bps(s) == links[s.id].nominal_bps

    def test_the_scheduler_loads_it(self, calibrated, deployment):
        out, _ = calibrated
        topics = deployment[0]
        settings = Settings(topics_file=topics)
        topology = settings.topology()
        cal = resolve_calibration(settings, topology, out)
        assert cal == load_calibration(out)
        dao = scheduler_stage(topology, SchedulerOptions(policy="dao", reference_rate=0.0), cal)
        assert dao.policy.params()["inference_s"] == {s.id: cal.inference_s(s) for s in topology.servers}
        assert dao.policy.params()["accuracy_prior"] == {s.id: cal.accuracy(s) for s in topology.servers}
        cdio = scheduler_stage(topology, SchedulerOptions(policy="cdio", reference_rate=0.0), cal)
        assert cdio.policy.space.complexity_edges == cal.complexity_edges

    def test_without_a_file_or_broker_the_shipped_default(self, deployment):
        settings = Settings(topics_file=deployment[0])
        cal = resolve_calibration(settings, settings.topology(), None)
        assert cal.complexity_edges == (0.0033, 0.0043, 0.0075)


class TestErrors:
    def test_scheduler_with_a_bad_calibration_file_says_so_in_one_line(self, tmp_path, capsys):
        bad = tmp_path / "cal.json"
        bad.write_text('{"version": 1, "models": {"edge": {"inference_s": -1}}}')
        assert main(["worker", "scheduler", "--calibration", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert (
            err.count("\n") == 0
            and str(bad) in err
            and "models.edge.inference_s must be a number >= 0" in err
        )

    def test_calibrate_needs_somewhere_to_write(self, detrac_sample, capsys, monkeypatch):
        monkeypatch.delenv("CDIO_KAFKA_BOOTSTRAP", raising=False)
        assert main(["calibrate", str(detrac_sample)]) == 2
        assert "calibrate writes nowhere" in capsys.readouterr().err


class TestLiveResults:
    """``calibrate --live-results``: what a live run measured is added to what was profiled."""

    def test_adds_the_pipeline_latencies_and_in_pipeline_times(
        self, calibrated, deployment, detrac_sample, capsys
    ):
        from dataclasses import replace

        from cdio_stream.messages import encode_result
        from tests.unit.test_live_calibration import run

        topics, registry, tmp = deployment
        _, trace = calibrated
        results = tmp / "live.jsonl"
        # The live run's results, on the sample's frames (so that they match the profiled trace).
        renamed = [replace(r, model=f"tiny-{r.tier}", stream_id=trace[i % len(trace)].stream,
                           frame_no=trace[i % len(trace)].frame) for i, r in enumerate(run())]  # fmt: skip
        results.write_bytes(b"".join(encode_result(r) + b"\n" for r in renamed))
        out = tmp / "calibration-live.json"
        argv = ["--topics", str(topics), "--cache-dir", str(tmp / "cache"), "--torch-threads", "2", "--offline",
                "calibrate", str(detrac_sample), "--models", str(registry), "--out", str(out), "--trace",
                str(tmp / "trace.jsonl"), "--live-results", str(results), "--no-publish"]  # fmt: skip
        assert main(argv) == 0
        cal, profiled = load_calibration(out), load_calibration(tmp / "calibration.json")
        assert cal.pipeline is not None and cal.pipeline.mean("schedule_s") == pytest.approx(0.040, abs=1e-4)
        edge, cloud = (
            next(s for s in load_topology(topics).servers if s.id == i) for i in ("edge-1", "cloud")
        )
        assert cal.inference_s(edge) == pytest.approx(0.030)
        assert cal.inference_s(cloud) == pytest.approx(0.070)
        alone = {f.key: f.latency_s["tiny-cloud"] for f in trace}
        queued = [r for r in renamed if r.task_id.startswith("c/")]  # the cloud's calls that start alone
        expected = np.mean([0.060 / alone[(r.stream_id, r.frame_no)] for r in queued])
        assert cal.pipeline.slowdown["tiny-cloud"][0] == pytest.approx(expected, rel=1e-3)
        assert cal.accuracy(cloud) == profiled.accuracy(cloud)  # the profiled accuracy priors are kept
        assert cal.complexity_edges == profiled.complexity_edges

    def test_a_bad_results_file_is_one_line_naming_it(self, deployment, detrac_sample, capsys):
        topics, registry, tmp = deployment
        bad = tmp / "bad.jsonl"
        bad.write_text('{"kind": "result"}\n')
        argv = ["--topics", str(topics), "--cache-dir", str(tmp / "cache"), "--offline", "calibrate",
                str(detrac_sample), "--models", str(registry), "--out", str(tmp / "x.json"), "--trace",
                str(tmp / "trace.jsonl"), "--live-results", str(bad), "--no-publish"]  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"{bad}:1" in err
