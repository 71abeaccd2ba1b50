"""UA-DETRAC on disk: discover sequences, pair images with annotations, give ground truth.

Two layouts are recognised under a dataset root:

* the dataset's own (split) layout::

      Insight-MVT_Annotation_Train/MVI_20011/img00001.jpg
      DETRAC-Train-Annotations-XML/MVI_20011.xml          (likewise ...Test...)

* a flat layout, image folders and XML side by side::

      MVI_20011/img00001.jpg
      MVI_20011.xml

A sequence may have images without annotation (frames the XML does not list, or no XML
at all) and annotations without images (the XML lists frames whose JPEG is absent);
iteration yields ``None`` for the missing half. XML is parsed lazily, on first use.

Ground-truth references: a frame is named across processes by the string
``"<sequence>/<frame>"`` (e.g. ``"MVI_20011/1"``), see :func:`gt_ref`; the inference side
resolves it with :meth:`DetracDataset.ground_truth` on the same dataset directory.

Example::

    ds = DetracDataset("../shared/datasets/ua-detrac-sample")
    seq = ds["MVI_20011"]
    for num, image, ann in seq:          # every frame that has an image or annotation
        ...
    gt = ds.ground_truth("MVI_20011/1")  # boxes (N,4) xyxy, classes (N,), ignored (M,4)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np

from cdio_stream.data.annotations import BoxLTWH, FrameAnnotation, GroundTruth, SequenceAnnotation
from cdio_stream.data.detrac_xml import parse_annotation_xml
from cdio_stream.errors import DatasetError

__all__ = [
    "SPLITS",
    "DetracDataset",
    "Sequence",
    "FrameRef",
    "gt_ref",
    "parse_gt_ref",
    "image_dir_name",
    "xml_dir_name",
    "image_file_name",
]

#: Split names as they appear in the dataset's folder names.
SPLITS: tuple[str, ...] = ("Train", "Test")

_IMAGE_RE = re.compile(r"^img(\d+)\.jpe?g$", re.IGNORECASE)


def image_dir_name(split: str) -> str:
    """Folder holding a split's image folders, e.g. ``Insight-MVT_Annotation_Train``."""
    return f"Insight-MVT_Annotation_{split}"


def xml_dir_name(split: str) -> str:
    """Folder holding a split's annotation files, e.g. ``DETRAC-Train-Annotations-XML``."""
    return f"DETRAC-{split}-Annotations-XML"


def image_file_name(num: int) -> str:
    """UA-DETRAC image file name of frame ``num`` (1-based): ``img00001.jpg``."""
    return f"img{num:05d}.jpg"


def gt_ref(sequence: str, frame: int) -> str:
    """Ground-truth reference string for a frame: ``"MVI_20011/1"``."""
    return f"{sequence}/{frame}"


def parse_gt_ref(ref: str) -> tuple[str, int]:
    """Inverse of :func:`gt_ref`; DatasetError for a malformed reference."""
    name, sep, num = ref.rpartition("/")
    if not sep or not name or not num.isdigit():
        raise DatasetError(f"bad ground-truth reference {ref!r} (expected 'SEQUENCE/FRAME')")
    return name, int(num)


class FrameRef(NamedTuple):
    """One frame of a sequence: number, image path (None if absent), annotation (None if none)."""

    num: int
    image: Path | None
    annotation: FrameAnnotation | None


