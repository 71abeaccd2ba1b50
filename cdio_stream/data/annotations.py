"""In-memory form of a UA-DETRAC annotation file: sequence, frames, targets, ground truth.

Coordinates are pixels as floats, exactly as the XML holds them (they may slightly exceed
the image, e.g. 961 on a 960-wide frame). Target boxes are stored as ``xyxy``
(left, top, right, bottom) because that is what detectors and mAP code use; ignored
regions keep the file's ``(left, top, width, height)`` and offer an ``xyxy`` helper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from cdio_stream.data.classes import class_id

__all__ = [
    "BoxLTWH",
    "BoxXYXY",
    "Occlusion",
    "Target",
    "FrameAnnotation",
    "SequenceAnnotation",
    "GroundTruth",
    "ltwh_to_xyxy",
    "xyxy_to_ltwh",
]

BoxLTWH = tuple[float, float, float, float]
BoxXYXY = tuple[float, float, float, float]


def ltwh_to_xyxy(box: BoxLTWH) -> BoxXYXY:
    """``(left, top, width, height)`` -> ``(left, top, right, bottom)``."""
    left, top, width, height = box
    return (left, top, left + width, top + height)


def xyxy_to_ltwh(box: BoxXYXY) -> BoxLTWH:
    """``(left, top, right, bottom)`` -> ``(left, top, width, height)``."""
    x1, y1, x2, y2 = box
    return (x1, y1, x2 - x1, y2 - y1)


@dataclass(frozen=True)
class Occlusion:
    """One ``<region_overlap>``: the part of a target hidden by another object."""

    box: BoxLTWH
    occluder_id: int  # ``occlusion_id``: the target id of the occluding object
    status: int  # ``occlusion_status`` as in the file (1 = occluded by another vehicle)


@dataclass(frozen=True)
class Target:
    """One annotated vehicle in one frame; ``id`` is its track id within the sequence.

    ``vehicle_type`` is one of the four DETRAC classes; ``raw_vehicle_type`` keeps the file's
    own label when it differed (e.g. ``Suv`` for ``car``), None when it was the class itself.
    """

    id: int
    box: BoxXYXY
    vehicle_type: str
    truncation_ratio: float | None = None
    orientation: float | None = None
    speed: float | None = None
    trajectory_length: int | None = None
    occlusions: tuple[Occlusion, ...] = ()
    raw_vehicle_type: str | None = None

    @property
    def label(self) -> str:
        """The vehicle type as the annotation file spelled it."""
        return self.raw_vehicle_type or self.vehicle_type

    @property
    def class_id(self) -> int:
        """Class id (see :mod:`cdio_stream.data.classes`)."""
        return class_id(self.vehicle_type)

    @property
    def ltwh(self) -> BoxLTWH:
        return xyxy_to_ltwh(self.box)


@dataclass(frozen=True)
class FrameAnnotation:
    """The ``<frame>`` element: frame number (1-based), optional density, its targets."""

    num: int
    targets: tuple[Target, ...] = ()
    density: int | None = None


@dataclass(frozen=True)
class GroundTruth:
    """What accuracy code needs for one frame: boxes, class ids, track ids, ignored regions.

    ``boxes`` is float32 ``(N, 4)`` xyxy, ``classes`` int64 ``(N,)``, ``track_ids`` int64
    ``(N,)``, ``ignored`` float32 ``(M, 4)`` xyxy. A frame without annotation has N = 0
    but still carries the sequence's ignored regions.
    """

    boxes: np.ndarray
    classes: np.ndarray
    track_ids: np.ndarray
    ignored: np.ndarray

    @classmethod
    def build(cls, annotation: FrameAnnotation | None, ignored: np.ndarray) -> GroundTruth:
        targets = annotation.targets if annotation is not None else ()
        boxes = np.array([t.box for t in targets], dtype=np.float32).reshape(-1, 4)
        classes = np.array([t.class_id for t in targets], dtype=np.int64)
        ids = np.array([t.id for t in targets], dtype=np.int64)
        return cls(boxes=boxes, classes=classes, track_ids=ids, ignored=ignored)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@dataclass(frozen=True)
class SequenceAnnotation:
    """A whole annotation file: sequence name, attributes, ignored regions, frames by number.

    ``attributes`` holds ``<sequence_attribute>`` verbatim, including the dataset's own
    spelling ``sence_weather``; use :attr:`weather` and :attr:`camera_state` to read them.
    """

    name: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    ignored_regions: tuple[BoxLTWH, ...] = ()
    frames: Mapping[int, FrameAnnotation] = field(default_factory=dict)

    @property
    def weather(self) -> str | None:
        """``sence_weather`` (sunny, cloudy, rainy, night) or None when absent."""
        return self.attributes.get("sence_weather")

    @property
    def camera_state(self) -> str | None:
        """``camera_state`` (stable, unstable) or None when absent."""
        return self.attributes.get("camera_state")

    @property
    def ignored_xyxy(self) -> np.ndarray:
        """Ignored regions as float32 ``(M, 4)`` xyxy."""
        return np.array([ltwh_to_xyxy(b) for b in self.ignored_regions], dtype=np.float32).reshape(-1, 4)

    @property
    def n_boxes(self) -> int:
        return sum(len(f.targets) for f in self.frames.values())
