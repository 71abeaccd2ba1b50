"""RPP-only ablation (paper 4.2.6): the predicted preference alone decides, no bandit.

Compute preference (P >= ``threshold``) -> least-loaded cloud server, bandwidth preference
-> least-loaded edge server; an unknown preference goes to ``unknown_tier``. This is
Algorithm 1's initialisation step applied to every task, never corrected by feedback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cdio_stream.errors import ConfigError
from cdio_stream.policy._common import LoadView, TierPolicy
from cdio_stream.policy.base import ServerSpec, SlotTask

__all__ = ["RppOnlyPolicy"]


class RppOnlyPolicy(TierPolicy):
    name = "rpp-only"

    def __init__(
        self,
        servers: Sequence[ServerSpec],
        *,
        threshold: float = 0.5,
        unknown_tier: str = "edge",
        inference_s: Mapping[str, float] | None = None,
        link_bps: Mapping[str, float] | None = None,
        latency_s: Mapping[str, float] | None = None,
        deployment: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(servers, inference_s=inference_s, link_bps=link_bps, latency_s=latency_s,
                         deployment=deployment, seed=seed)  # fmt: skip
        if not 0 <= threshold <= 1 or unknown_tier not in ("edge", "cloud"):
            raise ConfigError(
                f"rpp-only: threshold in [0, 1] and unknown_tier edge|cloud, got {threshold}, "
                f"{unknown_tier!r}"
            )
        self.threshold = float(threshold)
        self.unknown_tier = unknown_tier

    def params(self) -> dict[str, Any]:
        return {**super().params(), "threshold": self.threshold, "unknown_tier": self.unknown_tier}

    def _tier(self, task: SlotTask, view: LoadView) -> str:
        if task.preference is None:
            return self.unknown_tier
        return "cloud" if task.preference >= self.threshold else "edge"
