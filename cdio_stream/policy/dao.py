"""DAO baseline (paper ref [27], Murad et al., ACM MM 2022), re-implemented from its description.

What we take from it (no public code exists): DAO adapts *where* a video frame is
analysed and *at what bitrate* it is sent to the bandwidth currently available, to keep
accuracy high within the latency budget. Here, per task: try servers from the most to
the least accurate model (prior accuracy = the model's mAP50 from Table 1) and, for each,
bitrate scales from full down to ``qualities[-1]``; take the first (server, bitrate)
predicted (profile service times + load + bandwidth estimate) to meet D^q. If none does,
send at the lowest bitrate wherever the predicted delay is smallest. The bitrate travels
in ``Decision.quality``; the simulator shrinks the payload and the accuracy accordingly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cdio_stream.errors import ConfigError
from cdio_stream.policy._common import LoadView, default_latencies, default_rates, service_times
from cdio_stream.policy.base import Decision, Policy, ServerSpec, SlotTask, SystemState
from cdio_stream.system.profiles import default_profiles

__all__ = ["DaoPolicy"]


class DaoPolicy(Policy):
    name = "dao"

    def __init__(
        self,
        servers: Sequence[ServerSpec],
        *,
        qualities: Sequence[float] = (1.0, 0.75, 0.5, 0.3),
        accuracy_prior: Mapping[str, float] | None = None,
        inference_s: Mapping[str, float] | None = None,
        link_bps: Mapping[str, float] | None = None,
        latency_s: Mapping[str, float] | None = None,
        deployment: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(servers, seed=seed)
        qualities = tuple(sorted((float(q) for q in qualities), reverse=True))
        if not qualities or not all(0 < q <= 1 for q in qualities):
            raise ConfigError(f"dao: qualities must be non-empty and in (0, 1], got {qualities}")
        self.qualities = qualities
        self.inference_s = dict(inference_s or {})
        self.accuracy_prior = dict(accuracy_prior or {})
        self.deployment = deployment
        self._service = service_times(self.servers, self.inference_s, deployment=deployment)
        self.link_bps, self.latency_s = dict(link_bps or {}), dict(latency_s or {})
        self._latency = default_latencies(self.servers, self.latency_s)
        self._rates = default_rates(self.servers, self.link_bps)
        profiles = default_profiles()
        prior = []
        for s in self.servers:
            if s.id in self.accuracy_prior:
                prior.append(float(self.accuracy_prior[s.id]))
            else:
                prior.append(profiles.model(profiles.resolve_model(s.model, deployment)).map50)
        self._prior = tuple(prior)

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "qualities": list(self.qualities),
            "accuracy_prior": self.accuracy_prior,
            "inference_s": self.inference_s,
            "link_bps": self.link_bps,
            "latency_s": self.latency_s,
            "deployment": self.deployment,
        }

    def _assign(self, tasks: tuple[SlotTask, ...], state: SystemState) -> list[Decision]:
        view = LoadView(self.server_ids, state, self._service, self._latency, self._rates)
        out = []
        for task in tasks:
            order = sorted(view.available, key=lambda k: (-self._prior[k], view.delay(task, k), k))
            choice = next(
                ((j, q) for j in order for q in self.qualities if view.delay(task, j, q) <= task.d_req), None
            )
            met = choice is not None
            if choice is None:
                q = self.qualities[-1]
                choice = (min(view.available, key=lambda k: (view.delay(task, k, q), k)), q)
            j, q = choice
            view.commit(task, j, q)
            out.append(Decision(task.task_id, self.server_ids[j], quality=q, info={"predicted_met": met}))
        return out
