"""CDCO / CDIO bandit behaviour on hand-made situations (paper 3.3, Algorithm 1)."""

from __future__ import annotations

import numpy as np
import pytest

from cdio_stream.policy import (
    CdcoPolicy,
    Feedback,
    ServerState,
    SystemState,
    make_policy,
    policy_from_state,
)
from cdio_stream.sim import Simulator, SyntheticTraceConfig, synthetic_trace
from cdio_stream.system import ScheduledLink, make_links, make_servers


def run_env(policy, task_factory, slots, outcome, state_of, first_slot=0):
    """One task per slot; ``outcome(slot, server_id) -> (accuracy, total_delay, compute, bandwidth)``."""
    chosen = []
    for k in range(first_slot, first_slot + slots):
        task = task_factory(preference=0.1, complexity=0.3, a_req=55.0, d_req=0.3, arrival_time=float(k))
        d = policy.assign([task], state_of(k, float(k) + 0.03))[0]
        acc, total, compute, bw = outcome(k, d.server_id)
        policy.feedback([Feedback.measured(
            d.task_id, d.server_id, accuracy=acc, a_req=task.a_req, d_req=task.d_req, preprocess_s=0.014,
            queue_s=total - 0.014 - 0.003 - 0.03, transmission_s=0.003, inference_s=0.03, compute_tflop=compute,
            bandwidth_bps=bw, payload_bytes=task.payload_bytes,
        )])  # fmt: skip
        chosen.append(d.server_id)
    return chosen


class TestInitialisation:
    def test_first_use_of_a_context_routes_by_preference(self, servers_factory, task_factory, state_factory):
        servers = servers_factory(n_edge=2)
        policy = make_policy("cdio", servers)
        compute = task_factory(preference=0.9, complexity=0.8)
        bandwidth = task_factory(preference=0.1, complexity=0.2)
        decisions = {d.task_id: d for d in policy.assign([compute, bandwidth], state_factory(servers))}
        assert decisions[compute.task_id].server_id == "cloud"
        assert decisions[bandwidth.task_id].server_id.startswith("edge")
        assert {d.info["mode"] for d in decisions.values()} == {"init"}
        again = policy.assign([task_factory(preference=0.9, complexity=0.8)], state_factory(servers))[0]
        assert again.info["mode"] == "ucb"

    def test_init_spreads_a_slot_over_the_edge_servers(self, servers_factory, task_factory, state_factory):
        servers = servers_factory(n_edge=3)
        policy = make_policy("cdio", servers)
        tasks = [task_factory(preference=0.1, complexity=0.2) for _ in range(3)]
        assert sorted(d.server_id for d in policy.assign(tasks, state_factory(servers))) == [
            "edge-1",
            "edge-2",
            "edge-3",
        ]

    def test_cdco_only_ignores_preference(self, servers_factory, task_factory, state_factory):
        servers = servers_factory()
        policy = make_policy("cdco-only", servers)
        a, b = task_factory(preference=0.9), task_factory(preference=0.1)
        decisions = policy.assign([a, b], state_factory(servers))
        assert {d.info["mode"] for d in decisions} == {"ucb"}
        assert decisions[0].info["context"] == decisions[1].info["context"]
        assert decisions[0].info["context"].startswith("any/")


