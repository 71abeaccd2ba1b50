"""Calibration: what the policies must know about a deployment, as data (not code constants).

:class:`Calibration` holds the complexity scale of the deployment's frames (quantiles and
the bandit's bucket edges), per-model and per-server priors (inference latency, per-frame
mAP50 distribution) and the servers' link rates. It is built from profiling traces
(:meth:`Calibration.from_trace`, ``cdio-stream profile``), from model cards
(:meth:`Calibration.from_cards`) or by ``cdio-stream calibrate``, saved as JSON
(:meth:`Calibration.to_json` / :func:`load_calibration`) and handed to every policy by
``make_policy(name, servers, calibration=...)``. The one shipped with the package
(``calibration.json`` beside this module, :func:`default_calibration`) records where each
of its numbers comes from. A calibration measured on a running pipeline
(:func:`cdio_stream.live_calibration.calibration_from_results`, ``cdio-stream calibrate
--live-results``) also carries the pipeline's own latencies (:class:`PipelinePrior`), which the
simulator needs to model the live deployment rather than the paper's system.

A model card (the JSON next to a detector's weights, :mod:`cdio_stream.inference.training`)
may carry ``evaluation.per_frame_map50``: the detector's per-frame mAP50 distribution on
annotated frames it was not trained on::

    {"data": "...", "frames": 160, "mean": 37.7, "p10": ..., "p50": ..., "p90": ...,
     "quantiles": [20 values at levels 2.5 %, 7.5 %, ..., 97.5 %]}

From it come the reference model's prior (:func:`reference_judge`) and the
``--accuracy-range auto`` rule (:func:`auto_accuracy_range`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.topology import ServerSpec, Topology

if TYPE_CHECKING:
    from cdio_stream.feedback.judge import ReferenceJudge

__all__ = [
    "CALIBRATION_FILE",
    "CALIBRATION_VERSION",
    "Calibration",
    "ModelPrior",
    "PIPELINE_PARTS",
    "PipelinePrior",
    "ServerPrior",
    "auto_accuracy_range",
    "card_of",
    "default_calibration",
    "deployed_accuracy_range",
    "deployed_reference_judge",
    "distribution",
    "load_calibration",
    "per_frame_map50",
    "reference_judge",
    "reference_server_of",
]

CALIBRATION_FILE = Path(__file__).resolve().parent / "calibration.json"
CALIBRATION_VERSION = 1
N_QUANTILES = 20  # per-frame mAP50 quantiles at levels (k + 0.5) / 20, as the model cards
COMPLEXITY_LEVELS = tuple(round(k / 20, 2) for k in range(1, 20))  # 5 %, 10 %, ..., 95 %


def distribution(values: Iterable[float], n_quantiles: int = N_QUANTILES) -> dict[str, Any]:
    """Summary of per-frame values as the model cards write it: frames, mean, p10, p50,
    p90 and ``n_quantiles`` quantiles at levels (k + 0.5) / n."""
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        raise ConfigError("a distribution needs at least one value")
    levels = (np.arange(n_quantiles) + 0.5) / n_quantiles
    r = lambda v: round(float(v), 4)  # noqa: E731
    return {
        "frames": int(arr.size),
        "mean": r(arr.mean()),
        "p10": r(np.quantile(arr, 0.1)),
        "p50": r(np.quantile(arr, 0.5)),
        "p90": r(np.quantile(arr, 0.9)),
        "quantiles": [r(q) for q in np.quantile(arr, levels)],
    }


@dataclass(frozen=True)
class ModelPrior:
    """What is known about one detector (a registry name) before any feedback.

    ``inference_s``: median seconds per frame (preprocess + inference + postprocess) on
    ``device``; ``per_frame_map50``: its per-frame mAP50 distribution (:func:`distribution`)
    on annotated frames; ``accuracy``: the mean of that (or a card's single number).
    """

    inference_s: float | None = None
    inference_p90_s: float | None = None
    device: str | None = None
    accuracy: float | None = None
    per_frame_map50: Mapping[str, Any] | None = None
    source: str = ""


@dataclass(frozen=True)
class ServerPrior:
    """Per-server values measured on that server; they win over its model's :class:`ModelPrior`."""

    model: str | None = None
    inference_s: float | None = None
    accuracy: float | None = None
    link_bps: float | None = None
    link_latency_s: float | None = None


PIPELINE_PARTS = ("preprocess_s", "schedule_s", "dispatch_s", "worker_overhead_s")


@dataclass(frozen=True)
class PipelinePrior:
    """The live pipeline's own latencies per task, measured on a run of the deployment
    (:mod:`cdio_stream.live_calibration`); each is a :func:`distribution` in seconds:

    * ``preprocess_s``: the preprocess stage's time per frame (a task waits for its whole
      micro-batch: its time / the frames in it);
    * ``schedule_s``: task created -> the scheduler decided it (tasks hop, slot wait, decision);
    * ``dispatch_s``: decided -> inference starts on a worker that was idle, less the emulated
      transmission (assignment hop, pick-up, JPEG decode);
    * ``worker_overhead_s``: on a busy worker, the end of one detector call -> the next task's
      inference start, less its transmission (result send, ack, pick-up, decode). None when
      the run had no task that waited for its worker.

    :meth:`sample` draws from them (inverse CDF over the quantiles), which is how the simulator
    models these parts of the live delay (:class:`cdio_stream.sim.Simulator`, ``pipeline=``).

    ``slowdown``: per detector (registry model name), how much longer a call takes inside the
    running pipeline than the same frame profiled alone on the same machine, by how many
    other detector calls were in progress when it started: ``(s0, s1, ..., sK)``, the last for
    K or more. Five single-threaded workers, the pipeline's own processes and the broker share
    the CPU, and a call that starts while others run shares it with them. The simulator
    multiplies a trace's profiled per-frame latency by it (:meth:`slowdown_for`), so a trace
    profiled right before a run carries the machine's speed at that moment, the factor the
    contention.
    """

    preprocess_s: Mapping[str, Any]
    schedule_s: Mapping[str, Any]
    dispatch_s: Mapping[str, Any]
    worker_overhead_s: Mapping[str, Any] | None = None
    slowdown: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        for part in PIPELINE_PARTS:
            dist = getattr(self, part)
            if dist is None and part == "worker_overhead_s":
                continue
            where = f"calibration: pipeline.{part}"
            if not isinstance(dist, Mapping) or not dist.get("quantiles"):
                raise ConfigError(f"{where} needs a distribution with quantiles")
            qs = [float(q) for q in dist["quantiles"]]
            if not all(math.isfinite(q) and q >= 0 for q in qs) or qs != sorted(qs):
                raise ConfigError(f"{where}: quantiles must be non-decreasing seconds >= 0")
        table = {str(m): tuple(float(f) for f in factors) for m, factors in self.slowdown.items()}
        for model, factors in table.items():
            if not factors or not all(math.isfinite(f) and f > 0 for f in factors):
                raise ConfigError(
                    f"calibration: pipeline.slowdown.{model} must be a list of numbers > 0, got {list(factors)}"
                )
        object.__setattr__(self, "slowdown", table)

    def slowdown_for(self, model: str, running: int) -> float | None:
        """The factor of a call of ``model`` that starts while ``running`` other calls run (None:
        not measured for that model)."""
        factors = self.slowdown.get(model)
        return None if not factors else factors[min(running, len(factors) - 1)]

    def mean(self, part: str) -> float:
        dist = getattr(self, part)
        return 0.0 if dist is None else float(dist["mean"])

    def sample(self, part: str, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws of ``part``: its quantiles' inverse CDF at uniform levels (linear
        between the quantile levels (k + 0.5) / n, flat beyond the outer ones); zeros for a
        part that was not measured."""
        dist = getattr(self, part)
        if dist is None:
            return np.zeros(size)
        qs = np.asarray(dist["quantiles"], dtype=float)
        levels = (np.arange(qs.size) + 0.5) / qs.size
        return np.interp(rng.random(size), levels, qs)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            p: dict(getattr(self, p)) for p in PIPELINE_PARTS if getattr(self, p) is not None
        }
        if self.slowdown:
            out["slowdown"] = {m: list(f) for m, f in self.slowdown.items()}
        return out | ({"source": self.source} if self.source else {})

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> PipelinePrior:
        body = _mapping(raw, where)
        _only(body, {*PIPELINE_PARTS, "slowdown", "source"}, where)
        missing = [p for p in PIPELINE_PARTS[:3] if p not in body]
        if missing:
            raise ConfigError(f"{where}: missing {', '.join(missing)}")
        parts = {}
        for part in PIPELINE_PARTS:
            if body.get(part) is None:
                continue
            dist = dict(_mapping(body[part], f"{where}.{part}"))
            if "mean" not in dist or not isinstance(dist.get("quantiles"), list):
                raise ConfigError(f"{where}.{part}: needs 'mean' and a list of 'quantiles'")
            dist["mean"] = _number(dist["mean"], f"{where}.{part}.mean")
            dist["quantiles"] = [_number(q, f"{where}.{part}.quantiles") for q in dist["quantiles"]]
            parts[part] = dist
        slowdown = {}
        for model, factors in _mapping(body.get("slowdown", {}), f"{where}.slowdown").items():
            if not isinstance(factors, list):
                raise ConfigError(f"{where}.slowdown.{model}: expected a list of factors, got {factors!r}")
            slowdown[str(model)] = tuple(_number(f, f"{where}.slowdown.{model}") for f in factors)
        try:
            return cls(**parts, slowdown=slowdown, source=str(body.get("source", "")))
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("calibration: pipeline", where)) from None


@dataclass(frozen=True)
class Calibration:
    """A deployment's calibration; see the module docstring. Every field may be empty:
    a policy then keeps its own default for what is missing."""

    complexity_edges: tuple[float, ...] = ()  # the bandit's complexity bucket edges (ascending)
    complexity_quantiles: Mapping[float, float] = field(default_factory=dict)  # level -> value
    complexity_frames: int = 0
    models: Mapping[str, ModelPrior] = field(default_factory=dict)
    servers: Mapping[str, ServerPrior] = field(default_factory=dict)
    source: str = ""
    pipeline: PipelinePrior | None = None  # the live pipeline's own latencies, when measured on one

    def __post_init__(self) -> None:
        edges = tuple(float(e) for e in self.complexity_edges)
        if list(edges) != sorted(set(edges)) or not all(math.isfinite(e) for e in edges):
            raise ConfigError(f"calibration: complexity_edges must be strictly increasing, got {list(edges)}")
        object.__setattr__(self, "complexity_edges", edges)
        qs = {float(k): float(v) for k, v in dict(self.complexity_quantiles).items()}
        if not all(0.0 < k < 1.0 for k in qs):
            raise ConfigError(f"calibration: complexity quantile levels must be in (0, 1), got {sorted(qs)}")
        values = [qs[k] for k in sorted(qs)]
        if values != sorted(values):
            raise ConfigError("calibration: complexity quantiles must not decrease with the level")
        object.__setattr__(self, "complexity_quantiles", dict(sorted(qs.items())))
        named = [(f"models.{n}", p) for n, p in self.models.items()] + [
            (f"servers.{n}", p) for n, p in self.servers.items()
        ]
        for name, prior in named:
            for attr in ("inference_s", "inference_p90_s", "link_bps", "link_latency_s"):
                v = getattr(prior, attr, None)
                if v is not None and not (math.isfinite(v) and v >= 0):
                    raise ConfigError(f"calibration: {name}.{attr} must be a number >= 0, got {v!r}")
            if prior.accuracy is not None and not 0.0 <= prior.accuracy <= 100.0:
                raise ConfigError(
                    f"calibration: {name}.accuracy must be mAP50 in [0, 100], got {prior.accuracy}"
                )

    # --- what the policies read -------------------------------------------------------------

    @property
    def complexity_median(self) -> float | None:
        """The median complexity: the 0.5 quantile, else the middle bucket edge, else None."""
        if 0.5 in self.complexity_quantiles:
            return self.complexity_quantiles[0.5]
        if len(self.complexity_edges) % 2 == 1:
            return self.complexity_edges[len(self.complexity_edges) // 2]
        return None

    def model(self, server: ServerSpec) -> ModelPrior | None:
        return self.models.get(self.servers[server.id].model or server.model) if server.id in self.servers \
            else self.models.get(server.model)  # fmt: skip

    def inference_s(self, server: ServerSpec) -> float | None:
        """Expected seconds per frame on ``server``: its own measurement, else its model's."""
        own = self.servers.get(server.id)
        if own is not None and own.inference_s is not None:
            return own.inference_s
        prior = self.model(server)
        return None if prior is None else prior.inference_s

    def accuracy(self, server: ServerSpec) -> float | None:
        """Prior mean mAP50 (percent) of ``server``'s model: the server's, else the model's."""
        own = self.servers.get(server.id)
        if own is not None and own.accuracy is not None:
            return own.accuracy
        prior = self.model(server)
        return None if prior is None else prior.accuracy

    def link_bps(self, server: ServerSpec) -> float | None:
        own = self.servers.get(server.id)
        return None if own is None else own.link_bps

    def link_latency_s(self, server: ServerSpec) -> float | None:
        own = self.servers.get(server.id)
        return None if own is None else own.link_latency_s

    def per_server(self, servers: Sequence[ServerSpec], what: str) -> dict[str, float]:
        """``{server id: value}`` of ``what`` (inference_s, accuracy, link_bps,
        link_latency_s) where known."""
        get = {"inference_s": self.inference_s, "accuracy": self.accuracy, "link_bps": self.link_bps,
               "link_latency_s": self.link_latency_s}[what]  # fmt: skip
        return {s.id: v for s in servers if (v := get(s)) is not None}

    # --- building ----------------------------------------------------------------------------

    @classmethod
    def from_trace(
        cls,
        frames: Sequence[Any],
        *,
        servers: Sequence[ServerSpec] = (),
        models: bool = True,
        device: str | None = None,
        n_buckets: int = 4,
        links: Mapping[str, Any] | None = None,
        source: str = "",
    ) -> Calibration:
        """Calibration measured on a profiling trace (:class:`cdio_stream.trace.TraceFrame` s).

        Complexity: quantiles at 5 %..95 % and ``n_buckets`` equally populated bucket edges.
        With ``models``: per model in the trace, median / p90 latency (on ``device``, the
        machine that profiled) and the per-frame mAP50 distribution (frames with ground
        truth). ``servers`` get one :class:`ServerPrior` each (their model's latency and
        accuracy; ``links`` maps server id -> a link with ``nominal_bps`` / ``latency_s``).
        The simulator passes ``models=False``: its servers' latencies are device profiles,
        not the profiling machine's.
        """
        from cdio_stream.policy.context import complexity_edges_from

        frames = list(frames)
        if not frames:
            raise ConfigError("calibration from a trace needs at least one frame")
        complexity = np.array([f.complexity for f in frames], dtype=float)
        quantiles = {lv: float(np.quantile(complexity, lv)) for lv in COMPLEXITY_LEVELS}
        edges = complexity_edges_from(complexity, n_buckets)
        priors: dict[str, ModelPrior] = {}
        if models:
            names = sorted({m for f in frames for m in (*f.latency_s, *f.accuracy)})
            for name in names:
                lat = [f.latency_s[name] for f in frames if name in f.latency_s]
                acc = [f.accuracy[name] for f in frames if name in f.accuracy]
                dist = distribution(acc) if acc else None
                priors[name] = ModelPrior(
                    inference_s=round(float(np.median(lat)), 6) if lat else None,
                    inference_p90_s=round(float(np.quantile(lat, 0.9)), 6) if lat else None,
                    device=device,
                    accuracy=dist["mean"] if dist else None,
                    per_frame_map50=dist,
                    source=f"{len(lat)} frames timed, {len(acc)} with ground truth",
                )
        per_server = {}
        for s in servers:
            prior = priors.get(s.model)
            link = (links or {}).get(s.id)
            per_server[s.id] = ServerPrior(
                model=s.model,
                inference_s=None if prior is None else prior.inference_s,
                accuracy=None if prior is None else prior.accuracy,
                link_bps=None if link is None else float(link.nominal_bps),
                link_latency_s=None if link is None else float(link.latency_s),
            )
        return cls(edges, quantiles, len(frames), priors, per_server, source)

    @classmethod
    def from_cards(cls, registry, names: Iterable[str], base: Calibration | None = None) -> Calibration:
        """``base`` (default: empty) where each named model that has no accuracy yet takes it
        from its card's ``evaluation.per_frame_map50``; models without a card stay as they are."""
        base = base or cls()
        priors = dict(base.models)
        for name in names:
            old = priors.get(name, ModelPrior())
            if old.accuracy is not None:
                continue
            card = card_of(registry.spec(name).weights)
            stats = (card or {}).get("evaluation", {}).get("per_frame_map50")
            if not isinstance(stats, dict) or "mean" not in stats:
                continue
            source = "; ".join(
                x for x in (old.source, f"accuracy: model card ({stats.get('data', '')})") if x
            )
            priors[name] = replace(
                old, accuracy=float(stats["mean"]), per_frame_map50=dict(stats), source=source
            )
        return replace(base, models=priors)

    def merged(self, newer: Calibration) -> Calibration:
        """This calibration updated by ``newer``: its complexity scale if it has one, its
        models and servers replacing the ones of the same name (the others are kept; e.g.
        one node calibrated after another), its pipeline latencies if it has them."""
        cx = newer if newer.complexity_edges or newer.complexity_quantiles else self
        return Calibration(
            cx.complexity_edges,
            cx.complexity_quantiles,
            cx.complexity_frames,
            {**self.models, **newer.models},
            {**self.servers, **newer.servers},
            newer.source or self.source,
            newer.pipeline or self.pipeline,
        )

    # --- files -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        def clean(d: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in d.items() if v is not None and v != ""}

        return {
            "version": CALIBRATION_VERSION,
            "source": self.source,
            "complexity": {
                "frames": self.complexity_frames,
                "edges": list(self.complexity_edges),
                "quantiles": {f"{k:g}": v for k, v in self.complexity_quantiles.items()},
            },
            "models": {n: clean(vars_of(p)) for n, p in self.models.items()},
            "servers": {n: clean(vars_of(p)) for n, p in self.servers.items()},
        } | ({"pipeline": self.pipeline.to_dict()} if self.pipeline is not None else {})

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=1).encode() + b"\n"

    @classmethod
    def from_dict(cls, raw: Any, where: str = "calibration") -> Calibration:
        """Parse :meth:`to_dict`'s form; errors are one line naming ``where`` and the key."""
        root = _mapping(raw, where)
        _only(root, {"version", "source", "complexity", "models", "servers", "pipeline"}, where)
        if root.get("version") != CALIBRATION_VERSION:
            raise ConfigError(f"{where}: version {root.get('version')!r} is not {CALIBRATION_VERSION}")
        cx = _mapping(root.get("complexity", {}), f"{where}: complexity")
        _only(cx, {"frames", "edges", "quantiles"}, f"{where}: complexity")
        try:
            edges = tuple(_number(e, f"{where}: complexity.edges") for e in cx.get("edges", []))
            quantiles = {
                _number(k, f"{where}: complexity.quantiles key"): _number(
                    v, f"{where}: complexity.quantiles.{k}"
                )
                for k, v in _mapping(cx.get("quantiles", {}), f"{where}: complexity.quantiles").items()
            }
            models = {
                name: _record(ModelPrior, body, f"{where}: models.{name}")
                for name, body in _mapping(root.get("models", {}), f"{where}: models").items()
            }
            servers = {
                sid: _record(ServerPrior, body, f"{where}: servers.{sid}")
                for sid, body in _mapping(root.get("servers", {}), f"{where}: servers").items()
            }
            pipeline = root.get("pipeline")
            return cls(
                edges,
                quantiles,
                int(_number(cx.get("frames", 0), f"{where}: complexity.frames")),
                models,
                servers,
                str(root.get("source", "")),
                None if pipeline is None else PipelinePrior.from_dict(pipeline, f"{where}: pipeline"),
            )
        except ConfigError as exc:
            msg = str(exc).removeprefix("calibration: ")
            raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from None

    @classmethod
    def from_json(cls, data: bytes | str, where: str = "calibration") -> Calibration:
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise ConfigError(f"{where}: not valid JSON: {exc}") from None
        return cls.from_dict(raw, where)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_json())
        return path


