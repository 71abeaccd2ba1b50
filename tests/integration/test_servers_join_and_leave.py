"""A server that is not in topics.yaml joins a running pipeline, leaves, and comes back.

The run has topics.yaml's edge-1 and cloud. An inference worker ``--server edge-5 --tier
edge`` starts during the run: it creates its assignment topic and announces itself, the
scheduler adds it (all-edge: it shares the edge tasks with edge-1) and the sink counts its
results. It is killed: the tasks assigned to it in the seconds before the heartbeat
timeout wait on its topic, and once it is lost (``--lost-after-s``) each ends as an expired
result; after the timeout no new assignment goes to it. It restarts: assignments come
back, and what it serves of its stale assignments is a repeat, counted once.
Tasks go straight onto the tasks topic (no preprocess worker, less CPU).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import cv2
import numpy as np
import orjson
import pytest

from agents.inference import InferenceOptions
from agents.scheduler import SchedulerOptions
from agents.sink import SinkOptions
from cdio_stream.cli.deployment import WorkerSpec
from cdio_stream.data.replay import create_frame_producer
from cdio_stream.kafka.state_store import KafkaStateStore
from cdio_stream.messages import Frame, FrameMeta, Task, TaskFeatures, encode_task
from cdio_stream.pipeline.dead_letter import read_dead_letter
from cdio_stream.pipeline.launcher import Launcher
from cdio_stream.pipeline.metrics import LiveMetrics
from cdio_stream.pipeline.servers import SERVER_TIMEOUT_S
from tests.integration.test_pipeline import small_pipeline

LOST_AFTER_S = SERVER_TIMEOUT_S + 3.0  # the scheduler's --lost-after-s here (default 60 s)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

EDGE5 = WorkerSpec(InferenceOptions("edge-5", tier="edge"))


def _tasks(first: int, n: int, jpeg: bytes) -> list[Task]:
    features = TaskFeatures(complexity=0.5, complexity_scales=(0.1,) * 5, motion=0.0, inter_arrival=0.4)
    out = []
    for no in range(first, first + n):
        meta = FrameMeta("join-cam", no, time.time(), a_req=60.0, d_req=30.0)
        out.append(Task(Frame(meta, jpeg), features, 0.2, 0.001, time.time(), source=f"0/{no}"))
    return out


async def _publish(bootstrap, topology, tasks: list[Task]) -> None:
    producer = create_frame_producer(bootstrap, topology)
    await producer.start()
    try:
        for t in tasks:
            value, headers = encode_task(t, topology.max_frame_bytes)
            await producer.send_and_wait(topology.tasks.name, value, key=b"join-cam", headers=headers)
    finally:
        await producer.stop()


def _results(bootstrap, topology) -> list[dict]:
    recs = asyncio.run(KafkaStateStore(bootstrap, topology.tasks.name).read([topology.results.name]))
    return [orjson.loads(r.value) for r in recs]


def _served(bootstrap, topology) -> dict[int, list[str]]:
    """frame number -> servers of its results"""
    out: dict[int, list[str]] = {}
    for d in _results(bootstrap, topology):
        out.setdefault(d["frame_no"], []).append(d["server_id"])
    return out


def _wait(bootstrap, topology, launcher, frames: range, timeout_s: float = 180.0) -> dict[int, list[str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        served = _served(bootstrap, topology)
        if all(f in served for f in frames):
            return served
        if time.monotonic() > deadline:
            missing = [f for f in frames if f not in served]
            raise AssertionError(f"no result for frames {missing} after {timeout_s:.0f} s")
        launcher.check()
        time.sleep(1.0)


def _edge5_assignments(bootstrap, topology) -> int:
    async def ends() -> int:
        store = KafkaStateStore(bootstrap, topology.tasks.name)
        await store.start()
        try:
            name = topology.prefix + topology.assignment_pattern.format(server="edge-5")
            return sum((await store.end_offsets([name])).values())
        finally:
            await store.stop()

    return asyncio.run(ends())


def test_a_new_server_joins_leaves_and_comes_back(tmp_path, kafka_bootstrap, settings, topology_factory):
    topology, run_settings = small_pipeline(tmp_path, kafka_bootstrap, settings, topology_factory)
    assert "edge-5" not in topology.server_ids
    rng = np.random.default_rng(0)
    jpeg = cv2.imencode(".jpg", rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))[1].tobytes()
    launcher = Launcher(run_settings, tmp_path / "logs")
    sched = SchedulerOptions(policy="all-edge", reference_rate=0.0, snapshot_s=1.0, lost_after_s=LOST_AFTER_S)
    try:
        for spec in (
            WorkerSpec(sched),
            WorkerSpec(InferenceOptions("edge-1")),
            WorkerSpec(SinkOptions()),
        ):
            launcher.start(spec)
        launcher.wait_ready(timeout_s=240)
        launcher.start(EDGE5)  # joins the running pipeline
        launcher.wait_ready(timeout_s=240)
        time.sleep(3.0)  # its first heartbeats reach the scheduler
        asyncio.run(_publish(kafka_bootstrap, topology, _tasks(0, 20, jpeg)))
        served = _wait(kafka_bootstrap, topology, launcher, range(20))
        assert "edge-5" in {s for f in range(20) for s in served[f]}, served

        at_kill = _edge5_assignments(kafka_bootstrap, topology)
        launcher.kill("inference-edge-5")
        # Until its heartbeat timeout the scheduler still routes to edge-5: these wait there.
        asyncio.run(_publish(kafka_bootstrap, topology, _tasks(50, 20, jpeg)))
        time.sleep(SERVER_TIMEOUT_S + 3.0)  # silent past the timeout: unavailable
        before = _edge5_assignments(kafka_bootstrap, topology)
        stranded = before - at_kill
        assert stranded > 0, "no task was assigned to edge-5 within its heartbeat timeout"
        asyncio.run(_publish(kafka_bootstrap, topology, _tasks(100, 20, jpeg)))
        served = _wait(kafka_bootstrap, topology, launcher, range(100, 120))
        assert _edge5_assignments(kafka_bootstrap, topology) == before
        assert {s for f in range(100, 120) for s in served[f]} == {"edge-1"}
        _wait(kafka_bootstrap, topology, launcher, range(50, 70))  # lost: the stranded ones expire
        lost = [
            d["frame_no"]
            for d in _results(kafka_bootstrap, topology)
            if d.get("expired") == "scheduler" and d["server_id"] == "edge-5"
        ]
        assert len(lost) == stranded and set(lost) <= set(range(50, 70)), (lost, stranded)

        launcher.start(EDGE5)
        launcher.wait_ready(timeout_s=240)
        time.sleep(3.0)
        asyncio.run(_publish(kafka_bootstrap, topology, _tasks(200, 20, jpeg)))
        served = _wait(kafka_bootstrap, topology, launcher, range(200, 220))
        assert "edge-5" in {s for f in range(200, 220) for s in served[f]}, served
        assert _edge5_assignments(kafka_bootstrap, topology) > before
        launcher.stop("sink")  # SIGTERM: saves its totals
    finally:
        launcher.stop_all()
    # One outcome per task: results of one server (a copy edge-5 published again after its
    # kill -9, before its offsets were committed, and what it served of the assignments that
    # had expired meanwhile are repeats the sink counts once).
    assert all(len(set(v)) == 1 for v in served.values()), served
    dead = asyncio.run(
        KafkaStateStore(kafka_bootstrap, topology.tasks.name).read([topology.dead_letter.name])
    )
    assert [read_dead_letter(d.headers).reason for d in dead] == []  # the sink took edge-5's results
    sink = asyncio.run(KafkaStateStore(kafka_bootstrap, topology.sink_state.name).load("sink"))
    metrics = LiveMetrics()
    metrics.restore(sink)
    assert metrics.count == 80 and Counter(metrics.per_server)["edge-5"] > 0, metrics.per_server
    assert metrics.expired == stranded
