from __future__ import annotations

import math

import pytest

from cdio_stream.errors import MessageError
from cdio_stream.messages import Costs, Result, Timings, encode_result
from cdio_stream.pipeline.metrics import LiveMetrics, PrometheusCollector


def result(i: int, server: str, accuracy: float | None, a_req: float, delay: float, d_req: float) -> Result:
    return Result(
        task_id=f"s/{i}",
        stream_id="s",
        frame_no=i,
        server_id=server,
        tier="cloud" if server == "cloud" else "edge",
        model="m",
        a_req=a_req,
        d_req=d_req,
        payload_bytes=1000,
        detections=(),
        accuracy=accuracy,
        timings=Timings(preprocess=0.0, queue=0.0, transmission=0.0, inference=delay),
        costs=Costs(compute=2.0, bandwidth=8e6, energy=1.0),
        completed_at=0.0,
    )


class TestLiveMetrics:
    def test_paper_metrics(self):
        m = LiveMetrics()
        m.add(result(1, "edge-1", 70.0, 60.0, 0.1, 0.3))  # both met
        m.add(result(2, "edge-1", 50.0, 60.0, 0.5, 0.3))  # neither
        m.add(result(3, "cloud", 80.0, 60.0, 0.2, 0.3))  # both met
        m.add(result(4, "cloud", None, 60.0, 0.2, 0.3))  # no ground truth: delay only
        s = m.summary()
        assert s["tasks"] == 4
        assert s["mean_accuracy"] == pytest.approx(200 / 3)
        assert s["acc_success"] == pytest.approx(2 / 3)
        assert s["delay_success"] == pytest.approx(3 / 4)
        assert s["mean_delay_s"] == pytest.approx(0.25)
        assert s["compute_tflop"] == 2.0
        assert s["bandwidth_mbps"] == 8.0
        assert s["cloud_share"] == 0.5
        assert m.stage_percentiles()["inference"][0] == pytest.approx(0.2)
        assert "mean delay (ms)" in m.table()

    def test_wan_occupancy_counts_only_cloud_bytes_over_the_run(self):
        from dataclasses import replace

        m = LiveMetrics()
        m.add(replace(result(1, "edge-1", 70.0, 60.0, 0.1, 0.3), capture_time=100.0, completed_at=100.2))
        m.add(replace(result(2, "cloud", 70.0, 60.0, 0.1, 0.3), capture_time=100.5, completed_at=102.0))
        m.add(replace(result(3, "cloud", 70.0, 60.0, 0.1, 0.3), capture_time=101.0, completed_at=101.5))
        s = m.summary()
        assert s["wan_bytes_per_task"] == pytest.approx(
            2000 / 3
        )  # two 1000-byte cloud tasks, the edge's is LAN
        assert s["wan_mbps"] == pytest.approx(2000 * 8 / 2.0 / 1e6)  # over first capture .. last completion
        restored = LiveMetrics()
        restored.restore(m.snapshot())
        assert restored.summary()["wan_mbps"] == pytest.approx(s["wan_mbps"])

    def test_duplicates_counted_once(self):
        m = LiveMetrics()
        r = result(1, "edge-1", 70.0, 60.0, 0.1, 0.3)
        m.add_encoded(encode_result(r))
        m.add_encoded(encode_result(r))
        assert m.count == 1 and m.duplicates == 1

    def test_empty_run_is_nan_not_an_error(self):
        s = LiveMetrics().summary()
        assert s["tasks"] == 0 and math.isnan(s["mean_accuracy"])

    def test_tables_print_na_where_nothing_was_measured(self):
        m = LiveMetrics()
        m.add(result(1, "edge-1", None, 60.0, 0.1, 0.3))  # no ground truth anywhere
        table, line = m.table(), m.log_line()
        assert "nan" not in table.lower() and "nan" not in line.lower()
        rows = {k.strip(): v for k, v in (r.rsplit("  ", 1) for r in table.splitlines())}
        assert rows["mean accuracy (mAP50, %)"].strip() == "n/a"
        assert rows["accuracy success rate"].strip() == "n/a"
        assert rows["delay success rate"].strip() == "100.0%"
        assert "acc=n/a acc_ok=n/a" in line
        assert math.isnan(m.summary()["mean_accuracy"])  # the numbers stay NaN (JSON: null)

    def test_prometheus_collector(self):
        m = LiveMetrics()
        m.add(result(1, "cloud", 70.0, 60.0, 0.1, 0.3))
        families = {f.name: f for f in PrometheusCollector(m).collect()}
        assert families["cdio_tasks"].samples[0].value == 1
        assert families["cdio_server_tasks"].samples[0].labels == {"server": "cloud"}


class TestSinkState:
    def test_unknown_server_is_rejected(self):
        m = LiveMetrics(servers=["edge-1", "cloud"])
        with pytest.raises(MessageError, match="unknown server 'edge-9'"):
            m.add(result(1, "edge-9", 70.0, 60.0, 0.1, 0.3))
        assert m.count == 0

    def test_snapshot_restores_totals_seen_tasks_and_positions(self):
        m = LiveMetrics(servers=["edge-1", "cloud"])
        for i in range(5):
            m.add(result(i, "edge-1" if i % 2 else "cloud", 60.0 + i, 60.0, 0.1 * i, 0.3))
        m.positions.advance("results", 2, 9)
        restored = LiveMetrics(servers=["edge-1", "cloud"])
        restored.restore(m.snapshot())
        assert restored.summary() == m.summary()
        assert restored.stage_percentiles() == m.stage_percentiles()
        assert restored.per_server == m.per_server and restored.task_ids == m.task_ids
        assert restored.positions.included("results", 2, 9) and not restored.positions.included(
            "results", 2, 10
        )
        assert restored.add(result(3, "edge-1", 60.0, 60.0, 0.1, 0.3)) is False  # counted before the restart
        assert restored.count == 5 and restored.duplicates == 1

    def test_seen_set_and_samples_are_bounded(self):
        m = LiveMetrics(max_seen=3, max_samples=2)
        for i in range(5):
            m.add(result(i, "cloud", 70.0, 60.0, 0.1, 0.3))
        assert m.task_ids == {"s/2", "s/3", "s/4"}
        assert len(m._stage["total"]) == 2
        assert m.count == 5 and m.summary()["mean_delay_s"] == pytest.approx(0.1)
