"""Synthetic UA-DETRAC: seeded traffic videos written in the dataset's own layout and XML.

Each sequence is a road scene (lanes, perspective, roadside clutter) with vehicles of the
four DETRAC classes moving as tracks, one of the four weathers, and its own camera height,
zoom and traffic density, stratified over the dataset so that the sequences together
span small/distant to large/close vehicles and sparse to dense, occluded traffic. The
output reads back with :class:`cdio_stream.data.detrac.DetracDataset` like real data::

    from cdio_stream.data.synth import SynthConfig, generate_dataset
    summary = generate_dataset("out/synth", SynthConfig(sequences=4, frames=100, seed=0))

    Insight-MVT_Annotation_Train/MVI_90001/img00001.jpg ...
    DETRAC-Train-Annotations-XML/MVI_90001.xml

Annotations follow DETRAC's conventions: vehicles too far away lie in an ignored region
and are not annotated; vehicles hidden by nearer ones get ``<occlusion>`` entries; boxes
cut by the image border carry a ``truncation_ratio``. For in-memory use (no files),
iterate :meth:`SyntheticSequence.frames`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from cdio_stream.data.annotations import FrameAnnotation, Occlusion, SequenceAnnotation, Target
from cdio_stream.data.classes import WEATHERS
from cdio_stream.data.detrac import SPLITS, image_dir_name, image_file_name, xml_dir_name
from cdio_stream.data.detrac_xml import write_annotation_xml
from cdio_stream.data.synth_render import MARGIN, DrawnVehicle, Renderer
from cdio_stream.data.synth_scene import Camera, SceneParams, sample_scenes
from cdio_stream.data.synth_traffic import TrafficSim
from cdio_stream.errors import ConfigError

__all__ = [
    "write_video",
    "SynthConfig",
    "SyntheticSequence",
    "SynthFrame",
    "SequenceSummary",
    "generate_dataset",
    "scenes_for",
]


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Defaults match UA-DETRAC: 960x540 at 25 fps, the Train split."""

    sequences: int = 4
    frames: int = 100
    width: int = 960
    height: int = 540
    fps: float = 25.0
    seed: int = 0
    weathers: tuple[str, ...] = WEATHERS  # assigned round-robin from a seeded offset
    split: str = "Train"
    jpeg_quality: int = 90
    first_id: int = 90001  # sequence names MVI_90001, MVI_90002, ... (no clash with real ones)
    scale_range: tuple[float, float] = (0.0, 1.0)  # 0 = large close vehicles, 1 = small distant
    density_range: tuple[float, float] = (0.0, 1.0)  # 0 = sparse, 1 = dense

    def validated(self) -> SynthConfig:
        if self.sequences < 1 or self.frames < 1:
            raise ConfigError(f"need at least one sequence and one frame, got {self.sequences}x{self.frames}")
        if self.width < 64 or self.height < 64:
            raise ConfigError(f"frame size {self.width}x{self.height} is too small (min 64x64)")
        if not self.fps > 0:
            raise ConfigError(f"fps must be > 0, got {self.fps}")
        bad = [w for w in self.weathers if w not in WEATHERS] or ([] if self.weathers else ["(none)"])
        if bad:
            raise ConfigError(f"unknown weather {bad[0]!r} (expected some of {', '.join(WEATHERS)})")
        if self.split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        for label, (lo, hi) in (("scale_range", self.scale_range), ("density_range", self.density_range)):
            if not 0.0 <= lo <= hi <= 1.0:
                raise ConfigError(f"{label} must satisfy 0 <= low <= high <= 1, got ({lo}, {hi})")
        return self


def scenes_for(config: SynthConfig) -> list[SceneParams]:
    """The per-sequence scene parameters a config produces (deterministic in the seed)."""
    c = config.validated()
    names = [f"MVI_{c.first_id + i}" for i in range(c.sequences)]
    return sample_scenes(
        names,
        seed=c.seed,
        width=c.width,
        height=c.height,
        fps=c.fps,
        weathers=c.weathers,
        scale_range=c.scale_range,
        density_range=c.density_range,
    )


class SynthFrame(NamedTuple):
    num: int  # 1-based frame number
    image: np.ndarray  # BGR uint8, height x width x 3
    annotation: FrameAnnotation  # may hold no targets


