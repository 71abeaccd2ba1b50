"""The live dashboard of a real sink worker on the real broker, and in a real browser.

1. A sink worker alone: results, frames and dead letters published by hand show up in its
   snapshot, its frames are served, and the consumer lag of the pipeline's groups is read.
2. The whole pipeline (preprocess, scheduler, edge-1 + cloud inference, sink) with headless
   Chromium on the page: the numbers the page shows equal the sink's own Prometheus
   metrics and an independent read of the results topic, and every stream's frame renders
   with its detections. The screenshot is kept in ``$CDIO_TEST_ARTIFACTS`` (default
   ``test-artifacts/``) as ``dashboard.png``.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from agents.sink import SinkOptions
from cdio_stream.cli.deployment import WorkerSpec, pipeline_workers
from cdio_stream.data.replay import create_frame_producer
from cdio_stream.messages import (
    Costs,
    Detection,
    EstimateRow,
    Frame,
    FrameMeta,
    PolicyView,
    Result,
    Timings,
    decode_policy_view,
    encode_frame,
    encode_policy_view,
    encode_result,
)
from cdio_stream.pipeline.dead_letter import dead_letter
from cdio_stream.pipeline.launcher import Launcher
from cdio_stream.pipeline.run import ResultCollector
from tests.integration.chromium import Chromium, find_chromium
from tests.integration.test_pipeline import publish, small_pipeline, synth

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CDIO_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read()


def snapshot(base: str) -> dict:
    return orjson.loads(get(base + "api/snapshot"))


def wait_for_url(launcher: Launcher, name: str = "sink", timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    while (url := launcher.workers[name].dashboard_url) is None:
        launcher.check()
        assert time.monotonic() < deadline, f"{name} printed no dashboard URL"
        time.sleep(0.2)
    return url


def wait_until(what: str, fn, timeout_s: float = 120.0, check=None):
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value:
            return value
        if check is not None:
            check()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def prometheus(url: str) -> dict[tuple[str, tuple], float]:
    """The sink's /metrics as {(name, labels): value}."""
    out = {}
    for family in text_string_to_metric_families(get(url).decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def jpeg(seed: int) -> bytes:
    img = np.random.default_rng(seed).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


class TestSinkDashboard:
    def test_results_frames_dead_letters_and_lag(self, tmp_path, kafka_bootstrap, settings, topology_factory):
        topology = topology_factory()
        run_settings = replace(settings, bootstrap=kafka_bootstrap, topic_prefix=topology.prefix)
        launcher = Launcher(run_settings, tmp_path / "logs")
        try:
            launcher.start(WorkerSpec(SinkOptions(dashboard_port=0)))
            launcher.wait_ready(timeout_s=120)
            base = wait_for_url(launcher)
            assert snapshot(base)["run"]["tasks"] == 0

            frames = {f"cam-{s}/{n}": jpeg(10 * s + n) for s in (1, 2) for n in (1, 2)}

            async def produce():
                producer = create_frame_producer(kafka_bootstrap, topology)
                await producer.start()
                try:
                    for task_id, data in frames.items():
                        stream, n = task_id.split("/")
                        value, headers = encode_frame(
                            Frame(FrameMeta(stream, int(n), time.time(), 60.0, 0.4), data)
                        )
                        await producer.send_and_wait(
                            topology.frames.name, value, key=stream.encode(), headers=headers
                        )
                    for task_id in frames:
                        stream, n = task_id.split("/")
                        server = "cloud" if stream == "cam-2" else "edge-1"
                        r = Result(
                            task_id, stream, int(n), server, "cloud" if server == "cloud" else "edge", server,
                            60.0, 0.4, 5000, (Detection((1.0, 2.0, 30.0, 40.0), 0, 0.8),), 65.0,
                            Timings(inference=0.1), Costs(1.0, 1e6, 2.0), time.time(),
                        )  # fmt: skip
                        await producer.send_and_wait(
                            topology.results.name, encode_result(r), key=stream.encode()
                        )
                    value, headers = dead_letter(b"junk", [], reason="frame: not a JPEG", stage="preprocess",
                                                 source_topic=topology.frames.name)  # fmt: skip
                    await producer.send_and_wait(topology.dead_letter.name, value, headers=headers)
                finally:
                    await producer.stop()

            asyncio.run(produce())
            snap = wait_until(
                "4 results, both streams' newest frame and a dead letter",
                lambda: (
                    (s := snapshot(base))["run"]["tasks"] == 4
                    and [x["frame"] and x["frame"]["frame_no"] for x in s["streams"]] == [2, 2]
                    and s["dead_letters"]
                    and s
                ),
                check=launcher.check,
            )
            assert snap["dead_letters"] == [
                {"stage": "preprocess", "reason": "frame: not a JPEG", "count": 1}
            ]
            servers = {s["id"]: s for s in snap["servers"]}
            assert servers["edge-1"]["tasks"] == 2 and servers["cloud"]["tasks"] == 2
            assert servers["edge-2"]["tasks"] == 0 and servers["edge-2"]["share"] == 0
            assert snap["run"]["wan_bytes_per_task"] == pytest.approx(5000 * 2 / 4)
            shown = snap["streams"][1]["frame"]
            assert shown["server_id"] == "cloud" and shown["accuracy_met"] is True
            assert get(f"{base}frame?stream=cam-2&task=cam-2%2F2") == frames["cam-2/2"]

            # Lag: the sink's own group catches up on results; nobody consumes the frames here.
            lag = wait_until(
                "the lag table",
                lambda: {(x["topic"], x["group"]): x["lag"] for x in snapshot(base)["lag"]} or None,
                check=launcher.check,
            )
            assert lag[(topology.frames.name, topology.worker_group("preprocess"))] == 4
            assert lag[(topology.results.name, topology.worker_group("scheduler"))] == 4
            assert (
                topology.assignment_topic("cloud").name,
                topology.worker_group("inference", "cloud"),
            ) in lag
            wait_until(
                "the sink's committed results offset",
                lambda: (
                    {(x["topic"], x["group"]): x["lag"] for x in snapshot(base)["lag"]}[
                        (topology.results.name, topology.worker_group("sink"))
                    ]
                    == 0
                ),
                check=launcher.check,
            )
            assert snapshot(base)["lag_error"] is None

            # A restarted sink: its metrics come back from its state topic, the dead letters and
            # the policy view from the beginning of their topics; old frames are not re-read,
            # and the side topics were never in the sink's consumer group.
            asyncio.run(publish_policy_view(kafka_bootstrap, topology))
            wait_until("the policy view", lambda: snapshot(base)["policy"], check=launcher.check)
            assert launcher.stop("sink") == 0
            launcher.start(WorkerSpec(SinkOptions(dashboard_port=0)))
            launcher.wait_ready(timeout_s=120)
            base = wait_for_url(launcher)
            again = wait_until(
                "the restarted sink's dead letters and policy view",
                lambda: (s := snapshot(base))["dead_letters"] and s["policy"] and s,
                check=launcher.check,
            )
            assert again["run"]["tasks"] == 4
            assert again["dead_letters"] == snap["dead_letters"]
            assert again["policy"]["policy"] == "cdio" and again["policy"]["feedbacks"] == 4
            assert again["streams"] == []  # no frames re-read, no results since the restart
            assert get(f"{base}api/snapshot")  # still serving
            groups = asyncio.run(committed_topics(kafka_bootstrap, topology.worker_group("sink")))
            assert topology.frames.name not in groups and topology.dead_letter.name not in groups
        finally:
            launcher.stop_all()


async def publish_policy_view(bootstrap: str, topology) -> None:
    view = PolicyView("cdio", topology.server_ids, "P(ok)", (EstimateRow("c", (0.5,) * 5, (1,) * 5),), 4, 1.0)
    producer = create_frame_producer(bootstrap, topology)
    await producer.start()
    try:
        await producer.send_and_wait(topology.policy_view.name, encode_policy_view(view), key=b"policy")
    finally:
        await producer.stop()


async def committed_topics(bootstrap: str, group: str) -> set[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {tp.topic for tp in await admin.list_consumer_group_offsets(group)}
    finally:
        await admin.close()


def shown_number(text: str) -> float:
    """A figure as the page shows it: '12.5 %' -> 0.125, '3.1416' -> 3.1416."""
    m = re.fullmatch(r"(-?[0-9.]+)( %)?", text.strip())
    assert m, f"not a number on the page: {text!r}"
    return float(m.group(1)) / (100 if m.group(2) else 1)


def decimals(text: str) -> int:
    digits = text.strip().removesuffix(" %")
    return len(digits.split(".")[1]) if "." in digits else 0


def assert_shown(text: str, expected: float, what: str) -> None:
    """``text`` is ``expected`` rounded to the decimals the page shows."""
    percent = text.strip().endswith("%")
    step = 10 ** -decimals(text) / (100 if percent else 1)
    assert abs(shown_number(text) - expected) <= step / 2 + 1e-9, (
        f"{what}: page shows {text!r}, expected {expected}"
    )


# Page tile -> (Prometheus gauge of the sink, factor from the gauge to what the page shows)
RUN_FIGURES = {
    "tasks": ("cdio_tasks", 1),
    "mean_accuracy": ("cdio_mean_accuracy", 1),
    "acc_success": ("cdio_acc_success", 1),
    "delay_success": ("cdio_delay_success", 1),
    "expired_share": ("cdio_expired_share", 1),
    "served_delay_success": ("cdio_served_delay_success", 1),
    "mean_delay_s": ("cdio_mean_delay_s", 1000),  # shown in ms
    "compute_tflop": ("cdio_compute_tflop", 1),
    "bandwidth_mbps": ("cdio_bandwidth_mbps", 1),
    "energy_j_per_task": ("cdio_energy_j_per_task", 1),
    "cloud_share": ("cdio_cloud_share", 1),
}


class TestDashboardInBrowser:
    def test_page_shows_the_sinks_metrics_and_frames(
        self, tmp_path, kafka_bootstrap, settings, topology_factory
    ):
        chromium = find_chromium()
        topology, run_settings = small_pipeline(tmp_path, kafka_bootstrap, settings, topology_factory)
        dataset = tmp_path / "dataset"
        sequences = synth(dataset, 95001, frames=6)
        metrics_port = free_port()
        launcher = Launcher(run_settings, tmp_path / "logs")
        specs = pipeline_workers(
            topology,
            dataset=dataset,
            sink=SinkOptions(dashboard_port=0, metrics_port=metrics_port),
        )
        try:
            for spec in specs:
                launcher.start(spec)
            launcher.wait_ready(timeout_s=240)
            base = wait_for_url(launcher)

            sent = asyncio.run(publish(kafka_bootstrap, topology, dataset, sequences, corrupt=1))
            collector = ResultCollector(kafka_bootstrap, topology)
            asyncio.run(collector.collect(lambda: sent + 1, timeout_s=240, check=launcher.check))
            assert collector.metrics.count == sent == 12 and len(collector.dead_letters) == 1
            wait_until(
                "the sink to count every result and hold each stream's newest frame",
                lambda: (
                    (s := snapshot(base))["run"]["tasks"] == sent
                    and all(
                        x["frame"] and x["frame"]["frame_no"] == x["latest_frame_no"] for x in s["streams"]
                    )
                ),
                check=launcher.check,
            )

            policy_view = asyncio.run(last_policy_view(kafka_bootstrap, topology, sent))
            page_values, frames, shot = asyncio.run(read_page(chromium, base, sent, tmp_path))
            prom = prometheus(f"http://127.0.0.1:{metrics_port}/metrics")
            snap = snapshot(base)
        finally:
            launcher.stop_all()

        # The whole run: the page equals the sink's Prometheus gauges and the independent collector.
        independent = collector.metrics.summary()
        for tile, (gauge, factor) in RUN_FIGURES.items():
            text = page_values[f"run.{tile}"]
            assert_shown(text, prom[(gauge, ())] * factor, f"{tile} vs the sink's {gauge}")
            assert_shown(text, independent[tile] * factor, f"{tile} vs the results topic")
        assert page_values["run.tasks"] == str(sent)
        assert page_values["run.accuracy_sources"] == "truth 100 %"  # every synthetic frame has ground truth
        # Per server: tasks and share equal the sink's per-server counter.
        for sid in topology.server_ids:
            n = prom.get(("cdio_server_tasks", (("server", sid),)), 0.0)
            assert page_values[f"server.{sid}.tasks"] == str(int(n)) == str(collector.metrics.per_server[sid])
            assert_shown(page_values[f"server.{sid}.share"], n / sent, f"{sid} share")
            # --shed never (the default): nothing expires; a server with results in the window shows 0 %.
            assert page_values[f"server.{sid}.expired_share"] in ("0.0 %", "n/a")
        assert page_values["dead_letters"] == [["preprocess", collector.dead_letters[0].reason, "1"]]
        assert any(row[0] == topology.frames.name for row in page_values["lag"])

        # The bandit's estimates: the page shows the scheduler's last published view, cell by cell.
        assert policy_view.policy == "cdio" and policy_view.rows
        for row in policy_view.rows:
            for sid, value, count in zip(policy_view.servers, row.values, row.counts, strict=True):
                shown, _, n = page_values[f"policy.{row.context}.{sid}"].partition(" (")
                assert n == f"{count})", (row.context, sid)
                if value is None:
                    assert shown == "n/a", (row.context, sid)
                else:
                    assert_shown(shown, value, f"policy {row.context} on {sid}")

        # Frames: each stream's canvas drew the JPEG of the result the snapshot names, with its boxes.
        by_stream = {s["id"]: s["frame"] for s in snap["streams"]}
        assert sorted(frames) == sorted(by_stream) and len(frames) == 2
        for sid, canvas in frames.items():
            assert canvas["task"] == by_stream[sid]["task_id"], sid
            assert (canvas["width"], canvas["height"]) == (480, 270), sid  # the synthetic frames' size
            assert canvas["boxes"] == str(len(by_stream[sid]["detections"])), sid
            assert canvas["pixel_std"] > 5.0, f"{sid}: the canvas is blank"
            assert canvas["error"] is None, sid
        png = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
        assert png is not None and png.shape[1] >= 1000


async def last_policy_view(bootstrap: str, topology, feedbacks: int, timeout_s: float = 60.0):
    """The scheduler's newest policy view on its topic once it has learned from ``feedbacks`` results."""
    consumer = AIOKafkaConsumer(
        topology.policy_view.name, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        group_id=f"{topology.prefix}policy-view-check",
    )  # fmt: skip
    await consumer.start()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for rec in records:
                    view = decode_policy_view(rec.value)
                    if view.feedbacks >= feedbacks:
                        return view
    finally:
        await consumer.stop()
    raise AssertionError(f"no policy view with {feedbacks} feedbacks on {topology.policy_view.name}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


READ_FIGURES = """(() => {
  const values = {};
  for (const el of document.querySelectorAll("[data-metric]")) values[el.dataset.metric] = el.textContent;
  const rows = sel => [...document.querySelectorAll(sel + " tbody tr")].map(tr => [...tr.cells].map(td => td.textContent));
  values.dead_letters = rows("#dead");
  values.lag = rows("#lag");
  return values;
})()"""

READ_FRAMES = """(() => {
  const out = {};
  for (const card of document.querySelectorAll(".stream")) {
    const c = card.querySelector("canvas"), px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let sum = 0, sq = 0, n = 0;
    for (let i = 0; i < px.length; i += 4 * 97) { const v = px[i]; sum += v; sq += v * v; n++; }
    const mean = sum / n;
    out[card.dataset.stream] = {task: c.dataset.renderedTask, boxes: c.dataset.boxes, width: c.width,
      height: c.height, pixel_std: Math.sqrt(sq / n - mean * mean), error: c.dataset.error ?? null};
  }
  return out;
})()"""


async def read_page(chromium: str, base: str, tasks: int, tmp_path: Path):
    async with Chromium(chromium) as page:
        await page.goto(base)
        await page.wait_for(f"document.body.dataset.snapshotTasks === '{tasks}'")
        # Every stream card has drawn the frame its caption names.
        await page.wait_for(
            "(() => { const cs = [...document.querySelectorAll('.stream canvas')];"
            " return cs.length === 2 && cs.every(c => c.dataset.renderedTask); })()"
        )
        await page.wait_for(f"document.getElementById('policy').dataset.feedbacks === '{tasks}'")
        values = await page.evaluate(READ_FIGURES)
        frames = await page.evaluate(READ_FRAMES)
        shot = await page.screenshot(ARTIFACTS / "dashboard.png")
    return values, frames, shot
