"""CDCO: the cross-domain collaborative optimisation bandit (paper 3.3, Algorithm 1).

A combinatorial semi-bandit in the style of SDCB/CUCB (paper ref [4]). A slot's super arm
assigns each task to one server; a *base arm* is (task context, server), the context being
the RPP preference x complexity bucket x A^q bucket (:mod:`.context`). Feedback is per task.

Per base arm the policy keeps, with confidence bounds (:mod:`.arms`):

* C1 success (accuracy >= A^q, a Bernoulli outcome; the A^q bucket is part of the context)
  and mean accuracy, keyed by (context, *model*) because the same model returns the same
  detections on whichever server runs it. Success is tracked directly rather than derived
  from an accuracy distribution because RPP's preference is itself relative to A^q: given
  the context, accuracy is not independent of A^q, the success indicator nearly is;
* delay: the distribution of the residual D - D_known, keyed by server, where
  D_known = elapsed + max(link backlog + (r+1) * bits / bandwidth, queue delay + r * w)
  is what the system state already tells about a task placed r-th on that server, w being
  the wait each queued task adds there as the state reports it (queue delay / queue
  length: the inference time on a server that runs one task at a time, much less on one
  that batches; the learned inference time when the queue is empty). Were w the batch
  latency on a batching server, D_known would overstate later positions by up to 0.15 s
  and the residual, one distribution for all positions, would be optimistic for the
  first tasks of a slot and pessimistic for the last. The residual's support starts at ``delay_range[0]`` = -0.05 s: what the state does not
  tell (latency, inference, waiting behind a batch) is not negative, so only a state that
  overstates waits gives negative residuals, and those stay small now that w is the
  state's own. The lower end matters beyond the histogram: the dominant distribution puts
  eps of mass there, so every task that misses D^q by less than |lo| on a server gets
  P(delay ok) >= eps there and the solver prefers it to a placement where it is certainly
  late. Under overload those tasks take the places of tasks that could be on time on the
  queues that still serve in time. Measured at 17 cameras, V1, stable, seed 1 (5 ms bins):
  both-success 61.0 / 65.0 / 66.0 / 66.7 % at lo = -0.2 / -0.1 / -0.05 / 0; -0.05 rather
  than 0 leaves room for a live state that overstates waits (backlog x a calibrated
  service time), and was checked on the other seeds, loads and deployments (README, "How
  CDIO is implemented");
* cost U + phi * B (TFLOP + phi * WAN Mbit, :func:`~cdio_stream.system.cost.objective_cost`),
  a mean with a lower confidence bound, keyed by (context, kind of server): servers of one
  tier running one model on one device cost the same, so identical edge nodes share an arm
  (and a task given up under overload sees them exactly equally cheap: the tie-break, not
  the noise of separate estimates, picks the one it goes to).

The oracle (:mod:`.slot_oracle`) minimises, over the position-expanded assignment,
cost_lcb + lambda_acc * (1 - P(D <= D^q) P(A >= A^q)) + lambda_delay * (1 - P(D <= D^q))
with optimistic (upper-bound; for the delay, stochastically dominant) probabilities:
eq. 8's objective with C1/C2 as penalties, i.e. the eq. 9 reward of :mod:`.reward`, where a
late result misses C1 too (it comes too late to be used), so a task that cannot be on time
anywhere goes where it costs least. Optimism (not sampling) explores: decisions are deterministic given the
state, so they replay exactly after a restart and are reproducible in tests. Algorithm 1
step 1: the first slot in which a context appears routes its tasks by preference
(compute -> cloud, bandwidth or unknown -> edge) instead of the oracle. Confidence radii
use ln t refreshed whenever t grows by 1 % (and per arm at each of its updates).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.messages import EstimateRow
from cdio_stream.policy.arms import HistogramArms, MeanArms
from cdio_stream.policy.base import (
    Decision,
    Feedback,
    Policy,
    PolicyEstimates,
    ServerSpec,
    SlotTask,
    SystemState,
)
from cdio_stream.policy.context import ContextSpace
from cdio_stream.policy.reward import expected_penalty
from cdio_stream.policy.slot_oracle import columns, dispatch_order, solve_columns
from cdio_stream.system.cost import DEFAULT_PHI, objective_cost, wan_megabits
from cdio_stream.system.network import NOMINAL_BPS

__all__ = ["CdcoPolicy"]

_TIE_BREAK = 1e-6


def _kind(server: ServerSpec) -> tuple[str, str, str]:
    """What a task's cost on ``server`` depends on: the tier (WAN or not), model and device."""
    return (server.tier, server.model, server.device)


