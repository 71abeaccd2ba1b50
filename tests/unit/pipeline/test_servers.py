"""Servers that join and leave: announcements, new arms, availability by heartbeat."""

from __future__ import annotations

import asyncio
from dataclasses import replace
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
    # an edge like the others: it shares their cost arms
    np.testing.assert_array_equal(new.cost.n, old.cost.n)
    np.testing.assert_array_equal(new.delay.n[:m], old.delay.n)
    assert new.delay.n[m] == 0  # its own queue and link are unexplored
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


def lost_stage(topology, now: list[float], lost_after_s: float = 30.0) -> SchedulerStage:
    stage = SchedulerStage(
        make_policy("all-edge", list(topology.servers), seed=0),
        topology,
        clock=lambda: now[0],
        server_timeout_s=5.0,
        lost_after_s=lost_after_s,
    )
    for sid in ("edge-1", "edge-2", "edge-3", "edge-4"):
        stage.on_announcement(ann(sid, at=now[0]))
    return stage


def test_tasks_waiting_on_a_lost_server_end_once_as_expired_results(topology):
    now = [100.0]
    stage = lost_stage(topology, now)
    assignments = stage.decide([task(i) for i in range(40)])
    on_edge1 = sorted(a.task.task_id for a in assignments if a.server_id == "edge-1")
    assert on_edge1 and len(on_edge1) < 40
    now[0] = 129.0  # edge-1 last heard at 100; the others keep beating
    for sid in ("edge-2", "edge-3", "edge-4"):
        stage.on_announcement(ann(sid, at=129.0))
    assert stage.expire_lost(now[0]) == []  # unavailable (silent > 5 s), not lost yet (30 s)
    now[0] = 131.0
    for sid in ("edge-2", "edge-3", "edge-4"):
        stage.on_announcement(ann(sid, at=131.0))
    lost = stage.expire_lost(now[0])
    assert sorted(r.task_id for r in lost) == on_edge1
    r = next(r for r in lost if r.task_id == "cam/" + on_edge1[0].split("/")[1])
    assert r.expired == "scheduler" and r.server_id == "edge-1" and not r.delay_met
    assert r.stream_id == "cam" and r.timings.queue == pytest.approx(131.0 - 99.5)  # since created
    assert r.timings.preprocess == pytest.approx(0.001) and r.source == f"0/{r.frame_no}"
    assert stage.expire_lost(now[0] + 10) == []  # published once: each task has one outcome
    assert stage.stats()["lost"] == len(on_edge1) and stage.stats()["pending"] == 40
    # The expired results come back like any result: the policy learns a delay failure and
    # the tasks end; the lost server's own result, if it ever comes back, is a repeat.
    from cdio_stream.messages import encode_result

    for res in lost:
        assert stage.on_result(encode_result(res)) is not None
    assert stage.stats()["pending"] == 40 - len(on_edge1)
    stale = next(a for a in assignments if a.server_id == "edge-1")
    assert stage.on_result(result_for(stale)) is None and stage.stats()["duplicate_results"] == 1


def test_a_lost_shadow_server_ends_its_sampled_tasks_and_nothing_is_lost_by_default(topology):
    now = [100.0]
    stage = lost_stage(topology, now)
    (a,) = stage.decide([task(1)])
    # A reference-sampled task waits on its shadow run too (ReferencePlan sets it).
    stage.pending[a.task.task_id] = replace(stage.pending[a.task.task_id], shadow_server="edge-9")
    stage.on_announcement(ann("edge-9", at=100.0))
    now[0] = 200.0
    stage.on_announcement(ann(a.server_id, at=200.0))  # its server is alive
    assert [r.task_id for r in stage.expire_lost(now[0])] == [a.task.task_id]
    never = lost_stage(topology, [100.0], lost_after_s=0)  # 0: tasks wait for their server
    never.decide([task(2)])
    assert never.expire_lost(1e9) == []


def test_lost_after_is_never_shorter_than_the_server_timeout(topology):
    with pytest.raises(ConfigError, match="at least the server timeout"):
        lost_stage(topology, [100.0], lost_after_s=2.0)


def test_a_restored_scheduler_keeps_what_it_expired_ended(topology):
    now = [100.0]
    stage = lost_stage(topology, now)
    stage.decide([task(i) for i in range(8)])
    stage.on_announcement(ann("edge-2", at=200.0))
    now[0] = 200.0
    first = stage.expire_lost(now[0])
    assert first
    restored = lost_stage(topology, now)
    restored.restore(stage.snapshot())
    assert restored.pending == stage.pending and restored.stats()["lost"] == len(first)
    assert restored.expire_lost(now[0]) == []  # ended before the snapshot: not again


def test_a_v3_snapshot_is_still_read(topology):
    from cdio_stream.policy.codec import decode_state, encode_state

    stage = lost_stage(topology, [100.0])
    (a,) = stage.decide([task(1)])
    header, arrays = decode_state(stage.snapshot())
    header["v"] = 3
    header["pending"] = [row[:6] for row in header["pending"]]  # what v3 kept of a pending task
    del header["lost_tasks"]
    restored = lost_stage(topology, [100.0])
    restored.restore(encode_state(header, arrays))
    p = restored.pending[a.task.task_id]
    assert (p.server_id, p.source, p.shadow_server, p.created_at, p.ended) == (
        a.server_id,
        "0/1",
        None,
        None,
        False,
    )
    assert restored.on_result(result_for(a)) is not None


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
