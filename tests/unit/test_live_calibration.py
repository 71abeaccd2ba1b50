"""Calibration from a live run's results: the delay split, the pipeline's own latencies, the
detectors' in-pipeline times and slowdown, and what of the base calibration is kept."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cdio_stream.calibration import Calibration, ModelPrior, ServerPrior
from cdio_stream.errors import ConfigError
from cdio_stream.live_calibration import MIN_SERVER_RESULTS, calibration_from_results, delay_parts
from cdio_stream.messages import Costs, Result, Timings
from cdio_stream.topology import ServerSpec
from cdio_stream.trace import TraceFrame

SERVERS = (
    ServerSpec("edge-1", "edge", "edge", "jetson-xavier-nx"),
    ServerSpec("edge-2", "edge", "edge", "jetson-xavier-nx"),
    ServerSpec("cloud", "cloud", "cloud", "a100-40gb"),
)


def result(task: str, server: str, *, created: float, pre: float, assigned: float, started: float, tx: float,
           inference: float, model: str | None = None) -> Result:  # fmt: skip
    """A result whose task was created at ``created`` and whose detector call began at ``started``."""
    queue = started - tx - created
    return Result(task, task.split("/")[0], int(task.split("/")[1]), server, "cloud" if server == "cloud" else "edge",
                  model or ("cloud" if server == "cloud" else "edge"), 30.0, 0.4, 80_000, (), 20.0,
                  Timings(preprocess=pre, queue=queue, transmission=tx, inference=inference), Costs(),
                  completed_at=started + inference, assigned_at=assigned)  # fmt: skip


def run() -> list[Result]:
    """Bursts of two frames (two streams) every 0.4 s: one to edge-1, one to the cloud; the
    cloud also gets a second task of each burst, decided while it is still busy."""
    out = []
    for k in range(12):
        t0 = 100.0 + 0.4 * k
        created, assigned = t0 + 0.010, t0 + 0.050  # preprocess 10 ms for a batch of 3; slot 40 ms
        out.append(result(f"a/{k}", "edge-1", created=created, pre=0.010, assigned=assigned, started=assigned + 0.020
                          + 0.002, tx=0.002, inference=0.030))  # fmt: skip
        first = assigned + 0.020 + 0.022  # dispatch 20 ms, then 22 ms of uplink: starts while a's call runs
        out.append(result(f"b/{k}", "cloud", created=created, pre=0.010, assigned=assigned, started=first, tx=0.022,
                          inference=0.080))  # fmt: skip
        # queued behind b: the worker's overhead 25 ms after b's call, then its own uplink; alone
        out.append(result(f"c/{k}", "cloud", created=created, pre=0.010, assigned=assigned,
                          started=first + 0.080 + 0.025 + 0.022, tx=0.022, inference=0.060))  # fmt: skip
    return out


def profiled(edge_s: float, cloud_s: float) -> list[TraceFrame]:
    """The run's frames profiled alone: every frame takes ``edge_s`` / ``cloud_s``."""
    return [TraceFrame(stream, k, k / 2.5, 80_000, 960, 540, 0.005, (), 0.0, 3, {"edge": 10.0, "cloud": 30.0},
                       {"edge": edge_s, "cloud": cloud_s}) for stream in "abc" for k in range(12)]  # fmt: skip


class TestDelayParts:
    def test_the_parts_add_up_to_the_results_delay(self):
        r = run()[2]
        p = delay_parts(r)
        assert p.total == pytest.approx(r.delay)
        assert p.schedule == pytest.approx(0.040) and p.preprocess == pytest.approx(0.010)
        assert p.worker == pytest.approx(0.020 + 0.022 + 0.080 + 0.025)  # hop, b's uplink and call, overhead
        assert p.created == pytest.approx(100.010) and p.started == pytest.approx(r.completed_at - 0.060)

    def test_an_expired_or_older_result_has_none(self):
        r = run()[0]
        assert delay_parts(replace(r, assigned_at=None)) is None
        expired = replace(r, expired="scheduler", accuracy=None, accuracy_source=None)
        assert delay_parts(expired) is None


