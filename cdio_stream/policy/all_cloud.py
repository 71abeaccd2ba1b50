"""All-cloud: every task runs in the cloud (the accuracy-first, resource-hungry extreme)."""

from __future__ import annotations

from cdio_stream.policy._common import LoadView, TierPolicy
from cdio_stream.policy.base import SlotTask

__all__ = ["AllCloudPolicy"]


class AllCloudPolicy(TierPolicy):
    name = "all-cloud"

    def _tier(self, task: SlotTask, view: LoadView) -> str:
        return "cloud"
