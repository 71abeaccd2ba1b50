"""Inference and accuracy: YOLO detectors (Ultralytics), per-frame mAP50, training, profiling traces.

* :mod:`~cdio_stream.inference.offline`: the one place that prepares Ultralytics offline.
* :mod:`~cdio_stream.inference.registry`: model specs, ``edge``/``cloud``, paper versions V1-V4.
* :mod:`~cdio_stream.inference.runner`: :class:`Detector`, frames in, :class:`Detections` out.
* :mod:`~cdio_stream.inference.accuracy`: per-frame and pooled mAP50 in percent.
* :mod:`~cdio_stream.inference.yolo_dataset`, :mod:`~cdio_stream.inference.training`:
  DETRAC -> YOLO labels and training with a model card.
* :mod:`~cdio_stream.inference.evaluate`, :mod:`~cdio_stream.inference.profiler`: scores by
  group of frames, and the per-frame traces the simulator and the LSTM read.

Importing this package does not import torch or ultralytics; they load on first use.
"""

from cdio_stream.inference.accuracy import (
    EMPTY_FRAME_MAP50,
    FrameMatch,
    dataset_map50,
    frame_map50,
    match_frame,
)
from cdio_stream.inference.detections import Detections, Timings
from cdio_stream.inference.offline import configure_ultralytics
from cdio_stream.inference.registry import (
    PAPER_DEPLOYMENTS,
    Deployment,
    ModelRegistry,
    ModelSpec,
    default_registry,
    load_registry,
)
from cdio_stream.inference.runner import Detector, ModelInfo

__all__ = [
    "EMPTY_FRAME_MAP50",
    "PAPER_DEPLOYMENTS",
    "Deployment",
    "Detections",
    "Detector",
    "FrameMatch",
    "ModelInfo",
    "ModelRegistry",
    "ModelSpec",
    "Timings",
    "configure_ultralytics",
    "dataset_map50",
    "default_registry",
    "frame_map50",
    "load_registry",
    "match_frame",
]
