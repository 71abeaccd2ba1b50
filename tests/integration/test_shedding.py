"""Load shedding with real workers on the real broker (``--shed late``).

A scheduler and one inference worker, tasks published straight to the tasks topic:

* tasks already past D^q when they reach the scheduler end as its expired results;
* tasks that were on time when assigned but are late when the inference worker gets to
  them (it is started only after their deadline) end as the worker's expired results,
  without inference;
* tasks with time to spare are inferred.

Every task has exactly one result, and the scheduler fed every expired one back to its
policy as a delay failure (its snapshot: one feedback per task, nothing pending).
"""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer

from agents.inference import InferenceOptions
from agents.scheduler import SchedulerOptions
from cdio_stream.cli.deployment import WorkerSpec
from cdio_stream.data.replay import create_frame_producer
from cdio_stream.messages import Frame, FrameMeta, Task, TaskFeatures, encode_task
from cdio_stream.pipeline.launcher import Launcher
from cdio_stream.pipeline.run import ResultCollector
from tests.integration.test_pipeline import small_pipeline, wait_for_feedbacks

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ON_TIME_AT_SCHEDULER_S = 20.0  # D^q of the tasks that expire at the inference worker


def make_task(frame_no: int, *, created_at: float, d_req: float) -> Task:
    img = np.random.default_rng(frame_no).integers(0, 255, (270, 480, 3), dtype=np.uint8)
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    meta = FrameMeta("shed-cam", frame_no, capture_time=created_at - 0.05, a_req=50.0, d_req=d_req)
    features = TaskFeatures(0.005, (0.001,) * 5, 0.0, 0.04)
    return Task(Frame(meta, jpeg), features, 0.2, 0.01, created_at, source=f"0/{frame_no}")


async def publish_tasks(bootstrap, topology, tasks: list[Task]) -> None:
    producer = create_frame_producer(bootstrap, topology)
    await producer.start()
    try:
        for t in tasks:
            value, headers = encode_task(t, topology.max_frame_bytes)
            await producer.send_and_wait(topology.tasks.name, value, key=b"shed-cam", headers=headers)
    finally:
        await producer.stop()


async def wait_for_assignments(bootstrap, topology, server_id: str, n: int, timeout_s: float = 120.0) -> int:
    consumer = AIOKafkaConsumer(
        topology.assignment_topic(server_id).name, bootstrap_servers=bootstrap,
        group_id=f"{topology.prefix}assign-check", auto_offset_reset="earliest",
        max_partition_fetch_bytes=topology.max_message_bytes,
    )  # fmt: skip
    await consumer.start()
    seen = 0
    try:
        deadline = time.monotonic() + timeout_s
        while seen < n and time.monotonic() < deadline:
            seen += sum(len(r) for r in (await consumer.getmany(timeout_ms=1000)).values())
    finally:
        await consumer.stop()
    return seen


class TestShedding:
    def test_late_tasks_expire_at_the_scheduler_or_the_worker_once_each(
        self, tmp_path, kafka_bootstrap, settings, topology_factory
    ):
        topology, run_settings = small_pipeline(tmp_path, kafka_bootstrap, settings, topology_factory)
        launcher = Launcher(run_settings, tmp_path / "logs")
        try:
            launcher.start(WorkerSpec(SchedulerOptions(policy="all-edge", reference_rate=0.0, shed="late")))
            launcher.wait_ready(timeout_s=180)
            now = time.time()
            stale = [make_task(i, created_at=now - 60.0, d_req=1.0) for i in (1, 2, 3)]
            later = [make_task(i, created_at=now, d_req=ON_TIME_AT_SCHEDULER_S) for i in (4, 5, 6)]
            fresh = [make_task(i, created_at=now, d_req=3600.0) for i in (7, 8, 9)]
            asyncio.run(publish_tasks(kafka_bootstrap, topology, stale + later + fresh))
            # Assigned while on time, then left waiting past their deadline for a worker.
            assert asyncio.run(wait_for_assignments(kafka_bootstrap, topology, "edge-1", 6)) == 6
            time.sleep(max(0.0, now + ON_TIME_AT_SCHEDULER_S + 1.0 - time.time()))
            launcher.start(WorkerSpec(InferenceOptions("edge-1", shed="late")))
            launcher.wait_ready(timeout_s=240)

            collector = ResultCollector(kafka_bootstrap, topology, keep_results=True)
            asyncio.run(collector.collect(lambda: 9, timeout_s=240, check=launcher.check))
            header, _ = wait_for_feedbacks(kafka_bootstrap, topology, 9, timeout_s=120)
        finally:
            launcher.stop_all()

        by_frame = {r.frame_no: r for r in collector.results}
        assert sorted(by_frame) == list(range(1, 10)) and len(collector.results) == 9  # one result each
        assert not collector.dead_letters and collector.metrics.duplicates == 0
        assert {by_frame[i].expired for i in (1, 2, 3)} == {"scheduler"}
        assert {by_frame[i].expired for i in (4, 5, 6)} == {"inference"}
        assert {by_frame[i].expired for i in (7, 8, 9)} == {None}
        for i in range(1, 7):
            r = by_frame[i]
            assert r.server_id == "edge-1" and r.detections == () and r.costs.compute == 0 and not r.delay_met
        assert all(by_frame[i].costs.compute > 0 and by_frame[i].delay_met for i in (7, 8, 9))
        s = collector.metrics.summary()
        assert s["tasks"] == 9 and s["expired_share"] == pytest.approx(6 / 9)
        assert s["delay_success"] == pytest.approx(3 / 9) and s["served_delay_success"] == 1.0
        # The scheduler learned every outcome, expired ones included, and waits for nothing.
        assert header["feedbacks"] == 9 and header["pending"] == [] and header["shed_tasks"] == 3
