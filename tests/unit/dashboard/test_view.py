"""DashboardView: rolling windows, frames paired with results, and figures read from LiveMetrics."""

from __future__ import annotations

import math
from dataclasses import replace

import orjson
import pytest


def feed(view, metrics, result):
    """What the sink does: the metrics count a result, the view sees it only if it was counted."""
    before = metrics.count
    metrics.add(result)
    if metrics.count > before:
        view.add_result(result)


class TestRun:
    def test_whole_run_figures_are_the_sink_metrics(self, view_factory, result_factory):
        view, metrics, _ = view_factory()
        for i in range(1, 6):
            feed(
                view,
                metrics,
                result_factory(frame_no=i, accuracy=50.0 + 5 * i, server="cloud" if i % 2 else "edge-1"),
            )
        run = view.snapshot()["run"]
        summary = metrics.summary()
        for key, value in summary.items():
            if key.startswith("feedback_"):  # shown together, as the shares of each source
                assert run["accuracy_sources"].get(key.removeprefix("feedback_"), 0.0) == pytest.approx(value)
            else:
                assert run[key] == pytest.approx(value), key
        assert run["tasks"] == 5

    def test_duplicates_are_not_seen_twice(self, view_factory, result_factory):
        view, metrics, _ = view_factory()
        feed(view, metrics, result_factory(frame_no=1))
        feed(view, metrics, result_factory(frame_no=1))
        snap = view.snapshot()
        assert snap["run"]["duplicates"] == 1
        assert snap["servers"][0]["window_tasks"] == 1

    def test_empty_run_is_valid_json_without_nan(self, view_factory):
        view, _, _ = view_factory()
        snap = view.snapshot()
        assert snap["run"]["mean_accuracy"] is None  # NaN in the summary becomes null
        text = orjson.dumps(snap)
        assert b"NaN" not in text
        assert snap["streams"] == [] and snap["policy"] is None

    def test_wan_uplink_counts_only_cloud_payloads(self, view_factory, result_factory):
        view, metrics, clock = view_factory(window_s=10.0)
        clock.t += 10.0  # the window is full
        feed(view, metrics, result_factory(frame_no=1, server="cloud", payload=500_000))
        feed(view, metrics, result_factory(frame_no=2, server="edge-1", payload=900_000))
        run = view.snapshot()["run"]
        assert run["wan_uplink_mbps"] == pytest.approx(500_000 * 8 / 10.0 / 1e6)
        assert run["wan_bytes_per_task"] == pytest.approx(500_000 / 2)

    def test_accuracy_sources_are_shares_of_counted_results(self, view_factory, result_factory):
        view, metrics, _ = view_factory()
        assert view.snapshot()["run"]["accuracy_sources"] is None
        feed(view, metrics, result_factory(frame_no=1, accuracy=70.0))  # ground truth
        feed(view, metrics, result_factory(frame_no=2, accuracy=None))
        feed(view, metrics, result_factory(frame_no=3, accuracy=40.0, source="reference"))
        feed(view, metrics, result_factory(frame_no=3, accuracy=40.0, source="reference"))  # duplicate
        snap = view.snapshot()
        assert snap["run"]["accuracy_sources"] == pytest.approx(
            {"truth": 1 / 3, "none": 1 / 3, "reference": 1 / 3}
        )
        assert snap["streams"][0]["frame"] is None  # no frame held

    def test_expired_share_per_server_counts_shed_results_as_delay_failures(
        self, view_factory, result_factory
    ):
        view, metrics, _ = view_factory()
        feed(view, metrics, result_factory(frame_no=1, delay=0.1))
        shed = replace(
            result_factory(frame_no=2, accuracy=None, detections=(), delay=0.1), expired="inference"
        )
        feed(view, metrics, shed)
        feed(view, metrics, result_factory(frame_no=3, delay=0.1))
        feed(view, metrics, result_factory(frame_no=4, delay=0.1))
        snap = view.snapshot()
        edge, cloud = snap["servers"]
        assert edge["expired_share"] == pytest.approx(1 / 4)
        assert edge["delay_success"] == pytest.approx(
            3 / 4
        )  # the shed one missed D^q, its 0.1 s notwithstanding
        assert cloud["expired_share"] is None  # no results: nothing to share
        assert snap["run"]["expired_share"] == pytest.approx(1 / 4)
        assert snap["run"]["served_delay_success"] == pytest.approx(1.0)