class TestCalibrationFromResults:
    def test_pipeline_latencies(self):
        pipe = calibration_from_results(run(), SERVERS).pipeline
        assert pipe.mean("preprocess_s") == pytest.approx(0.010 / 3, abs=1e-4)  # per frame of a batch of 3
        assert pipe.mean("schedule_s") == pytest.approx(0.040, abs=1e-4)
        # Idle workers only: edge-1's hop (20 ms) and the cloud's first task of each burst (20 ms).
        assert pipe.mean("dispatch_s") == pytest.approx(0.020, abs=1e-4)
        assert pipe.dispatch_s["frames"] == 24
        assert pipe.mean("worker_overhead_s") == pytest.approx(0.025, abs=1e-4)  # c, queued behind b
        # created is rebuilt from unix times (float error ~1e-7): batches are still found whole
        shifted = [replace(r, completed_at=r.completed_at + 1.7e9) for r in run()]
        big = calibration_from_results(shifted, SERVERS).pipeline
        assert big.mean("preprocess_s") == pytest.approx(0.010 / 3, abs=1e-4)
        assert pipe.worker_overhead_s["frames"] == 12

    def test_in_pipeline_detector_times_and_slowdown_by_contention(self):
        cal = calibration_from_results(run(), SERVERS, profiled=profiled(0.015, 0.040))
        assert cal.inference_s(SERVERS[0]) == pytest.approx(0.030)
        assert cal.inference_s(SERVERS[1]) == pytest.approx(0.030)  # no results of its own: its model's
        assert cal.inference_s(SERVERS[2]) == pytest.approx(0.070)
        assert cal.models["cloud"].inference_s == pytest.approx(0.070)
        slow = cal.pipeline.slowdown
        # The edge's calls start alone: 2.0 at level 0, carried to the levels it never saw.
        assert slow["edge"] == pytest.approx((2.0, 2.0, 2.0))
        # The cloud's first call of a burst starts while edge-1's runs (2.0), the second alone (1.5).
        assert slow["cloud"] == pytest.approx((1.5, 2.0, 2.0))
        assert cal.pipeline.slowdown_for("cloud", 7) == pytest.approx(2.0)
        assert cal.pipeline.slowdown_for("yolov5s", 0) is None
        assert calibration_from_results(run(), SERVERS).pipeline.slowdown == {}  # nothing profiled

    def test_a_server_with_few_results_takes_its_models_mean(self):
        results = run()
        few = [
            replace(r, server_id="edge-2", timings=replace(r.timings, inference=0.090)) for r in results[:3:3]
        ]
        cal = calibration_from_results(results + few, SERVERS)
        assert len(few) < MIN_SERVER_RESULTS
        edge = [r.timings.inference for r in results + few if r.tier == "edge"]
        assert cal.inference_s(SERVERS[1]) == pytest.approx(float(np.mean(edge)), abs=1e-6)
        assert cal.inference_s(SERVERS[0]) == pytest.approx(0.030)

    def test_the_base_calibration_is_kept(self):
        base = Calibration(
            complexity_edges=(0.003, 0.005),
            models={"cloud": ModelPrior(inference_s=0.03, accuracy=37.7, source="card")},
            servers={"cloud": ServerPrior(model="cloud", accuracy=37.7, link_bps=3e8)},
            source="profiled",
        )
        cal = calibration_from_results(run(), SERVERS, base=base, source="live results x")
        assert cal.complexity_edges == (0.003, 0.005)
        assert cal.accuracy(SERVERS[2]) == 37.7 and cal.link_bps(SERVERS[2]) == 3e8
        assert cal.models["cloud"].inference_s == pytest.approx(0.070)
        assert "card" in cal.models["cloud"].source
        assert cal.source == "profiled; live results x"
        assert Calibration.from_json(cal.to_json()) == cal

    def test_results_without_assigned_at_are_a_clear_error(self):
        with pytest.raises(ConfigError, match="no served results with assigned_at"):
            calibration_from_results([replace(r, assigned_at=None) for r in run()], SERVERS)
