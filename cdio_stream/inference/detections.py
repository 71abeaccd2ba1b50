"""What a detector returns for one frame: boxes, classes, scores and timings.

Plain numpy, no torch: the accuracy code, the inference agent and the results
messages use these without importing a deep-learning framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Detections", "Timings"]


@dataclass(frozen=True)
class Timings:
    """Per-frame time spent in each stage, in seconds (a batch's time split evenly over its frames)."""

    preprocess_s: float = 0.0
    inference_s: float = 0.0
    postprocess_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.preprocess_s + self.inference_s + self.postprocess_s


@dataclass(frozen=True, eq=False)
class Detections:
    """Detections of one frame in original pixel coordinates.

    ``boxes`` is float32 (N, 4) ``x1, y1, x2, y2``; ``classes`` int64 (N,) are
    DETRAC class ids (:data:`cdio_stream.data.classes.DETRAC_CLASSES`);
    ``scores`` float32 (N,) confidences in [0, 1].
    """

    boxes: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    timings: Timings = field(default_factory=Timings)

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        classes = np.asarray(self.classes, dtype=np.int64).reshape(-1)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if not len(boxes) == len(classes) == len(scores):
            raise ValueError(
                f"detections need as many boxes, classes and scores, got {len(boxes)}, {len(classes)}, "
                f"{len(scores)}"
            )
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "scores", scores)

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls, timings: Timings | None = None) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), timings or Timings())

    def filter(self, keep: np.ndarray) -> Detections:
        """The subset selected by a boolean mask or index array (timings kept)."""
        return Detections(self.boxes[keep], self.classes[keep], self.scores[keep], self.timings)
