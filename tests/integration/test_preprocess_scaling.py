"""Preprocess scales out: two preprocess workers split the frames partitions, and each
stream's state (previous frame, history for the LSTM) stays with the worker that holds the
stream's partition. Real broker, real worker processes; the detectors are the no-op
``null`` ones, since this is about the preprocess stage.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from aiokafka import AIOKafkaConsumer

from cdio_stream.cli.deployment import pipeline_workers
from cdio_stream.data.replay import create_frame_producer
from cdio_stream.messages import Frame, FrameMeta, decode_result, encode_frame
from cdio_stream.pipeline.launcher import Launcher
from cdio_stream.pipeline.run import ResultCollector

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STREAMS = [f"cam-{i}" for i in range(8)]
FRAMES = 5
GAP_S = 0.04  # capture-time step within a stream
ASSIGNED = re.compile(r"partitions assigned (.*)$", re.M)
NEW_STREAM = re.compile(r"new stream (\S+) on this worker \(first frame from (\d+)/\d+\)")


def null_topics_file(tmp_path: Path) -> Path:
    raw = yaml.safe_load((ROOT / "topics.yaml").read_text())
    raw["servers"] = [dict(s, model="null") for s in raw["servers"] if s["id"] in ("edge-1", "cloud")]
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def frames_held(log: str, frames_topic: str) -> set[int] | None:
    """The frames partitions of the worker's latest assignment (None before the first)."""
    lines = ASSIGNED.findall(log)
    if not lines:
        return None
    for part in lines[-1].split():
        topic, _, parts = part.partition("=")
        if topic == frames_topic:
            return {int(p) for p in parts.split(",")}
    return set()


def wait_for_split(workers, frames_topic: str, partitions: int, timeout_s: float = 120.0) -> list[set[int]]:
    deadline = time.monotonic() + timeout_s
    while True:
        held = [frames_held(w.log_text(), frames_topic) for w in workers]
        if all(h for h in held) and sum(len(h) for h in held) == partitions:
            assert set().union(*held) == set(range(partitions))
            return held
        if time.monotonic() > deadline:
            raise AssertionError(f"the preprocess workers never split the frames partitions: {held}")
        time.sleep(0.5)


async def read_results(bootstrap, topology, n: int) -> list:
    consumer = AIOKafkaConsumer(
        topology.results.name, bootstrap_servers=bootstrap, group_id=f"{topology.prefix}check",
        auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    out = []
    try:
        while len(out) < n:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                out += [decode_result(rec.value) for rec in records]
    finally:
        await consumer.stop()
    return out


async def publish(bootstrap, topology) -> int:
    rng = np.random.default_rng(5)
    producer = create_frame_producer(bootstrap, topology)
    await producer.start()
    t0 = time.time()
    try:
        for k in range(FRAMES):
            for s in STREAMS:
                image = rng.integers(0, 255, size=(270, 480, 3), dtype=np.uint8)
                meta = FrameMeta(s, k, t0 + k * GAP_S, a_req=60.0, d_req=0.4)
                value, headers = encode_frame(Frame(meta, cv2.imencode(".jpg", image)[1].tobytes()))
                await producer.send_and_wait(topology.frames.name, value, key=s.encode(), headers=headers)
    finally:
        await producer.stop()
    return FRAMES * len(STREAMS)


class TestPreprocessScaling:
    def test_two_workers_split_the_partitions_and_keep_each_streams_state(
        self, tmp_path, kafka_bootstrap, settings, topology_factory
    ):
        topics_file = null_topics_file(tmp_path)
        topology = topology_factory(topics_file)
        run_settings = replace(
            settings, bootstrap=kafka_bootstrap, topics_file=topics_file, topic_prefix=topology.prefix,
            torch_threads=1,
        )  # fmt: skip
        launcher = Launcher(run_settings, tmp_path / "logs")
        specs = pipeline_workers(topology, preprocess_workers=2, reference_rate=0.0)  # null has no card
        try:
            for spec in specs:
                launcher.start(spec)
            launcher.wait_ready(timeout_s=240)
            pre = [launcher.workers["preprocess"], launcher.workers["preprocess-2"]]
            held = wait_for_split(pre, topology.frames.name, topology.frames.partitions)

            sent = asyncio.run(publish(kafka_bootstrap, topology))
            collector = ResultCollector(kafka_bootstrap, topology)
            asyncio.run(collector.collect(lambda: sent, timeout_s=240, check=launcher.check))
            launcher.check()
            assert collector.dead_letters == [] and collector.metrics.count == sent
            assert collector.metrics.duplicates == 0

            # Each stream was started on exactly one worker, from a partition that worker holds.
            owner: dict[str, int] = {}
            for w, (worker, parts) in enumerate(zip(pre, held, strict=True)):
                for stream, partition in NEW_STREAM.findall(worker.log_text()):
                    assert stream not in owner, f"{stream} started on both workers"
                    owner[stream] = w
                    assert int(partition) in parts
            assert set(owner) == set(STREAMS)
            assert set(owner.values()) == {0, 1}, f"one worker did all the work: {owner}"
        finally:
            launcher.stop_all()

        # ... and its state stayed there: every frame after a stream's first one saw the
        # previous frame (inter-arrival = the capture step), none started the stream afresh.
        by_stream: dict[str, dict[int, float]] = {s: {} for s in STREAMS}
        for r in asyncio.run(asyncio.wait_for(read_results(kafka_bootstrap, topology, sent), 60)):
            by_stream[r.stream_id][r.frame_no] = r.features.inter_arrival
        for s, gaps in by_stream.items():
            assert sorted(gaps) == list(range(FRAMES)), s
            assert gaps[0] == 0.0
            assert [gaps[k] for k in range(1, FRAMES)] == pytest.approx([GAP_S] * (FRAMES - 1), abs=1e-6), s