class TestServers:
    def test_rolling_window_rates_and_success(self, view_factory, result_factory):
        view, metrics, clock = view_factory(window_s=10.0)
        clock.t += 20.0
        # Old results: fall out of the window but stay in the run totals.
        feed(view, metrics, result_factory(frame_no=1, accuracy=10.0))
        feed(view, metrics, result_factory(frame_no=2, accuracy=10.0))
        clock.t += 11.0
        feed(view, metrics, result_factory(frame_no=3, accuracy=70.0, delay=0.1))
        feed(view, metrics, result_factory(frame_no=4, accuracy=50.0, delay=0.5))
        feed(view, metrics, result_factory(frame_no=5, accuracy=None, delay=0.1))
        feed(view, metrics, result_factory(frame_no=6, server="cloud"))
        edge, cloud = view.snapshot()["servers"]
        assert edge["id"] == "edge-1" and edge["tasks"] == 5
        assert edge["share"] == pytest.approx(5 / 6)
        assert edge["window_tasks"] == 3
        assert edge["tasks_per_s"] == pytest.approx(3 / 10.0)
        assert edge["accuracy_success"] == pytest.approx(1 / 2)  # the one without ground truth is not judged
        assert edge["delay_success"] == pytest.approx(2 / 3)
        assert cloud["tasks"] == 1 and cloud["window_tasks"] == 1

    def test_rate_before_the_window_is_full_uses_elapsed_time(self, view_factory, result_factory):
        view, metrics, clock = view_factory(window_s=30.0)
        clock.t += 5.0
        feed(view, metrics, result_factory(frame_no=1))
        assert view.snapshot()["servers"][0]["tasks_per_s"] == pytest.approx(1 / 5.0)

    def test_queue_is_the_lag_of_the_servers_assignment_topic(self, view_factory):
        view, _, _ = view_factory()
        assert view.snapshot()["servers"][0]["queue"] is None  # lag not read yet
        view.set_lag({("assign.edge-1", "inference-edge-1"): 7, ("frames", "preprocess"): 3})
        snap = view.snapshot()
        assert snap["servers"][0]["queue"] == 7
        assert snap["servers"][1]["queue"] is None  # cloud has no queue mapping in this view
        assert {(x["topic"], x["group"], x["lag"]) for x in snap["lag"]} == {
            ("assign.edge-1", "inference-edge-1", 7),
            ("frames", "preprocess", 3),
        }

    def test_lag_error_keeps_the_last_lag(self, view_factory):
        view, _, _ = view_factory()
        view.set_lag({("frames", "preprocess"): 3})
        view.set_lag({}, error="broker down")
        snap = view.snapshot()
        assert snap["lag_error"] == "broker down" and snap["lag"][0]["lag"] == 3


class TestStreams:
    def test_shows_the_newest_result_whose_frame_is_held(self, view_factory, result_factory, jpeg_factory):
        view, metrics, _ = view_factory()
        view.add_frame("cam-1", "cam-1/1", jpeg_factory(seed=1))
        feed(view, metrics, result_factory(frame_no=1, accuracy=70.0, a_req=60.0, delay=0.5, d_req=0.4))
        feed(view, metrics, result_factory(frame_no=2))  # its frame has not arrived yet
        (stream,) = view.snapshot()["streams"]
        assert stream["id"] == "cam-1" and stream["latest_frame_no"] == 2
        frame = stream["frame"]
        assert frame["task_id"] == "cam-1/1" and frame["server_id"] == "edge-1"
        assert frame["accuracy_met"] is True and frame["delay_met"] is False
        assert frame["detections"] == [[10.0, 20.0, 110.0, 80.0, 0, 0.9]]
        view.add_frame("cam-1", "cam-1/2", jpeg_factory(seed=2))
        assert view.snapshot()["streams"][0]["frame"]["task_id"] == "cam-1/2"
        assert view.frame_jpeg("cam-1", "cam-1/2") == jpeg_factory(seed=2)

    def test_frames_and_results_are_bounded_per_stream(self, view_factory, result_factory, jpeg_factory):
        view, metrics, _ = view_factory(frames_per_stream=3)
        for i in range(1, 11):
            view.add_frame("cam-1", f"cam-1/{i}", jpeg_factory(seed=i))
            feed(view, metrics, result_factory(frame_no=i))
        assert view.frame_jpeg("cam-1", "cam-1/7") is None
        assert view.frame_jpeg("cam-1", "cam-1/8") is not None
        assert len(view._streams["cam-1"].results) == 3
        assert view.snapshot()["streams"][0]["frame"]["frame_no"] == 10

    def test_streams_are_bounded(self, view_factory, jpeg_factory):
        view, _, _ = view_factory(max_streams=2)
        for s in ("a", "b", "c"):
            view.add_frame(s, f"{s}/1", jpeg_factory())
        assert [s["id"] for s in view.snapshot()["streams"]] == ["b", "c"]

    def test_unknown_stream_or_task_has_no_frame(self, view_factory):
        view, _, _ = view_factory()
        assert view.frame_jpeg("nope", "nope/1") is None


class TestDeadLettersAndPolicy:
    def test_dead_letters_by_stage_and_reason_most_first(self, view_factory):
        view, _, _ = view_factory()
        view.add_dead_letter("preprocess", "frame: not a JPEG")
        view.add_dead_letter("scheduler", "result for unknown task")
        view.add_dead_letter("preprocess", "frame: not a JPEG")
        assert view.snapshot()["dead_letters"] == [
            {"stage": "preprocess", "reason": "frame: not a JPEG", "count": 2},
            {"stage": "scheduler", "reason": "result for unknown task", "count": 1},
        ]

    def test_policy_view_is_passed_through(self, view_factory):
        view, _, _ = view_factory()
        view.set_policy_view({"policy": "cdio", "rows": []})
        assert view.snapshot()["policy"] == {"policy": "cdio", "rows": []}


@pytest.mark.parametrize("kwargs", [{"window_s": 0}, {"frames_per_stream": 0}])
def test_bad_parameters_say_which(view_factory, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        view_factory(**kwargs)


def test_nan_check_helper_is_exact():
    from cdio_stream.dashboard.view import _finite

    assert _finite(float("nan")) is None and _finite(math.inf) is None and _finite(1.5) == 1.5
