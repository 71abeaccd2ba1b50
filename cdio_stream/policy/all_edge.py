"""All-edge: every task runs on the least-loaded edge server (lower bound on resource use)."""

from __future__ import annotations

from cdio_stream.policy._common import LoadView, TierPolicy
from cdio_stream.policy.base import SlotTask

__all__ = ["AllEdgePolicy"]


class AllEdgePolicy(TierPolicy):
    name = "all-edge"

    def _tier(self, task: SlotTask, view: LoadView) -> str:
        return "edge"
