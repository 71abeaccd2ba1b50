"""Read and write UA-DETRAC annotation XML (``DETRAC-*-Annotations-XML/MVI_xxxxx.xml``).

The reader is a streaming expat parser (stdlib) so that every error, syntactic or
semantic, names the file and the line: ``MVI_20011.xml:42: target 3: box width is not a
number``. It tolerates what real files contain: CRLF line ends, no final newline, any
attribute order, attributes it does not know (kept out of the typed fields), elements it
does not know (skipped). It rejects what would silently corrupt ground truth: missing or
non-numeric coordinates, negative sizes, duplicate frame numbers or duplicate target ids
within a frame. Vehicle types are folded onto car/bus/van/others case-insensitively
(:func:`~cdio_stream.data.classes.map_vehicle_type`, which knows the fine-grained labels of
later releases such as ``Suv`` or ``Truck-Box-Large``); a type it does not know becomes
``others``, with one warning per file naming it.

The writer produces the same structure (including the ``sence_weather`` spelling and CRLF
line ends by default), so generated datasets read back exactly like real ones.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path
from typing import IO
from xml.parsers import expat

from cdio_stream.data.annotations import (
    BoxLTWH,
    FrameAnnotation,
    Occlusion,
    SequenceAnnotation,
    Target,
    ltwh_to_xyxy,
    xyxy_to_ltwh,
)
from cdio_stream.data.classes import map_vehicle_type
from cdio_stream.errors import DatasetError

__all__ = ["AnnotationError", "parse_annotation_xml", "parse_annotation_bytes", "write_annotation_xml"]

log = logging.getLogger(__name__)


class AnnotationError(DatasetError):
    """A malformed annotation file; ``path`` and ``line`` say where (line is 1-based)."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line


