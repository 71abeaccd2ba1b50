"""Helpers shared by the heuristic baselines: profile-based service times and a slot load view."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from cdio_stream.errors import ConfigError
from cdio_stream.policy.base import Decision, Policy, SlotTask, SystemState
from cdio_stream.system.network import NOMINAL_BPS
from cdio_stream.system.profiles import Profiles, default_profiles
from cdio_stream.topology import ServerSpec

__all__ = ["service_times", "default_latencies", "default_rates", "LoadView", "ProfiledPolicy", "TierPolicy"]

#: Link latencies a heuristic assumes (what a ping would tell; matches system.network defaults).
TIER_LATENCY_S = {"edge": 0.001, "cloud": 0.02}


def service_times(
    servers: Sequence[ServerSpec],
    inference_s: Mapping[str, float] | None = None,
    *,
    deployment: str | None = None,
    profiles: Profiles | None = None,
    required: bool = True,
) -> tuple[float, ...]:
    """Expected inference seconds per server: ``inference_s[id]`` if given, else the profile
    (model x device). Unknown models raise ConfigError when ``required``, else count as 1.0
    (the load view then compares queue lengths)."""
    profiles = profiles or default_profiles()
    out = []
    for s in servers:
        if inference_s and s.id in inference_s:
            out.append(float(inference_s[s.id]))
            continue
        try:
            out.append(profiles.server_inference_time(s, deployment))
        except ConfigError as exc:
            if required:
                raise ConfigError(
                    f"server {s.id!r}: {exc}; pass inference_s={{server id: seconds}}"
                ) from None
            out.append(1.0)
    return tuple(out)


def default_latencies(
    servers: Sequence[ServerSpec], latency_s: Mapping[str, float] | None = None
) -> tuple[float, ...]:
    return tuple(float((latency_s or {}).get(s.id, TIER_LATENCY_S[s.tier])) for s in servers)


class LoadView:
    """A heuristic's picture of the servers during one slot.

    Starts from the system state (unknown queue delay = queue length x service time,
    unknown bandwidth = ``default_bps``, one rate for all or one per server) and is updated
    as the heuristic places tasks, so several tasks of one slot do not all pile onto the
    same "empty" server.
    """

    __slots__ = ("now", "service", "wait", "link", "bw", "latency", "available")

    def __init__(
        self,
        server_ids: Sequence[str],
        state: SystemState,
        service: Sequence[float],
        latency: Sequence[float],
        default_bps: float | Sequence[float] = NOMINAL_BPS,
    ) -> None:
        self.now = state.time
        defaults = (
            [float(default_bps)] * len(server_ids) if isinstance(default_bps, int | float) else default_bps
        )
        self.service = list(service)
        self.latency = list(latency)
        self.wait, self.link, self.bw, available = [], [], [], []
        for j, sid in enumerate(server_ids):
            st = state.server(sid)
            if st.available:
                available.append(j)
            self.wait.append(
                st.queue_delay_s if st.queue_delay_s is not None else st.queue_length * service[j]
            )
            self.link.append(st.link_backlog_s)
            self.bw.append(st.bandwidth_bps or defaults[j])
        # When every server reports unavailable, keep them all rather than drop the slot.
        self.available = tuple(available) or tuple(range(len(server_ids)))

    def delay(self, task: SlotTask, j: int, quality: float = 1.0) -> float:
        """Predicted end-to-end delay of ``task`` on server ``j`` given what is placed so far."""
        arrive = self.link[j] + task.payload_bytes * quality * 8.0 / self.bw[j] + self.latency[j]
        return (self.now - task.arrival_time) + max(arrive, self.wait[j]) + self.service[j]

    def commit(self, task: SlotTask, j: int, quality: float = 1.0) -> None:
        sending = task.payload_bytes * quality * 8.0 / self.bw[j]
        arrive = self.link[j] + sending + self.latency[j]
        self.link[j] += sending
        self.wait[j] = max(arrive, self.wait[j]) + self.service[j]

    def candidates(self, wanted: Sequence[int]) -> tuple[int, ...]:
        """``wanted`` servers that are available; all available ones if none of them is."""
        got = tuple(j for j in wanted if j in self.available)
        return got or self.available

    def least_loaded(self, candidates: Sequence[int]) -> int:
        """The candidate that would start a new task soonest (lowest index on ties)."""
        return min(candidates, key=lambda j: (self.wait[j], j))


def default_rates(
    servers: Sequence[ServerSpec], link_bps: Mapping[str, float] | None = None
) -> tuple[float, ...]:
    """Link rate a heuristic assumes for each server until the state says otherwise."""
    return tuple(float((link_bps or {}).get(s.id, NOMINAL_BPS)) for s in servers)


class ProfiledPolicy(Policy):
    """Base of the heuristics that predict delays from per-server service times.

    Service times come from the profiles (model x device), overridden per server id by
    ``inference_s``; with ``profiles_required`` False unknown models count as 1 s, so the
    load view compares queue lengths. ``link_bps`` / ``latency_s`` (per server id, e.g. from
    a calibration) replace the assumed link rate and latency until measurements arrive.
    """

    profiles_required: bool = True

    def __init__(
        self,
        servers: Sequence[ServerSpec],
        *,
        inference_s: Mapping[str, float] | None = None,
        link_bps: Mapping[str, float] | None = None,
        latency_s: Mapping[str, float] | None = None,
        deployment: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(servers, seed=seed)
        self.inference_s = dict(inference_s or {})
        self.link_bps, self.latency_s = dict(link_bps or {}), dict(latency_s or {})
        self.deployment = deployment
        self._service = service_times(
            self.servers, self.inference_s, deployment=deployment, required=self.profiles_required
        )
        self._latency = default_latencies(self.servers, self.latency_s)
        self._rates = default_rates(self.servers, self.link_bps)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "inference_s": self.inference_s, "link_bps": self.link_bps,
                "latency_s": self.latency_s, "deployment": self.deployment}  # fmt: skip


class TierPolicy(ProfiledPolicy):
    """Base of the rule-based policies: a rule picks a tier, the least-loaded server of it runs the task."""

    profiles_required = False

    @abstractmethod
    def _tier(self, task: SlotTask, view: LoadView) -> str:
        """ "edge" or "cloud" for this task."""

    def _assign(self, tasks: tuple[SlotTask, ...], state: SystemState) -> list[Decision]:
        view = LoadView(self.server_ids, state, self._service, self._latency, self._rates)
        out = []
        for task in tasks:
            tier = self._tier(task, view)
            j = view.least_loaded(view.candidates(self.edge_idx if tier == "edge" else self.cloud_idx))
            view.commit(task, j)
            out.append(Decision(task.task_id, self.server_ids[j], info={"tier": tier}))
        return out
