"""Eq. 10 on a stationary synthetic trace: the bandit's regret grows sublinearly."""

from __future__ import annotations

import numpy as np
import pytest

from cdio_stream.policy import ContextSpace, complexity_edges_from, make_policy
from cdio_stream.sim import SyntheticTraceConfig, synthetic_trace
from cdio_stream.sim.regret import StationaryEnv, run_regret
from cdio_stream.system import make_servers

TRACE = synthetic_trace(SyntheticTraceConfig(streams=4, frames=400, seed=3))
SERVERS = make_servers("V1", n_edge=2)
EDGES = complexity_edges_from([f.complexity for f in TRACE])


class TestRegret:
    @pytest.mark.parametrize("name,use_preference", [("cdio", True), ("cdco-only", False)])
    def test_sublinear_on_a_stationary_trace(self, name, use_preference):
        env = StationaryEnv(
            TRACE, SERVERS, ContextSpace(EDGES, (60.0, 70.0), use_preference), slot_size=4, seed=5
        )
        curve = run_regret(make_policy(name, SERVERS, complexity_edges=EDGES), env, 2500)
        first, second = curve.slopes()
        assert second < 0.6 * first  # the slope over the last half is well below the first half's
        assert curve.cumulative[-1] > 0  # a learner does pay some regret

    def test_oracle_has_zero_regret(self):
        env = StationaryEnv(TRACE, SERVERS, ContextSpace(EDGES, (60.0, 70.0), True), slot_size=3, seed=1)

        from cdio_stream.policy import Decision, Policy
        from cdio_stream.policy.slot_oracle import dispatch_order, solve_slot

        class Exact(Policy):
            """Plays the environment's own optimum: its regret must be exactly zero."""

            name = "exact"

            def _assign(self, tasks, state):
                ctx = np.array([env.space.index(t) for t in tasks])
                server, pos = solve_slot(env.expected_penalty(tasks, ctx))
                return [
                    Decision(tasks[i].task_id, self.server_ids[server[i]])
                    for i in dispatch_order(server, pos)
                ]

        curve = run_regret(Exact(SERVERS), env, 200)
        assert np.allclose(curve.cumulative, 0.0)

    def test_random_has_linear_regret(self):
        env = StationaryEnv(TRACE, SERVERS, ContextSpace(EDGES, (60.0, 70.0), True), slot_size=4, seed=5)
        first, second = run_regret(make_policy("random", SERVERS), env, 600).slopes()
        assert second > 0.5 * first > 0
