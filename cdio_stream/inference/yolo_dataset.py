"""Convert a UA-DETRAC-format dataset (XML + JPEG folders) to an Ultralytics YOLO dataset.

Layout written under ``out``::

    images/{train,val}/MVI_90001_00001.jpg    labels/{train,val}/MVI_90001_00001.txt
    data.yaml                                 (path, train, val, names)

Labels are ``class cx cy w h`` normalised to the image, class ids from
:data:`~cdio_stream.data.classes.DETRAC_CLASSES`. Ignored regions (where
UA-DETRAC leaves vehicles unannotated) are painted mid-grey (114, the colour of
Ultralytics' letterbox padding) in the training images, so that the detector is
neither rewarded nor punished for what it sees there; boxes whose centre lies in
one are dropped, as the accuracy metric drops them. The split is by sequence
(seeded), so validation frames come from scenes never seen in training, and only
every ``frame_stride``-th frame is kept because neighbouring frames are near copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from cdio_stream.data.classes import DETRAC_CLASSES
from cdio_stream.data.detrac import DetracDataset, Sequence
from cdio_stream.errors import DatasetError
from cdio_stream.inference.accuracy import in_regions

__all__ = ["IGNORED_FILL", "YoloDataset", "export_yolo_dataset", "yolo_label_lines"]

IGNORED_FILL = (114, 114, 114)


@dataclass(frozen=True)
class YoloDataset:
    """What :func:`export_yolo_dataset` wrote."""

    data_yaml: Path
    train_images: int
    val_images: int
    train_sequences: tuple[str, ...]
    val_sequences: tuple[str, ...]


def yolo_label_lines(boxes: np.ndarray, classes: np.ndarray, width: int, height: int) -> list[str]:
    """YOLO label lines for xyxy pixel boxes, clipped to the image; degenerate boxes skipped."""
    lines = []
    for (x1, y1, x2, y2), c in zip(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), classes, strict=True):
        x1, x2 = np.clip([x1, x2], 0, width)
        y1, y2 = np.clip([y1, y2], 0, height)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        lines.append(f"{int(c)} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
    return lines


def export_yolo_dataset(
    source: str | Path,
    out: str | Path,
    *,
    val_fraction: float = 0.25,
    frame_stride: int = 3,
    seed: int = 0,
    jpeg_quality: int = 95,
) -> YoloDataset:
    """Write the YOLO dataset for the DETRAC-format dataset at ``source``; see the module docstring."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    ds = DetracDataset(source)
    sequences = [s for s in ds if s.images]
    if len(sequences) < 2:
        raise DatasetError(f"{source}: need at least 2 sequences with images to split train/val")
    order = np.random.default_rng(seed).permutation(len(sequences))
    n_val = min(len(sequences) - 1, max(1, round(val_fraction * len(sequences))))
    val = sorted(sequences[i].name for i in order[:n_val])
    train = sorted(sequences[i].name for i in order[n_val:])

    out = Path(out)
    counts = {}
    for split, names in (("train", train), ("val", val)):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        counts[split] = sum(_export_sequence(ds[n], out, split, frame_stride, jpeg_quality) for n in names)
    data_yaml = out / "data.yaml"
    data_yaml.write_text(
        yaml.safe_dump(
            {
                "path": str(out.resolve()),
                "train": "images/train",
                "val": "images/val",
                "names": dict(enumerate(DETRAC_CLASSES)),
            },
            sort_keys=False,
        )
    )
    return YoloDataset(data_yaml, counts["train"], counts["val"], tuple(train), tuple(val))


def _export_sequence(seq: Sequence, out: Path, split: str, stride: int, quality: int) -> int:
    ignored = seq.ignored_xyxy
    n = 0
    for i, ref in enumerate(seq.iter_images()):
        if i % stride:
            continue
        image = cv2.imread(str(ref.image))
        if image is None:
            raise DatasetError(f"cannot decode image {ref.image}")
        h, w = image.shape[:2]
        for x1, y1, x2, y2 in np.round(ignored).astype(int):
            cv2.rectangle(image, (x1, y1), (x2, y2), IGNORED_FILL, thickness=-1)
        gt = seq.ground_truth(ref.num)
        keep = ~in_regions(gt.boxes, ignored)
        stem = f"{seq.name}_{ref.num:05d}"
        cv2.imwrite(str(out / "images" / split / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        lines = yolo_label_lines(gt.boxes[keep], gt.classes[keep], w, h)
        (out / "labels" / split / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
        n += 1
    return n