class TestAdaptation:
    @staticmethod
    def outcome(saturate_at):
        def out(k, server_id):
            if server_id == "cloud":
                return 85.0, 0.08, 2.8, 35e6
            return 80.0, (1.0 if k >= saturate_at else 0.06), 0.2, 200e6

        return out

    def test_saturated_edge_learned_from_feedback_moves_load_to_cloud(self, servers_factory, task_factory):
        servers = servers_factory(n_edge=1)
        policy = make_policy("cdio", servers)
        blind = lambda k, now: SystemState(now, tuple(ServerState(s.id) for s in servers))  # noqa: E731
        before = run_env(policy, task_factory, 30, self.outcome(30), blind)
        assert before[-10:].count("edge-1") >= 8  # cheap and fine: the edge is preferred
        after = run_env(policy, task_factory, 60, self.outcome(30), blind, first_slot=30)
        k_switch = after.index("cloud")
        assert k_switch < 15  # within K = 15 slots of the saturation
        assert after[15:].count("cloud") >= 0.8 * len(after[15:])

    def test_saturation_reported_by_the_state_is_acted_on_at_once(self, servers_factory, task_factory):
        servers = servers_factory(n_edge=1)
        policy = make_policy("cdio", servers)

        def state(k, now):
            backlog = 2.0 if k >= 30 else 0.0
            return SystemState(
                now, (ServerState("edge-1", queue_delay_s=backlog), ServerState("cloud", queue_delay_s=0.0))
            )

        run_env(policy, task_factory, 30, self.outcome(10**9), state)
        after = run_env(policy, task_factory, 5, self.outcome(10**9), state, first_slot=30)
        assert after == ["cloud"] * 5

    def test_queue_positions_respect_deadlines(self, servers_factory, task_factory):
        """Learned service times: the edge fits two tasks of a slot before D^q, the rest go to the cloud."""
        servers = servers_factory(n_edge=1)
        policy = make_policy("cdio", servers)
        inference = {"edge-1": 0.1, "cloud": 0.01}
        for k in range(60):  # learn: both accurate, the edge much cheaper
            task = task_factory(preference=0.1, complexity=0.3, a_req=55.0, d_req=0.25, arrival_time=float(k))
            d = policy.assign(
                [task], SystemState(k + 0.02, tuple(ServerState(s.id, queue_delay_s=0.0) for s in servers))
            )[0]
            policy.feedback([Feedback.measured(
                d.task_id, d.server_id, accuracy=80.0, a_req=55.0, d_req=0.25, queue_s=0.02,
                transmission_s=0.003, inference_s=inference[d.server_id],
                compute_tflop=0.6 if d.server_id == "edge-1" else 3.1, bandwidth_bps=100e6,
            )])  # fmt: skip
        slot = [
            task_factory(preference=0.1, complexity=0.3, a_req=55.0, d_req=0.25, arrival_time=100.0)
            for _ in range(5)
        ]
        decisions = policy.assign(
            slot, SystemState(100.02, tuple(ServerState(s.id, queue_delay_s=0.0) for s in servers))
        )
        where = [d.server_id for d in decisions]
        assert where.count("edge-1") == 2 and where.count("cloud") == 3
        assert [d.info["position"] for d in decisions if d.server_id == "edge-1"] == [0, 1]

    def test_bandwidth_collapse_keeps_compute_heavy_tasks_feasible(self):
        """The cloud link drops to 2 % (6 Mbps) at t = 8 s: CDIO sends the cloud only what the link
        can carry in time; RPP-only keeps sending every compute-preference task and misses D^q."""
        trace = synthetic_trace(SyntheticTraceConfig(streams=3, frames=500, seed=2))
        servers = make_servers("V1", n_edge=4)
        links = make_links(servers, "stable")
        links["cloud"] = ScheduledLink(links["cloud"], [(8.0, 1e9, 0.02)])
        sim = Simulator(trace, servers, links)
        out = {}
        for name in ("cdio", "rpp-only"):
            records = [r for r in sim.run(make_policy(name, servers)).records if r.arrival_s > 10.0]
            heavy = [r for r in records if r.preference >= 0.5]
            to_cloud = [r for r in records if r.tier == "cloud"]
            out[name] = (np.mean([r.delay_ok for r in heavy]), np.mean([r.delay_ok for r in to_cloud]),
                         len(to_cloud) / len(records))  # fmt: skip
        heavy_ok, cloud_ok, cloud_share = out["cdio"]
        assert heavy_ok >= 0.9 and cloud_ok >= 0.9
        assert 0.0 < cloud_share < 0.2  # still uses the cloud, within what 6 Mbps carries
        assert out["rpp-only"][0] < 0.1


