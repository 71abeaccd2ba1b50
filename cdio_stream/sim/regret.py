"""The (alpha, beta)-approximate regret of eq. 10 on a stationary environment with known truth.

:class:`StationaryEnv` draws each slot's tasks i.i.d. from a trace: a uniformly random
frame, A^q ~ U[a_range], D^q ~ U[d_range], and a preference that is a fixed function of
the frame's complexity (compute above ``preference_split``), so the preference is part of
the context but carries no hidden information about A^q. Servers start every slot idle;
a task placed r-th on server j finishes after (r + 1) service times plus the link latency,
deterministically, and costs a fixed U + phi B. Accuracy is the frame's traced accuracy.

Because everything but the frame and A^q is deterministic, the *expected* reward of a
super arm is computable exactly: for a task of context c on a server running model m,
P(A >= A^q | c) = mean over the frames of c of P(U[bucket of A^q] <= accuracy). The oracle
solves the slot with these true values (:mod:`cdio_stream.policy.slot_oracle`, exact, so
alpha = beta = 1 for it); the policy's super arm is scored with the same values; eq. 10
is then sum_t (alpha beta R_t(S*) - R_t(S_t)) with the per-task reward of
:mod:`cdio_stream.policy.reward`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.policy.base import Feedback, Policy, ServerSpec, ServerState, SlotTask, SystemState
from cdio_stream.policy.context import ContextSpace
from cdio_stream.policy.reward import approx_regret, expected_penalty
from cdio_stream.policy.slot_oracle import solve_slot
from cdio_stream.system.cost import DEFAULT_PHI, compute_consumption, objective_cost, wan_megabits
from cdio_stream.system.profiles import Profiles, default_profiles
from cdio_stream.trace import TraceFrame

__all__ = ["RegretCurve", "StationaryEnv", "run_regret"]


@dataclass(frozen=True)
class RegretCurve:
    optimal: np.ndarray  # per-slot expected reward of the oracle's super arm
    chosen: np.ndarray  # per-slot expected reward of the policy's super arm
    cumulative: np.ndarray  # eq. 10 after each slot

    def slopes(self) -> tuple[float, float]:
        """Average regret per slot over the first and the second half of the run."""
        half = len(self.cumulative) // 2
        first = self.cumulative[half - 1] / half
        second = (self.cumulative[-1] - self.cumulative[half - 1]) / (len(self.cumulative) - half)
        return float(first), float(second)


class StationaryEnv:
    def __init__(
        self,
        trace: Sequence[TraceFrame],
        servers: Sequence[ServerSpec],
        space: ContextSpace,
        *,
        slot_size: int = 4,
        a_range: tuple[float, float] = (50.0, 80.0),
        d_range: tuple[float, float] = (0.2, 0.6),
        preference_split: float | None = None,
        elapsed_s: float = 0.03,
        latency_s: float = 0.01,
        payload_bytes: int = 100_000,
        phi: float = DEFAULT_PHI,
        lambda_acc: float = 4.0,
        lambda_delay: float = 4.0,
        profiles: Profiles | None = None,
        seed: int = 0,
    ) -> None:
        if slot_size < 1:
            raise ConfigError(f"slot_size must be >= 1, got {slot_size}")
        profiles = profiles or default_profiles()
        self.servers = tuple(servers)
        self.space, self.slot_size = space, slot_size
        self.a_range, self.d_range = a_range, d_range
        self.elapsed_s, self.latency_s, self.payload_bytes = elapsed_s, latency_s, payload_bytes
        self.lambda_acc, self.lambda_delay = lambda_acc, lambda_delay
        self._rng = np.random.default_rng(seed)
        self.frames = list(trace)
        cx = np.array([f.complexity for f in self.frames])
        self.split = float(np.median(cx)) if preference_split is None else preference_split
        models = [s.model for s in self.servers]
        self.acc = np.array([[f.accuracy[m] for m in models] for f in self.frames])  # (F, M)
        self.service = np.array([profiles.inference_time(s.model, s.device) for s in self.servers])
        self.compute = np.array([compute_consumption(profiles.device(s.device), t)
                                 for s, t in zip(self.servers, self.service, strict=True)])  # fmt: skip
        # The same objective cost the policies learn from their feedback.
        self.cost = np.array([objective_cost(u, wan_megabits(s.tier, payload_bytes), phi)
                              for s, u in zip(self.servers, self.compute, strict=True)])  # fmt: skip
        self.cost_norm = self.cost / self.cost.max()
        self.p_success = self._true_success()
        self.t = 0

    def _context(self, frame: int, a_req: float) -> int:
        f = self.frames[frame]
        pref = 0.9 if f.complexity > self.split else 0.1
        probe = SlotTask("", "", 0, f.complexity, pref, a_req, 1.0, 0.0)
        return self.space.index(probe)

    def _true_success(self) -> np.ndarray:
        """P(accuracy >= A^q | context, server) with A^q uniform inside its bucket (exact)."""
        lo, hi = self.a_range
        edges = [lo, *[e for e in self.space.a_req_edges if lo < e < hi], hi]
        out = np.zeros((self.space.n_contexts, len(self.servers)))
        counts = np.zeros(self.space.n_contexts)
        for b in range(len(edges) - 1):
            a_lo, a_hi = edges[b], edges[b + 1]
            weight = (a_hi - a_lo) / (hi - lo)
            p = (np.clip(self.acc, a_lo, a_hi) - a_lo) / (a_hi - a_lo)  # P(U[a_lo, a_hi] <= acc)
            ctx = np.array([self._context(i, (a_lo + a_hi) / 2) for i in range(len(self.frames))])
            np.add.at(out, ctx, p * weight)
            np.add.at(counts, ctx, weight)
        return np.divide(out, counts[:, None], out=np.zeros_like(out), where=counts[:, None] > 0)

    def draw(self) -> tuple[list[SlotTask], np.ndarray, np.ndarray]:
        """A slot: tasks, their frame indices and contexts."""
        n = self.slot_size
        frames = self._rng.integers(0, len(self.frames), size=n)
        a_req = self._rng.uniform(*self.a_range, size=n)
        d_req = self._rng.uniform(*self.d_range, size=n)
        now = self.t * 1.0 + self.elapsed_s
        tasks, ctx = [], np.empty(n, dtype=np.int64)
        for i, f in enumerate(frames.tolist()):
            fr = self.frames[f]
            pref = 0.9 if fr.complexity > self.split else 0.1
            tasks.append(SlotTask(f"s{self.t}/{i}", fr.stream, self.payload_bytes, fr.complexity, pref,
                                  float(a_req[i]), float(d_req[i]), now - self.elapsed_s))  # fmt: skip
            ctx[i] = self.space.index(tasks[-1])
        self.t += 1
        return tasks, frames, ctx

    def _delay(self, j: np.ndarray, r: np.ndarray) -> np.ndarray:
        return self.elapsed_s + (r + 1) * self.service[j] + self.latency_s

    def expected_penalty(self, tasks: Sequence[SlotTask], ctx: np.ndarray) -> np.ndarray:
        """True expected penalty per (task, server, position)."""
        n, m = len(tasks), len(self.servers)
        r = np.arange(n)[None, None, :]
        delay = self._delay(np.arange(m)[None, :, None], r)
        d_ok = (delay <= np.array([t.d_req for t in tasks])[:, None, None]).astype(float)
        p_acc = self.p_success[ctx][:, :, None]
        cost = np.broadcast_to(self.cost_norm[None, :, None], (n, m, 1))
        return expected_penalty(cost, p_acc, d_ok, self.lambda_acc, self.lambda_delay)

    def state(self) -> SystemState:
        now = (self.t - 1) * 1.0 + self.elapsed_s
        return SystemState(now, tuple(ServerState(s.id, 0, 0.0, 1e15, 0.0) for s in self.servers))


def run_regret(policy: Policy, env: StationaryEnv, slots: int, *, alpha: float = 1.0, beta: float = 1.0
               ) -> RegretCurve:  # fmt: skip
    """Play ``slots`` slots; feedback after each; eq. 10 against the exact per-slot oracle."""
    norm = 1.0 + env.lambda_acc + env.lambda_delay
    ids = [s.id for s in env.servers]
    optimal, chosen = np.empty(slots), np.empty(slots)
    for t in range(slots):
        tasks, frames, ctx = env.draw()
        pen = env.expected_penalty(tasks, ctx)
        srv, pos = solve_slot(pen)
        optimal[t] = float(np.sum(1.0 - pen[np.arange(len(tasks)), srv, pos] / norm))
        decisions = policy.assign(tasks, env.state())
        row = {task.task_id: i for i, task in enumerate(tasks)}
        placed = [0] * len(ids)
        total, feedback = 0.0, []
        for d in decisions:
            i, j = row[d.task_id], ids.index(d.server_id)
            r = placed[j]
            placed[j] += 1
            total += 1.0 - float(pen[i, j, r]) / norm
            acc = float(env.acc[frames[i], j])
            feedback.append(Feedback.measured(
                d.task_id, d.server_id, accuracy=acc, a_req=tasks[i].a_req, d_req=tasks[i].d_req,
                queue_s=env.elapsed_s + r * env.service[j], transmission_s=env.latency_s,
                inference_s=float(env.service[j]), compute_tflop=float(env.compute[j]), bandwidth_bps=0.0,
                payload_bytes=env.payload_bytes,
            ))  # fmt: skip
        chosen[t] = total
        policy.feedback(feedback)
    return RegretCurve(optimal, chosen, approx_regret(optimal, chosen, alpha, beta))
