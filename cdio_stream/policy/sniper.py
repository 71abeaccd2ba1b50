"""Sniper baseline (paper ref [24], Liu et al., DAC 2022), re-implemented from its description.

What we take from it (no public code exists): Sniper is time-aware scheduling. It
predicts how long a DNN takes on each server from performance profiles (the paper
learns this with a neural-network-similarity model; we use the device x model profile
of :mod:`cdio_stream.system.profiles`, which plays the same role) together with each
server's current load, and sends each task where it is predicted to *finish* first.
It ignores the task's accuracy requirement and resource cost.
"""

from __future__ import annotations

from cdio_stream.policy._common import LoadView, ProfiledPolicy
from cdio_stream.policy.base import Decision, SlotTask, SystemState

__all__ = ["SniperPolicy"]


class SniperPolicy(ProfiledPolicy):
    name = "sniper"

    def _assign(self, tasks: tuple[SlotTask, ...], state: SystemState) -> list[Decision]:
        view = LoadView(self.server_ids, state, self._service, self._latency, self._rates)
        out = []
        for task in tasks:
            j = min(view.available, key=lambda k: (view.delay(task, k), k))
            predicted = view.delay(task, j)
            view.commit(task, j)
            out.append(
                Decision(task.task_id, self.server_ids[j], info={"predicted_delay_s": round(predicted, 6)})
            )
        return out
