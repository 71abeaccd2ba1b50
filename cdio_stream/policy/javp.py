"""JAVP baseline (paper ref [43], Yang et al., ACM MM 2023), re-implemented from its description.

What we take from it (no public code exists): JAVP predicts each task's complexity and
uses it to steer resource allocation, sending complex frames to the cloud's large model
and simple ones to the edge. Here: complexity >= ``threshold`` -> cloud, else edge, on
the least-loaded server of that tier. "Joint-aware": when the chosen tier is predicted
(profile service times + current load) to miss the task's D^q while the other tier would
meet it, the task switches tier. No learning, no accuracy requirement in the rule.
``threshold`` is on the complexity scale of the deployment (the benchmark uses the
trace's median complexity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cdio_stream.policy._common import LoadView, TierPolicy
from cdio_stream.policy.base import ServerSpec, SlotTask

__all__ = ["JavpPolicy"]


class JavpPolicy(TierPolicy):
    name = "javp"

    def __init__(
        self,
        servers: Sequence[ServerSpec],
        *,
        threshold: float = 0.5,
        delay_aware: bool = True,
        inference_s: Mapping[str, float] | None = None,
        link_bps: Mapping[str, float] | None = None,
        latency_s: Mapping[str, float] | None = None,
        deployment: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(servers, inference_s=inference_s, link_bps=link_bps, latency_s=latency_s,
                         deployment=deployment, seed=seed)  # fmt: skip
        self.threshold = float(threshold)
        self.delay_aware = bool(delay_aware)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "threshold": self.threshold, "delay_aware": self.delay_aware}

    def _tier(self, task: SlotTask, view: LoadView) -> str:
        tier = "cloud" if task.complexity >= self.threshold else "edge"
        if not self.delay_aware:
            return tier
        tiers = {"edge": self.edge_idx, "cloud": self.cloud_idx}
        other = "edge" if tier == "cloud" else "cloud"
        here = view.least_loaded(view.candidates(tiers[tier]))
        if view.delay(task, here) <= task.d_req or not tiers[other]:
            return tier
        there = view.least_loaded(view.candidates(tiers[other]))
        return other if view.delay(task, there) <= task.d_req else tier