class Sequence:
    """One UA-DETRAC sequence (video): its images, its parsed XML, and per-frame ground truth."""

    def __init__(
        self, name: str, *, split: str | None, xml_path: Path | None, image_dir: Path | None
    ) -> None:
        if xml_path is None and image_dir is None:
            raise DatasetError(f"sequence {name} has neither images nor annotation")
        self.name = name
        self.split = split  # "Train", "Test", or None for the flat layout
        self.xml_path = xml_path
        self.image_dir = image_dir

    def __repr__(self) -> str:
        return f"Sequence({self.name!r}, split={self.split!r}, frames={len(self.frame_numbers)})"

    @cached_property
    def annotation(self) -> SequenceAnnotation:
        """The parsed XML (empty annotation when the sequence has no XML file)."""
        if self.xml_path is None:
            return SequenceAnnotation(name=self.name)
        ann = parse_annotation_xml(self.xml_path)
        if ann.name != self.name:
            raise DatasetError(f"{self.xml_path}: <sequence name={ann.name!r}> does not match file name")
        return ann

    @cached_property
    def images(self) -> dict[int, Path]:
        """Frame number -> image path for every ``imgNNNNN.jpg`` in the image folder."""
        if self.image_dir is None:
            return {}
        found: dict[int, Path] = {}
        with os.scandir(self.image_dir) as it:
            for entry in it:
                m = _IMAGE_RE.match(entry.name)
                if m and entry.is_file():
                    found[int(m.group(1))] = Path(entry.path)
        return dict(sorted(found.items()))

    @property
    def attributes(self) -> dict[str, str]:
        return dict(self.annotation.attributes)

    @property
    def weather(self) -> str | None:
        """Weather from the file's ``sence_weather`` attribute (None when unknown)."""
        return self.annotation.weather

    @property
    def camera_state(self) -> str | None:
        return self.annotation.camera_state

    @property
    def ignored_regions(self) -> tuple[BoxLTWH, ...]:
        """Ignored regions as ``(left, top, width, height)`` floats, as in the file."""
        return self.annotation.ignored_regions

    @property
    def ignored_xyxy(self) -> np.ndarray:
        """Ignored regions as float32 ``(M, 4)`` xyxy."""
        return self.annotation.ignored_xyxy

    @property
    def frames(self) -> dict[int, FrameAnnotation]:
        """Annotated frames by number."""
        return dict(self.annotation.frames)

    @cached_property
    def frame_numbers(self) -> tuple[int, ...]:
        """Sorted numbers of all frames with an image or an annotation."""
        return tuple(sorted(set(self.images) | set(self.annotation.frames)))

    def __len__(self) -> int:
        return len(self.frame_numbers)

    def image_path(self, num: int) -> Path | None:
        return self.images.get(num)

    def frame_annotation(self, num: int) -> FrameAnnotation | None:
        return self.annotation.frames.get(num)

    def __iter__(self) -> Iterator[FrameRef]:
        for num in self.frame_numbers:
            yield FrameRef(num, self.images.get(num), self.annotation.frames.get(num))

    def iter_images(self) -> Iterator[FrameRef]:
        """Only the frames that have an image (what replay and detectors consume)."""
        for ref in self:
            if ref.image is not None:
                yield ref

    def ground_truth(self, num: int) -> GroundTruth:
        """Boxes (xyxy), class ids, track ids and ignored regions of frame ``num``.

        A frame with an image but no annotation has no boxes; a frame that has neither
        is not part of the sequence: DatasetError.
        """
        if num not in self.annotation.frames and num not in self.images:
            raise DatasetError(f"sequence {self.name} has no frame {num}")
        return GroundTruth.build(self.annotation.frames.get(num), self.ignored_xyxy)


class DetracDataset:
    """All sequences under a dataset root, in the split or the flat layout (see module doc)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"dataset directory {self.root} does not exist")
        self._sequences: dict[str, Sequence] = {}
        for split in SPLITS:
            self._discover(split, self.root / image_dir_name(split), self.root / xml_dir_name(split))
        if not self._sequences:
            self._discover(None, self.root, self.root)
        if not self._sequences:
            raise DatasetError(
                f"no UA-DETRAC sequences under {self.root} (expected {image_dir_name('Train')}/, "
                f"{xml_dir_name('Train')}/, or MVI_xxxxx/ folders and MVI_xxxxx.xml files side by side)"
            )

    def _discover(self, split: str | None, image_root: Path, xml_root: Path) -> None:
        xmls = {p.stem: p for p in xml_root.glob("*.xml") if p.is_file()} if xml_root.is_dir() else {}
        dirs: dict[str, Path] = {}
        if image_root.is_dir():
            for p in image_root.iterdir():
                if p.is_dir() and (split is not None or p.name in xmls or _has_images(p)):
                    dirs[p.name] = p
        for name in sorted(set(xmls) | set(dirs)):
            if name in self._sequences:
                raise DatasetError(f"sequence {name} appears twice under {self.root}")
            self._sequences[name] = Sequence(
                name, split=split, xml_path=xmls.get(name), image_dir=dirs.get(name)
            )

    def __repr__(self) -> str:
        return f"DetracDataset({str(self.root)!r}, sequences={len(self)})"

    @property
    def sequences(self) -> list[Sequence]:
        return list(self._sequences.values())

    @property
    def names(self) -> list[str]:
        return list(self._sequences)

    def __len__(self) -> int:
        return len(self._sequences)

    def __iter__(self) -> Iterator[Sequence]:
        return iter(self.sequences)

    def __contains__(self, name: object) -> bool:
        return name in self._sequences

    def __getitem__(self, name: str) -> Sequence:
        try:
            return self._sequences[name]
        except KeyError:
            raise DatasetError(
                f"no sequence {name!r} in {self.root} (have: {', '.join(self.names)})"
            ) from None

    def validate(self) -> int:
        """Parse every annotation file now and count the images; DatasetError when unusable.

        XML is otherwise parsed lazily, on first use: a command that starts processes before
        reading the data calls this first, so a bad dataset fails in seconds, not minutes.
        Returns the number of images.
        """
        for seq in self:
            if seq.xml_path is not None:
                _ = seq.annotation
        n_images = sum(len(seq.images) for seq in self)
        if n_images == 0:
            raise DatasetError(f"no images (imgNNNNN.jpg) in any sequence under {self.root}")
        return n_images

    def ground_truth(self, ref: str) -> GroundTruth:
        """Ground truth of a frame named by a reference string such as ``"MVI_20011/1"``."""
        name, num = parse_gt_ref(ref)
        return self[name].ground_truth(num)


def _has_images(folder: Path) -> bool:
    with os.scandir(folder) as it:
        return any(_IMAGE_RE.match(e.name) for e in it)