def vars_of(prior: ModelPrior | ServerPrior) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in prior.__dict__.items()}


def load_calibration(path: str | Path) -> Calibration:
    """A calibration file (:meth:`Calibration.to_json`); a one-line ConfigError naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read calibration file {path}: {exc.strerror}") from None
    return Calibration.from_json(data, where=f"calibration file {path}")


def default_calibration() -> Calibration:
    """The calibration shipped with the package (``calibration.json``: the values measured
    for the shipped detectors and demo frames, each with its source)."""
    return load_calibration(CALIBRATION_FILE)


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object, got {type(raw).__name__}")
    return raw


def _only(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})"
        )


def _number(raw: Any, where: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {raw!r}")
    return value


def _record(kind: type, raw: Any, where: str) -> Any:
    body = dict(_mapping(raw, where))
    fields = set(kind.__dataclass_fields__)
    _only(body, fields, where)
    for key, value in body.items():
        if (
            key in ("inference_s", "inference_p90_s", "accuracy", "link_bps", "link_latency_s")
            and value is not None
        ):
            body[key] = _number(value, f"{where}.{key}")
        elif key == "per_frame_map50" and value is not None:
            stats = _mapping(value, f"{where}.per_frame_map50")
            if "mean" not in stats:
                raise ConfigError(f"{where}.per_frame_map50: needs at least 'mean'")
    try:
        return kind(**body)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def card_of(weights: Path | None) -> dict[str, Any] | None:
    """The model card next to ``weights`` (``<name>.json``), or None when there is none."""
    if weights is None:
        return None
    path = Path(weights).with_suffix(".json")
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"bad model card {path}: {exc}") from None


def per_frame_map50(name: str, weights: Path | None) -> dict[str, Any]:
    """The card's per-frame mAP50 distribution of model ``name``; a clear error without one."""
    card = card_of(weights)
    stats = (card or {}).get("evaluation", {}).get("per_frame_map50")
    if not isinstance(stats, dict) or not {"mean", "p50", "p90", "quantiles"} <= set(stats):
        raise ConfigError(
            f"model {name!r} has no evaluation.per_frame_map50 (mean, p50, p90, quantiles) in its card "
            f"({Path(weights).with_suffix('.json') if weights else 'no weights file'}); measure it with "
            "`cdio-stream models evaluate` or pass explicit numbers"
        )
    return stats


