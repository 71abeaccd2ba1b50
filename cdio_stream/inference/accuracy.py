"""Per-frame accuracy: mAP50 of one frame's detections against its ground truth, in percent.

Matching and AP come from Ultralytics' own validation code
(``BaseValidator.match_predictions``: greedy, highest confidence first, one
ground-truth box per detection; ``ap_per_class``: COCO 101-point interpolated
AP), evaluated at the single IoU threshold 0.5, so a frame's number is what
``yolo val`` would report for a one-image dataset.

Rules, chosen so that the simulator and the rewards always get a number:

* Ground truth and detections whose box centre lies in an ignored region are
  dropped before matching (UA-DETRAC's evaluation protocol).
* mAP averages AP over the classes present in the (kept) ground truth; a
  detection of a class absent from the frame lowers nothing (as in ``yolo val``).
* No ground truth and no detections: 100.0 (nothing to find, nothing wrong).
  No ground truth but detections: 0.0 (all false positives).
  Ground truth but no detections: 0.0.
* A perfect frame scores 99.5, not 100: the 101-point interpolation's last
  recall step loses half a bin (Ultralytics reports 0.995 for the same reason).

``frame_map50`` returns ``None`` only when it is given no ground truth at all
(the frame is not annotated), which callers must treat as "accuracy unknown".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from cdio_stream.data.annotations import GroundTruth
from cdio_stream.inference.detections import Detections
from cdio_stream.inference.offline import ensure_ultralytics

__all__ = ["EMPTY_FRAME_MAP50", "FrameMatch", "dataset_map50", "frame_map50", "in_regions", "match_frame"]

#: Accuracy of a frame with no (kept) ground truth and no (kept) detections.
EMPTY_FRAME_MAP50 = 100.0


def in_regions(boxes: np.ndarray, regions: np.ndarray | None) -> np.ndarray:
    """Boolean mask: which xyxy ``boxes`` have their centre inside any xyxy ``regions`` box."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if regions is None or len(regions) == 0 or len(boxes) == 0:
        return np.zeros(len(boxes), dtype=bool)
    regions = np.asarray(regions, dtype=np.float64).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2])[:, None] / 2
    cy = (boxes[:, 1] + boxes[:, 3])[:, None] / 2
    inside = (cx >= regions[:, 0]) & (cx <= regions[:, 2]) & (cy >= regions[:, 1]) & (cy <= regions[:, 3])
    return inside.any(axis=1)


@dataclass(frozen=True, eq=False)
class FrameMatch:
    """One frame's detections matched to its ground truth (after the ignored-region rule).

    ``correct`` (N,) bool: detection i is a true positive at the IoU threshold;
    ``scores``/``classes`` (N,) of the kept detections, ``gt_classes`` (M,) of the kept
    ground truth. Pooling matches over frames gives dataset-level mAP (:func:`dataset_map50`).
    """

    correct: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    gt_classes: np.ndarray


def match_frame(
    detections: Detections,
    ground_truth: GroundTruth,
    *,
    iou_threshold: float = 0.5,
    class_agnostic: bool = False,
) -> FrameMatch:
    """Drop what lies in ignored regions, then match detections to ground truth (Ultralytics' matcher)."""
    if not 0.0 < iou_threshold < 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1), got {iou_threshold}")
    gt_boxes = np.asarray(ground_truth.boxes, dtype=np.float32).reshape(-1, 4)
    gt_classes = np.asarray(ground_truth.classes, dtype=np.int64).reshape(-1)
    if len(gt_classes) != len(gt_boxes):
        raise ValueError(f"{len(gt_boxes)} ground-truth boxes but {len(gt_classes)} classes")
    keep_gt = ~in_regions(gt_boxes, ground_truth.ignored)
    gt_boxes, gt_classes = gt_boxes[keep_gt], gt_classes[keep_gt]
    dets = detections.filter(~in_regions(detections.boxes, ground_truth.ignored))
    classes = dets.classes
    if class_agnostic:
        gt_classes, classes = np.zeros_like(gt_classes), np.zeros_like(classes)
    if len(dets) == 0 or len(gt_boxes) == 0:
        correct = np.zeros(len(dets), dtype=bool)
    else:
        correct = _correct(dets.boxes, classes, dets.scores, gt_boxes, gt_classes, iou_threshold)
    return FrameMatch(correct, dets.scores, classes, gt_classes)


def frame_map50(
    detections: Detections,
    ground_truth: GroundTruth | None,
    *,
    iou_threshold: float = 0.5,
    class_agnostic: bool = False,
) -> float | None:
    """mAP at IoU ``iou_threshold`` of one frame, in percent (see the module docstring for the rules).

    ``ground_truth`` (from :meth:`cdio_stream.data.detrac.Sequence.ground_truth`)
    holds xyxy pixel boxes, DETRAC class ids and the ignored regions, in the same
    frame as ``detections``; None means the frame is not annotated and gives None.
    ``class_agnostic`` scores boxes regardless of class.
    """
    if ground_truth is None:
        return None
    m = match_frame(detections, ground_truth, iou_threshold=iou_threshold, class_agnostic=class_agnostic)
    if len(m.gt_classes) == 0:
        return EMPTY_FRAME_MAP50 if len(m.scores) == 0 else 0.0
    return dataset_map50([m])


def dataset_map50(matches: Iterable[FrameMatch]) -> float:
    """mAP over many frames pooled together (what ``yolo val`` reports), in percent.

    Frames without ground truth still contribute their false positives; with no
    ground truth at all the result is 0.0.
    """
    matches = list(matches)
    gt_classes = np.concatenate([m.gt_classes for m in matches]) if matches else np.zeros(0, np.int64)
    if len(gt_classes) == 0:
        return 0.0
    correct = np.concatenate([m.correct for m in matches])
    if len(correct) == 0:
        return 0.0
    ensure_ultralytics()
    from ultralytics.utils.metrics import ap_per_class

    scores = np.concatenate([m.scores for m in matches])
    classes = np.concatenate([m.classes for m in matches])
    ap = ap_per_class(correct[:, None], scores, classes, gt_classes)[5]  # (classes in ground truth, 1)
    return 100.0 * float(ap[:, 0].mean())


def _correct(
    boxes: np.ndarray,
    classes: np.ndarray,
    scores: np.ndarray,
    gt_boxes: np.ndarray,
    gt_classes: np.ndarray,
    iou_threshold: float,
) -> np.ndarray:
    ensure_ultralytics()
    import torch
    from ultralytics.engine.validator import BaseValidator
    from ultralytics.utils.metrics import box_iou

    order = np.argsort(-scores, kind="stable")  # match_predictions expects descending confidence
    iou = box_iou(torch.from_numpy(gt_boxes), torch.from_numpy(boxes[order]))  # (M, N)
    # match_predictions only reads ``self.iouv`` (the IoU thresholds), so a namespace stands in for a validator.
    matcher = SimpleNamespace(iouv=torch.tensor([iou_threshold]))
    ordered = BaseValidator.match_predictions(
        matcher, torch.from_numpy(classes[order]), torch.from_numpy(gt_classes), iou
    ).numpy()[:, 0]
    correct = np.empty_like(ordered)
    correct[order] = ordered
    return correct
