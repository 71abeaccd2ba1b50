"""Per-frame mAP50 on hand-made boxes whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from cdio_stream.inference.accuracy import EMPTY_FRAME_MAP50, frame_map50, in_regions
from cdio_stream.inference.detections import Detections

CAR, BUS, VAN = 0, 1, 2
A = [10, 10, 50, 50]
B = [100, 100, 160, 140]
C = [300, 50, 340, 90]

# Ultralytics' COCO 101-point interpolation: a perfect class scores 0.995, precision 1/2 at
# full recall scores 0.4975 (see the accuracy module docstring).
PERFECT = 99.5


def dets(boxes, classes, scores) -> Detections:
    return Detections(np.asarray(boxes, dtype=np.float32), classes, scores)


@pytest.fixture(autouse=True)
def _configured(inference_settings):
    from cdio_stream.inference.offline import configure_ultralytics

    configure_ultralytics(inference_settings.cache_dir)


class TestKnownFrames:
    def test_perfect_detections(self, gt_factory):
        gt = gt_factory([A, B], [CAR, BUS])
        assert frame_map50(dets([A, B], [CAR, BUS], [0.9, 0.8]), gt) == pytest.approx(PERFECT)

    def test_one_of_two_classes_missed(self, gt_factory):
        gt = gt_factory([A, B], [CAR, BUS])
        # car AP 0.995, bus AP 0 -> mean 0.4975
        assert frame_map50(dets([A], [CAR], [0.9]), gt) == pytest.approx(PERFECT / 2)

    def test_half_the_cars_found(self, gt_factory):
        gt = gt_factory([A, B], [CAR, CAR])
        # precision 1 up to recall 0.5, then nothing; the 101-point grid loses half a bin at the
        # drop, as at recall 1 for a perfect class -> 0.495
        assert frame_map50(dets([A], [CAR], [0.9]), gt) == pytest.approx(49.5)

    def test_confident_false_positive_before_the_true_one(self, gt_factory):
        gt = gt_factory([A], [CAR])
        # ranked FP then TP: precision 1/2 at recall 1 -> AP = 0.4975
        out = frame_map50(dets([C, A], [CAR, CAR], [0.9, 0.5]), gt)
        assert out == pytest.approx(PERFECT / 2)

    def test_false_positive_ranked_last_costs_nothing(self, gt_factory):
        gt = gt_factory([A], [CAR])
        assert frame_map50(dets([A, C], [CAR, CAR], [0.9, 0.1]), gt) == pytest.approx(PERFECT)

    def test_wrong_class_is_a_miss(self, gt_factory):
        gt = gt_factory([A], [CAR])
        assert frame_map50(dets([A], [VAN], [0.9]), gt) == 0.0

    def test_class_agnostic_ignores_the_class(self, gt_factory):
        gt = gt_factory([A], [CAR])
        assert frame_map50(dets([A], [VAN], [0.9]), gt, class_agnostic=True) == pytest.approx(PERFECT)

    def test_iou_below_half_is_a_miss_above_is_a_hit(self, gt_factory):
        gt = gt_factory([[0, 0, 100, 100]], [CAR])
        low = frame_map50(dets([[0, 0, 100, 45]], [CAR], [0.9]), gt)  # IoU 0.45
        high = frame_map50(dets([[0, 0, 100, 55]], [CAR], [0.9]), gt)  # IoU 0.55
        assert (low, high) == (0.0, pytest.approx(PERFECT))

    def test_a_second_detection_of_one_object_is_a_false_positive(self, gt_factory):
        gt = gt_factory([A], [CAR])
        out = frame_map50(dets([[11, 11, 50, 50], A], [CAR, CAR], [0.9, 0.8]), gt)
        assert out == pytest.approx(PERFECT)  # the duplicate ranks second: recall already 1

    def test_detection_order_does_not_matter(self, gt_factory):
        gt = gt_factory([A, B], [CAR, CAR])
        d1 = dets([A, C, B], [CAR, CAR, CAR], [0.9, 0.8, 0.7])
        d2 = dets([B, A, C], [CAR, CAR, CAR], [0.7, 0.9, 0.8])
        assert frame_map50(d1, gt) == pytest.approx(frame_map50(d2, gt))
        assert 50.0 < frame_map50(d1, gt) < PERFECT


class TestIgnoredRegions:
    def test_detection_in_ignored_region_is_dropped(self, gt_factory):
        gt = gt_factory([A], [CAR], ignored=[[280, 30, 360, 110]])
        with_fp = frame_map50(dets([C, A], [CAR, CAR], [0.9, 0.5]), gt)
        assert with_fp == pytest.approx(PERFECT)

    def test_ground_truth_in_ignored_region_is_dropped(self, gt_factory):
        gt = gt_factory([A, C], [CAR, CAR], ignored=[[280, 30, 360, 110]])
        assert frame_map50(dets([A], [CAR], [0.9]), gt) == pytest.approx(PERFECT)

    def test_centre_rule(self):
        regions = np.array([[0, 0, 100, 100]], dtype=np.float32)
        boxes = np.array([[90, 90, 105, 105], [90, 90, 130, 130]], dtype=np.float32)  # centres 97.5, 110
        assert in_regions(boxes, regions).tolist() == [True, False]
        assert in_regions(boxes, None).tolist() == [False, False]


class TestEmptyCases:
    def test_no_ground_truth_no_detections_is_perfect(self, gt_factory):
        assert frame_map50(Detections.empty(), gt_factory([], [])) == EMPTY_FRAME_MAP50 == 100.0

    def test_no_ground_truth_with_detections_is_zero(self, gt_factory):
        assert frame_map50(dets([A], [CAR], [0.9]), gt_factory([], [])) == 0.0

    def test_ground_truth_without_detections_is_zero(self, gt_factory):
        assert frame_map50(Detections.empty(), gt_factory([A], [CAR])) == 0.0

    def test_everything_ignored_counts_as_empty(self, gt_factory):
        gt = gt_factory([A], [CAR], ignored=[[0, 0, 60, 60]])
        assert frame_map50(dets([A], [CAR], [0.9]), gt) == 100.0

    def test_unannotated_frame_is_none(self):
        assert frame_map50(dets([A], [CAR], [0.9]), None) is None


class TestValidation:
    def test_bad_iou_threshold(self, gt_factory):
        with pytest.raises(ValueError, match="iou_threshold"):
            frame_map50(Detections.empty(), gt_factory([A], [CAR]), iou_threshold=1.5)

    def test_mismatched_detections(self):
        with pytest.raises(ValueError, match="as many boxes"):
            Detections(np.zeros((2, 4)), [0], [0.5, 0.5])

    def test_real_sample_ground_truth_scores_itself_perfect(self, sample_dir):
        from cdio_stream.data.detrac import DetracDataset

        gt = DetracDataset(sample_dir)["MVI_20011"].ground_truth(1)
        perfect = Detections(gt.boxes, gt.classes, np.linspace(0.9, 0.5, len(gt)))
        assert len(gt) == 7
        assert frame_map50(perfect, gt) == pytest.approx(PERFECT)
