"""The one policy interface shared by the simulator, the live scheduler and the benchmarks.

A *slot* is a short batch of tasks (1..64 typically). ``assign(tasks, state)`` returns one
:class:`Decision` per task, each naming exactly one server (constraint C3 of eq. 8), in the
order the tasks should be dispatched (tasks bound for the same server queue in that order).
``feedback(items)`` takes per-task outcomes, in any order and at any later time, possibly
for tasks decided before a restart; ``release(task_ids)`` ends decisions that will get no
outcome (their task was dead-lettered). ``state_bytes()`` / ``load_state(b)`` persist and
restore everything a policy has learned (see :mod:`cdio_stream.policy.codec`); rebuilding a
policy of any kind from its bytes is the registry's job
(:func:`cdio_stream.policy.registry.policy_from_state`), so this module imports no policy.

Public methods validate and delegate to protected hooks (``_assign``, ``_feedback``,
``_get_state``, ``_set_state``, ``_running_view``), which subclasses implement. Importing this module pulls
in no torch, faust or Kafka client.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from cdio_stream.errors import CdioError, ConfigError, MessageError
from cdio_stream.messages import EstimateRow
from cdio_stream.policy.codec import decode_state, encode_state
from cdio_stream.topology import TIERS, ServerSpec

__all__ = [
    "ServerSpec",
    "SlotTask",
    "ServerState",
    "SystemState",
    "Decision",
    "Feedback",
    "PolicyEstimates",
    "Policy",
]


@dataclass(frozen=True, slots=True)
class SlotTask:
    """What a policy knows about one task when it decides."""

    task_id: str
    stream_id: str
    payload_bytes: int  # bytes to send (JPEG)
    complexity: float  # spatial complexity C (eq. 2)
    preference: float | None  # P(compute preference) from RPP in [0, 1]; None if unknown
    a_req: float  # accuracy requirement A^q, mAP50 percent
    d_req: float  # delay requirement D^q, seconds, counted from arrival_time
    arrival_time: float  # seconds, same clock as SystemState.time (capture time)


@dataclass(frozen=True, slots=True)
class ServerState:
    """What the scheduler knows about one server at decision time; None = unknown."""

    server_id: str
    queue_length: int = 0  # tasks sent to it and not finished
    queue_delay_s: float | None = None  # wait before a newly arriving task would start
    bandwidth_bps: float | None = None  # current estimate of its link's rate
    link_backlog_s: float = 0.0  # time until its link is free to start a new transfer
    available: bool = True


@dataclass(frozen=True)
class SystemState:
    time: float  # now, seconds
    servers: tuple[ServerState, ...] = ()

    def server(self, server_id: str) -> ServerState:
        for s in self.servers:
            if s.server_id == server_id:
                return s
        return ServerState(server_id)


@dataclass(frozen=True, slots=True)
class Decision:
    task_id: str
    server_id: str
    quality: float = 1.0  # JPEG bitrate scale in (0, 1] to send at; only DAO lowers it
    info: Mapping[str, Any] = field(default_factory=dict)  # JSON-able, for logs / Assignment


@dataclass(frozen=True, slots=True)
class Feedback:
    """Semi-bandit feedback for one task (paper 4.1.3 delay parts, 4.2.3-4.2.5 costs)."""

    task_id: str
    server_id: str
    accuracy: float | None  # mAP50 percent; None when no ground truth
    preprocess_s: float
    queue_s: float  # all waiting: slot, link and server queues
    transmission_s: float  # start of transfer to last packet received
    inference_s: float
    total_s: float  # end-to-end delay from arrival
    compute_tflop: float  # FP16 TFLOPS x inference time
    bandwidth_bps: float  # bits sent / transmission time
    energy_j: float
    payload_bytes: int
    acc_ok: bool | None  # accuracy >= A^q (C1); None when accuracy unknown
    delay_ok: bool  # total <= D^q (C2)
    # Reference-judged feedback (cdio_stream.feedback) knows C1 only in expectation: the
    # probability that accuracy >= A^q; None when acc_ok is an observed fact.
    acc_p: float | None = None
    # What other models achieved on the same frame, (model name, mAP50 percent, P(C1 met)):
    # a reference-sampled task also ran on the other tier.
    other_accuracy: tuple[tuple[str, float, float], ...] = ()
    # The task was shed as late (cdio_stream.pipeline.shedding), not inferred: only C2 is
    # known (missed), and there is no accuracy, inference time or cost to learn from.
    expired: bool = False

    @classmethod
    def expired_task(
        cls, task_id: str, server_id: str, *, d_req: float, preprocess_s: float = 0.0, queue_s: float = 0.0
    ) -> Feedback:
        """A delay failure on ``server_id`` for a task shed before inference.

        Its delay is censored: at least what it had waited, and more than D^q (it was shed
        because it could not meet it), so ``total_s`` is the larger of the two.
        """
        total = max(preprocess_s + queue_s, math.nextafter(d_req, math.inf))
        return cls(
            task_id, server_id, None, preprocess_s, total - preprocess_s, 0.0, 0.0, total,
            0.0, 0.0, 0.0, 0, None, False, expired=True,
        )  # fmt: skip

    @classmethod
    def measured(
        cls,
        task_id: str,
        server_id: str,
        *,
        accuracy: float | None,
        a_req: float,
        d_req: float,
        preprocess_s: float = 0.0,
        queue_s: float = 0.0,
        transmission_s: float = 0.0,
        inference_s: float = 0.0,
        compute_tflop: float = 0.0,
        bandwidth_bps: float = 0.0,
        energy_j: float = 0.0,
        payload_bytes: int = 0,
        acc_p: float | None = None,
        other_accuracy: tuple[tuple[str, float, float], ...] = (),
    ) -> Feedback:
        """Build feedback from measurements; the total and the success flags are derived."""
        total = preprocess_s + queue_s + transmission_s + inference_s
        return cls(
            task_id, server_id, accuracy, preprocess_s, queue_s, transmission_s, inference_s, total,
            compute_tflop, bandwidth_bps, energy_j, payload_bytes,
            None if accuracy is None else accuracy >= a_req, total <= d_req, acc_p, tuple(other_accuracy),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class PolicyEstimates:
    """A policy's running view: ``what`` says which quantity the values estimate."""

    what: str
    rows: tuple[EstimateRow, ...]


