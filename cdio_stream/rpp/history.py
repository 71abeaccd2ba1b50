"""Training history for the LSTM: past tasks, their features and their outcomes.

File format (version :data:`HISTORY_VERSION`): JSON Lines, one task per line::

    {"v": 1, "stream": "MVI_20011", "frame": 12, "capture_time": 0.44,
     "complexity": 0.0077, "complexity_scales": [0.0012, ...], "motion": 0.0003,
     "inter_arrival": 0.04, "a_req": 63.1, "d_req": 0.41,
     "edge_accuracy": 58.0, "edge_delay": 0.031, "cloud_accuracy": 71.5, "cloud_delay": 0.052}

Units as everywhere: accuracy mAP50 in percent, times in seconds. The features are those
of :class:`~cdio_stream.rpp.features.TaskFeatures`; the outcomes say what the edge and
the cloud model achieved on that frame, from which :func:`preference_label` derives the
label.

Label rule (1 = prefers compute, 0 = prefers bandwidth). A tier *serves* a task when
its accuracy >= a_req and its delay <= d_req (ties count as met).

* edge fails, cloud serves       -> 1 (the issue's rule: only the big model does it in time)
* edge serves (cloud any)        -> 0 (the edge suffices; the cloud would spend uplink
  and FLOPs for nothing)
* edge fails, cloud fails too    -> 0 by default: neither placement meets the constraints,
  so the cheaper one is the better prior; ``both_fail=1`` flips it.

"Edge fails" includes an edge delay miss (a frame the edge cannot finish in time is not
served by it), a slight widening of the issue's wording, which names accuracy only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import orjson

from cdio_stream.errors import ConfigError, DatasetError
from cdio_stream.jsonl import iter_jsonl, write_jsonl
from cdio_stream.rpp.features import TaskFeatures
from cdio_stream.trace import TraceFrame

__all__ = [
    "HISTORY_VERSION",
    "DelayFn",
    "HistoryRecord",
    "LinkDelay",
    "history_from_trace",
    "iter_history",
    "preference_label",
    "read_history",
    "scene_of",
    "write_history",
]

DRAW_SEPARATOR = "#"


def scene_of(stream: str) -> str:
    """The camera scene a history stream shows: ``MVI_20011#2`` (draw 2) -> ``MVI_20011``."""
    return stream.split(DRAW_SEPARATOR, 1)[0]


HISTORY_VERSION = 1

DelayFn = Callable[[TraceFrame, str, str], float]
"""(trace frame, model name, tier "edge"|"cloud") -> end-to-end delay in seconds."""


