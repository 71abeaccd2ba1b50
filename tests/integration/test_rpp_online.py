"""The online RPP loop with real worker processes on the real broker.

A preprocess worker (the shipped LSTM, version 0) tags frames that have no ground truth;
a trainer worker reads results, of which every other one carries a reference outcome
that says "the edge fails, the cloud serves" (compute), the opposite of what the shipped
model answers for these requirements. The trainer must publish version 1 on the
compacted model topic, and the *same* preprocess process must tag later tasks with
version 1. Here the results are written by the test from the tasks preprocess emitted
(features, capture times), so the labels are controlled: no scheduler or inference worker
runs. tests/integration/test_reference_feedback.py runs the loop end to end, with real
scheduler and inference workers producing the reference outcomes the trainer learns from.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import cv2
import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from agents.preprocess import PreprocessOptions
from agents.trainer import TrainerOptions
from cdio_stream.cli.deployment import WorkerSpec
from cdio_stream.data.replay import create_frame_producer
from cdio_stream.messages import (
    Costs,
    Frame,
    FrameMeta,
    ReferenceOutcome,
    Result,
    Task,
    Timings,
    decode_rpp_model,
    decode_task,
    encode_frame,
    encode_result,
)
from cdio_stream.pipeline.launcher import Launcher
from cdio_stream.rpp.predictor import PreferencePredictor

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def frame_jpeg(stream: int, i: int) -> bytes:
    """A moving textured frame (deterministic), 480x270."""
    rng = np.random.default_rng(1000 * stream)
    base = (rng.random((270, 480 + 4 * 60)) * 255).astype(np.uint8)
    img = cv2.GaussianBlur(base, (0, 0), 2.0)[:, 4 * i : 4 * i + 480]
    return cv2.imencode(".jpg", np.ascontiguousarray(img))[1].tobytes()


async def publish_frames(bootstrap, topology, frames: range, streams: int = 2) -> None:
    producer = create_frame_producer(bootstrap, topology)
    await producer.start()
    try:
        t0 = time.time()
        for i in frames:
            for s in range(streams):
                a_req = 50.0 + (7 * i + 13 * s) % 30  # the default range [50, 80]
                meta = FrameMeta(f"cam-{s}", i, t0 + 0.04 * i, a_req=a_req, d_req=0.4)  # no gt_ref
                value, headers = encode_frame(Frame(meta, frame_jpeg(s, i)))
                await producer.send_and_wait(
                    topology.frames.name, value, key=meta.stream_id.encode(), headers=headers
                )
    finally:
        await producer.stop()


async def read_until(bootstrap, topic: str, group: str, done, timeout_s: float, check) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 << 20,
    )
    await consumer.start()
    out: list = []
    try:
        deadline = time.monotonic() + timeout_s
        while not done(out):
            check()
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: only {len(out)} records after {timeout_s:.0f} s")
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


def result_for(task: Task, labelled: bool) -> Result:
    """What an edge result would say; labelled ones carry a reference outcome favouring the cloud."""
    m = task.frame.meta
    ref = None
    if labelled:
        ref = ReferenceOutcome(
            server_id="cloud", tier="cloud", model="cloud", reference_model="cloud", score_threshold=0.25,
            agreement=10.0, edge_accuracy=5.0, cloud_accuracy=95.0, edge_delay=0.05, cloud_delay=0.1,
            timings=Timings(inference=0.03), costs=Costs(compute=1.0), payload_bytes=len(task.frame.jpeg),
        )  # fmt: skip
    return Result(
        task.task_id, m.stream_id, m.frame_no, "edge-1", "edge", "edge", m.a_req, m.d_req, len(task.frame.jpeg),
        (), 5.0 if labelled else None, Timings(inference=0.03), Costs(), time.time(),
        accuracy_source="reference" if labelled else "none", features=task.features,
        preference=task.preference, capture_time=m.capture_time, reference=ref,
    )  # fmt: skip


async def publish_results(bootstrap, topology, results: list[Result]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for r in results:
            await producer.send_and_wait(topology.results.name, encode_result(r), key=r.stream_id.encode())
    finally:
        await producer.stop()


class TestOnlineRpp:
    def test_trainer_publishes_and_preprocess_switches_without_restart(
        self, tmp_path, kafka_bootstrap, settings, topology_factory
    ):
        topology = topology_factory()
        run_settings = replace(
            settings, bootstrap=kafka_bootstrap, topic_prefix=topology.prefix, torch_threads=1
        )
        launcher = Launcher(run_settings, tmp_path / "logs")
        trainer = TrainerOptions(retrain_every=60, min_labels=60, window=200, epochs=8)  # one retrain
        try:
            pre = launcher.start(WorkerSpec(PreprocessOptions()))
            launcher.start(WorkerSpec(trainer))
            launcher.wait_ready(timeout_s=240)

            # Round 1: 2 streams x 60 frames, tagged by the shipped model (version 0).
            asyncio.run(publish_frames(kafka_bootstrap, topology, range(1, 61)))
            recs = asyncio.run(
                read_until(kafka_bootstrap, topology.tasks.name, f"{topology.prefix}check-1",
                           lambda out: len(out) >= 120, 120, launcher.check)
            )  # fmt: skip
            tasks = [decode_task(r.value, r.headers) for r in recs]
            assert {t.model_version for t in tasks} == {0}
            p_before = np.mean([t.preference for t in tasks])

            # Their results: every other one reference-labelled "compute".
            results = [result_for(t, labelled=i % 2 == 0) for i, t in enumerate(tasks)]
            asyncio.run(publish_results(kafka_bootstrap, topology, results))

            models = asyncio.run(
                read_until(kafka_bootstrap, topology.rpp_models.name, f"{topology.prefix}check-m",
                           lambda out: len(out) >= 1, 180, launcher.check)
            )  # fmt: skip
            published = decode_rpp_model(models[0].value, models[0].headers)
            assert published.version == 1 and models[0].key == b"rpp"
            card = published.card
            assert (
                card["promoted"] and card["parent_version"] == 0 and card["labels"]["compute_in_window"] == 60
            )
            assert card["holdout"]["candidate"]["log_loss"] < card["holdout"]["current"]["log_loss"]
            assert PreferencePredictor.from_bytes(published.checkpoint).version == 1

            # Round 2: the same preprocess process tags new frames with version 1.
            deadline = time.monotonic() + 60
            while "switched to RPP model version 1" not in pre.log_text():
                launcher.check()
                assert time.monotonic() < deadline, pre.log_tail()
                time.sleep(0.5)
            asyncio.run(publish_frames(kafka_bootstrap, topology, range(61, 71)))
            recs2 = asyncio.run(
                read_until(kafka_bootstrap, topology.tasks.name, f"{topology.prefix}check-2",
                           lambda out: len(out) >= 140, 120, launcher.check)
            )  # fmt: skip
            later = [decode_task(r.value, r.headers) for r in recs2]
            later = [t for t in later if t.frame.meta.frame_no > 60]
            assert len(later) == 20 and {t.model_version for t in later} == {1}
            assert np.mean([t.preference for t in later]) > p_before  # it learnt "compute"
            assert pre.proc.poll() is None and launcher.workers["preprocess"] is pre  # never restarted
            launcher.check()
        finally:
            launcher.stop_all()
