"""Wire formats: the one module that says how messages look on Kafka.

Messages that carry a frame (Frame, Task, Assignment) keep the raw JPEG bytes as the
Kafka value and put their metadata, an orjson object, in the ``cdio`` header. Results
carry no image: their value is the orjson object itself. A published RPP model
(:class:`RppModel`) keeps its checkpoint bytes as the value and its card in the header.
No base64, no pickle.

Every metadata object has ``kind`` and ``v`` (format version). Decoding anything that
is not exactly what we wrote raises :class:`~cdio_stream.errors.MessageError` with a
message that says what was wrong; callers send such input to the dead-letter topic.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import orjson

from cdio_stream.errors import MessageError

__all__ = [
    "FORMAT_VERSION",
    "META_HEADER",
    "Headers",
    "FrameMeta",
    "Frame",
    "TaskFeatures",
    "Task",
    "Assignment",
    "Detection",
    "Timings",
    "Costs",
    "ACCURACY_SOURCES",
    "SHED_STAGES",
    "ReferenceOutcome",
    "Result",
    "RppModel",
    "RPP_MODEL_KEY",
    "EstimateRow",
    "PolicyView",
    "encode_frame",
    "decode_frame",
    "encode_task",
    "decode_task",
    "encode_assignment",
    "decode_assignment",
    "AssignmentRoute",
    "assignment_route",
    "make_task_id",
    "split_task_id",
    "encode_result",
    "decode_result",
    "encode_rpp_model",
    "decode_rpp_model",
    "encode_policy_view",
    "decode_policy_view",
    "ServerAnnouncement",
    "encode_announcement",
    "decode_announcement",
    "check_jpeg",
    "DEFAULT_MAX_FRAME_BYTES",
]

# v2 (issue 11): results say where their accuracy came from and carry the task's features;
# reference-sampled tasks carry the shadow run's outcome; assignments can name a shadow server.
FORMAT_VERSION = 2
META_HEADER = "cdio"
DEFAULT_MAX_FRAME_BYTES = 4_000_000
_MAX_META_BYTES = 256 * 1024  # a forwarded shadow assignment nests the served result (detections)
MAX_DELAY_REQUIREMENT_S = 3600.0

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class FrameMeta:
    stream_id: str
    frame_no: int
    capture_time: float  # unix seconds at the camera / replay
    a_req: float  # accuracy requirement A^q, mAP50 in percent
    d_req: float  # delay requirement D^q, seconds
    gt_ref: str | None = None  # ground-truth reference, e.g. "MVI_20011/1" (see cdio_stream.data)

    @property
    def task_id(self) -> str:
        return make_task_id(self.stream_id, self.frame_no)


def make_task_id(stream_id: str, frame_no: int) -> str:
    """A frame's task id: deterministic, so a re-read frame names the same task."""
    return f"{stream_id}/{frame_no}"


def split_task_id(task_id: str) -> tuple[str, int]:
    """(stream id, frame number) of a task id made by :func:`make_task_id`."""
    stream_id, sep, frame_no = task_id.rpartition("/")
    if not sep or not stream_id or not frame_no.isdigit():
        raise MessageError(f"task id {task_id!r} is not <stream>/<frame number>")
    return stream_id, int(frame_no)


@dataclass(frozen=True)
class Frame:
    meta: FrameMeta
    jpeg: bytes


@dataclass(frozen=True)
class TaskFeatures:
    """What the preprocess agent learned about a frame (paper eq. 3 inputs)."""

    complexity: float
    complexity_scales: tuple[float, ...]
    motion: float  # temporal feature I_t: frame-difference energy vs the previous frame
    inter_arrival: float  # seconds since the previous frame of the same stream


