"""Factories shared by the policy tests: servers, tasks, states, feedback and a fake truth."""

from __future__ import annotations

import pytest

from cdio_stream.policy import Feedback, ServerState, SlotTask, SystemState, Truth
from cdio_stream.system import make_servers
from cdio_stream.system.cost import wan_megabits


@pytest.fixture
def servers_factory():
    def make(deployment: str = "V1", n_edge: int = 2):
        return make_servers(deployment, n_edge=n_edge)

    return make


@pytest.fixture
def task_factory():
    counter = iter(range(10**9))

    def make(**kw) -> SlotTask:
        k = next(counter)
        fields = dict(task_id=f"t{k}", stream_id="s1", payload_bytes=100_000, complexity=0.5, preference=0.2,
                      a_req=60.0, d_req=0.4, arrival_time=0.0)  # fmt: skip
        fields.update(kw)
        return SlotTask(**fields)

    return make


@pytest.fixture
def state_factory():
    def make(servers, time: float = 0.05, **per_server) -> SystemState:
        """``per_server``: server id -> dict of ServerState fields."""
        return SystemState(time, tuple(ServerState(s.id, **per_server.get(s.id, {})) for s in servers))

    return make


def fake_truth(task: SlotTask, server, now: float) -> Truth:
    """Deterministic ground truth: the cloud is accurate and costly, the edge cheap and weaker on
    complex frames."""
    cloud = server.tier == "cloud"
    acc = 80.0 - 10.0 * task.complexity if cloud else 85.0 - 40.0 * task.complexity
    inference = 0.01 if cloud else 0.035
    sending = task.payload_bytes * 8 / 300e6
    latency = 0.02 if cloud else 0.001
    return Truth(acc, inference, sending, latency, (312 if cloud else 6) * inference,
                 task.payload_bytes * 8 / (sending + latency), wan_megabits(server.tier, task.payload_bytes))  # fmt: skip


@pytest.fixture
def truth():
    return fake_truth


@pytest.fixture
def feedback_factory():
    def make(decision, task, *, accuracy=70.0, inference_s=0.03, queue_s=0.01, transmission_s=0.005,
             compute_tflop=0.2, bandwidth_bps=150e6) -> Feedback:  # fmt: skip
        return Feedback.measured(
            decision.task_id, decision.server_id, accuracy=accuracy, a_req=task.a_req, d_req=task.d_req,
            preprocess_s=0.014, queue_s=queue_s, transmission_s=transmission_s, inference_s=inference_s,
            compute_tflop=compute_tflop, bandwidth_bps=bandwidth_bps, energy_j=1.0, payload_bytes=task.payload_bytes,
        )  # fmt: skip

    return make
