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
