"""A task dead-lettered at its inference server ends there, and the scheduler hears of it.

Tasks go straight onto the tasks topic (no preprocess worker: it would dead-letter a
truncated JPEG itself), one of them with a JPEG cut in half. The scheduler assigns all of
them to edge-1 (all-edge); edge-1 answers the good ones and dead-letters the truncated
one. The scheduler's saved state then has nothing pending: the dead letter ended the task
as a result ends the others, and each task has exactly one outcome.
"""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np
import pytest

from agents.inference import InferenceOptions
from agents.scheduler import SchedulerOptions
from cdio_stream.cli.deployment import WorkerSpec
from cdio_stream.data.replay import create_frame_producer
from cdio_stream.kafka.state_store import KafkaStateStore
from cdio_stream.messages import Frame, FrameMeta, Task, TaskFeatures, encode_task
from cdio_stream.pipeline.dead_letter import read_dead_letter
from cdio_stream.pipeline.launcher import Launcher
from tests.integration.test_pipeline import small_pipeline, snapshot_header

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _task(no: int, jpeg: bytes) -> Task:
    meta = FrameMeta("dl-cam", no, time.time(), a_req=60.0, d_req=2.0)
    features = TaskFeatures(complexity=0.5, complexity_scales=(0.1,) * 5, motion=0.0, inter_arrival=0.4)
    return Task(
        Frame(meta, jpeg), features, 0.2, preprocess_s=0.001, created_at=time.time(), source=f"0/{no}"
    )


async def _publish(bootstrap, topology, tasks: list[Task]) -> None:
    producer = create_frame_producer(bootstrap, topology)
    await producer.start()
    try:
        for t in tasks:
            value, headers = encode_task(t, topology.max_frame_bytes)
            await producer.send_and_wait(topology.tasks.name, value, key=b"dl-cam", headers=headers)
    finally:
        await producer.stop()


async def _outcomes(bootstrap, topology) -> tuple[list, list]:
    reader = KafkaStateStore(bootstrap, topology.tasks.name)
    limit = topology.max_message_bytes
    results = await reader.read([topology.results.name], max_bytes=limit)
    dead = await reader.read([topology.dead_letter.name], max_bytes=limit)
    return results, [read_dead_letter(r.headers) for r in dead]


def test_inference_dead_letter_ends_the_task_in_the_scheduler(
    tmp_path, kafka_bootstrap, settings, topology_factory
):
    topology, run_settings = small_pipeline(tmp_path, kafka_bootstrap, settings, topology_factory)
    rng = np.random.default_rng(0)
    good = cv2.imencode(".jpg", rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))[1].tobytes()
    truncated = good[: len(good) // 2] + b"\xff\xd9"  # markers intact: passes the scheduler's check
    tasks = [_task(1, good), _task(2, truncated), _task(3, good)]
    launcher = Launcher(run_settings, tmp_path / "logs")
    # No reference sampling: a sampled task would also need the cloud worker.
    scheduler = WorkerSpec(SchedulerOptions(policy="all-edge", reference_rate=0.0, snapshot_s=1.0))
    try:
        launcher.start(scheduler)
        # Batches of up to 4: the truncated task fails inside a detector batch, alone.
        launcher.start(WorkerSpec(InferenceOptions("edge-1", batch_size=4, batch_ms=200.0)))
        launcher.wait_ready(timeout_s=240)
        asyncio.run(_publish(kafka_bootstrap, topology, tasks))
        deadline = time.monotonic() + 120
        while True:
            results, dead = asyncio.run(_outcomes(kafka_bootstrap, topology))
            if len(results) + len(dead) >= len(tasks) or time.monotonic() > deadline:
                break
            launcher.check()
            time.sleep(1.0)
        launcher.stop("scheduler")  # SIGTERM: the last snapshot includes everything it read
    finally:
        launcher.stop_all()
    assert len(results) == 2, (results, dead)
    assert [(d.stage, d.source_topic) for d in dead] == [
        ("inference", topology.assignment_topic("edge-1").name)
    ]
    header, policy = snapshot_header(kafka_bootstrap, topology)
    assert header["decisions"] == 3 and header["feedbacks"] == 2 and header["dead_lettered"] == 1
    assert header["pending"] == [], header["pending"]