@dataclass(frozen=True)
class Task:
    frame: Frame
    features: TaskFeatures
    preference: float | None  # P(compute preference) from the LSTM; None if unknown
    preprocess_s: float  # time spent in the preprocess agent
    created_at: float  # unix seconds when the task was published
    # "<partition>/<offset>" of the frame record this task was made from: a task seen
    # twice with the same source is a redelivery, with another source a duplicate frame.
    source: str | None = None
    # Version of the LSTM that gave ``preference`` (RppModel.version; 0 = a checkpoint
    # trained offline, e.g. the shipped one); None when the fallback rule decided.
    model_version: int | None = None

    @property
    def task_id(self) -> str:
        return self.frame.meta.task_id


@dataclass(frozen=True)
class Assignment:
    task: Task
    server_id: str
    policy: str
    decision: dict[str, Any] = field(default_factory=dict)  # policy's own info (arm, estimates)
    assigned_at: float = 0.0
    # Reference sampling (cdio_stream.feedback): the server of the other tier that runs the
    # task a second time after ``server_id``; the served server forwards the task there.
    shadow_server: str | None = None
    # Set only on that forwarded copy: the served run's result, judged by the shadow server.
    served: Result | None = None


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    cls: int
    score: float


@dataclass(frozen=True)
class Timings:
    preprocess: float = 0.0
    queue: float = 0.0
    transmission: float = 0.0
    inference: float = 0.0

    @property
    def total(self) -> float:
        return self.preprocess + self.queue + self.transmission + self.inference


@dataclass(frozen=True)
class Costs:
    compute: float = 0.0  # FP16 TFLOPS x inference time (paper 4.2.3)
    bandwidth: float = 0.0  # bits sent / transmission time, bits/s (paper 4.2.4)
    energy: float = 0.0  # joules (paper 4.2.5)


ACCURACY_SOURCES = ("truth", "reference", "none")
SHED_STAGES = ("scheduler", "inference")  # where a late task can be shed (cdio_stream.pipeline.shedding)


@dataclass(frozen=True)
class ReferenceOutcome:
    """The shadow run of a reference-sampled task: both tiers' outcomes and its overhead.

    One tier's model is the reference (the most accurate deployed model); the other tier's
    detections are scored against it (``agreement``, raw mAP50 percent). ``edge_accuracy`` /
    ``cloud_accuracy`` are in the unit and source of the result's ``accuracy`` (truth when
    the frame has ground truth, else reference-judged: :mod:`cdio_stream.feedback.judge`).
    The shadow tier's delay is preprocess + its transmission + its inference (it ran out of
    band, so no queueing). ``timings`` / ``costs`` / ``payload_bytes`` are the shadow run's:
    the overhead that reference feedback costs.
    """

    server_id: str
    tier: str
    model: str
    reference_model: str
    score_threshold: float  # reference detections kept at score >= this
    agreement: float | None  # mAP50 % of the other tier against the reference; None on error
    edge_accuracy: float | None
    cloud_accuracy: float | None
    edge_delay: float
    cloud_delay: float
    timings: Timings
    costs: Costs
    payload_bytes: int
    error: str | None = None  # the shadow run failed; the served result still counts


