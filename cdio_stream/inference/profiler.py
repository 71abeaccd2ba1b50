"""Profiling traces: run each model over a DETRAC-format dataset and record per-frame facts.

For every frame (in sequence, then frame order) one
:class:`~cdio_stream.trace.TraceFrame` is appended to a JSON Lines trace: size of the
stored JPEG, complexity terms and motion (the same
:class:`~cdio_stream.rpp.features.FeatureExtractor` the live pipeline uses, so
features match at serving time), ground-truth object count, and per model its
mAP50 (percent, :func:`~cdio_stream.inference.accuracy.frame_map50`), latency
(seconds, preprocess + inference + postprocess of one frame on this machine) and
number of detections. Frames with an image but no annotation count as frames
without objects (UA-DETRAC and the generator only list frames with vehicles).

Resumable: frames already in the trace are skipped (features are still computed,
cheaply, so that motion stays continuous) and new frames are appended one at a
time, so an interrupted run loses at most the frame in flight; an incomplete last
line left by a crash is cut off first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cdio_stream.data.detrac import DetracDataset
from cdio_stream.errors import ConfigError, DatasetError
from cdio_stream.inference.accuracy import frame_map50, in_regions
from cdio_stream.inference.runner import Detector
from cdio_stream.rpp.features import FeatureConfig, FeatureExtractor
from cdio_stream.trace import TraceFrame, append_trace, iter_trace

__all__ = ["ProfileResult", "count_frames", "profile_dataset"]


@dataclass(frozen=True)
class ProfileResult:
    written: int  # frames profiled and appended by this run
    skipped: int  # frames already in the trace


def count_frames(dataset: DetracDataset, limit: int | None = None) -> int:
    """Number of frames :func:`profile_dataset` visits (frames with an image, capped at ``limit``)."""
    n = sum(len(seq.images) for seq in dataset)
    return n if limit is None else min(n, limit)


def profile_dataset(
    dataset: DetracDataset,
    detectors: Mapping[str, Detector],
    out: str | Path,
    *,
    limit: int | None = None,
    fps: float = 25.0,
    features: FeatureConfig = FeatureConfig(),  # noqa: B008 - frozen dataclass, safe as a default
    on_frame: Callable[[bool], None] | None = None,
) -> ProfileResult:
    """Profile the first ``limit`` frames (all if None) of ``dataset`` into the trace ``out``.

    ``detectors`` maps the model names written in the trace to loaded detectors.
    ``on_frame(skipped)`` is called once per visited frame (progress display).
    """
    if not detectors:
        raise ConfigError("profiling needs at least one model")
    if fps <= 0:
        raise ConfigError(f"fps must be > 0, got {fps}")
    out = Path(out)
    done = _completed_keys(out, set(detectors))
    extractor = FeatureExtractor(features)
    written = skipped = visited = 0
    for seq in dataset:
        first = min(seq.images) if seq.images else 1
        for ref in seq.iter_images():
            if limit is not None and visited >= limit:
                return ProfileResult(written, skipped)
            visited += 1
            try:
                jpeg = ref.image.read_bytes()
            except OSError as exc:
                raise DatasetError(f"cannot read {ref.image}: {exc.strerror}") from None
            capture_time = (ref.num - first) / fps
            feats = extractor.extract(seq.name, capture_time, jpeg, a_req=0.0, d_req=0.0)
            if (seq.name, ref.num) in done:
                skipped += 1
                if on_frame is not None:
                    on_frame(True)
                continue
            image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise DatasetError(f"cannot decode image {ref.image}")
            gt = seq.ground_truth(ref.num)
            accuracy, latency, counts = {}, {}, {}
            for name, detector in detectors.items():
                [dets] = detector.predict([image])
                value = frame_map50(dets, gt)
                if value is not None:
                    accuracy[name] = round(value, 3)
                latency[name] = round(dets.timings.total_s, 6)
                counts[name] = len(dets)
            frame = TraceFrame(
                stream=seq.name,
                frame=ref.num,
                capture_time=round(capture_time, 6),
                jpeg_bytes=len(jpeg),
                width=int(image.shape[1]),
                height=int(image.shape[0]),
                complexity=feats.complexity,
                complexity_scales=feats.complexity_scales,
                motion=feats.motion,
                n_objects=int((~in_regions(gt.boxes, gt.ignored)).sum()),
                accuracy=accuracy,
                latency_s=latency,
                detections=counts,
            )
            append_trace(out, [frame])
            written += 1
            if on_frame is not None:
                on_frame(False)
    return ProfileResult(written, skipped)


def _completed_keys(out: Path, models: set[str]) -> set[tuple[str, int]]:
    """Keys of the frames already in ``out``, after cutting an incomplete last line; checks the models."""
    if not out.exists():
        return set()
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with out.open("r+b") as fh:
            fh.truncate(cut)
    keys = set()
    for f in iter_trace(out):
        if set(f.latency_s) != models:
            raise ConfigError(
                f"{out} was profiled with models {sorted(f.latency_s)}, not {sorted(models)}; "
                "use another --out to profile other models"
            )
        keys.add(f.key)
    return keys