def reference_judge(name: str, weights: Path | None) -> ReferenceJudge:
    """The reference model's prior: its card's per-frame mAP50 quantiles (one complexity bucket)."""
    from cdio_stream.feedback.judge import ReferenceJudge

    stats = per_frame_map50(name, weights)
    return ReferenceJudge(name, (tuple(float(q) for q in stats["quantiles"]),))


def reference_server_of(topology: Topology, reference_server: str | None) -> str:
    """The server whose model is the reference: as given, else the first cloud server."""
    if reference_server is None:
        reference_server = next((s.id for s in topology.servers if s.tier == "cloud"), None)
    if reference_server not in topology.server_ids:
        raise ConfigError(f"reference server {reference_server!r} is not a server in topics.yaml")
    return reference_server


def deployed_reference_judge(
    topology: Topology, reference_server: str | None, models_file: Path | None = None
) -> ReferenceJudge:
    """:func:`reference_judge` of the deployment's reference server's model, from its
    registry card (the scheduler plans shadow runs with it, inference workers judge)."""
    from cdio_stream.inference.registry import default_registry, load_registry

    registry = load_registry(models_file) if models_file else default_registry()
    server = topology.server(reference_server_of(topology, reference_server))
    return reference_judge(server.model, registry.spec(server.model).weights)


