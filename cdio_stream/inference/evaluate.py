"""Score a detector on a DETRAC-format dataset, overall and per group of frames.

Each frame gets its own mAP50 (what the simulator uses) and a
:class:`~cdio_stream.inference.accuracy.FrameMatch`, so that a group of frames also
gets the pooled, ``yolo val``-style mAP50. Frames are grouped by the sequence's
weather and by the size of their objects: the median over the frame's (kept)
ground-truth boxes of sqrt(width x height), bucketed like COCO's areas into
``small`` (< 32 px), ``medium`` (< 96 px) and ``large``; frames without objects are
``empty``. A frame the annotation does not cover (no XML, or a frame the XML does not
list) has no ground truth: its mAP50 is None, it is grouped as ``unannotated``, and a
group of such frames only has a latency; it never scores 0. Small objects are what separates a low-resolution edge model from the
cloud model, so ``small`` frames are the "hard" ones of this project.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from cdio_stream.data.annotations import GroundTruth
from cdio_stream.data.detrac import DetracDataset
from cdio_stream.errors import DatasetError
from cdio_stream.inference.accuracy import FrameMatch, dataset_map50, frame_map50, in_regions, match_frame
from cdio_stream.inference.detections import Detections
from cdio_stream.inference.runner import Detector

__all__ = ["SIZE_BUCKETS", "FrameScore", "GroupScore", "evaluate_detector", "size_bucket", "summarize"]

#: Upper bounds (pixels, exclusive) of the object-size buckets; above the last: "large".
SIZE_BUCKETS: tuple[tuple[str, float], ...] = (("small", 32.0), ("medium", 96.0))


@dataclass(frozen=True, eq=False)
class FrameScore:
    stream: str
    frame: int
    weather: str
    size: str  # size bucket (see module docstring)
    n_objects: int
    map50: float | None  # None: the frame has no ground truth
    latency_s: float
    match: FrameMatch | None


@dataclass(frozen=True)
class GroupScore:
    frames: int
    frames_with_truth: int
    map50: float | None  # pooled over the group's annotated frames, percent; None without any
    mean_frame_map50: float | None  # mean of per-frame values, percent; None without any
    mean_latency_s: float


def size_bucket(gt: GroundTruth) -> str:
    """Size bucket of a frame from its ground truth outside ignored regions."""
    boxes = gt.boxes[~in_regions(gt.boxes, gt.ignored)]
    if len(boxes) == 0:
        return "empty"
    size = float(
        np.median(
            np.sqrt(np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None))
        )
    )
    for name, bound in SIZE_BUCKETS:
        if size < bound:
            return name
    return "large"


def evaluate_detector(
    detector: Detector,
    dataset: DetracDataset,
    *,
    frame_stride: int = 1,
    limit: int | None = None,
    class_agnostic: bool = False,
) -> Iterator[FrameScore]:
    """Run ``detector`` on every ``frame_stride``-th image of every sequence (at most ``limit`` frames)."""
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    n = 0
    for seq in dataset:
        weather = seq.weather or "unknown"
        for i, ref in enumerate(seq.iter_images()):
            if i % frame_stride:
                continue
            if limit is not None and n >= limit:
                return
            image = cv2.imread(str(ref.image))
            if image is None:
                raise DatasetError(f"cannot decode image {ref.image}")
            [dets] = detector.predict([image])
            gt = seq.ground_truth(ref.num) if ref.annotation is not None else None
            yield _score(seq.name, ref.num, weather, dets, gt, class_agnostic)
            n += 1


def _score(
    stream: str, num: int, weather: str, dets: Detections, gt: GroundTruth | None, agnostic: bool
) -> FrameScore:
    if gt is None:
        return FrameScore(stream, num, weather, "unannotated", 0, None, dets.timings.total_s, None)
    match = match_frame(dets, gt, class_agnostic=agnostic)
    value = frame_map50(dets, gt, class_agnostic=agnostic)
    assert value is not None
    return FrameScore(
        stream, num, weather, size_bucket(gt), len(match.gt_classes), value, dets.timings.total_s, match
    )


def summarize(scores: list[FrameScore]) -> dict[str, GroupScore]:
    """Scores for ``all`` frames, per ``weather:<w>`` and per ``size:<bucket>``."""
    groups: dict[str, list[FrameScore]] = defaultdict(list)
    for s in scores:
        groups["all"].append(s)
        groups[f"weather:{s.weather}"].append(s)
        groups[f"size:{s.size}"].append(s)
    return {key: _group(members) for key, members in sorted(groups.items())}


def _group(members: list[FrameScore]) -> GroupScore:
    scored = [m for m in members if m.match is not None and m.map50 is not None]
    return GroupScore(
        frames=len(members),
        frames_with_truth=len(scored),
        map50=round(dataset_map50(m.match for m in scored), 2) if scored else None,
        mean_frame_map50=round(float(np.mean([m.map50 for m in scored])), 2) if scored else None,
        mean_latency_s=round(float(np.mean([m.latency_s for m in members])), 4),
    )