def _tie_break(known, p_del):
    """Between equal scores: a task that can still be on time takes the earliest start (it
    spreads the slot); one that cannot takes the latest, behind the longest queue, where it
    delays only tasks that are late already instead of work that can still be on time. So
    tasks given up under overload pile up on one server, as in the hindsight oracle,
    instead of making every queue late."""
    return _TIE_BREAK * np.where(p_del > 0.0, known, -known)


class _Servers(NamedTuple):
    """Per server, from the system state: queue delay (wait before a new task would start),
    link backlog, link rate, the wait each further queued task adds; the available ones."""

    qd: list[float]
    lb: list[float]
    bw: list[float]
    step: list[float]
    up: list[int]


class CdcoPolicy(Policy):
    """The CDCO bandit; ``make_policy("cdio")`` and ``make_policy("cdco-only")`` configure it.

    Hyperparameters: ``phi`` weighs WAN megabits against compute (TFLOP) in the cost;
    ``lambda_acc`` / ``lambda_delay`` are the penalties of a missed C1 / C2 in units of the
    largest observed cost (4: a violation is worth four times the costliest placement);
    ``explore`` scales the confidence radii; ``discount`` < 1 forgets old outcomes per arm;
    ``delay_range`` / ``delay_bins`` are the support and bins (5 ms) of the delay residual
    D - D_known (see the module docstring);
    ``complexity_edges`` / ``a_req_edges`` bucket the context (use
    :func:`~cdio_stream.policy.context.complexity_edges_from` on a profiling trace);
    ``max_per_slot`` caps tasks per server and slot (raised to ceil(n / servers) when a slot
    would not fit); ``max_pending`` bounds the decisions kept waiting for feedback (oldest
    dropped), which bounds the size of ``state_bytes``.
    """

    name = "cdio"

    def __init__(
        self,
        servers: Sequence[ServerSpec],
        *,
        name: str = "cdio",
        use_preference: bool = True,
        init_by_preference: bool = True,
        phi: float = DEFAULT_PHI,
        lambda_acc: float = 4.0,
        lambda_delay: float = 4.0,
        explore: float = 0.3,
        discount: float = 1.0,
        complexity_edges: Sequence[float] = (0.35, 0.5, 0.65),
        a_req_edges: Sequence[float] = (60.0, 70.0),
        delay_range: tuple[float, float] = (-0.05, 1.0),
        delay_bins: int = 210,
        max_per_slot: int | None = None,
        inference_ema: float = 0.05,
        default_bps: float = NOMINAL_BPS,
        max_pending: int = 10_000,
        seed: int = 0,
    ) -> None:
        super().__init__(servers, seed=seed)
        if phi < 0 or lambda_acc < 0 or lambda_delay < 0 or explore < 0:
            raise ConfigError(f"{name}: phi, lambdas and explore must be >= 0")
        if max_per_slot is not None and max_per_slot < 1:
            raise ConfigError(f"{name}: max_per_slot must be >= 1 or None, got {max_per_slot}")
        self.name = name
        self.space = ContextSpace(tuple(complexity_edges), tuple(a_req_edges), use_preference)
        self.init_by_preference = bool(init_by_preference)
        self.phi, self.lambda_acc, self.lambda_delay = float(phi), float(lambda_acc), float(lambda_delay)
        self.explore, self.discount = float(explore), float(discount)
        self.delay_range, self.delay_bins = tuple(float(x) for x in delay_range), int(delay_bins)
        self.max_per_slot, self.inference_ema = max_per_slot, float(inference_ema)
        self.default_bps, self.max_pending = float(default_bps), int(max_pending)

        m = len(self.servers)
        models = sorted({s.model for s in self.servers})
        self._model_idx = np.array([models.index(s.model) for s in self.servers])
        self._model_of = {name: k for k, name in enumerate(models)}
        self._n_models = len(models)
        n_ctx = self.space.n_contexts
        kw = {"explore": self.explore, "discount": self.discount}
        self.success = MeanArms(n_ctx * self._n_models, side="upper", **kw)  # C1 met, per (context, model)
        self.accuracy = MeanArms(n_ctx * self._n_models, side="upper", **kw)  # mAP50, for the decision info
        self.delay = HistogramArms(m, *self.delay_range, self.delay_bins, **kw)  # D - D_known, per server
        # Cost arms per (context, kind of server): servers of one tier running one model on one
        # device cost the same (the same TFLOP, the same WAN megabits), so they share one arm.
        kinds = list(dict.fromkeys(_kind(s) for s in self.servers))
        self._kind_idx = np.array([kinds.index(_kind(s)) for s in self.servers])
        self._kinds = kinds
        self.cost = MeanArms(n_ctx * len(kinds), side="lower", **kw)  # U + phi B, per (context, kind)
        self.cost_scale = 0.0  # running max of observed costs: normalises cost to [0, 1]
        self.inf_hat = np.zeros(m)  # EMA of inference seconds per server
        self.inf_n = np.zeros(m)
        self.bw_hat = np.zeros(m)  # EMA of measured bandwidth per server (used if state has none)
        self.ctx_seen = np.zeros(n_ctx, dtype=bool)
        self.t = 0  # slots decided
        self._t_refresh = 0  # next t at which every bound gets the new ln t
        self.unmatched = 0  # feedback for unknown task ids
        self.pending: dict[str, tuple[int, int, float]] = {}  # task id -> (context, server, D_known)
        self._tier_of = np.array([1 if s.tier == "cloud" else 0 for s in self.servers])
        self._arange = np.arange(m)
        self._ctx_names = [self.space.describe(c) for c in range(n_ctx)]

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "use_preference": self.space.use_preference,
            "init_by_preference": self.init_by_preference,
            "phi": self.phi,
            "lambda_acc": self.lambda_acc,
            "lambda_delay": self.lambda_delay,
            "explore": self.explore,
            "discount": self.discount,
            "complexity_edges": list(self.space.complexity_edges),
            "a_req_edges": list(self.space.a_req_edges),
            "delay_range": list(self.delay_range),
            "delay_bins": self.delay_bins,
            "max_per_slot": self.max_per_slot,
            "inference_ema": self.inference_ema,
            "default_bps": self.default_bps,
            "max_pending": self.max_pending,
        }

    # ------------------------------------------------------------------ decide
    def _tick(self) -> None:
        self.t += 1
        if self.t >= self._t_refresh:
            self._refresh()

    def _refresh(self) -> None:
        log_t = math.log(max(self.t, 2))
        self.success.set_time(log_t)
        self.accuracy.set_time(log_t)
        self.delay.set_time(log_t)
        self.cost.set_time(log_t, self.cost_scale or 1.0)
        self._t_refresh = max(self.t + 1, math.ceil(self.t * 1.01))

    def _server_lists(self, state: SystemState) -> _Servers:
        """What the state says about each server (see :class:`_Servers`)."""
        by_id = {s.server_id: s for s in state.servers}
        qd, lb, bw, step, up = [], [], [], [], []
        for j, sid in enumerate(self.server_ids):
            s = by_id.get(sid)
            known_bw = float(self.bw_hat[j]) or self.default_bps
            inf = float(self.inf_hat[j])
            if s is None:
                qd.append(0.0)
                lb.append(0.0)
                bw.append(known_bw)
                step.append(inf)
                up.append(j)
                continue
            wait = s.queue_delay_s if s.queue_delay_s is not None else s.queue_length * inf
            qd.append(wait)
            # The wait each queued task adds, as the state reports it: a server that runs one
            # task at a time adds its inference time per task, one that batches (the cloud)
            # much less; its own inference time only when its queue is empty.
            step.append(wait / s.queue_length if s.queue_length > 0 else inf)
            lb.append(s.link_backlog_s)
            bw.append(s.bandwidth_bps or known_bw)
            if s.available:
                up.append(j)
        return _Servers(qd, lb, bw, step, up or list(range(len(self.servers))))  # nobody up: decide anyway

    def _init_server(self, task: SlotTask, sv: _Servers, offset: list[int]) -> int:
        """Algorithm 1, step 1: compute preference -> cloud, else edge; least backlog there
        (before any feedback t_inf is unknown and the count already placed breaks ties)."""
        want = 1 if self.space.preference_bucket(task.preference) == 1 else 0
        cands = [j for j in sv.up if self._tier_of[j] == want] or sv.up
        return min(cands, key=lambda j: (sv.qd[j] + offset[j] * max(sv.step[j], 1e-3), j))

    def _assign(self, tasks: tuple[SlotTask, ...], state: SystemState) -> list[Decision]:
        self._tick()
        sv = self._server_lists(state)
        if len(tasks) == 1:
            return [self._assign_one(tasks[0], state.time, sv)]
        return self._assign_slot(tasks, state.time, sv)

    def _assign_one(self, task: SlotTask, now: float, sv: _Servers) -> Decision:
        """The single-task slot in plain Python (no assignment problem to solve)."""
        c = self.space.index(task)
        m, nm = len(self.servers), self._n_models
        first = self.init_by_preference and not self.ctx_seen[c]
        self.ctx_seen[c] = True
        bits, elapsed = task.payload_bytes * 8.0, now - task.arrival_time
        succ, cost, nk = self.success.bound, self.cost.bound, len(self._kinds)
        qd, lb, bw = sv.qd, sv.lb, sv.bw
        best, best_score, best_known, best_pd = -1, math.inf, 0.0, 0.0
        for j in [self._init_server(task, sv, [0] * m)] if first else sv.up:
            known = elapsed + max(lb[j] + bits / bw[j], qd[j])
            p_del = self.delay.optimistic_cdf_one(j, task.d_req - known)
            score = (  # expected_penalty, in plain Python
                min(float(cost[c * nk + self._kind_idx[j]]), 1.0)
                + self.lambda_acc * (1.0 - p_del * float(succ[c * nm + self._model_idx[j]]))
                + self.lambda_delay * (1.0 - p_del)
                + _TIE_BREAK * (known if p_del > 0.0 else -known)  # _tie_break
            )
            if score < best_score:
                best, best_score, best_known, best_pd = j, score, known, p_del
        return self._decision(task, c, best, 0, best_known, first, best_pd)

    def _decision(
        self, task: SlotTask, c: int, j: int, r: int, known: float, first: bool, p_del: float
    ) -> Decision:
        self.pending[task.task_id] = (c, j, known)
        if len(self.pending) > self.max_pending:
            del self.pending[next(iter(self.pending))]
        arm = c * self._n_models + int(self._model_idx[j])
        info = {
            "context": self._ctx_names[c],
            "mode": "init" if first else "ucb",
            "position": r,
            "est_cost": float(self.cost.mean[c * len(self._kinds) + self._kind_idx[j]]),
            "est_acc": float(self.accuracy.mean[arm]),
            "p_acc": float(self.success.bound[arm]),
            "p_delay": p_del,
        }
        return Decision(task.task_id, self.server_ids[j], info=info)

    def _assign_slot(self, tasks: tuple[SlotTask, ...], now: float, sv: _Servers) -> list[Decision]:
        m, n = len(self.servers), len(tasks)
        qd, lb, bw, step = np.array(sv.qd), np.array(sv.lb), np.array(sv.bw), np.array(sv.step)
        ctx = np.array([self.space.index(t) for t in tasks], dtype=np.int64)
        bits, d_req, arrival = np.array([(t.payload_bytes * 8.0, t.d_req, t.arrival_time) for t in tasks]).T
        elapsed = now - arrival
        server = np.zeros(n, dtype=np.int64)
        pos = np.zeros(n, dtype=np.int64)
        offset = [0] * m
        init = self.init_by_preference & ~self.ctx_seen[ctx]
        for i in np.flatnonzero(init).tolist():
            j = self._init_server(tasks[i], sv, offset)
            server[i], pos[i] = j, offset[j]
            offset[j] += 1
        self.ctx_seen[ctx] = True

        rest = np.flatnonzero(~init) if init.any() else np.arange(n)
        if rest.size:
            srv, p = self._oracle(rest, ctx, bits, d_req, elapsed, qd, lb, bw, step, sv.up, np.array(offset))
            server[rest] = srv
            pos[rest] = p

        # What the state tells about each task where it was put: kept to learn the residual.
        d_known = elapsed + np.maximum(
            lb[server] + (pos + 1) * bits / bw[server], qd[server] + pos * step[server]
        )
        p_del = self.delay.optimistic_cdf(server, d_req - d_known).tolist()
        srv_l, pos_l, ctx_l, known_l, init_l = (
            server.tolist(),
            pos.tolist(),
            ctx.tolist(),
            d_known.tolist(),
            init.tolist(),
        )
        return [
            self._decision(tasks[i], ctx_l[i], srv_l[i], pos_l[i], known_l[i], init_l[i], p_del[i])
            for i in dispatch_order(server, pos).tolist()
        ]

    def _oracle(
        self, rest, ctx, bits, d_req, elapsed, qd, lb, bw, step, up, off
    ) -> tuple[np.ndarray, np.ndarray]:
        """Solve the slot for tasks ``rest`` over (server, queue position) columns."""
        k, m = rest.size, len(self.servers)
        # Columns per server: enough positions for every task that could still make its
        # deadline there (beyond, x < lo: P(delay ok) = 0), and enough in total for k tasks.
        # A server on which no task of the slot can be on time gets a column per task: the
        # tasks that are late everywhere may all go behind its queue (see _tie_break).
        slack = float(np.max(d_req[rest] - elapsed[rest])) - self.delay.lo
        reach = np.where(step > 0, np.floor((slack - qd) / np.maximum(step, 1e-9)) + 1 - off, k)
        cap = np.where(reach > 0, np.minimum(reach, k), k).astype(np.int64)
        if self.max_per_slot is not None:
            cap = np.minimum(cap, self.max_per_slot)
        cap = np.maximum(cap, -(-k // len(up)))
        down = np.ones(m, dtype=bool)
        down[up] = False
        cap[down] = 0
        col_server, col_pos = columns(cap)
        q_pos = off[col_server] + col_pos  # queue position of each column, init tasks included
        known = elapsed[rest, None] + np.maximum(
            lb[col_server] + (q_pos + 1) * (bits[rest, None] / bw[col_server]),
            qd[col_server] + q_pos * step[col_server],
        )
        p_del = self.delay.optimistic_cdf(col_server, d_req[rest, None] - known)
        p_acc = self.success.bound[ctx[rest, None] * self._n_models + self._model_idx[col_server]]
        cost = self.cost.bound[ctx[rest, None] * len(self._kinds) + self._kind_idx[col_server]]
        score = expected_penalty(cost, p_acc, p_del, self.lambda_acc, self.lambda_delay)
        score += _tie_break(known, p_del)
        srv, p = solve_columns(score, col_server, col_pos)
        return srv, off[srv] + p

    # ------------------------------------------------------------------ learn
    def _feedback(self, items: list[Feedback]) -> None:
        for fb in items:
            entry = self.pending.pop(fb.task_id, None)
            if entry is None:
                self.unmatched += 1
                continue
            c, j, d_known = entry
            jj = self.index[fb.server_id]
            if jj != j:  # ran elsewhere than decided (re-routed): D_known does not apply
                j, residual = jj, fb.transmission_s + fb.inference_s
            else:
                residual = fb.total_s - d_known
            if fb.expired:  # shed as late: a delay failure, and nothing else was measured
                if jj == entry[1]:
                    self.delay.update(j, residual)
                continue
            arm = c * self._n_models + int(self._model_idx[j])
            if fb.accuracy is not None:
                self.accuracy.update(arm, fb.accuracy)
            if fb.acc_p is not None:  # reference-judged: C1 known in expectation
                self.success.update(arm, fb.acc_p)
            elif fb.acc_ok is not None:
                self.success.update(arm, float(fb.acc_ok))
            for model, acc, p_ok in fb.other_accuracy:  # a reference run: the other tier, same frame
                k = self._model_of.get(model)
                if k is not None and k != self._model_idx[j]:
                    self.accuracy.update(c * self._n_models + k, acc)
                    self.success.update(c * self._n_models + k, p_ok)
            self.delay.update(j, residual)
            cost = objective_cost(
                fb.compute_tflop, wan_megabits(self.servers[j].tier, fb.payload_bytes), self.phi
            )
            if cost > self.cost_scale:
                self.cost_scale = cost
                self.cost.set_time(self.cost.log_t, cost)
            self.cost.update(c * len(self._kinds) + int(self._kind_idx[j]), cost)
            self.inf_n[j] += 1
            w = max(1.0 / self.inf_n[j], self.inference_ema)
            self.inf_hat[j] += w * (fb.inference_s - self.inf_hat[j])
            if fb.bandwidth_bps > 0:
                old = self.bw_hat[j]
                self.bw_hat[j] = fb.bandwidth_bps if old == 0 else old + w * (fb.bandwidth_bps - old)

    def _with_servers(self, servers: tuple[ServerSpec, ...]) -> CdcoPolicy:
        """Arms per server are kept for the old servers; arms per (context, model) and per
        (context, kind of server) follow the model and the kind; a new server of a kind already
        known shares its arms, a new server, model or kind starts unexplored."""
        new = CdcoPolicy(servers, name=self.name, **self.params())
        m_old, n_ctx = len(self.servers), self.space.n_contexts
        old_models = sorted({s.model for s in self.servers})
        k_map = np.array([new._model_of[name] for name in old_models])  # old model index -> new
        for arms_old, arms_new in ((self.success, new.success), (self.accuracy, new.accuracy)):
            for attr in ("total", "n"):
                src = getattr(arms_old, attr).reshape(n_ctx, self._n_models)
                getattr(arms_new, attr).reshape(n_ctx, new._n_models)[:, k_map] = src
        kind_map = np.array([new._kinds.index(kind) for kind in self._kinds])  # old kind index -> new
        for attr in ("total", "n"):
            src = getattr(self.cost, attr).reshape(n_ctx, len(self._kinds))
            getattr(new.cost, attr).reshape(n_ctx, len(new._kinds))[:, kind_map] = src
        new.delay.mass[:m_old] = self.delay.mass
        new.delay.n[:m_old] = self.delay.n
        for name in ("inf_hat", "inf_n", "bw_hat"):
            getattr(new, name)[:m_old] = getattr(self, name)
        new.ctx_seen[:] = self.ctx_seen
        new.t, new.unmatched, new.cost_scale = self.t, self.unmatched, self.cost_scale
        new.pending = dict(self.pending)  # server indexes of the old servers are unchanged
        for arms in (new.success, new.accuracy, new.delay, new.cost):
            arms.rebuild()
        new._refresh()
        return new

    def _release(self, task_ids: list[str]) -> None:
        for tid in task_ids:
            self.pending.pop(tid, None)

    # ------------------------------------------------------------------ persist
    _ARRAYS = ("success.total", "success.n", "accuracy.total", "accuracy.n", "delay.mass", "delay.n", "cost.total",
               "cost.n", "inf_hat", "inf_n", "bw_hat", "ctx_seen")  # fmt: skip

    def _array(self, path: str) -> np.ndarray:
        obj = self
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj

    def _running_view(self) -> PolicyEstimates:
        """Estimated P(accuracy >= A^q) per context and server: the success arm of the
        server's model (servers running one model share it), for contexts with feedback."""
        nm, rows = self._n_models, []
        for c in range(self.space.n_contexts):
            arms = [c * nm + int(k) for k in self._model_idx]
            n = self.success.n[arms]
            if not n.any():
                continue
            values = tuple(float(self.success.mean[a]) if self.success.n[a] > 0 else None for a in arms)
            rows.append(EstimateRow(self._ctx_names[c], values, tuple(int(round(x)) for x in n)))
        what = "estimated P(mAP50 >= A^q) per context (preference/complexity bucket/A^q bucket)"
        return PolicyEstimates(what, tuple(rows))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        header = {
            "t": self.t,
            "unmatched": self.unmatched,
            "cost_scale": self.cost_scale,
            "cost_arms": "kind",
            "pending": [[tid, c, j, d] for tid, (c, j, d) in self.pending.items()],
        }
        return header, {name: self._array(name) for name in self._ARRAYS}

    def _set_state(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if header.get("cost_arms") != "kind":  # saved with cost arms per (context, server): pool them
            arrays = dict(arrays)
            for name in ("cost.total", "cost.n"):
                per_server = np.asarray(arrays[name]).reshape(self.space.n_contexts, len(self.servers))
                pooled = np.zeros((self.space.n_contexts, len(self._kinds)))
                np.add.at(pooled.T, self._kind_idx, per_server.T)
                arrays[name] = pooled.reshape(-1)
        for name in self._ARRAYS:
            src, target = arrays[name], self._array(name)
            if src.shape != target.shape:
                raise ValueError(f"array {name} has shape {src.shape}, expected {target.shape}")
            target[...] = src
        self.t = int(header["t"])
        self.unmatched = int(header["unmatched"])
        self.cost_scale = float(header["cost_scale"])
        self.pending = {str(tid): (int(c), int(j), float(d)) for tid, c, j, d in header["pending"]}
        for arms in (self.success, self.accuracy, self.delay, self.cost):
            arms.rebuild()
        self._refresh()
