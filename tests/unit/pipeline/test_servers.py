"""Servers that join and leave: announcements, new arms, availability by heartbeat."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cdio_stream.errors import ConfigError, MessageError
from cdio_stream.messages import ServerAnnouncement, decode_announcement, encode_announcement
from cdio_stream.pipeline.metrics import LiveMetrics
from cdio_stream.pipeline.scheduler import SchedulerStage
from cdio_stream.pipeline.servers import ServerDirectory
from cdio_stream.policy.registry import make_policy
from cdio_stream.topology import ServerSpec, load_topology
from tests.unit.pipeline.test_scheduler import result_for, task

ROOT = Path(__file__).resolve().parents[3]
EDGE5 = ServerSpec("edge-5", "edge", "edge", "jetson-xavier-nx")


def ann(server_id="edge-5", at=100.0, tier="edge", model="edge", device="jetson-xavier-nx"):
    return ServerAnnouncement(server_id, tier, model, device, 0.03, 2, at)


@pytest.fixture
def topology():
    return load_topology(ROOT / "topics.yaml")


def stage_at(topology, now: list[float], policy: str = "cdio") -> SchedulerStage:
    return SchedulerStage(
        make_policy(policy, list(topology.servers), seed=0),
        topology,
        clock=lambda: now[0],
        server_timeout_s=5.0,
    )


def test_announcement_round_trip_and_bad_values():
    a = ann()
    assert decode_announcement(encode_announcement(a)) == a
    with pytest.raises(MessageError, match="must be >= 0"):
        decode_announcement(encode_announcement(ServerAnnouncement("x", "edge", "edge", "d", None, -1, 1.0)))
    with pytest.raises(MessageError, match="expected a server message"):
        decode_announcement(b'{"kind": "result", "v": 2}')


def test_topology_with_server(topology):
    t = topology.with_server(EDGE5)
    assert t.server_ids[-1] == "edge-5" and t.assignment_topic("edge-5").name == "cdio.assign.edge-5"
    with pytest.raises(ConfigError, match="already in the topology"):
        t.with_server(EDGE5)
    with pytest.raises(ConfigError, match="tier"):
        topology.with_server(ServerSpec("x", "fog", "edge", "jetson-xavier-nx"))


def test_the_bandit_keeps_its_arms_when_a_server_joins(topology):
    stage = stage_at(topology, [100.0])
    for i in range(20):
        (a,) = stage.decide([task(i)])
        stage.on_result(result_for(a))
    old = stage.policy
    assert stage.on_announcement(ann()) is True
    new = stage.policy
    assert new.server_ids == (*old.server_ids, "edge-5") and stage.topology.server_ids[-1] == "edge-5"
    m = len(old.servers)
    np.testing.assert_array_equal(new.cost.n.reshape(-1, m + 1)[:, :m], old.cost.n.reshape(-1, m))
    assert new.cost.n.reshape(-1, m + 1)[:, m].sum() == 0  # the new server's arms are unexplored
    np.testing.assert_array_equal(new.delay.n[:m], old.delay.n)
    np.testing.assert_array_equal(new.success.n, old.success.n)  # same models: same (context, model) arms
    assert new.t == old.t
    assert stage.on_announcement(ann(at=101.0)) is False  # a heartbeat of a known server
    with pytest.raises(MessageError, match="known as edge/edge"):
        stage.on_announcement(ann(tier="cloud", model="cloud", at=102.0))


def test_a_silent_server_gets_nothing_until_it_is_heard_again(topology):
    now = [100.0]
    stage = stage_at(topology, now, policy="all-edge")
    for sid in ("edge-1", "edge-2", "edge-3", "edge-4"):
        stage.on_announcement(ann(sid, at=100.0))
    stage.on_announcement(ann("edge-5", at=100.0))
    assert set(a.server_id for a in stage.decide([task(i) for i in range(40)])) >= {"edge-5"}
    now[0] = 104.0  # every edge heard at 104 but edge-5 (last at 100): within the 5 s timeout
    for sid in ("edge-1", "edge-2", "edge-3", "edge-4"):
        stage.on_announcement(ann(sid, at=104.0))
    assert stage.available("edge-5", now[0])
    now[0] = 106.0
    for sid in ("edge-1", "edge-2", "edge-3", "edge-4"):
        stage.on_announcement(ann(sid, at=106.0))
    assert not stage.available("edge-5", now[0]) and stage.available("cloud", now[0])  # never announced
    assert "edge-5" not in {a.server_id for a in stage.decide([task(i) for i in range(100, 140)])}
    stage.on_announcement(ann("edge-5", at=106.5))
    assert "edge-5" in {a.server_id for a in stage.decide([task(i) for i in range(200, 240)])}


def test_a_restored_scheduler_knows_the_servers_that_joined(topology):
    stage = stage_at(topology, [100.0])
    stage.on_announcement(ann())
    (a,) = stage.decide([task(1)])
    restored = stage_at(topology, [100.0])
    restored.restore(stage.snapshot())
    assert restored.policy.server_ids[-1] == "edge-5" and restored.joined == ["edge-5"]
    assert restored.heartbeats == {"edge-5": 100.0}
    assert restored.on_result(result_for(a)) is not None


def test_the_sink_accepts_a_server_once_it_announced_itself():
    metrics = LiveMetrics(servers=["edge-1", "cloud"])
    assert not metrics.accepts("edge-5")
    metrics.add_server("edge-5")
    assert metrics.accepts("edge-5") and metrics.accepts("edge-1")


def test_directory_keeps_the_latest_and_skips_bad_records():
    class Follower:
        def __init__(self):
            self.records = [SimpleNamespace(value=encode_announcement(ann(at=1.0)), offset=0)]
            self.records.append(SimpleNamespace(value=b"junk", offset=1))

        async def catch_up(self):
            return self.records

        async def follow(self):
            yield SimpleNamespace(value=encode_announcement(ann("edge-6", at=2.0)), offset=2)

    async def go():
        d = ServerDirectory(Follower())
        assert [a.server_id for a in await d.catch_up()] == ["edge-5"]
        waiting = asyncio.create_task(d.wait_for("edge-6", 2.0))
        async for _ in d.follow():
            pass
        return await waiting, await d.wait_for("edge-7", 0.05), set(d.latest)

    assert asyncio.run(go()) == (True, False, {"edge-5", "edge-6"})


@pytest.mark.parametrize(
    "name", ["cdio", "cdco-only", "rpp-only", "dao", "sniper", "javp", "all-edge", "all-cloud", "random"]
)
def test_every_live_policy_takes_a_joining_server(topology, name):
    from cdio_stream.calibration import default_calibration

    policy = make_policy(name, list(topology.servers), calibration=default_calibration(), seed=0)
    grown = policy.with_server(EDGE5)
    assert grown.server_ids[-1] == "edge-5" and grown.name == policy.name
    # per-server parameters: edge-5 gets those of a server with its model and device
    for key in ("inference_s", "accuracy_prior"):
        value = getattr(policy, key, None)
        if value:
            assert getattr(grown, key)["edge-5"] == value["edge-1"]