class SyntheticSequence:
    """One synthetic sequence: scene, traffic and renderer, generating frames on demand."""

    def __init__(
        self,
        scene: SceneParams,
        *,
        min_box_px: float = 6.0,
        min_visible: float = 0.15,
        max_occluded: float = 0.75,
    ) -> None:
        self.scene = scene
        self.min_box_px = min_box_px  # smaller (visible) boxes are not annotated
        self.min_visible = min_visible  # nor boxes mostly outside the image (truncation)
        self.max_occluded = max_occluded  # nor boxes mostly covered by nearer vehicles' boxes
        cam = Camera(scene)
        z_bottom = cam.ground_z_at_row(scene.height)
        self.z_min = max(1.5, z_bottom - 8.0) if math.isfinite(z_bottom) else 1.5
        self.ignored_regions = self._ignored_regions(cam)

    def _ignored_regions(self, cam: Camera) -> tuple[tuple[float, float, float, float], ...]:
        """The far stretch of road (beyond ``z_ignore``) as one ltwh box, as DETRAC marks it."""
        s = self.scene
        hw = s.road_half_width + 3.0
        pts = np.array([[x, y, z] for x in (-hw, hw) for y in (0.0, 3.5) for z in (s.z_ignore, 5000.0)])
        uv, _ = cam.project(pts)
        x1, y1 = np.clip(uv.min(axis=0), 0, [s.width, s.height])
        x2, y2 = np.clip(uv.max(axis=0), 0, [s.width, s.height])
        if x2 - x1 < 1 or y2 - y1 < 1:
            return ()
        return (
            (round(float(x1), 2), round(float(y1), 2), round(float(x2 - x1), 2), round(float(y2 - y1), 2)),
        )

    def header(self) -> SequenceAnnotation:
        """The sequence's annotation without frames (attributes and ignored regions)."""
        s = self.scene
        return SequenceAnnotation(
            name=s.name,
            attributes={"camera_state": s.camera_state, "sence_weather": s.weather},
            ignored_regions=self.ignored_regions,
        )

    def frames(self, n: int) -> Iterator[SynthFrame]:
        """Generate frames 1..n (deterministic for the scene's seed)."""
        s = self.scene
        sim = TrafficSim(s, z_min=self.z_min, seed=s.seed + 1)
        sim.warm_up()
        renderer = Renderer(s, seed=s.seed + 2)
        jitter_rng = np.random.default_rng(s.seed + 3)
        jitter = np.zeros(2)
        last_center: dict[int, tuple[float, float]] = {}
        for num in range(1, n + 1):
            vehicles = sim.step()
            if s.camera_state == "unstable":
                jitter = np.clip(0.8 * jitter + jitter_rng.normal(0, 1.2, 2), -MARGIN, MARGIN)
            image, drawn = renderer.render(
                vehicles, num, jitter=(int(round(jitter[0])), int(round(jitter[1])))
            )
            targets = self._targets(drawn, last_center)
            yield SynthFrame(num, image, FrameAnnotation(num=num, targets=targets, density=len(targets)))

    def _targets(
        self, drawn: list[DrawnVehicle], last_center: dict[int, tuple[float, float]]
    ) -> tuple[Target, ...]:
        s = self.scene
        ignored = [(x, y, x + w, y + h) for x, y, w, h in self.ignored_regions]
        clipped = [_clip(d.box, s.width, s.height) for d in drawn]
        boxes = np.array(clipped, dtype=np.float64).reshape(-1, 4)
        targets = []
        for i, (d, box) in enumerate(zip(drawn, clipped, strict=True)):
            full = _area(d.box)
            visible = _area(box) / full if full > 0 else 0.0
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            if (
                visible < self.min_visible
                or min(box[2] - box[0], box[3] - box[1]) < self.min_box_px
                or any(ix1 <= cx <= ix2 and iy1 <= cy <= iy2 for ix1, iy1, ix2, iy2 in ignored)
            ):
                continue
            later = boxes[i + 1 :]  # vehicles drawn later are nearer and hide this one
            ox1, oy1 = np.maximum(later[:, 0], box[0]), np.maximum(later[:, 1], box[1])
            ox2, oy2 = np.minimum(later[:, 2], box[2]), np.minimum(later[:, 3], box[3])
            overlap = np.flatnonzero((ox2 > ox1) & (oy2 > oy1) & ((ox2 - ox1) * (oy2 - oy1) >= 1.0))
            if len(overlap) and _covered(box, later[overlap]) > self.max_occluded:
                continue  # (almost) hidden behind nearer vehicles: nothing to annotate
            v = d.vehicle
            v.seen += 1
            px, py = last_center.get(v.id, (cx, cy))
            last_center[v.id] = (cx, cy)
            occlusions = []
            for k in overlap:
                ltwh = (float(ox1[k]), float(oy1[k]), float(ox2[k] - ox1[k]), float(oy2[k] - oy1[k]))
                occluder = drawn[i + 1 + int(k)].vehicle.id
                occlusions.append(
                    Occlusion(box=tuple(round(c, 2) for c in ltwh), occluder_id=occluder, status=1)
                )
            targets.append(
                Target(
                    id=v.id,
                    box=tuple(round(c, 2) for c in box),
                    vehicle_type=v.vehicle_type,
                    truncation_ratio=round(1.0 - visible, 2),
                    orientation=round(math.degrees(math.atan2(cy - py, cx - px)) % 360.0, 3),
                    speed=round(math.hypot(cx - px, cy - py), 4),
                    trajectory_length=v.seen,
                    occlusions=tuple(occlusions),
                )
            )
        targets.sort(key=lambda t: t.id)
        return tuple(targets)


