"""``cdio-stream calibrate`` publishes to the compacted calibration topic on a real broker,
two nodes' runs merge there, and the scheduler reads the result at start."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from agents.scheduler import SchedulerOptions, scheduler_stage
from cdio_stream.cli import main
from cdio_stream.cli.deployment import WorkerSpec
from cdio_stream.errors import ConfigError
from cdio_stream.kafka.calibration_topic import CALIBRATION_KEY, resolve_calibration
from cdio_stream.kafka.state_store import KafkaStateStore
from cdio_stream.pipeline.launcher import Launcher
from cdio_stream.settings import Settings

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


def tiny_deployment(tmp: Path) -> tuple[Path, Path]:
    registry = tmp / "models.yaml"
    registry.write_text(
        "models:\n  tiny-edge: {arch: yolov5n, imgsz: 64}\n  tiny-cloud: {arch: yolov5n, imgsz: 96}\n"
    )
    raw = yaml.safe_load((ROOT / "topics.yaml").read_text())
    raw["servers"] = [
        {"id": "edge-1", "tier": "edge", "model": "tiny-edge", "device": "jetson-xavier-nx"},
        {"id": "cloud", "tier": "cloud", "model": "tiny-cloud", "device": "a100-40gb"},
    ]
    topics = tmp / "topics.yaml"
    topics.write_text(yaml.safe_dump(raw))
    return topics, registry


def test_calibrate_publishes_nodes_merge_and_the_scheduler_reads_it(
    kafka_bootstrap, topology_factory, detrac_sample, tmp_path
):
    topics, registry = tiny_deployment(tmp_path)
    topology = topology_factory(topics)
    common = ["--topics", str(topics), "--topic-prefix", topology.prefix, "--bootstrap", kafka_bootstrap,
              "--cache-dir", str(tmp_path / "cache"), "--torch-threads", "2", "--offline"]  # fmt: skip
    settings = Settings(bootstrap=kafka_bootstrap, topics_file=topics, topic_prefix=topology.prefix)
    assert resolve_calibration(settings, topology).complexity_edges == (
        0.0033,
        0.0043,
        0.0075,
    )  # empty topic

    # Each node calibrates its own server and publishes; the second run keeps the first's entry.
    for server in ("edge-1", "cloud"):
        argv = [*common, "calibrate", str(detrac_sample), "--models", str(registry), "--server", server]
        assert main(argv) == 0
    cal = resolve_calibration(settings, topology)
    assert set(cal.servers) == {"edge-1", "cloud"} and set(cal.models) == {"tiny-edge", "tiny-cloud"}
    assert cal.complexity_frames > 0 and cal.complexity_edges != (0.0033, 0.0043, 0.0075)
    stage = scheduler_stage(topology, SchedulerOptions(policy="sniper", reference_rate=0.0), cal)
    assert stage.policy.params()["inference_s"] == {s.id: cal.inference_s(s) for s in topology.servers}
    assert all(v > 0 for v in stage.policy.params()["inference_s"].values())

    # The scheduler worker reads the topic before its Faust worker starts, and still starts.
    launcher = Launcher(replace(settings, cache_dir=tmp_path / "cache", offline=True), tmp_path / "logs")
    worker = launcher.start(WorkerSpec(SchedulerOptions(policy="sniper", reference_rate=0.0)))
    try:
        launcher.wait_ready(timeout_s=240)
        assert f"calibration from the topic {topology.calibration.name}" in worker.log_text()
    finally:
        launcher.stop_all()

    # A record that does not decode stops the scheduler with one line naming the topic.
    async def publish_garbage():
        store = KafkaStateStore(kafka_bootstrap, topology.calibration.name)
        await store.start()
        try:
            await store.save(CALIBRATION_KEY, b'{"version": 7}')
        finally:
            await store.stop()

    asyncio.run(publish_garbage())
    with pytest.raises(
        ConfigError, match=f"calibration topic {topology.calibration.name}: version 7 is not 1"
    ):
        resolve_calibration(settings, topology)
