"""Run a YOLO detector on decoded frames: the one inference path of the project.

:class:`Detector` wraps an ``ultralytics.YOLO`` built from a
:class:`~cdio_stream.inference.registry.ModelSpec` and runs Ultralytics' own
predictor (letterbox, forward, NMS, rescale to the original frame). FP16 is used
on CUDA, FP32 on CPU. It is cheap to call per frame, as the live inference agent
does, or on batches, as the profiler does. A spec with the ``null`` architecture
(:data:`~cdio_stream.inference.registry.NULL_ARCH`) loads nothing and returns no
detections: the no-op detector that isolates the pipeline's own cost.

Example::

    det = Detector(default_registry().spec("edge"), settings=Settings())
    [d] = det.predict([cv2.imread("img00001.jpg")])
    d.boxes, d.classes, d.scores, d.timings.total_s
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cdio_stream.data.classes import COCO_TO_DETRAC
from cdio_stream.errors import ConfigError
from cdio_stream.inference.detections import Detections, Timings
from cdio_stream.inference.offline import configure_ultralytics, restore_torch_threads
from cdio_stream.inference.registry import ModelSpec
from cdio_stream.settings import Settings

__all__ = ["Detector", "ModelInfo", "coco_to_detrac"]


@dataclass(frozen=True)
class ModelInfo:
    """Size of a model: parameters and GFLOPs of one forward pass at ``imgsz`` x ``imgsz``."""

    name: str
    arch: str
    params: int
    gflops: float
    imgsz: int
    trained: bool


class Detector:
    """A loaded detector on one device.

    ``device``: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. ``warmup_shape`` (H, W) of a
    blank frame run once at load, so that the first real frame's timings include
    neither the predictor setup (layer fusion, device transfer) nor the backend's
    per-shape kernel selection; default UA-DETRAC's 540 x 960; None skips it.
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        settings: Settings | None = None,
        device: str = "cpu",
        warmup_shape: tuple[int, int] | None = (540, 960),
    ) -> None:
        settings = settings or Settings()
        self.spec = spec
        self.device = device
        self._threads = settings.torch_threads
        self._yolo = None
        self._info: ModelInfo | None = None
        if spec.is_null:  # the no-op detector: no torch, no model, nothing to warm up
            return
        configure_ultralytics(settings.cache_dir, torch_threads=self._threads, offline=settings.offline)
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} requested but torch sees no CUDA device")
        if not (device == "cpu" or device.startswith("cuda")):
            raise ConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        from cdio_stream.inference.weights import build_yolo

        self._yolo = build_yolo(spec, weights_dir=settings.weights_dir, offline=settings.offline)
        if warmup_shape is not None:
            self.predict([np.zeros((*warmup_shape, 3), dtype=np.uint8)])

    @property
    def takes_pixels(self) -> bool:
        """Whether :meth:`predict` looks at the frames' pixels: not the no-op detector's, so
        callers need not decode a JPEG for it (it still checks the arrays it is given)."""
        return self._yolo is not None

    @property
    def names(self) -> dict[int, str]:
        if self._yolo is None:
            from cdio_stream.inference.weights import class_names

            return class_names(self.spec.num_classes)
        return dict(self._yolo.names)

    def info(self) -> ModelInfo:
        """Parameters and GFLOPs (Ultralytics' thop-based counter) at the spec's input size."""
        if self._info is None and self._yolo is None:
            self._info = ModelInfo(self.spec.name, self.spec.arch, 0, 0.0, self.spec.imgsz, False)
        if self._info is None:
            from ultralytics.utils.torch_utils import get_flops, get_num_params

            model = self._yolo.model
            self._info = ModelInfo(
                name=self.spec.name,
                arch=self.spec.arch,
                params=int(get_num_params(model)),
                gflops=float(get_flops(model, self.spec.imgsz)),
                imgsz=self.spec.imgsz,
                trained=self.spec.trained,
            )
        return self._info

    def predict(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in decoded BGR uint8 frames (H, W, 3), one batch; one result per frame."""
        if not frames:
            return []
        t0 = time.perf_counter()
        for i, f in enumerate(frames):
            if not isinstance(f, np.ndarray) or f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
                got = getattr(f, "shape", type(f).__name__)
                raise ValueError(f"frame {i}: expected a BGR uint8 array (H, W, 3), got {got}")
        if self._yolo is None:  # the no-op detector; its time (the checks above) is what it reports
            return [Detections.empty(Timings(inference_s=(time.perf_counter() - t0) / len(frames)))] * len(
                frames
            )
        cuda = self.device.startswith("cuda")
        results = self._yolo.predict(
            source=list(frames),
            imgsz=self.spec.imgsz,
            conf=self.spec.conf,
            iou=self.spec.iou,
            max_det=self.spec.max_det,
            device=self.device,
            quantize=16 if cuda else None,
            batch=len(frames),
            verbose=False,
            save=False,
        )
        restore_torch_threads(self._threads)  # the predictor's select_device() sets 1 thread on small CPUs
        return [_to_detections(r, coco=self.spec.labels == "coco") for r in results]


def _to_detections(result, *, coco: bool = False) -> Detections:
    speed = result.speed  # milliseconds per frame
    timings = Timings(
        preprocess_s=(speed.get("preprocess") or 0.0) / 1000.0,
        inference_s=(speed.get("inference") or 0.0) / 1000.0,
        postprocess_s=(speed.get("postprocess") or 0.0) / 1000.0,
    )
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return Detections.empty(timings)
    xyxy = boxes.xyxy.float().cpu().numpy()
    classes = boxes.cls.cpu().numpy().astype(np.int64)
    scores = boxes.conf.float().cpu().numpy()
    if coco:
        xyxy, classes, scores = coco_to_detrac(xyxy, classes, scores)
    return Detections(xyxy, classes, scores, timings)


def coco_to_detrac(
    xyxy: np.ndarray, classes: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the vehicle classes of a COCO detector, renumbered as DETRAC's (COCO_TO_DETRAC)."""
    keep = np.isin(classes, list(COCO_TO_DETRAC))
    mapped = np.array([COCO_TO_DETRAC[int(c)] for c in classes[keep]], dtype=np.int64)
    return xyxy[keep], mapped, scores[keep]
