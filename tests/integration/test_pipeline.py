"""The whole pipeline with real worker processes on the real broker.

Frames in -> exactly one result per good frame, a dead-letter record per corrupt frame;
the scheduler's bandit learns from the results, and after the scheduler worker is
restarted it continues from its saved state instead of starting over.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaConsumer

from cdio_stream.cli.deployment import pipeline_workers
from cdio_stream.data.detrac import DetracDataset
from cdio_stream.data.replay import ReplayConfig, create_frame_producer, plan_streams, replay
from cdio_stream.data.synth import SynthConfig, generate_dataset
from cdio_stream.kafka.state_store import KafkaStateStore
from cdio_stream.messages import Costs, Frame, FrameMeta, Result, Timings, encode_frame, encode_result
from cdio_stream.pipeline.dead_letter import read_dead_letter
from cdio_stream.pipeline.launcher import Launcher
from cdio_stream.pipeline.run import ResultCollector
from cdio_stream.pipeline.scheduler import POLICY_ARRAY_PREFIX
from cdio_stream.policy.base import Policy
from cdio_stream.policy.codec import decode_state
from cdio_stream.policy.registry import policy_from_parts

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def small_topics_file(tmp_path: Path) -> Path:
    """topics.yaml with one edge and one cloud server: the same pipeline, less CPU."""
    raw = yaml.safe_load((ROOT / "topics.yaml").read_text())
    raw["servers"] = [s for s in raw["servers"] if s["id"] in ("edge-1", "cloud")]
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def small_pipeline(tmp_path: Path, bootstrap: str, settings, topology_factory):
    """(topology, settings) of a run on the small topics file, its topics created on the broker."""
    topics_file = small_topics_file(tmp_path)
    topology = topology_factory(topics_file)
    run_settings = replace(
        settings, bootstrap=bootstrap, topics_file=topics_file, topic_prefix=topology.prefix, torch_threads=1
    )
    return topology, run_settings


def synth(root: Path, first_id: int, frames: int) -> list[str]:
    """Two synthetic sequences under ``root``; returns their names."""
    config = SynthConfig(sequences=2, frames=frames, width=480, height=270, seed=first_id, first_id=first_id)
    return [s.name for s in generate_dataset(root, config)]


async def publish(bootstrap, topology, dataset: Path, sequences: list[str], corrupt: int = 0) -> int:
    """Replay ``sequences`` of ``dataset`` flat out, then ``corrupt`` bad frames; returns good frames sent."""
    plans = plan_streams(DetracDataset(dataset), sequences)
    stats = await replay(plans, bootstrap=bootstrap, topology=topology, config=ReplayConfig(fps=0))
    producer = create_frame_producer(bootstrap, topology)
    await producer.start()
    try:
        good_jpeg = next(dataset.rglob("*.jpg")).read_bytes()
        for i in range(corrupt):
            meta = FrameMeta(stream_id="corrupt", frame_no=i, capture_time=time.time(), a_req=60.0, d_req=0.4)
            _, headers = encode_frame(Frame(meta, good_jpeg))
            # i even: not a JPEG at all; i odd: JPEG markers around a destroyed body.
            value = b"this is not an image" if i % 2 == 0 else good_jpeg[:2] + b"\x00" * 400 + b"\xff\xd9"
            await producer.send_and_wait(topology.frames.name, value, key=b"corrupt", headers=headers)
    finally:
        await producer.stop()
    return int(stats.total("delivered"))


async def forge_result_and_wait_for_dead_letter(bootstrap, topology, timeout_s: float = 60.0):
    """Publish a result for a task nobody assigned; return the dead letter the scheduler makes of it."""
    ghost = Result(
        "ghost/1", "ghost", 1, "edge-1", "edge", "edge", 60.0, 0.4, 10, (), None, Timings(), Costs(), 0.0
    )
    producer = create_frame_producer(bootstrap, topology)
    await producer.start()
    try:
        await producer.send_and_wait(topology.results.name, encode_result(ghost), key=b"ghost")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topology.dead_letter.name, bootstrap_servers=bootstrap, group_id=f"{topology.prefix}dlq-check",
        auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for rec in records:
                    dl = read_dead_letter(rec.headers)
                    if dl.stage == "scheduler":
                        return dl
    finally:
        await consumer.stop()
    raise AssertionError("no dead letter from the scheduler for a result of an unknown task")


def snapshot_header(bootstrap, topology) -> tuple[dict, Policy] | None:
    data = asyncio.run(KafkaStateStore(bootstrap, topology.scheduler_state.name).load("scheduler"))
    if data is None:
        return None
    header, arrays = decode_state(data)
    policy_arrays = {k.removeprefix(POLICY_ARRAY_PREFIX): a for k, a in arrays.items()}
    return header, policy_from_parts(header["policy"], policy_arrays)


def wait_for_feedbacks(bootstrap, topology, n: int, timeout_s: float = 60.0) -> tuple[dict, Policy]:
    deadline = time.monotonic() + timeout_s
    while True:
        snap = snapshot_header(bootstrap, topology)
        if snap is not None and snap[0]["feedbacks"] >= n:
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"scheduler snapshot never reached {n} feedbacks: {snap and snap[0]}")
        time.sleep(1.0)


class TestPipeline:
    def test_end_to_end_dead_letters_learning_and_restart(
        self, tmp_path, kafka_bootstrap, settings, topology_factory
    ):
        topology, run_settings = small_pipeline(tmp_path, kafka_bootstrap, settings, topology_factory)
        dataset = tmp_path / "dataset"
        first = synth(dataset, 93001, frames=6)  # round 1
        second = synth(dataset, 94001, frames=4)  # round 2, after the scheduler restart
        launcher = Launcher(run_settings, tmp_path / "logs")
        specs = pipeline_workers(topology, dataset=dataset)
        try:
            for spec in specs:
                launcher.start(spec)
            launcher.wait_ready(timeout_s=240)

            # Round 1: 12 good frames, 2 corrupt ones.
            sent = asyncio.run(publish(kafka_bootstrap, topology, dataset, first, corrupt=2))
            assert sent == 12
            collector = ResultCollector(kafka_bootstrap, topology)
            asyncio.run(collector.collect(lambda: sent + 2, timeout_s=240, check=launcher.check))
            assert collector.metrics.count == sent
            assert collector.metrics.duplicates == 0
            expected_ids = {f"MVI_{93001 + s}/{f}" for s in range(2) for f in range(1, 7)}
            assert collector.metrics.task_ids == expected_ids
            assert len(collector.dead_letters) == 2
            assert {d.stage for d in collector.dead_letters} == {"preprocess"}
            assert all(d.source_topic == topology.frames.name for d in collector.dead_letters)
            assert set(collector.metrics.per_server) <= {"edge-1", "cloud"}

            # The bandit learned from every result (semi-bandit feedback per task).
            header, policy = wait_for_feedbacks(kafka_bootstrap, topology, sent)
            # A result for a task nobody assigned is dead-lettered by the scheduler, which goes on.
            ghost = asyncio.run(forge_result_and_wait_for_dead_letter(kafka_bootstrap, topology))
            assert "unknown task 'ghost/1'" in ghost.reason and ghost.source_topic == topology.results.name
            assert header["feedbacks"] == sent and header["pending"] == []
            assert policy.name == "cdio"
            assert policy.cost.n.sum() == sent

            # Restart the scheduler: it must continue from the saved state.
            assert launcher.stop("scheduler") == 0  # clean SIGTERM shutdown
            launcher.start(next(s for s in specs if s.role == "scheduler"))
            launcher.wait_ready(timeout_s=120)
            sent2 = asyncio.run(publish(kafka_bootstrap, topology, dataset, second))
            assert sent2 == 8
            header2, policy2 = wait_for_feedbacks(kafka_bootstrap, topology, sent + sent2, timeout_s=240)
            assert header2["feedbacks"] == sent + sent2  # 8 new on top of the restored 12, not 8 alone
            assert policy2.cost.n.sum() == sent + sent2
            launcher.check()
            assert "scheduler state restored" in (tmp_path / "logs" / "scheduler.log").read_text()
        finally:
            launcher.stop_all()