def auto_accuracy_range(edge: dict[str, Any], cloud: dict[str, Any]) -> tuple[float, float]:
    """``--accuracy-range auto``: from the edge model's median per-frame mAP50 to the cloud
    model's 90th percentile, so that A^q spans what the deployment can do: the easiest
    requirement is met by the edge on half of the frames, the hardest by the cloud on a
    tenth of them (the paper's [50, 80] plays that role for its own models)."""
    lo, hi = float(edge["p50"]), float(cloud["p90"])
    if not hi > lo:
        raise ConfigError(f"auto accuracy range is empty: edge median {lo} >= cloud 90th percentile {hi}")
    return round(lo, 1), round(hi, 1)


def deployed_accuracy_range(topology, models_file: Path | None = None) -> tuple[float, float]:
    """:func:`auto_accuracy_range` for the deployment of ``topology``: its first edge
    server's model and its first cloud server's model, from their registry cards."""
    from cdio_stream.inference.registry import default_registry, load_registry

    registry = load_registry(models_file) if models_file else default_registry()
    edge = next((s for s in topology.servers if s.tier == "edge"), None)
    cloud = next((s for s in topology.servers if s.tier == "cloud"), None)
    if edge is None or cloud is None:
        raise ConfigError("--accuracy-range auto needs an edge and a cloud server in topics.yaml")
    stats = [per_frame_map50(s.model, registry.spec(s.model).weights) for s in (edge, cloud)]
    return auto_accuracy_range(*stats)
