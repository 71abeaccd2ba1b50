"""Sniper baseline (paper ref [24], Liu et al., DAC 2022), re-implemented from its description.

What we take from it (no public code exists): Sniper is time-aware scheduling. It
predicts how long a DNN takes on each server from performance profiles (the paper
learns this with a neural-network-similarity model; we use the device x model profile
of :mod:`cdio_stream.system.profiles`, which plays the same role) together with each
server's current load, and sends each task where it is predicted to *finish* first.
It ignores the task's accuracy requirement and resource cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cdio_stream.policy._common import LoadView, default_latencies, service_times
from cdio_stream.policy.base import Decision, Policy, ServerSpec, SlotTask, SystemState

__all__ = ["SniperPolicy"]


class SniperPolicy(Policy):
    name = "sniper"

    def __init__(
        self,
        servers: Sequence[ServerSpec],
        *,
        inference_s: Mapping[str, float] | None = None,
        deployment: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(servers, seed=seed)
        self.inference_s = dict(inference_s or {})
        self.deployment = deployment
        self._service = service_times(self.servers, self.inference_s, deployment=deployment)
        self._latency = default_latencies(self.servers)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "inference_s": self.inference_s, "deployment": self.deployment}

    def _assign(self, tasks: tuple[SlotTask, ...], state: SystemState) -> list[Decision]:
        view = LoadView(self.server_ids, state, self._service, self._latency)
        out = []
        for task in tasks:
            j = min(view.available, key=lambda k: (view.delay(task, k), k))
            predicted = view.delay(task, j)
            view.commit(task, j)
            out.append(
                Decision(task.task_id, self.server_ids[j], info={"predicted_delay_s": round(predicted, 6)})
            )
        return out