@dataclass
class SequenceSummary:
    """What was written for one sequence."""

    name: str
    weather: str
    scale: float
    density: float
    frames: int = 0
    boxes: int = 0
    occluded: int = 0
    box_heights: list[float] = field(default_factory=list, repr=False)


def generate_dataset(
    out: str | Path,
    config: SynthConfig = SynthConfig(),  # noqa: B008 - frozen dataclass, safe as a default
    *,
    on_frame: Callable[[str, int], None] | None = None,
) -> list[SequenceSummary]:
    """Write ``config.sequences`` sequences under ``out`` in UA-DETRAC's layout.

    ``on_frame(sequence_name, frame_number)`` is called after each frame is written (for
    progress display). Existing files with the same names are overwritten.
    """
    config = config.validated()
    out = Path(out)
    summaries = []
    params = [int(cv2.IMWRITE_JPEG_QUALITY), config.jpeg_quality]
    for scene in scenes_for(config):
        seq = SyntheticSequence(scene)
        image_dir = out / image_dir_name(config.split) / scene.name
        image_dir.mkdir(parents=True, exist_ok=True)
        summary = SequenceSummary(scene.name, scene.weather, scene.scale, scene.density)
        frames = {}
        for num, image, ann in seq.frames(config.frames):
            ok, buf = cv2.imencode(".jpg", image, params)
            if not ok:  # pragma: no cover - OpenCV failure
                raise ConfigError(f"JPEG encoding failed for {scene.name} frame {num}")
            (image_dir / image_file_name(num)).write_bytes(buf.tobytes())
            if ann.targets:
                frames[num] = ann
            summary.frames += 1
            summary.boxes += len(ann.targets)
            summary.occluded += sum(1 for t in ann.targets if t.occlusions)
            summary.box_heights.extend(t.box[3] - t.box[1] for t in ann.targets)
            if on_frame is not None:
                on_frame(scene.name, num)
        header = seq.header()
        annotation = SequenceAnnotation(header.name, header.attributes, header.ignored_regions, frames)
        write_annotation_xml(annotation, out / xml_dir_name(config.split) / f"{scene.name}.xml")
        summaries.append(summary)
    return summaries


def _clip(box: tuple[float, float, float, float], w: int, h: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    return (min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h))


_GRID = (np.arange(8) + 0.5) / 8


def _covered(box: tuple[float, float, float, float], others: np.ndarray) -> float:
    """Fraction of ``box`` covered by the union of ``others`` (xyxy rows), on an 8x8 grid."""
    gx, gy = np.meshgrid(box[0] + _GRID * (box[2] - box[0]), box[1] + _GRID * (box[3] - box[1]))
    px, py = gx.ravel()[:, None], gy.ravel()[:, None]
    inside = (px >= others[:, 0]) & (px <= others[:, 2]) & (py >= others[:, 1]) & (py <= others[:, 3])
    return float(inside.any(axis=1).mean())


def _area(b: tuple[float, float, float, float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def write_video(
    path: str | Path,
    config: SynthConfig = SynthConfig(sequences=1),  # noqa: B008 - frozen dataclass, safe as a default
    *,
    sequence: int = 0,
) -> Path:
    """Write one synthetic sequence as a video file (e.g. to feed a camera gateway).

    The codec follows the extension: ``.avi`` -> Motion-JPEG, ``.mp4`` -> MPEG-4 Part 2.
    Plays at ``config.fps``; ``config.frames`` frames of scene number ``sequence``.
    """
    config = config.validated()
    path = Path(path)
    fourcc = {".avi": "MJPG", ".mp4": "mp4v"}.get(path.suffix.lower())
    if fourcc is None:
        raise ConfigError(f"video file must end in .avi or .mp4, got {path.name}")
    scenes = scenes_for(replace(config, sequences=max(config.sequences, sequence + 1)))
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*fourcc), config.fps, (config.width, config.height)
    )
    if not writer.isOpened():
        raise ConfigError(f"OpenCV cannot write {path} with codec {fourcc}")
    try:
        for frame in SyntheticSequence(scenes[sequence]).frames(config.frames):
            writer.write(frame.image)
    finally:
        writer.release()
    return path
