"""Random: each task goes to a server drawn uniformly from the available ones (seeded)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cdio_stream.policy.base import Decision, Policy, ServerSpec, SlotTask, SystemState
from cdio_stream.policy.codec import rng_from_json, rng_to_json

__all__ = ["RandomPolicy"]


class RandomPolicy(Policy):
    name = "random"

    def __init__(self, servers: Sequence[ServerSpec], *, seed: int = 0) -> None:
        super().__init__(servers, seed=seed)
        self._rng = np.random.default_rng(seed)

    def _assign(self, tasks: tuple[SlotTask, ...], state: SystemState) -> list[Decision]:
        avail = [j for j, sid in enumerate(self.server_ids) if state.server(sid).available]
        avail = avail or list(range(len(self.servers)))
        picks = self._rng.integers(0, len(avail), size=len(tasks))
        return [Decision(t.task_id, self.server_ids[avail[k]]) for t, k in zip(tasks, picks, strict=True)]

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"rng": rng_to_json(self._rng)}, {}

    def _set_state(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        rng_from_json(self._rng, header["rng"])