def parse_annotation_xml(path: str | Path) -> SequenceAnnotation:
    """Parse one UA-DETRAC annotation file; AnnotationError (a DatasetError) if malformed."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return _parse(fh, str(path))
    except OSError as exc:
        raise DatasetError(f"cannot read annotation file {path}: {exc.strerror or exc}") from None


def parse_annotation_bytes(data: bytes, name: str = "<annotation>") -> SequenceAnnotation:
    """Parse annotation XML held in memory; ``name`` is used in error messages."""
    import io

    return _parse(io.BytesIO(data), name)


def _parse(fh: IO[bytes], name: str) -> SequenceAnnotation:
    parser = expat.ParserCreate()
    state = _Reader(name, parser)
    parser.StartElementHandler = state.start
    parser.EndElementHandler = state.end
    try:
        parser.ParseFile(fh)
    except expat.ExpatError as exc:
        raise AnnotationError(name, exc.lineno, f"malformed XML: {expat.errors.messages[exc.code]}") from None
    if state.seq_name is None:
        raise AnnotationError(name, parser.CurrentLineNumber, "no <sequence> element")
    if state.unknown_types:
        types = ", ".join(f"{t!r} ({n} boxes)" for t, n in sorted(state.unknown_types.items()))
        log.warning("%s: unknown vehicle_type %s mapped to 'others'", name, types)
    return SequenceAnnotation(
        name=state.seq_name,
        attributes=state.attributes,
        ignored_regions=tuple(state.ignored),
        frames=state.frames,
    )


class _Reader:
    """expat callbacks building a SequenceAnnotation; raises AnnotationError with the line."""

    def __init__(self, name: str, parser: expat.XMLParserType) -> None:
        self.name = name
        self.parser = parser
        self.stack: list[str] = []
        self.seq_name: str | None = None
        self.attributes: dict[str, str] = {}
        self.ignored: list[BoxLTWH] = []
        self.frames: dict[int, FrameAnnotation] = {}
        self.frame: dict | None = None
        self.target: dict | None = None
        self.unknown_types: Counter[str] = Counter()

    def fail(self, message: str, line: int | None = None) -> AnnotationError:
        return AnnotationError(self.name, line or self.parser.CurrentLineNumber, message)

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        parent = self.stack[-1] if self.stack else None
        self.stack.append(tag)
        if parent is None:
            if tag != "sequence":
                raise self.fail(f"root element is <{tag}>, expected <sequence>")
            self.seq_name = self._require(attrs, "name", "sequence")
        elif parent == "sequence" and tag == "sequence_attribute":
            self.attributes.update(attrs)
        elif parent == "ignored_region" and tag == "box":
            self.ignored.append(self._ltwh(attrs, "ignored region"))
        elif parent == "sequence" and tag == "frame":
            num = self._int(attrs, "num", "frame")
            if num < 1:
                raise self.fail(f"frame number {num} is not >= 1")
            if num in self.frames:
                raise self.fail(f"duplicate frame num={num}")
            density = self._int(attrs, "density", "frame") if "density" in attrs else None
            self.frame = {"num": num, "density": density, "targets": [], "ids": set()}
        elif parent == "target_list" and tag == "target" and self.frame is not None:
            tid = self._int(attrs, "id", "target")
            if tid in self.frame["ids"]:
                raise self.fail(f"frame {self.frame['num']}: duplicate target id={tid}")
            self.frame["ids"].add(tid)
            self.target = {"id": tid, "line": self.parser.CurrentLineNumber, "occlusions": []}
        elif parent == "target" and self.target is not None:
            self._target_child(tag, attrs)
        elif parent == "occlusion" and tag == "region_overlap" and self.target is not None:
            what = f"target {self.target['id']} region_overlap"
            self.target["occlusions"].append(
                Occlusion(
                    box=self._ltwh(attrs, what),
                    occluder_id=self._int(attrs, "occlusion_id", what) if "occlusion_id" in attrs else -1,
                    status=self._int(attrs, "occlusion_status", what) if "occlusion_status" in attrs else 1,
                )
            )
        # anything else (ignored_region, target_list, occlusion, unknown tags) carries no data

    def _target_child(self, tag: str, attrs: dict[str, str]) -> None:
        assert self.target is not None
        what = f"target {self.target['id']}"
        if tag == "box":
            self.target["box"] = ltwh_to_xyxy(self._ltwh(attrs, what))
        elif tag == "attribute":
            raw = self._require(attrs, "vehicle_type", what)
            vtype, known = map_vehicle_type(raw)
            if not known:
                self.unknown_types[raw] += 1
            self.target["vehicle_type"] = vtype
            if raw != vtype:
                self.target["raw_vehicle_type"] = raw
            for key in ("truncation_ratio", "orientation", "speed"):
                if key in attrs:
                    self.target[key] = self._float(attrs, key, what)
            if "trajectory_length" in attrs:
                self.target["trajectory_length"] = self._int(attrs, "trajectory_length", what)

    def end(self, tag: str) -> None:
        self.stack.pop()
        if tag == "target" and self.target is not None and self.frame is not None:
            t = self.target
            self.target = None
            for key in ("box", "vehicle_type"):
                if key not in t:
                    raise self.fail(f"target {t['id']} has no {key}", t["line"])
            self.frame["targets"].append(
                Target(
                    id=t["id"],
                    box=t["box"],
                    vehicle_type=t["vehicle_type"],
                    truncation_ratio=t.get("truncation_ratio"),
                    orientation=t.get("orientation"),
                    speed=t.get("speed"),
                    trajectory_length=t.get("trajectory_length"),
                    occlusions=tuple(t["occlusions"]),
                    raw_vehicle_type=t.get("raw_vehicle_type"),
                )
            )
        elif tag == "frame" and self.frame is not None:
            f = self.frame
            self.frame = None
            self.frames[f["num"]] = FrameAnnotation(
                num=f["num"], targets=tuple(f["targets"]), density=f["density"]
            )

    def _require(self, attrs: dict[str, str], key: str, what: str) -> str:
        try:
            return attrs[key]
        except KeyError:
            raise self.fail(f"{what}: missing attribute {key!r}") from None

    def _float(self, attrs: dict[str, str], key: str, what: str) -> float:
        text = self._require(attrs, key, what)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise self.fail(f"{what}: {key}={text!r} is not a finite number")
        return value

    def _int(self, attrs: dict[str, str], key: str, what: str) -> int:
        text = self._require(attrs, key, what)
        try:
            return int(text)
        except ValueError:
            raise self.fail(f"{what}: {key}={text!r} is not an integer") from None

    def _ltwh(self, attrs: dict[str, str], what: str) -> BoxLTWH:
        left, top, width, height = (self._float(attrs, k, what) for k in ("left", "top", "width", "height"))
        if width < 0 or height < 0:
            raise self.fail(f"{what}: negative box size {width}x{height}")
        return (left, top, width, height)


def _num(x: float) -> str:
    return repr(round(float(x), 6))


def _box_attrs(box: BoxLTWH) -> str:
    left, top, width, height = box
    return f'left="{_num(left)}" top="{_num(top)}" width="{_num(width)}" height="{_num(height)}"'


def write_annotation_xml(annotation: SequenceAnnotation, path: str | Path, *, newline: str = "\r\n") -> None:
    """Write ``annotation`` in UA-DETRAC's XML layout (3-space indent, CRLF like the real files)."""
    from xml.sax.saxutils import quoteattr

    lines = ['<?xml version="1.0" encoding="utf-8"?>', f"<sequence name={quoteattr(annotation.name)}>"]
    attrs = " ".join(f"{k}={quoteattr(v)}" for k, v in annotation.attributes.items())
    lines.append(f"   <sequence_attribute {attrs}/>")
    lines.append("   <ignored_region>")
    lines.extend(f"      <box {_box_attrs(b)}/>" for b in annotation.ignored_regions)
    lines.append("   </ignored_region>")
    for num in sorted(annotation.frames):
        frame = annotation.frames[num]
        density = frame.density if frame.density is not None else len(frame.targets)
        lines.append(f'   <frame density="{density}" num="{num}">')
        lines.append("      <target_list>")
        for t in frame.targets:
            lines.append(f'         <target id="{t.id}">')
            lines.append(f"            <box {_box_attrs(xyxy_to_ltwh(t.box))}/>")
            extra = []
            if t.orientation is not None:
                extra.append(f'orientation="{_num(t.orientation)}"')
            if t.speed is not None:
                extra.append(f'speed="{_num(t.speed)}"')
            if t.trajectory_length is not None:
                extra.append(f'trajectory_length="{t.trajectory_length}"')
            if t.truncation_ratio is not None:
                extra.append(f'truncation_ratio="{_num(t.truncation_ratio)}"')
            extra.append(f"vehicle_type={quoteattr(t.label)}")
            lines.append(f"            <attribute {' '.join(extra)}/>")
            if t.occlusions:
                lines.append("            <occlusion>")
                for o in t.occlusions:
                    lines.append(
                        f"               <region_overlap {_box_attrs(o.box)} "
                        f'occlusion_id="{o.occluder_id}" occlusion_status="{o.status}"/>'
                    )
                lines.append("            </occlusion>")
            lines.append("         </target>")
        lines.append("      </target_list>")
        lines.append("   </frame>")
    lines.append("</sequence>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines).encode("utf-8"))