class Policy(ABC):
    """Base of every scheduling policy; see the module docstring for the contract."""

    name: ClassVar[str] = ""

    def __init__(self, servers: Sequence[ServerSpec], *, seed: int = 0) -> None:
        servers = tuple(servers)
        if not servers:
            raise ConfigError("a policy needs at least one server")
        ids = [s.id for s in servers]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"server ids must be unique, got {ids}")
        for s in servers:
            if s.tier not in TIERS:
                raise ConfigError(f"server {s.id!r}: tier must be one of {TIERS}, got {s.tier!r}")
        self.servers: tuple[ServerSpec, ...] = servers
        self.server_ids: tuple[str, ...] = tuple(ids)
        self.index: dict[str, int] = {sid: i for i, sid in enumerate(ids)}
        self.edge_idx = tuple(i for i, s in enumerate(servers) if s.tier == "edge")
        self.cloud_idx = tuple(i for i, s in enumerate(servers) if s.tier == "cloud")
        self.seed = int(seed)

    # ------------------------------------------------------------------ public API
    def assign(self, tasks: Sequence[SlotTask], state: SystemState) -> list[Decision]:
        tasks = tuple(tasks)
        _check_tasks(tasks)
        for s in state.servers:
            if s.server_id not in self.index:
                raise MessageError(f"system state names unknown server {s.server_id!r}")
        if not tasks:
            return []
        decisions = self._assign(tasks, state)
        if len(decisions) != len(tasks) or {d.task_id for d in decisions} != {t.task_id for t in tasks}:
            raise CdioError(f"bug in {type(self).__name__}: it must return exactly one decision per task")
        return decisions

    def feedback(self, items: Iterable[Feedback]) -> None:
        items = list(items)
        for fb in items:
            if fb.server_id not in self.index:
                raise MessageError(f"feedback for task {fb.task_id!r} names unknown server {fb.server_id!r}")
        if items:
            self._feedback(items)

    def release(self, task_ids: Iterable[str]) -> None:
        """Forget decisions whose task ended without an outcome (dead-lettered at the server).

        Nothing is learned from them: a dead letter says the record could not be processed
        (a bad image, a message error), not how the server performed.
        """
        ids = list(task_ids)
        if ids:
            self._release(ids)

    def with_server(self, server: ServerSpec) -> Policy:
        """This policy with one more server (one that joined while running), keeping what
        it learned about the others; the new server starts with fresh arms."""
        if server.id in self.index:
            raise ConfigError(f"server {server.id!r} is already scheduled by {self.name!r}")
        return self._with_servers((*self.servers, server))

    def running_view(self) -> PolicyEstimates | None:
        """What the policy currently believes, for people watching it (the live dashboard);
        None for policies without learned estimates."""
        view = self._running_view()
        if view is not None:
            for row in view.rows:
                if len(row.values) != len(self.servers) or len(row.counts) != len(self.servers):
                    raise CdioError(f"bug in {type(self).__name__}: a view row needs one value per server")
        return view

    def params(self) -> dict[str, Any]:
        """Constructor keyword arguments that rebuild this policy (JSON-able)."""
        return {"seed": self.seed}

    def state_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Learned state as a JSON-able header and named arrays, not yet encoded, so a caller
        that persists more (the scheduler's snapshot) encodes it once with its own state."""
        header, arrays = self._get_state()
        servers = [[s.id, s.tier, s.model, s.device] for s in self.servers]
        meta = {"v": 1, "policy": self.name, "servers": servers, "params": self.params(), "state": header}
        return meta, dict(arrays)

    def load_state_parts(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore learned state from :meth:`state_parts` of the same policy and servers."""
        if meta.get("v") != 1 or meta.get("policy") != self.name:
            raise MessageError(
                f"state is for policy {meta.get('policy')!r} v{meta.get('v')}, not {self.name!r} v1"
            )
        servers = [[s.id, s.tier, s.model, s.device] for s in self.servers]
        if meta.get("servers") != servers:
            raise MessageError(
                f"state was saved for servers {meta.get('servers')}, this policy has {servers}"
            )
        try:
            self._set_state(meta.get("state") or {}, arrays)
        except (KeyError, TypeError, ValueError) as exc:
            raise MessageError(f"policy state for {self.name!r} is malformed: {exc!r}") from None

    def state_bytes(self) -> bytes:
        return encode_state(*self.state_parts())

    def load_state(self, data: bytes) -> None:
        """Restore learned state saved by ``state_bytes`` of the same policy and servers."""
        self.load_state_parts(*decode_state(data))

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _assign(self, tasks: tuple[SlotTask, ...], state: SystemState) -> list[Decision]: ...

    def _feedback(self, items: list[Feedback]) -> None:
        """Learn from outcomes; stateless policies ignore them."""
        return None

    def _with_servers(self, servers: tuple[ServerSpec, ...]) -> Policy:
        """A policy of the same kind and parameters on ``servers`` (the old ones first, in
        their order); policies that learn carry their state over. A parameter given per
        server id (``inference_s``, DAO's ``accuracy_prior``) gives a new server the value of
        a server with its model and device."""
        params = self.params()
        old_ids = set(self.server_ids)
        for key, value in params.items():
            if isinstance(value, dict) and value and set(value) <= old_ids:
                per_server = dict(value)
                for s in servers:
                    twin = next((o for o in self.servers if (o.model, o.device) == (s.model, s.device)), None)
                    if s.id not in per_server and twin is not None and twin.id in per_server:
                        per_server[s.id] = per_server[twin.id]
                params[key] = per_server
        return type(self)(servers, **params)

    def _release(self, task_ids: list[str]) -> None:
        """Drop what is kept about these decisions; policies that keep nothing ignore it."""
        return None

    def _running_view(self) -> PolicyEstimates | None:
        return None

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    def _set_state(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Inverse of ``_get_state``."""
        return None


def _check_tasks(tasks: tuple[SlotTask, ...]) -> None:
    seen = set()
    for t in tasks:
        if t.task_id in seen:
            raise MessageError(f"task id {t.task_id!r} appears twice in one slot")
        seen.add(t.task_id)
        p = t.preference
        if not (
            t.payload_bytes >= 0
            and math.isfinite(t.complexity)
            and 0.0 <= t.a_req <= 100.0
            and t.d_req > 0.0
            and math.isfinite(t.d_req)
            and math.isfinite(t.arrival_time)
            and (p is None or 0.0 <= p <= 1.0)
        ):
            raise MessageError(
                f"task {t.task_id!r} is invalid: payload {t.payload_bytes}, complexity {t.complexity}, "
                f"a_req {t.a_req}, d_req {t.d_req}, arrival {t.arrival_time}, preference {p}"
            )
