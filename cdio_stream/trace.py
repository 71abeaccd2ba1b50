"""Profiling traces: per-frame facts that the simulator and the LSTM training read.

A trace is a JSON Lines file, one :class:`TraceFrame` per line, written by
``cdio-stream profile`` (real models on a dataset) or by a synthetic generator
for tests. Units: accuracy is mAP50 in percent (0-100, the paper's unit for A^q),
times in seconds, sizes in bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from cdio_stream.jsonl import iter_jsonl, write_jsonl

__all__ = ["TRACE_VERSION", "TraceFrame", "iter_trace", "read_trace", "write_trace", "append_trace"]

TRACE_VERSION = 1


@dataclass(frozen=True)
class TraceFrame:
    stream: str  # sequence / camera id, e.g. "MVI_20011"
    frame: int  # frame number within the stream (1-based, as in UA-DETRAC)
    capture_time: float  # seconds since the stream's first frame
    jpeg_bytes: int  # payload size when sent as JPEG
    width: int
    height: int
    complexity: float  # multiscale structural complexity C (eq. 2)
    complexity_scales: tuple[float, ...]  # per-scale terms C_n
    motion: float  # temporal feature: frame-difference energy vs the previous frame
    n_objects: int  # ground-truth objects (outside ignored regions)
    accuracy: dict[str, float] = field(default_factory=dict)  # model name -> mAP50 in percent
    latency_s: dict[str, float] = field(default_factory=dict)  # model name -> measured inference time
    detections: dict[str, int] = field(default_factory=dict)  # model name -> number of detections

    @property
    def key(self) -> tuple[str, int]:
        return (self.stream, self.frame)

    def to_json(self) -> bytes:
        return orjson.dumps({"v": TRACE_VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, line: bytes | str) -> TraceFrame:
        data = orjson.loads(line)
        if not isinstance(data, dict):
            raise ValueError("trace line is not a JSON object")
        if data.pop("v", None) != TRACE_VERSION:
            raise ValueError(f"unsupported trace version (expected {TRACE_VERSION})")
        data["complexity_scales"] = tuple(data["complexity_scales"])
        return cls(**data)


def iter_trace(path: str | Path) -> Iterator[TraceFrame]:
    """Yield the frames of a trace file; a bad line raises DatasetError naming file and line."""
    return iter_jsonl(path, TraceFrame.from_json, "trace")


def read_trace(path: str | Path) -> list[TraceFrame]:
    return list(iter_trace(path))


def write_trace(path: str | Path, frames: Iterable[TraceFrame]) -> int:
    """Write (overwrite) a trace; returns the number of frames written."""
    return write_jsonl(path, frames)


def append_trace(path: str | Path, frames: Iterable[TraceFrame]) -> int:
    """Append frames to a trace (used by resumable profiling); returns the count."""
    return write_jsonl(path, frames, append=True)