class TestFeedbackBookkeeping:
    def test_pending_decisions_survive_a_restart(
        self, servers_factory, task_factory, state_factory, feedback_factory
    ):
        servers = servers_factory()
        policy = make_policy("cdio", servers)
        tasks = [task_factory(preference=0.1) for _ in range(4)]
        decisions = policy.assign(tasks, state_factory(servers))
        restored = policy_from_state(policy.state_bytes())
        by_id = {t.task_id: t for t in tasks}
        restored.feedback(
            reversed([feedback_factory(d, by_id[d.task_id]) for d in decisions])
        )  # out of order
        assert restored.unmatched == 0 and not restored.pending
        assert restored.success.n.sum() == 4 and restored.delay.n.sum() == 4

    def test_unknown_and_duplicate_feedback_is_counted_not_learned(self, servers_factory, task_factory, state_factory,
                                                                  feedback_factory):  # fmt: skip
        servers = servers_factory()
        policy = make_policy("cdio", servers)
        task = task_factory()
        d = policy.assign([task], state_factory(servers))[0]
        fb = feedback_factory(d, task)
        policy.feedback([fb, fb])
        assert policy.unmatched == 1 and policy.delay.n.sum() == 1

    def test_feedback_from_another_server_than_decided(self, servers_factory, task_factory, state_factory,
                                                       feedback_factory):  # fmt: skip
        servers = servers_factory()
        policy = make_policy("cdio", servers)
        task = task_factory(preference=0.9)
        d = policy.assign([task], state_factory(servers))[0]
        assert d.server_id == "cloud"
        moved = type(d)(d.task_id, "edge-1")
        policy.feedback([feedback_factory(moved, task)])
        assert policy.delay.n[policy.index["edge-1"]] == 1 and policy.delay.n[policy.index["cloud"]] == 0

    def test_accuracy_unknown_updates_delay_and_cost_only(self, servers_factory, task_factory, state_factory,
                                                          feedback_factory):  # fmt: skip
        servers = servers_factory()
        policy: CdcoPolicy = make_policy("cdio", servers)
        task = task_factory()
        d = policy.assign([task], state_factory(servers))[0]
        policy.feedback([feedback_factory(d, task, accuracy=None)])
        assert policy.success.n.sum() == 0 and policy.delay.n.sum() == 1 and policy.cost.n.sum() == 1

    def test_decision_info_is_plain_json(self, servers_factory, task_factory, state_factory):
        import orjson

        servers = servers_factory()
        decisions = make_policy("cdio", servers).assign([task_factory(), task_factory(preference=None)],
                                                        state_factory(servers))  # fmt: skip
        for d in decisions:
            assert set(d.info) >= {"context", "mode", "position", "est_cost", "p_acc", "p_delay"}
            orjson.dumps(d.info)


