"""Grouping frames by object size and weather, and pooled vs per-frame scores."""

from __future__ import annotations

import numpy as np
import pytest

from cdio_stream.inference.accuracy import match_frame
from cdio_stream.inference.detections import Detections
from cdio_stream.inference.evaluate import FrameScore, size_bucket, summarize


@pytest.fixture(autouse=True)
def _configured(inference_settings):
    from cdio_stream.inference.offline import configure_ultralytics

    configure_ultralytics(inference_settings.cache_dir)


class TestSizeBucket:
    @pytest.mark.parametrize(
        ("side", "bucket"), [(10, "small"), (31, "small"), (32, "medium"), (95, "medium"), (96, "large")]
    )
    def test_median_object_size(self, gt_factory, side, bucket):
        gt = gt_factory([[0, 0, side, side], [100, 100, 100 + side, 100 + side]], [0, 0])
        assert size_bucket(gt) == bucket

    def test_ignored_objects_do_not_count(self, gt_factory):
        gt = gt_factory([[0, 0, 10, 10], [200, 200, 400, 400]], [0, 0], ignored=[[150, 150, 450, 450]])
        assert size_bucket(gt) == "small"
        assert size_bucket(gt_factory([], [])) == "empty"


class TestSummarize:
    def test_groups_and_pooling(self, gt_factory):
        box = [10, 10, 60, 60]
        hit = Detections(np.array([box], np.float32), [0], [0.9])
        gt = gt_factory([box], [0])
        scores = [
            FrameScore("a", 1, "sunny", "medium", 1, 99.5, 0.01, match_frame(hit, gt)),
            FrameScore("b", 1, "night", "medium", 1, 0.0, 0.03, match_frame(Detections.empty(), gt)),
        ]
        out = summarize(scores)
        assert set(out) == {"all", "weather:sunny", "weather:night", "size:medium"}
        assert out["all"].frames == 2
        assert out["all"].mean_frame_map50 == pytest.approx(49.75)
        assert out["all"].map50 == pytest.approx(49.5)  # pooled: one of two cars found, at precision 1
        assert out["weather:night"].map50 == 0.0
        assert out["all"].mean_latency_s == pytest.approx(0.02)

    def test_frames_without_ground_truth_are_not_scored_zero(self, gt_factory):
        box = [10, 10, 60, 60]
        hit = Detections(np.array([box], np.float32), [0], [0.9])
        scores = [
            FrameScore("a", 1, "sunny", "medium", 1, 99.5, 0.01, match_frame(hit, gt_factory([box], [0]))),
            FrameScore("u", 1, "unknown", "unannotated", 0, None, 0.03, None),
        ]
        out = summarize(scores)
        assert out["all"].frames == 2 and out["all"].frames_with_truth == 1
        assert out["all"].mean_frame_map50 == pytest.approx(99.5)  # the unannotated frame is left out
        assert out["size:unannotated"].frames_with_truth == 0
        assert out["size:unannotated"].map50 is None and out["size:unannotated"].mean_frame_map50 is None
        assert out["size:unannotated"].mean_latency_s == pytest.approx(0.03)

    def test_report_says_no_ground_truth(self, capsys):
        from dataclasses import asdict

        from cdio_stream.cli.models import _print_report

        groups = summarize(
            [FrameScore("u", i, "unknown", "unannotated", 0, None, 0.02, None) for i in (1, 2)]
        )
        _print_report({"edge": {"groups": {k: asdict(v) for k, v in groups.items()}}})
        out = capsys.readouterr().out
        all_row = next(line for line in out.splitlines() if line.startswith("all "))
        assert "no ground truth" in all_row and "0.0" not in all_row.replace("0.020", "")
        assert "2 frames have no ground truth" in out
