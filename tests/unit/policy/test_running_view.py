"""Policy.running_view: what the live dashboard shows of a policy's learned estimates."""

from __future__ import annotations

import pytest

from cdio_stream.messages import decode_policy_view, encode_policy_view
from cdio_stream.policy import make_policy
from cdio_stream.policy.registry import POLICY_NAMES


def teach(policy, servers, task_factory, state_factory, feedback_factory, outcomes):
    """``outcomes``: list of (task kwargs, accuracy); each task is assigned, then answered."""
    for kwargs, accuracy in outcomes:
        task = task_factory(**kwargs)
        (d,) = policy.assign([task], state_factory(servers))
        policy.feedback([feedback_factory(d, task, accuracy=accuracy)])
        yield d


class TestCdcoView:
    def test_success_estimates_per_context_and_server(
        self, servers_factory, task_factory, state_factory, feedback_factory
    ):
        servers = servers_factory(n_edge=2)
        policy = make_policy("cdio", servers)
        assert policy.running_view().rows == ()  # nothing learned yet
        easy = {"preference": 0.1, "complexity": 0.2, "a_req": 55.0}
        decisions = list(
            teach(
                policy, servers, task_factory, state_factory, feedback_factory, [(easy, 70.0), (easy, 40.0)]
            )
        )
        view = policy.running_view()
        assert "P(mAP50 >= A^q)" in view.what
        (row,) = view.rows
        assert row.context == policy.space.describe(policy.space.index(task_factory(**easy)))
        model = {s.id: s.model for s in servers}
        outcomes: dict[str, list[bool]] = {}  # model -> C1 met, in order
        for d, accuracy in zip(decisions, (70.0, 40.0), strict=True):
            outcomes.setdefault(model[d.server_id], []).append(accuracy >= easy["a_req"])
        for sid, value, count in zip(policy.server_ids, row.values, row.counts, strict=True):
            seen = outcomes.get(model[sid], [])
            assert count == len(seen), sid
            assert value == (pytest.approx(sum(seen) / len(seen)) if seen else None), sid

    def test_servers_running_one_model_share_its_estimate(
        self, servers_factory, task_factory, state_factory, feedback_factory
    ):
        servers = servers_factory(n_edge=2)
        policy = make_policy("cdio", servers)
        list(
            teach(
                policy, servers, task_factory, state_factory, feedback_factory, [({"preference": 0.1}, 70.0)]
            )
        )
        (row,) = policy.running_view().rows
        edge = [i for i, s in enumerate(servers) if s.tier == "edge"]
        assert len({row.values[i] for i in edge}) == 1 and len({row.counts[i] for i in edge}) == 1


@pytest.mark.parametrize("name", sorted(set(POLICY_NAMES) - {"cdio", "cdco-only"}))
def test_policies_without_estimates_have_no_view(name, servers_factory):
    assert make_policy(name, servers_factory(n_edge=2)).running_view() is None


def test_view_roundtrips_through_its_wire_format(
    servers_factory, task_factory, state_factory, feedback_factory
):
    from cdio_stream.messages import PolicyView

    servers = servers_factory(n_edge=2)
    policy = make_policy("cdio", servers)
    list(teach(policy, servers, task_factory, state_factory, feedback_factory, [({}, 70.0), ({}, 10.0)]))
    est = policy.running_view()
    view = PolicyView("cdio", policy.server_ids, est.what, est.rows, 2, 123.5)
    assert decode_policy_view(encode_policy_view(view)) == view