@dataclass(frozen=True)
class Result:
    task_id: str
    stream_id: str
    frame_no: int
    server_id: str
    tier: str
    model: str
    a_req: float
    d_req: float
    payload_bytes: int
    detections: tuple[Detection, ...]
    accuracy: float | None  # mAP50 percent when ground truth is known
    timings: Timings
    costs: Costs
    completed_at: float
    error: str | None = None  # set when inference failed; the task still gets a result
    # Where ``accuracy`` came from (ACCURACY_SOURCES); None means "truth" when accuracy is
    # known and "none" otherwise (what a result without a reference run is).
    accuracy_source: str | None = None
    features: TaskFeatures | None = None  # the task's RPP features (for online RPP training)
    preference: float | None = None  # the task's P(compute) from RPP
    capture_time: float | None = None  # the frame's capture time, unix seconds
    reference: ReferenceOutcome | None = None  # set on reference-sampled tasks
    # Set when the task was shed, not inferred (--shed late): the stage that shed it
    # (SHED_STAGES). Such a result has no detections and no accuracy and is a delay failure.
    expired: str | None = None
    # The task's frame record ("<partition>/<offset>", Task.source), on expired results: a
    # restarted scheduler re-learns the tasks it shed from them (cdio_stream.pipeline.scheduler).
    source: str | None = None
    # When the scheduler decided the task (Assignment.assigned_at, unix seconds): splits the
    # queue part of the delay into the scheduler's share (slot, tasks hop) and the rest.
    assigned_at: float | None = None

    def __post_init__(self) -> None:
        if self.expired is not None:
            if self.expired not in SHED_STAGES:
                raise MessageError(f"result: expired must be one of {SHED_STAGES}, got {self.expired!r}")
            if self.accuracy is not None or self.detections:
                raise MessageError(
                    f"result: expired task {self.task_id!r} cannot have detections or accuracy"
                )
        source = self.accuracy_source
        if source is None:
            object.__setattr__(self, "accuracy_source", "none" if self.accuracy is None else "truth")
        elif source not in ACCURACY_SOURCES:
            raise MessageError(f"result: accuracy_source must be one of {ACCURACY_SOURCES}, got {source!r}")
        elif (source == "none") != (self.accuracy is None):
            raise MessageError(f"result: accuracy {self.accuracy!r} contradicts accuracy_source {source!r}")

    @property
    def delay(self) -> float:
        return self.timings.total

    @property
    def accuracy_met(self) -> bool | None:
        return None if self.accuracy is None else self.accuracy >= self.a_req

    @property
    def delay_met(self) -> bool:
        """C2; an expired task missed it, whatever its delay when it was shed."""
        return self.expired is None and self.delay <= self.d_req


RPP_MODEL_KEY = b"rpp"  # Kafka key of the model lineage on the compacted model topic


@dataclass(frozen=True)
class RppModel:
    """A promoted preference LSTM: its checkpoint bytes and its card.

    ``checkpoint`` is :meth:`cdio_stream.rpp.predictor.PreferencePredictor.to_bytes` (a
    ``torch.save`` dict loaded with ``weights_only=True``, not a pickle of code).
    ``version`` increases by one per promotion; ``card`` says what it was trained on and
    how it compared with its parent on held-out labels (cdio_stream.rpp.online).
    """

    version: int
    checkpoint: bytes
    card: dict[str, Any]
    published_at: float