class TestLimits:
    def test_max_per_slot_caps_each_server(self, servers_factory, task_factory):
        servers = servers_factory(n_edge=2)
        idle = SystemState(100.02, tuple(ServerState(s.id, queue_delay_s=0.0) for s in servers))

        def trained(**kw):
            policy = make_policy("cdio", servers, **kw)
            for k in range(90):  # everything succeeds; the edges are far cheaper
                task = task_factory(preference=0.1, complexity=0.2, d_req=0.6, arrival_time=float(k))
                d = policy.assign([task], SystemState(k + 0.02, idle.servers))[0]
                cheap = d.server_id != "cloud"
                policy.feedback([Feedback.measured(
                    d.task_id, d.server_id, accuracy=90.0, a_req=task.a_req, d_req=0.6, queue_s=0.02,
                    transmission_s=0.003, inference_s=0.03, compute_tflop=0.2 if cheap else 3.0, bandwidth_bps=1e8,
                )])  # fmt: skip
            return policy

        slot = [task_factory(preference=0.1, complexity=0.2, d_req=0.6, arrival_time=100.0) for _ in range(3)]
        uncapped = [d.server_id for d in trained().assign(slot, idle)]
        capped = [d.server_id for d in trained(max_per_slot=1).assign(slot, idle)]
        assert "cloud" not in uncapped  # a second task on an edge beats the cloud's cost
        assert sorted(capped) == ["cloud", "edge-1", "edge-2"]

    def test_state_fits_a_kafka_message_with_a_full_pending_map(
        self, servers_factory, task_factory, state_factory
    ):
        servers = make_servers("V1")
        policy = make_policy("cdio", servers)
        state = state_factory(servers)
        for _ in range(policy.max_pending // 64 + 2):
            policy.assign([task_factory(complexity=float(c) / 64) for c in range(64)], state)
        assert len(policy.pending) == policy.max_pending
        assert len(policy.state_bytes()) < 1_000_000  # Kafka's default max.message.bytes


class TestReferenceFeedback:
    def test_judged_feedback_updates_the_served_and_the_other_models_success_arms(
        self, servers_factory, task_factory, state_factory
    ):
        servers = servers_factory(n_edge=1)
        policy = make_policy("cdio", servers)
        task = task_factory(preference=0.1, complexity=0.3, a_req=55.0)
        d = policy.assign([task], state_factory(servers))[0]
        served = next(s for s in servers if s.id == d.server_id)
        other = next(s for s in servers if s.model != served.model)
        before = policy.success.n.copy()
        policy.feedback([Feedback.measured(
            d.task_id, d.server_id, accuracy=40.0, a_req=55.0, d_req=0.3, acc_p=0.25,
            other_accuracy=((other.model, 70.0, 0.9),),
        )])  # fmt: skip
        changed = np.flatnonzero(policy.success.n != before)
        assert len(changed) == 2  # (context, served model) and (context, other model)
        means = sorted(policy.success.total[changed] / policy.success.n[changed])
        assert means == [0.25, 0.9]  # probabilities of C1, not the thresholded point values

    def test_feedback_without_accuracy_leaves_success_alone(
        self, servers_factory, task_factory, state_factory
    ):
        servers = servers_factory(n_edge=1)
        policy = make_policy("cdio", servers)
        d = policy.assign([task_factory()], state_factory(servers))[0]
        policy.feedback([Feedback.measured(d.task_id, d.server_id, accuracy=None, a_req=55.0, d_req=0.3)])
        assert policy.success.n.sum() == 0


class TestOverload:
    """The edges are cheap and miss A^q, the cloud is costly and meets it; then queues grow."""

    @staticmethod
    def trained(servers, task_factory, *, cloud_inference_s=0.01, **params):
        policy = make_policy("cdio", servers, **params)
        idle = tuple(ServerState(s.id, queue_delay_s=0.0) for s in servers)
        for k in range(120):
            task = task_factory(preference=0.1, complexity=0.3, a_req=55.0, d_req=0.6, arrival_time=float(k))
            d = policy.assign([task], SystemState(k + 0.02, idle))[0]
            cloud = d.server_id == "cloud"
            policy.feedback([Feedback.measured(
                d.task_id, d.server_id, accuracy=85.0 if cloud else 40.0, a_req=55.0, d_req=0.6, preprocess_s=0.014,
                queue_s=0.006, transmission_s=0.003, inference_s=cloud_inference_s if cloud else 0.03,
                compute_tflop=3.0 if cloud else 0.2, bandwidth_bps=1e8, payload_bytes=task.payload_bytes,
            )])  # fmt: skip
        return policy

    def test_a_task_no_server_can_serve_in_time_goes_cheapest_behind_the_longest_queue(
        self, servers_factory, task_factory
    ):
        servers = servers_factory(n_edge=2)
        policy = self.trained(servers, task_factory)
        now = 200.02
        state = SystemState(now, (
            ServerState("edge-1", queue_length=30, queue_delay_s=1.0),
            ServerState("edge-2", queue_length=90, queue_delay_s=3.0),
            ServerState("cloud", queue_length=5, queue_delay_s=0.05, link_backlog_s=1.0),
        ))  # fmt: skip
        hopeless = [task_factory(preference=0.1, complexity=0.3, a_req=55.0, d_req=0.3, arrival_time=200.0)
                    for _ in range(3)]  # fmt: skip
        decisions = policy.assign(hopeless, state)
        # Late everywhere: its accuracy is worth nothing, so not the accurate, costly cloud; and
        # not the shorter edge queue, where it would delay tasks that can still be on time.
        assert [d.server_id for d in decisions] == ["edge-2"] * 3
        assert all(d.info["p_delay"] == 0.0 for d in decisions)
        single = policy.assign([task_factory(preference=0.1, complexity=0.3, a_req=55.0, d_req=0.3,
                                             arrival_time=200.0)], state)[0]  # fmt: skip
        assert single.server_id == "edge-2"
        in_time = policy.assign([task_factory(preference=0.1, complexity=0.3, a_req=55.0, d_req=1.5,
                                              arrival_time=200.0)], state)[0]  # fmt: skip
        assert in_time.server_id == "cloud"  # the cloud can still meet both: the cost is worth it

    def test_a_task_a_little_too_late_for_a_live_queue_does_not_take_its_place(
        self, servers_factory, task_factory
    ):
        """Late by 60 ms behind edge-1's queue (the residual is never below 0.025 s there): not
        credited as possibly on time, so it goes behind the queue that is late anyway."""
        servers = servers_factory(n_edge=2)
        policy = self.trained(servers, task_factory)
        state = SystemState(200.02, (
            ServerState("edge-1", queue_length=10, queue_delay_s=0.36),
            ServerState("edge-2", queue_length=90, queue_delay_s=3.0),
            ServerState("cloud", queue_length=5, queue_delay_s=0.05, link_backlog_s=1.0),
        ))  # fmt: skip
        d = policy.assign([task_factory(preference=0.1, complexity=0.3, a_req=55.0, d_req=0.3,
                                        arrival_time=200.0)], state)[0]  # fmt: skip
        assert d.server_id == "edge-2" and d.info["p_delay"] == 0.0
        # With the residual's support reaching 0.2 s below zero, the optimism credits it there.
        wide = self.trained(servers, task_factory, delay_range=(-0.2, 1.0), delay_bins=240)
        d = wide.assign([task_factory(preference=0.1, complexity=0.3, a_req=55.0, d_req=0.3,
                                      arrival_time=200.0)], state)[0]  # fmt: skip
        assert d.server_id == "edge-1" and d.info["p_delay"] > 0.0

    def test_a_batching_servers_position_wait_is_its_queue_delay_per_queued_task(
        self, servers_factory, task_factory
    ):
        servers = servers_factory(n_edge=2)
        policy = self.trained(servers, task_factory, cloud_inference_s=0.05)  # a batch's latency

        def cloud_count(queue_length):
            state = SystemState(300.02, (
                ServerState("edge-1", queue_delay_s=0.0), ServerState("edge-2", queue_delay_s=0.0),
                ServerState("cloud", queue_length=queue_length, queue_delay_s=0.02),
            ))  # fmt: skip
            slot = [task_factory(preference=0.1, complexity=0.3, a_req=55.0, d_req=0.15, arrival_time=300.0)
                    for _ in range(6)]  # fmt: skip
            return sum(d.server_id == "cloud" for d in policy.assign(slot, state))

        # 8 tasks queued in 20 ms: each adds 2.5 ms, all six fit before D^q; one queued task
        # in 20 ms: each adds 20 ms, and the later positions would be late there.
        assert cloud_count(8) == 6
        assert 0 < cloud_count(1) < 6


class TestCostArms:
    def test_servers_of_one_kind_share_a_cost_arm(self, servers_factory, task_factory, state_factory,
                                                  feedback_factory):  # fmt: skip
        servers = servers_factory(n_edge=2)  # edge-1 and edge-2: one tier, model and device
        policy = make_policy("cdio", servers)
        task = task_factory(preference=0.1)
        d = policy.assign([task], state_factory(servers))[0]
        assert d.server_id == "edge-1"  # Algorithm 1, step 1: bandwidth preference -> an edge
        policy.feedback([feedback_factory(d, task, compute_tflop=0.2)])
        c, nk = policy.space.index(task), len(policy._kinds)
        arm = {
            sid: c * nk + int(policy._kind_idx[policy.index[sid]]) for sid in ("edge-1", "edge-2", "cloud")
        }
        assert arm["edge-1"] == arm["edge-2"] != arm["cloud"]
        assert policy.cost.n[arm["edge-2"]] == 1 and policy.cost.mean[arm["edge-2"]] == pytest.approx(0.2)
        assert policy.cost.n[arm["cloud"]] == 0

    def test_state_saved_with_cost_arms_per_server_is_pooled_on_restore(
        self, servers_factory, task_factory, state_factory, feedback_factory
    ):
        servers = servers_factory(n_edge=2)
        policy = make_policy("cdio", servers)
        for _ in range(6):
            tasks = [task_factory(preference=0.1) for _ in range(3)]
            by_id = {t.task_id: t for t in tasks}
            decisions = policy.assign(tasks, state_factory(servers))
            policy.feedback([feedback_factory(d, by_id[d.task_id], compute_tflop=0.2 if d.server_id != "cloud" else 3.0)
                             for d in decisions])  # fmt: skip
        meta, arrays = policy.state_parts()
        # The layout before cost arms were pooled: one arm per (context, server), no marker.
        n_ctx, m = policy.space.n_contexts, len(servers)
        per_server = {name: np.zeros((n_ctx, m)) for name in ("cost.total", "cost.n")}
        kind, share = policy._kind_idx, np.bincount(policy._kind_idx)
        for name, target in per_server.items():
            pooled = arrays[name].reshape(n_ctx, -1)
            for j in range(m):  # each kind's statistics split evenly over its servers
                target[:, j] = pooled[:, kind[j]] / share[kind[j]]
        legacy = {**arrays, **{k: v.reshape(-1) for k, v in per_server.items()}}
        state = {k: v for k, v in meta["state"].items() if k != "cost_arms"}
        restored = make_policy("cdio", servers)
        restored.load_state_parts({**meta, "state": state}, legacy)
        np.testing.assert_array_equal(restored.cost.n, policy.cost.n)
        np.testing.assert_allclose(restored.cost.mean, policy.cost.mean)
