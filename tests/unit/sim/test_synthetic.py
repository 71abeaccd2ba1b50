"""The synthetic trace generator and the workload built from it."""

from __future__ import annotations

import numpy as np
import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.sim import SyntheticTraceConfig, WorkloadConfig, build_tasks, synthetic_trace
from cdio_stream.trace import read_trace, write_trace


@pytest.fixture(scope="module")
def trace():
    return synthetic_trace(SyntheticTraceConfig(streams=4, frames=600, seed=5))


class TestSyntheticTrace:
    def test_shape_and_timing(self, trace):
        assert len(trace) == 2400 and len({f.stream for f in trace}) == 4
        first = [f for f in trace if f.stream == "SYN_01"]
        assert [f.frame for f in first[:3]] == [1, 2, 3]
        assert first[25].capture_time == pytest.approx(1.0)  # 25 fps

    def test_seeded(self):
        cfg = SyntheticTraceConfig(streams=2, frames=50, seed=9)
        assert synthetic_trace(cfg) == synthetic_trace(cfg)
        assert synthetic_trace(cfg) != synthetic_trace(SyntheticTraceConfig(streams=2, frames=50, seed=10))

    def test_values_in_range(self, trace):
        assert all(0.0 <= f.complexity <= 1.0 for f in trace)
        assert all(0.0 <= a <= 100.0 for f in trace for a in f.accuracy.values())
        assert all(sum(f.complexity_scales) == pytest.approx(f.complexity) for f in trace[:100])

    def test_small_models_degrade_faster_with_complexity(self, trace):
        c = np.array([f.complexity for f in trace])
        slope = {
            m: np.polyfit(c, [f.accuracy[m] for f in trace], 1)[0] for m in ("yolov5s", "yolov5l", "yolov5x6")
        }
        assert slope["yolov5s"] < slope["yolov5l"] < slope["yolov5x6"] < 0

    def test_model_ranking_follows_table1(self, trace):
        mean = {m: np.mean([f.accuracy[m] for f in trace]) for m in trace[0].accuracy}
        assert mean["yolov5s"] < mean["yolov5s6"] < mean["yolov5l"] < mean["yolov5x"] < mean["yolov5x6"]

    def test_payload_grows_with_complexity(self, trace):
        c = np.array([f.complexity for f in trace])
        assert np.corrcoef(c, [f.jpeg_bytes for f in trace])[0, 1] > 0.5

    def test_roundtrips_through_the_trace_format(self, trace, tmp_path):
        write_trace(tmp_path / "t.jsonl", trace[:20])
        assert read_trace(tmp_path / "t.jsonl") == trace[:20]

    def test_bad_config(self):
        with pytest.raises(ConfigError):
            synthetic_trace(SyntheticTraceConfig(streams=0))


class TestWorkload:
    def test_requirements_follow_the_paper(self, trace):
        tasks, order = build_tasks(trace, "yolov5s", WorkloadConfig(seed=1))
        a = np.array([t.a_req for t in tasks])
        d = np.array([t.d_req for t in tasks])
        assert 50 <= a.min() and a.max() <= 80 and 0.2 <= d.min() and d.max() <= 0.6
        assert [t.arrival_time for t in tasks] == sorted(t.arrival_time for t in tasks)
        assert sorted(order.tolist()) == list(range(len(trace)))

    def test_noisy_oracle_preference_error_rate(self, trace):
        tasks, order = build_tasks(trace, "yolov5s", WorkloadConfig(preference_error=0.2, seed=3))
        truth = [trace[i].accuracy["yolov5s"] < t.a_req for t, i in zip(tasks, order, strict=True)]
        said = [t.preference >= 0.5 for t in tasks]
        error = np.mean([a != b for a, b in zip(truth, said, strict=True)])
        assert 0.17 < error < 0.23

    def test_no_preference(self, trace):
        tasks, _ = build_tasks(trace[:10], None, WorkloadConfig(preference="none"))
        assert all(t.preference is None for t in tasks)

    def test_missing_edge_model(self, trace):
        with pytest.raises(ConfigError, match="yolov9"):
            build_tasks(trace[:10], "yolov9")
