"""Crashes with real worker processes: every frame still ends as exactly one result.

The scheduler is killed with SIGKILL mid-stream and restarted; then every worker is. Each
frame of each round must end with exactly one result (no frame lost, none with two
different outcomes), and after a clean stop the sink's restored totals and the
scheduler's saved state must count each task once. Small rounds keep it within the CI
budget; ``benchmarks/faults.py`` runs the whole fault table.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from agents.preprocess import PreprocessOptions
from cdio_stream.cli.deployment import WorkerSpec, pipeline_workers
from cdio_stream.data.synth import SynthConfig, generate_dataset
from cdio_stream.kafka.state_store import KafkaStateStore
from cdio_stream.pipeline import faults
from cdio_stream.pipeline.launcher import Launcher
from cdio_stream.pipeline.metrics import LiveMetrics
from cdio_stream.policy.codec import decode_state
from tests.integration.test_pipeline import small_pipeline, small_topics_file

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_kill_scheduler_then_every_worker(tmp_path, kafka_bootstrap, settings, topology_factory):
    topology, run_settings = small_pipeline(tmp_path, kafka_bootstrap, settings, topology_factory)
    dataset = tmp_path / "dataset"
    rounds = {}
    for i, name in enumerate(("kill-scheduler", "kill-all")):
        config = SynthConfig(sequences=2, frames=8, width=480, height=270, seed=i, first_id=70001 + 10 * i)
        rounds[name] = [s.name for s in generate_dataset(dataset, config)]
    launcher = Launcher(run_settings, tmp_path / "logs")
    specs = pipeline_workers(topology, dataset=dataset)
    # The first scheduler never saves a snapshot before it is killed: its successor must
    # learn what it assigned from the assignment topics alone. The successor snapshots
    # every 2 s, so the kill-all round restores from a snapshot.
    unsaved = [
        replace(s, options=replace(s.options, snapshot_s=600.0)) if s.role == "scheduler" else s
        for s in specs
    ]
    runner = faults.FaultRunner(kafka_bootstrap, topology, launcher, unsaved, dataset, fps=4.0, settle_s=3.0)

    def kill_unsaved_scheduler(run: faults.FaultRunner) -> dict:
        run.specs = specs
        return run.restart(["scheduler"])

    try:
        for spec in unsaved:
            launcher.start(spec)
        launcher.wait_ready(timeout_s=240)
        rows = [
            asyncio.run(runner.run_round("kill-scheduler", rounds["kill-scheduler"], kill_unsaved_scheduler, fault_at_s=2.5)),
            asyncio.run(runner.run_round("kill-all", rounds["kill-all"], faults.kill_all, fault_at_s=1.5)),
        ]  # fmt: skip
    finally:
        launcher.stop_all()

    def bad(row):  # the frames that went wrong, with their outcomes, for the failure message
        outcomes = asyncio.run(faults.read_outcomes(kafka_bootstrap, topology)).values()
        return [(o.task_id, o.results, o.dead) for o in outcomes if o.kind not in ("result", "dead letter")]

    for row in rows:
        assert row.frames == 16, row
        assert (row.one_result, row.none, row.duplicated, row.one_dead_letter) == (16, 0, 0, 0), (
            row,
            bad(row),
        )
        assert "timed_out" not in row.notes and "workers_exited" not in row.notes, row
        assert row.notes["restarted"]

    async def saved():
        sink = await KafkaStateStore(kafka_bootstrap, topology.sink_state.name).load("sink")
        sched = await KafkaStateStore(kafka_bootstrap, topology.scheduler_state.name).load("scheduler")
        return sink, sched

    sink_bytes, sched_bytes = asyncio.run(saved())
    sink = LiveMetrics()
    sink.restore(sink_bytes)
    assert sink.count == 32  # across two sink restarts, each task once
    header, _ = decode_state(sched_bytes)
    assert header["feedbacks"] == 32 and header["pending"] == []  # no feedback lost or doubled
    assert header["decisions"] == 32


def test_a_dead_letter_that_cannot_be_written_stops_the_worker_unacked(
    tmp_path, kafka_bootstrap, settings, topology_factory
):
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from cdio_stream.data.replay import create_frame_producer
    from cdio_stream.kafka.admin import topic_configs
    from cdio_stream.messages import Frame, FrameMeta, encode_frame

    topics_file = small_topics_file(tmp_path)
    topology = topology_factory(topics_file, create=False)

    async def setup() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            new = []
            for spec, cfg in topic_configs(topology):
                if spec.name == topology.dead_letter.name:
                    cfg = {**cfg, "max.message.bytes": "2000"}  # the broker refuses every dead letter
                new.append(
                    NewTopic(spec.name, spec.partitions, topology.replication_factor, topic_configs=cfg)
                )
            await admin.create_topics(new)
        finally:
            await admin.close()
        producer = create_frame_producer(kafka_bootstrap, topology)
        await producer.start()
        try:
            _, headers = encode_frame(
                Frame(FrameMeta("cam", 1, 0.0, 60.0, 0.4), b"\xff\xd8" + b"\x00" * 100 + b"\xff\xd9")
            )
            meta = await producer.send_and_wait(
                topology.frames.name, b"not a jpeg" * 500, key=b"cam", headers=headers, partition=0
            )
        finally:
            await producer.stop()
        return meta.offset

    bad_offset = asyncio.run(setup())
    run_settings = replace(
        settings,
        bootstrap=kafka_bootstrap,
        topics_file=topics_file,
        topic_prefix=topology.prefix,
        torch_threads=1,
    )
    launcher = Launcher(run_settings, tmp_path / "logs")
    wp = launcher.start(WorkerSpec(PreprocessOptions()))
    try:
        code = wp.proc.wait(timeout=240)
    finally:
        launcher.stop_all()
    log_text = wp.log_text()
    assert code != 0, log_text[-2000:]
    assert "could not write the dead letter" in log_text and "after 5 attempts" in log_text

    async def committed() -> int | None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap, group_id=f"{topology.prefix}preprocess"
        )
        await consumer.start()
        try:
            return await consumer.committed(TopicPartition(topology.frames.name, 0))
        finally:
            await consumer.stop()

    offset = asyncio.run(committed())
    assert offset is None or offset <= bad_offset  # the frame is read again on the next start