@dataclass(frozen=True, slots=True)
class EstimateRow:
    """One context of a policy's running view: a value (None: never tried) and a count per server."""

    context: str
    values: tuple[float | None, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class PolicyView:
    """What the scheduler's policy currently believes, published now and then for people
    watching (the live dashboard); ``what`` names the estimated quantity."""

    policy: str
    servers: tuple[str, ...]
    what: str
    rows: tuple[EstimateRow, ...]
    feedbacks: int  # results the scheduler has learned from
    published_at: float


# ---------------------------------------------------------------- encoding


def encode_frame(frame: Frame, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> tuple[bytes, Headers]:
    check_jpeg(frame.jpeg, max_frame_bytes)
    return frame.jpeg, [(META_HEADER, _dumps({"kind": "frame", **_frame_meta(frame.meta)}))]


def decode_frame(value: bytes | None, headers: Any, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Frame:
    meta = _read_meta(headers, "frame")
    jpeg = _jpeg_value(value, max_frame_bytes)
    return Frame(meta=_parse_frame_meta(meta), jpeg=jpeg)


def encode_task(task: Task, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> tuple[bytes, Headers]:
    check_jpeg(task.frame.jpeg, max_frame_bytes)
    return task.frame.jpeg, [(META_HEADER, _dumps({"kind": "task", **_task_meta(task)}))]


def decode_task(value: bytes | None, headers: Any, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Task:
    meta = _read_meta(headers, "task")
    return _parse_task(meta, _jpeg_value(value, max_frame_bytes))


def encode_assignment(
    assignment: Assignment, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
) -> tuple[bytes, Headers]:
    a = assignment
    check_jpeg(a.task.frame.jpeg, max_frame_bytes)
    meta = {
        "kind": "assignment",
        **_task_meta(a.task),
        "server_id": a.server_id,
        "policy": a.policy,
        "decision": a.decision,
        "assigned_at": a.assigned_at,
        "shadow_server": a.shadow_server,
        "served": None if a.served is None else _result_dict(a.served),
    }
    return a.task.frame.jpeg, [(META_HEADER, _dumps(meta))]


def decode_assignment(
    value: bytes | None, headers: Any, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
) -> Assignment:
    meta = _read_meta(headers, "assignment")
    task = _parse_task(meta, _jpeg_value(value, max_frame_bytes))
    decision = _get(meta, "decision", dict)
    served = _get(meta, "served", dict, optional=True)
    return Assignment(
        task=task,
        server_id=_get(meta, "server_id", str),
        policy=_get(meta, "policy", str),
        decision=decision,
        assigned_at=_num(meta, "assigned_at"),
        shadow_server=_get(meta, "shadow_server", str, optional=True),
        served=None if served is None else _parse_result(served),
    )


@dataclass(frozen=True)
class AssignmentRoute:
    """Who an assignment is for, read from its metadata header alone."""

    task_id: str
    server_id: str  # the server it was sent to
    served_by: str | None  # a forwarded shadow copy: the server that served the task first


def assignment_route(headers: Any) -> AssignmentRoute:
    """The task and servers an assignment's metadata header names, without decoding its JPEG.

    A dead letter keeps the original record's headers, so this also reads the dead letter
    of an assignment (whose value may have been cut short).
    """
    meta = _read_meta(headers, "assignment")
    served = _get(meta, "served", dict, optional=True)
    return AssignmentRoute(
        task_id=make_task_id(_get(meta, "stream_id", str), _get(meta, "frame_no", int)),
        server_id=_get(meta, "server_id", str),
        served_by=None if served is None else _get(served, "server_id", str),
    )


def encode_result(result: Result) -> bytes:
    return _dumps({"kind": "result", "v": FORMAT_VERSION, **_result_dict(result)})


def decode_result(value: bytes | None) -> Result:
    if not value:
        raise MessageError("result: empty value")
    meta = _loads(value, "result")
    _check_kind(meta, "result")
    return _parse_result(meta)


def _result_dict(result: Result) -> dict[str, Any]:
    # Shallow: orjson writes the nested dataclasses (timings, costs, features, reference)
    # itself, an order of magnitude faster than dataclasses.asdict's deep copy.
    data = dict(vars(result))
    data["detections"] = [[*d.box, d.cls, d.score] for d in result.detections]
    return data


def _parse_result(meta: dict[str, Any]) -> Result:
    dets = []
    for i, d in enumerate(_get(meta, "detections", list)):
        if not (isinstance(d, list) and len(d) == 6 and all(_is_num(x) for x in d)):
            raise MessageError(f"result: detections[{i}] must be [x1, y1, x2, y2, cls, score]")
        dets.append(
            Detection(
                box=(float(d[0]), float(d[1]), float(d[2]), float(d[3])), cls=int(d[4]), score=float(d[5])
            )
        )
    features = _get(meta, "features", dict, optional=True)
    reference = _get(meta, "reference", dict, optional=True)
    return Result(
        task_id=_get(meta, "task_id", str),
        stream_id=_get(meta, "stream_id", str),
        frame_no=_get(meta, "frame_no", int),
        server_id=_get(meta, "server_id", str),
        tier=_get(meta, "tier", str),
        model=_get(meta, "model", str),
        a_req=_num(meta, "a_req"),
        d_req=_num(meta, "d_req"),
        payload_bytes=_get(meta, "payload_bytes", int),
        detections=tuple(dets),
        accuracy=_num(meta, "accuracy", optional=True),
        timings=_sub(meta, "timings", Timings),
        costs=_sub(meta, "costs", Costs),
        completed_at=_num(meta, "completed_at"),
        error=_get(meta, "error", str, optional=True),
        accuracy_source=_get(meta, "accuracy_source", str, optional=True),
        features=None if features is None else _parse_features(features),
        preference=_num(meta, "preference", optional=True),
        capture_time=_num(meta, "capture_time", optional=True),
        reference=None if reference is None else _parse_reference(reference),
        expired=_get(meta, "expired", str, optional=True),
        source=_get(meta, "source", str, optional=True),
        assigned_at=_num(meta, "assigned_at", optional=True),
    )


def _parse_reference(r: dict[str, Any]) -> ReferenceOutcome:
    return ReferenceOutcome(
        server_id=_get(r, "server_id", str),
        tier=_get(r, "tier", str),
        model=_get(r, "model", str),
        reference_model=_get(r, "reference_model", str),
        score_threshold=_num(r, "score_threshold"),
        agreement=_num(r, "agreement", optional=True),
        edge_accuracy=_num(r, "edge_accuracy", optional=True),
        cloud_accuracy=_num(r, "cloud_accuracy", optional=True),
        edge_delay=_num(r, "edge_delay"),
        cloud_delay=_num(r, "cloud_delay"),
        timings=_sub(r, "timings", Timings),
        costs=_sub(r, "costs", Costs),
        payload_bytes=_get(r, "payload_bytes", int),
        error=_get(r, "error", str, optional=True),
    )


def encode_rpp_model(model: RppModel) -> tuple[bytes, Headers]:
    if not model.checkpoint:
        raise MessageError("rpp-model: empty checkpoint")
    meta = {
        "kind": "rpp-model",
        "v": FORMAT_VERSION,
        "version": model.version,
        "sha256": hashlib.sha256(model.checkpoint).hexdigest(),
        "card": model.card,
        "published_at": model.published_at,
    }
    return model.checkpoint, [(META_HEADER, _dumps(meta))]


def decode_rpp_model(value: bytes | None, headers: Any) -> RppModel:
    meta = _read_meta(headers, "rpp-model")
    if not value:
        raise MessageError("rpp-model: empty value (no checkpoint bytes)")
    value = bytes(value)
    if hashlib.sha256(value).hexdigest() != _get(meta, "sha256", str):
        raise MessageError("rpp-model: checkpoint bytes do not match their sha256")
    return RppModel(
        version=_version(meta, "version"),
        checkpoint=value,
        card=_get(meta, "card", dict),
        published_at=_num(meta, "published_at"),
    )


@dataclass(frozen=True)
class ServerAnnouncement:
    """An inference worker saying it is there (the ``servers`` topic, key = server id).

    Sent at start and then every heartbeat interval; the scheduler adds a server it does not
    know yet and treats one whose announcements stop as unavailable.
    """

    server_id: str
    tier: str
    model: str
    device: str  # device profile name
    latency_s: float | None  # smoothed inference time per task; None before the first
    queue_length: int  # assignments taken and not yet finished
    heartbeat_at: float  # unix seconds at the worker


def encode_announcement(a: ServerAnnouncement) -> bytes:
    return _dumps({"kind": "server", "v": FORMAT_VERSION, **vars(a)})


def decode_announcement(value: bytes | None) -> ServerAnnouncement:
    if not value:
        raise MessageError("server announcement: empty value")
    meta = _loads(value, "server announcement")
    _check_kind(meta, "server")
    latency = _num(meta, "latency_s", optional=True)
    queue = _get(meta, "queue_length", int)
    if queue < 0 or (latency is not None and latency < 0):
        raise MessageError("server announcement: latency_s and queue_length must be >= 0")
    return ServerAnnouncement(
        server_id=_get(meta, "server_id", str),
        tier=_get(meta, "tier", str),
        model=_get(meta, "model", str),
        device=_get(meta, "device", str),
        latency_s=latency,
        queue_length=queue,
        heartbeat_at=_num(meta, "heartbeat_at"),
    )


def encode_policy_view(view: PolicyView) -> bytes:
    data = asdict(view)
    data["rows"] = [[r.context, list(r.values), list(r.counts)] for r in view.rows]
    return _dumps({"kind": "policy-view", "v": FORMAT_VERSION, **data})


def decode_policy_view(value: bytes | None) -> PolicyView:
    if not value:
        raise MessageError("policy-view: empty value")
    meta = _loads(value, "policy-view")
    _check_kind(meta, "policy-view")
    servers = _get(meta, "servers", list)
    if not all(isinstance(s, str) for s in servers):
        raise MessageError("policy-view: servers must be a list of server ids")
    rows = []
    for i, row in enumerate(_get(meta, "rows", list)):
        ok = isinstance(row, list) and len(row) == 3 and isinstance(row[0], str)
        ok = ok and all(isinstance(x, list) and len(x) == len(servers) for x in row[1:])
        ok = ok and all(v is None or _is_num(v) for v in row[1]) and all(isinstance(n, int) for n in row[2])
        if not ok:
            raise MessageError(
                f"policy-view: rows[{i}] must be [context, [value|null per server], [count per server]]"
            )
        values = tuple(None if v is None else float(v) for v in row[1])
        rows.append(EstimateRow(row[0], values, tuple(row[2])))
    return PolicyView(
        policy=_get(meta, "policy", str),
        servers=tuple(servers),
        what=_get(meta, "what", str),
        rows=tuple(rows),
        feedbacks=_get(meta, "feedbacks", int),
        published_at=_num(meta, "published_at"),
    )


def check_jpeg(data: bytes, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
    """Cheap structural check: JPEG start and end markers, within the size limit.

    Full decoding (which also catches corrupt entropy data) happens where the pixels
    are needed; this check keeps obviously wrong payloads off the topics.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MessageError(f"frame: image must be bytes, got {type(data).__name__}")
    n = len(data)
    if n > max_frame_bytes:
        raise MessageError(f"frame: {n} bytes exceeds the limit of {max_frame_bytes} bytes")
    if n < 4 or bytes(data[:2]) != b"\xff\xd8":
        raise MessageError("frame: not a JPEG (missing SOI marker FFD8)")
    if bytes(data[-2:]) != b"\xff\xd9":
        raise MessageError("frame: truncated JPEG (missing EOI marker FFD9)")


# ---------------------------------------------------------------- helpers


def _frame_meta(m: FrameMeta) -> dict[str, Any]:
    return {"v": FORMAT_VERSION, **vars(m)}


def _task_meta(t: Task) -> dict[str, Any]:
    return {
        **_frame_meta(t.frame.meta),
        "features": t.features,  # orjson writes dataclasses natively
        "preference": t.preference,
        "preprocess_s": t.preprocess_s,
        "created_at": t.created_at,
        "source": t.source,
        "model_version": t.model_version,
    }


def _parse_frame_meta(meta: dict[str, Any]) -> FrameMeta:
    m = FrameMeta(
        stream_id=_get(meta, "stream_id", str),
        frame_no=_get(meta, "frame_no", int),
        capture_time=_num(meta, "capture_time"),
        a_req=_num(meta, "a_req"),
        d_req=_num(meta, "d_req"),
        gt_ref=_get(meta, "gt_ref", str, optional=True),
    )
    # Values a frame can really have; anything else is bad input, dead-lettered alone.
    if m.frame_no < 0:
        raise MessageError(f"field 'frame_no' must be >= 0, got {m.frame_no}")
    if not 0.0 <= m.a_req <= 100.0:
        raise MessageError(f"field 'a_req' must be an mAP50 in [0, 100] percent, got {m.a_req!r}")
    if not 0.0 < m.d_req <= MAX_DELAY_REQUIREMENT_S:
        raise MessageError(
            f"field 'd_req' must be in (0, {MAX_DELAY_REQUIREMENT_S:g}] seconds, got {m.d_req!r}"
        )
    return m


def _parse_features(f: dict[str, Any]) -> TaskFeatures:
    scales = _get(f, "complexity_scales", list)
    if not all(_is_num(x) for x in scales):
        raise MessageError("features.complexity_scales: must be a list of numbers")
    return TaskFeatures(
        complexity=_num(f, "complexity"),
        complexity_scales=tuple(float(x) for x in scales),
        motion=_num(f, "motion"),
        inter_arrival=_num(f, "inter_arrival"),
    )


def _parse_task(meta: dict[str, Any], jpeg: bytes) -> Task:
    return Task(
        frame=Frame(meta=_parse_frame_meta(meta), jpeg=jpeg),
        features=_parse_features(_get(meta, "features", dict)),
        preference=_num(meta, "preference", optional=True),
        preprocess_s=_num(meta, "preprocess_s"),
        created_at=_num(meta, "created_at"),
        source=_get(meta, "source", str, optional=True),
        model_version=_version(meta, "model_version", optional=True),
    )


def _dumps(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def _loads(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MessageError(f"{what}: metadata is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MessageError(f"{what}: metadata must be a JSON object")
    return data


def _read_meta(headers: Any, kind: str) -> dict[str, Any]:
    raw = None
    for key, value in headers or ():
        if key == META_HEADER:
            raw = value
    if raw is None:
        raise MessageError(f"{kind}: missing '{META_HEADER}' header")
    if len(raw) > _MAX_META_BYTES:
        raise MessageError(f"{kind}: '{META_HEADER}' header of {len(raw)} bytes is too large")
    meta = _loads(bytes(raw), kind)
    _check_kind(meta, kind)
    return meta


def _check_kind(meta: dict[str, Any], kind: str) -> None:
    if meta.get("kind") != kind:
        raise MessageError(f"expected a {kind} message, got kind={meta.get('kind')!r}")
    if meta.get("v") != FORMAT_VERSION:
        raise MessageError(
            f"{kind}: unsupported format version {meta.get('v')!r} (expected {FORMAT_VERSION})"
        )


def _jpeg_value(value: bytes | None, max_frame_bytes: int) -> bytes:
    if value is None:
        raise MessageError("frame: empty value (no JPEG bytes)")
    check_jpeg(value, max_frame_bytes)
    return bytes(value)


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _get(meta: dict[str, Any], key: str, typ: type, optional: bool = False) -> Any:
    v = meta.get(key)
    if type(v) is typ:  # what orjson gives for a valid field (bool is not an int here)
        return v
    return _get_checked(meta, key, typ, optional)


def _get_checked(meta: dict[str, Any], key: str, typ: type, optional: bool) -> Any:
    if key not in meta or (optional and meta[key] is None):
        if optional:
            return None
        raise MessageError(f"missing field '{key}'")
    v = meta[key]
    if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
        raise MessageError(f"field '{key}' must be {typ.__name__}, got {type(v).__name__}")
    return v


def _num(meta: dict[str, Any], key: str, optional: bool = False) -> Any:
    v = meta.get(key)
    if type(v) is float:  # the common case first: decoding is on every hop's path
        return v
    if type(v) is int:
        return float(v)
    return _num_checked(meta, key, optional)


def _num_checked(meta: dict[str, Any], key: str, optional: bool) -> Any:
    if key not in meta or (optional and meta[key] is None):
        if optional:
            return None
        raise MessageError(f"missing field '{key}'")
    v = meta[key]
    if not _is_num(v):
        raise MessageError(f"field '{key}' must be a number, got {type(v).__name__}")
    return float(v)


def _version(meta: dict[str, Any], key: str, optional: bool = False) -> Any:
    v = _get(meta, key, int, optional=optional)
    if v is not None and v < 0:
        raise MessageError(f"field '{key}' must be >= 0, got {v}")
    return v


def _sub(meta: dict[str, Any], key: str, cls: type) -> Any:
    d = _get(meta, key, dict)
    kwargs = {}
    for f in fields(cls):
        if f.name in d:
            kwargs[f.name] = _num(d, f.name)
    return cls(**kwargs)
