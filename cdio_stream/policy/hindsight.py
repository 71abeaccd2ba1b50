"""Hindsight oracle: the slot oracle fed with the true outcomes instead of estimates.

It needs ``truth(task, server, now) -> Truth``: the task's real accuracy on that server's
model and its real inference / transmission times (the simulator provides
``Simulator.truth``; a live system has no such thing). Per slot it minimises the same
score as CDCO, cost + lambda_acc * [A < A^q or D > D^q] + lambda_delay * [D > D^q] (a late
result misses C1 too: :mod:`cdio_stream.policy.reward`), with D computed
from the true times and the state's queues, over the position-expanded assignment. It is
clairvoyant within a slot and myopic across slots (it does not plan future queues), so it
is the per-slot optimum S* of eq. 10, a reference rather than a global optimum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.policy.base import Decision, Policy, ServerSpec, SlotTask, SystemState
from cdio_stream.policy.reward import expected_penalty
from cdio_stream.policy.slot_oracle import FORBIDDEN, dispatch_order, solve_slot
from cdio_stream.system.cost import DEFAULT_PHI, objective_cost

__all__ = ["Truth", "HindsightOraclePolicy"]


@dataclass(frozen=True, slots=True)
class Truth:
    accuracy: float  # mAP50 percent of this task's frame on this server's model
    inference_s: float
    serialisation_s: float  # bytes * 8 / current link rate
    latency_s: float  # link latency
    compute_tflop: float
    bandwidth_bps: float  # the paper's per-task figure (bits / transmission time)
    wan_mbit: float  # megabits it would put on the WAN uplink (the objective's B)


TruthFn = Callable[[SlotTask, ServerSpec, float], Truth]


class HindsightOraclePolicy(Policy):
    name = "oracle"

    def __init__(
        self,
        servers: Sequence[ServerSpec],
        *,
        truth: TruthFn | None = None,
        phi: float = DEFAULT_PHI,
        lambda_acc: float = 4.0,
        lambda_delay: float = 4.0,
        seed: int = 0,
    ) -> None:
        super().__init__(servers, seed=seed)
        self.truth = truth
        self.phi, self.lambda_acc, self.lambda_delay = float(phi), float(lambda_acc), float(lambda_delay)
        self.cost_scale = 0.0

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "phi": self.phi,
            "lambda_acc": self.lambda_acc,
            "lambda_delay": self.lambda_delay,
        }

    def _assign(self, tasks: tuple[SlotTask, ...], state: SystemState) -> list[Decision]:
        if self.truth is None:
            raise ConfigError("the hindsight oracle needs truth=callable(task, server, now) -> Truth")
        n, m = len(tasks), len(self.servers)
        acc, inf, ser, lat, cost = (np.empty((n, m)) for _ in range(5))
        for i, task in enumerate(tasks):
            for j, server in enumerate(self.servers):
                tr = self.truth(task, server, state.time)
                acc[i, j], inf[i, j], ser[i, j], lat[i, j] = (
                    tr.accuracy,
                    tr.inference_s,
                    tr.serialisation_s,
                    tr.latency_s,
                )
                cost[i, j] = objective_cost(tr.compute_tflop, tr.wan_mbit, self.phi)
        self.cost_scale = max(self.cost_scale, float(cost.max()))
        sts = [state.server(sid) for sid in self.server_ids]
        mean_inf = inf.mean(axis=0)
        qd = np.array([s.queue_delay_s if s.queue_delay_s is not None else s.queue_length * mean_inf[j]
                       for j, s in enumerate(sts)])  # fmt: skip
        lb = np.array([s.link_backlog_s for s in sts])
        avail = (
            np.array([s.available for s in sts]) if any(s.available for s in sts) else np.ones(m, dtype=bool)
        )
        r = np.arange(n)[None, None, :]
        elapsed = state.time - np.array([t.arrival_time for t in tasks])
        delay = (
            elapsed[:, None, None]
            + np.maximum(lb[None, :, None] + (r + 1) * ser[:, :, None] + lat[:, :, None], qd[None, :, None] + r * mean_inf[None, :, None])
            + inf[:, :, None]
        )  # fmt: skip
        a_ok = (acc >= np.array([t.a_req for t in tasks])[:, None]).astype(float)
        d_ok = (delay <= np.array([t.d_req for t in tasks])[:, None, None]).astype(float)
        score = expected_penalty((cost / self.cost_scale)[:, :, None], a_ok[:, :, None], d_ok, self.lambda_acc,
                                 self.lambda_delay)  # fmt: skip
        score[:, ~avail, :] = FORBIDDEN
        server, pos = solve_slot(score)
        return [
            Decision(tasks[i].task_id, self.server_ids[server[i]], info={"position": int(pos[i])})
            for i in dispatch_order(server, pos)
        ]

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"cost_scale": self.cost_scale}, {}

    def _set_state(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.cost_scale = float(header["cost_scale"])
