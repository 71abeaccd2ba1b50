"""Frames in: the UA-DETRAC reader, the synthetic DETRAC-format generator, replay and cameras.

Reader (:mod:`~cdio_stream.data.detrac`): ``DetracDataset(root)`` finds sequences in the
dataset's split layout or a flat one; a :class:`Sequence` iterates ``(num, image, annotation)``
and gives :class:`GroundTruth` (xyxy boxes, class ids, ignored regions) per frame, also by a
reference string ``"MVI_20011/1"``. Class ids live in :mod:`~cdio_stream.data.classes`.

Generator (:mod:`~cdio_stream.data.synth`): ``generate_dataset(out, SynthConfig(...))`` writes
seeded synthetic traffic in the same layout and XML; ``SyntheticSequence`` yields frames in
memory.

The Kafka adapters (``replay``, ``camera``) are imported from their modules, not from here,
so that the reader and generator stay free of any Kafka client.
"""

from cdio_stream.data.annotations import (
    FrameAnnotation,
    GroundTruth,
    Occlusion,
    SequenceAnnotation,
    Target,
    ltwh_to_xyxy,
    xyxy_to_ltwh,
)
from cdio_stream.data.classes import DETRAC_CLASSES, WEATHERS, class_id, class_name
from cdio_stream.data.detrac import DetracDataset, FrameRef, Sequence, gt_ref, parse_gt_ref
from cdio_stream.data.detrac_xml import (
    AnnotationError,
    parse_annotation_bytes,
    parse_annotation_xml,
    write_annotation_xml,
)
from cdio_stream.data.synth import SynthConfig, SyntheticSequence, SynthFrame, generate_dataset, scenes_for

__all__ = [
    "DETRAC_CLASSES",
    "WEATHERS",
    "class_id",
    "class_name",
    "DetracDataset",
    "Sequence",
    "FrameRef",
    "gt_ref",
    "parse_gt_ref",
    "FrameAnnotation",
    "GroundTruth",
    "Occlusion",
    "SequenceAnnotation",
    "Target",
    "ltwh_to_xyxy",
    "xyxy_to_ltwh",
    "AnnotationError",
    "parse_annotation_xml",
    "parse_annotation_bytes",
    "write_annotation_xml",
    "SynthConfig",
    "SynthFrame",
    "SyntheticSequence",
    "generate_dataset",
    "scenes_for",
]
