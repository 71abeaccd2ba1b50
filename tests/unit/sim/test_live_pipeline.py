"""The simulator modelling the live deployment: the servers of topics.yaml with registry
detectors, a calibration measured on a running pipeline (its latencies, detector slowdown),
the replay's pacing and requirement draws. No broker."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cdio_stream.calibration import Calibration, PipelinePrior, ServerPrior, distribution
from cdio_stream.data.requirements import RequirementSampler
from cdio_stream.errors import ConfigError
from cdio_stream.policy import make_policy
from cdio_stream.sim import Simulator, SyntheticTraceConfig, WorkloadConfig, build_tasks, synthetic_trace
from cdio_stream.system import default_profiles, make_links
from cdio_stream.topology import load_topology

ROOT = Path(__file__).resolve().parents[3]
SERVERS = load_topology(ROOT / "topics.yaml").servers  # edge-1..4 run "edge", cloud runs "cloud"
SIX = ("acc_success", "delay_success", "mean_delay_s", "compute_tflop", "wan_mbps", "energy_j_per_task")


def live_trace(streams: int = 4, frames: int = 30, fps: float = 2.5, seed: int = 3):
    """A trace as `cdio-stream profile --models edge,cloud` writes it: registry model names,
    per-frame latencies of the detectors alone, at the replay's pacing."""
    trace = synthetic_trace(SyntheticTraceConfig(streams=streams, frames=frames, fps=fps, seed=seed,
                                                 models=("yolov5s", "yolov5l")))  # fmt: skip
    names = {"yolov5s": "edge", "yolov5l": "cloud"}

    def rename(d: dict, scale: float = 1.0) -> dict:
        return {names[k]: v * scale for k, v in d.items()}

    return [replace(f, accuracy=rename(f.accuracy), latency_s=rename(f.latency_s, 0.1)) for f in trace]


PIPE = PipelinePrior(
    preprocess_s=distribution([0.002, 0.003, 0.004]),
    schedule_s=distribution([0.03, 0.04, 0.05]),
    dispatch_s=distribution([0.010, 0.015, 0.020]),
    worker_overhead_s=distribution([0.020, 0.025, 0.030]),
    slowdown={"edge": (2.0, 3.0), "cloud": (1.5, 2.5)},  # alone / with 1 or more others running
)
CAL = Calibration(
    servers={s.id: ServerPrior(model=s.model, inference_s=0.05) for s in SERVERS}, pipeline=PIPE
)
WORKLOAD = WorkloadConfig(a_req_range=(12.2, 67.3), requirements="replay", stream_offsets=False, seed=0)


def live_sim(trace=None, **kw) -> Simulator:
    trace = trace if trace is not None else live_trace()
    kw = {"workload": WORKLOAD, "calibration": CAL, "pipeline": PIPE} | kw
    return Simulator(trace, SERVERS, make_links(SERVERS, "stable", seed=0), **kw)


@pytest.fixture(scope="module")
def run():
    trace = live_trace()
    sim = live_sim(trace)
    return trace, sim, sim.run(make_policy("cdio", SERVERS, calibration=CAL, seed=0))