@dataclass(frozen=True)
class HistoryRecord:
    """One past task: its features and what each tier achieved on it."""

    stream: str
    frame: int
    capture_time: float
    complexity: float
    complexity_scales: tuple[float, ...]
    motion: float
    inter_arrival: float
    a_req: float
    d_req: float
    edge_accuracy: float
    edge_delay: float
    cloud_accuracy: float
    cloud_delay: float

    def features(self) -> TaskFeatures:
        return TaskFeatures(
            complexity=self.complexity,
            complexity_scales=self.complexity_scales,
            motion=self.motion,
            inter_arrival=self.inter_arrival,
            a_req=self.a_req,
            d_req=self.d_req,
        )

    def label(self, *, both_fail: int = 0) -> int:
        return preference_label(self, both_fail=both_fail)

    def to_json(self) -> bytes:
        return orjson.dumps({"v": HISTORY_VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, line: bytes | str) -> HistoryRecord:
        data = orjson.loads(line)
        if not isinstance(data, dict):
            raise ValueError("history line is not a JSON object")
        if data.pop("v", None) != HISTORY_VERSION:
            raise ValueError(f"unsupported history version (expected {HISTORY_VERSION})")
        data["complexity_scales"] = tuple(float(x) for x in data["complexity_scales"])
        return cls(**data)


def preference_label(record: HistoryRecord, *, both_fail: int = 0) -> int:
    """1 (compute) or 0 (bandwidth) from a record's outcomes; rule in the module docstring."""
    if both_fail not in (0, 1):
        raise ConfigError(f"both_fail must be 0 or 1, got {both_fail!r}")
    edge_ok = record.edge_accuracy >= record.a_req and record.edge_delay <= record.d_req
    if edge_ok:
        return 0
    cloud_ok = record.cloud_accuracy >= record.a_req and record.cloud_delay <= record.d_req
    return 1 if cloud_ok else both_fail


def iter_history(path: str | Path) -> Iterator[HistoryRecord]:
    """Yield the records of a history file; a bad line raises DatasetError naming file and line."""
    return iter_jsonl(path, HistoryRecord.from_json, "history")


def read_history(path: str | Path) -> list[HistoryRecord]:
    return list(iter_history(path))


def write_history(path: str | Path, records: Iterable[HistoryRecord]) -> int:
    """Write (overwrite) a history file; returns the number of records written."""
    return write_jsonl(path, records)


@dataclass(frozen=True)
class LinkDelay:
    """Default delay model: measured inference latency + JPEG transmission time.

    cloud: latency_s[model] + jpeg_bytes * 8 / ``cloud_bandwidth_bps`` (300 Mbps, the
    paper's stable link); edge: latency_s[model] + the same over ``edge_bandwidth_bps``,
    where None (default) means the camera-edge link is local and costs nothing. No queueing:
    the history describes what each tier can do, the scheduler handles load.
    """

    cloud_bandwidth_bps: float = 300e6
    edge_bandwidth_bps: float | None = None

    def __call__(self, frame: TraceFrame, model: str, tier: str) -> float:
        latency = _model_value(frame, frame.latency_s, model, "latency_s")
        bw = self.cloud_bandwidth_bps if tier == "cloud" else self.edge_bandwidth_bps
        return latency + (frame.jpeg_bytes * 8.0 / bw if bw else 0.0)


def history_from_trace(
    trace_frames: Iterable[TraceFrame],
    edge_model: str,
    cloud_model: str,
    *,
    seed: int,
    a_range: tuple[float, float] = (50.0, 80.0),
    d_range: tuple[float, float] = (0.2, 0.6),
    delay_fn: DelayFn | None = None,
    draws: int = 1,
    first_draw: int = 1,
) -> list[HistoryRecord]:
    """History records from a profiling trace, sampling each task's requirements.

    A_t and D_t are drawn independently and uniformly from ``a_range`` / ``d_range`` per
    task (paper 4.1), seeded. Accuracies come from the trace's ``accuracy`` per model,
    delays from ``delay_fn`` (default :class:`LinkDelay`). Records are ordered by stream
    then frame; inter_arrival is the capture-time gap to the stream's previous frame in
    the trace (0 for its first). Raises DatasetError when a frame lacks a model's numbers.

    ``draws`` > 1 replays every stream that many times with fresh requirement draws, as
    streams ``<stream>#<k>`` (k = 1..draws; :func:`scene_of` maps them back): the system
    samples A^q and D^q per task, so each replay is a task sequence it could see. They
    share their frames, so a split by scene keeps all draws of a stream on one side.
    Draw k uses seed ``seed + k - 1``. ``first_draw`` > 1 numbers the draws from there
    (also for ``draws`` = 1), so histories of several requirement ranges drawn from one
    trace can be concatenated without two streams sharing a name.
    """
    if draws < 1 or first_draw < 1:
        raise ConfigError(f"draws and first_draw must be >= 1, got {draws}, {first_draw}")
    if draws > 1 or first_draw > 1:
        frames = list(trace_frames)
        out: list[HistoryRecord] = []
        for k in range(first_draw, first_draw + draws):
            copies = [replace(f, stream=f"{f.stream}{DRAW_SEPARATOR}{k}") for f in frames]
            out += history_from_trace(
                copies,
                edge_model,
                cloud_model,
                seed=seed + k - 1,
                a_range=a_range,
                d_range=d_range,
                delay_fn=delay_fn,
            )
        return out
    for name, (lo, hi) in (("a_range", a_range), ("d_range", d_range)):
        if not hi >= lo:
            raise ConfigError(f"{name} must be (low, high) with low <= high, got {(lo, hi)}")
    delay = delay_fn or LinkDelay()
    frames: Sequence[TraceFrame] = sorted(trace_frames, key=lambda f: (f.stream, f.frame))
    rng = np.random.default_rng(seed)
    a_reqs = rng.uniform(a_range[0], a_range[1], size=len(frames))
    d_reqs = rng.uniform(d_range[0], d_range[1], size=len(frames))
    records: list[HistoryRecord] = []
    prev: TraceFrame | None = None
    for i, f in enumerate(frames):
        gap = f.capture_time - prev.capture_time if prev is not None and prev.stream == f.stream else 0.0
        records.append(
            HistoryRecord(
                stream=f.stream,
                frame=f.frame,
                capture_time=f.capture_time,
                complexity=f.complexity,
                complexity_scales=tuple(f.complexity_scales),
                motion=f.motion,
                inter_arrival=max(0.0, gap),
                a_req=float(a_reqs[i]),
                d_req=float(d_reqs[i]),
                edge_accuracy=_model_value(f, f.accuracy, edge_model, "accuracy"),
                edge_delay=float(delay(f, edge_model, "edge")),
                cloud_accuracy=_model_value(f, f.accuracy, cloud_model, "accuracy"),
                cloud_delay=float(delay(f, cloud_model, "cloud")),
            )
        )
        prev = f
    return records


def _model_value(frame: TraceFrame, table: dict[str, float], model: str, what: str) -> float:
    try:
        return float(table[model])
    except KeyError:
        raise DatasetError(
            f"trace frame {frame.stream}/{frame.frame} has no {what} for model {model!r} "
            f"(has: {', '.join(sorted(table)) or 'none'})"
        ) from None