class TestSimulatingTheLiveDeployment:
    def test_it_runs_and_reports_the_metrics_live_runs_report(self, run):
        trace, _, result = run
        m = result.metrics.as_dict()
        assert m["tasks"] == len(trace) == 120
        for key in SIX:
            assert np.isfinite(m[key]), key
        assert 0 < m["cloud_share"] < 1 and m["compute_tflop"] > 0 and m["energy_j_per_task"] > 0

    def test_inference_is_the_profiled_latency_times_the_slowdown_of_its_contention(self, run):
        trace, _, result = run
        frames = {f"{f.stream}/{f.frame}": f for f in trace}
        calls = [(r.server_id, r.finished_s - r.inference_s, r.finished_s) for r in result.records]
        factors = []
        for r in result.records:
            assert r.batch_size == 1  # a live inference worker serves one task at a time
            start = r.finished_s - r.inference_s
            running = sum(1 for sid, s, e in calls if sid != r.server_id and s <= start < e)
            factor = r.inference_s / frames[r.task_id].latency_s[r.model]
            # The calls on other servers that were scheduled when it was queued and run at its start
            # (a call queued later that starts earlier is not counted: at most the hindsight count).
            assert any(factor == pytest.approx(PIPE.slowdown_for(r.model, k)) for k in range(running + 1))
            factors.append(factor)
        seen = {round(f, 6) for f in factors}
        assert {2.0, 3.0} <= seen and seen & {1.5, 2.5}  # both levels of the edge's; the cloud's

    def test_a_worker_emulates_its_link_and_serves_one_task_at_a_time(self, run):
        _, _, result = run
        by_server = defaultdict(list)
        for r in result.records:
            by_server[r.server_id].append(r)
            assert r.link_start_s >= r.decided_s + 0.010 - 1e-9  # the assignment hop first
            start = r.finished_s - r.inference_s
            assert start == pytest.approx(r.link_start_s + r.transmission_s)  # then its own uplink
        for records in by_server.values():
            records.sort(key=lambda r: r.link_start_s)
            for prev, cur in zip(records, records[1:], strict=False):
                assert (
                    cur.link_start_s >= prev.finished_s + 0.020 - 1e-9
                )  # the worker's overhead between tasks

    def test_frames_captured_together_are_one_preprocess_batch_and_one_slot(self, run):
        _, _, result = run
        by_instant = defaultdict(list)
        for r in result.records:
            by_instant[round(r.arrival_s, 6)].append(r)
        for records in by_instant.values():
            assert len(records) == 4  # four streams, phase-locked as the replay paces them
            pre = {r.preprocess_s for r in records}
            assert len(pre) == 1 and 4 * 0.002 - 1e-9 <= pre.pop() <= 4 * 0.004 + 1e-9
            assert len({r.decided_s for r in records}) == 1
            wait = records[0].decided_s - records[0].arrival_s - records[0].preprocess_s
            assert 0.03 - 1e-9 <= wait <= 0.05 + 1e-9

    def test_energy_is_charged_as_the_live_stage_charges_it(self, run):
        _, sim, result = run
        # No idle tail: the run's energy is the tasks' own.
        assert result.metrics.energy_kj * 1e3 == pytest.approx(sum(r.energy_j for r in result.records))
        profiles = default_profiles()
        first = {}
        for r in sorted(result.records, key=lambda r: r.finished_s):
            first.setdefault(r.server_id, r)
        for sid, r in first.items():  # nothing idle before a server's first detector call
            dev = profiles.device(next(s.device for s in SERVERS if s.id == sid))
            sending = r.payload_bytes * 8.0 / sim.links[[s.id for s in SERVERS].index(sid)].rate_at(0.0)
            assert r.energy_j == pytest.approx(
                dev.working_power_w * r.inference_s + dev.uplink_tx_power_w * sending
            )

    def test_every_policy_sees_the_same_pipeline_draws(self, run):
        _, sim, result = run
        other = sim.run(make_policy("all-edge", SERVERS, calibration=CAL, seed=0))
        pre = {r.task_id: r.preprocess_s for r in result.records}
        assert {r.task_id: r.preprocess_s for r in other.records} == pre
        again = live_sim().run(make_policy("cdio", SERVERS, calibration=CAL, seed=0))
        assert again.metrics == result.metrics

    def test_without_the_pipeline_prior_the_calibrated_time_and_the_papers_model(self):
        sim = live_sim(pipeline=None)
        result = sim.run(make_policy("all-edge", SERVERS, calibration=CAL, seed=0))
        assert result.metrics.tasks == 120
        assert np.mean([r.inference_s for r in result.records]) == pytest.approx(0.05)  # calibrated x jitter

    def test_a_detector_without_a_profile_or_calibrated_time_is_a_clear_error(self):
        with pytest.raises(
            ConfigError, match="edge-1 runs model 'edge'.*no inference time in the calibration"
        ):
            live_sim(calibration=None, pipeline=None)


class TestReplayWorkload:
    def test_requirements_are_drawn_per_stream_as_the_replay_draws_them(self):
        trace = live_trace(streams=3, frames=10)
        tasks, _ = build_tasks(trace, "edge", WORKLOAD)
        sampler = RequirementSampler((12.2, 67.3), (0.2, 0.6), seed=0)
        streams = sorted({f.stream for f in trace})
        for k, stream in enumerate(streams):
            draws = sampler.for_stream(k)
            mine = sorted(
                (t for t in tasks if t.stream_id == stream), key=lambda t: int(t.task_id.split("/")[1])
            )
            assert [(t.a_req, t.d_req) for t in mine] == [draws.draw() for _ in mine]

    def test_streams_start_together(self):
        trace = live_trace(streams=3, frames=5)
        tasks, order = build_tasks(trace, "edge", WORKLOAD)
        assert [t.arrival_time for t in tasks] == [trace[i].capture_time for i in order]
        shifted, _ = build_tasks(trace, "edge", replace(WORKLOAD, stream_offsets=True))
        assert any(t.arrival_time % 0.4 > 1e-9 for t in shifted)

    def test_unknown_requirements_mode(self):
        with pytest.raises(ConfigError, match="requirements must be one of"):
            build_tasks(live_trace(streams=1, frames=2), "edge", replace(WORKLOAD, requirements="magic"))
