"""Camera gateways on generated video files, through the real throwaway broker."""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer

from cdio_stream.cli import main
from cdio_stream.data.camera import CameraConfig, CameraGateway, run_gateways
from cdio_stream.data.replay import create_frame_producer
from cdio_stream.data.synth import SynthConfig, write_video
from cdio_stream.messages import decode_frame

pytestmark = pytest.mark.kafka

N = 25


async def _consume(bootstrap: str, topic: str, n: int, timeout: float = 30.0):
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < n and time.monotonic() < deadline:
            for recs in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(recs)
        for recs in (await consumer.getmany(timeout_ms=300)).values():  # nothing more may follow
            records.extend(recs)
    finally:
        await consumer.stop()
    return records


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("cams")
    return [
        write_video(
            root / f"cam{i}.avi", SynthConfig(sequences=1, frames=N, width=320, height=180, seed=10 + i)
        )
        for i in range(2)
    ]


class TestCameraGateway:
    def test_video_file_published_as_resized_jpeg_with_requirements(
        self, kafka_bootstrap, topology_factory, videos
    ):
        topology = topology_factory()
        cfg = CameraConfig(source=str(videos[0]), size=(160, 90), jpeg_quality=80, fps=100.0)
        [stats] = asyncio.run(run_gateways([cfg], bootstrap=kafka_bootstrap, topology=topology))
        assert stats.stream_id == "cam0" and stats.captured == N
        assert stats.sent + stats.dropped == N and stats.sent == stats.delivered > 0
        assert stats.failed == stats.skipped == stats.reconnects == 0
        assert stats.max_in_flight_seen <= cfg.max_in_flight

        records = asyncio.run(_consume(kafka_bootstrap, topology.frames.name, stats.sent))
        frames = [decode_frame(r.value, r.headers, topology.max_frame_bytes) for r in records]
        assert len(frames) == stats.sent
        nums = [f.meta.frame_no for f in frames]
        assert nums == sorted(set(nums)) and nums[-1] == N  # in order, no repeats, the last frame sent
        for rec, f in zip(records, frames, strict=True):
            assert rec.key == b"cam0" and f.meta.gt_ref is None
            assert 50.0 <= f.meta.a_req <= 80.0 and 0.2 <= f.meta.d_req <= 0.6
            img = cv2.imdecode(np.frombuffer(f.jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert img.shape == (90, 160, 3)
        times = [f.meta.capture_time for f in frames]
        assert times == sorted(times)

    def test_stalled_uplink_drops_old_frames_and_sends_the_newest(
        self, kafka_bootstrap, topology_factory, videos
    ):
        topology = topology_factory()
        # a real-time camera (25 fps); the uplink takes one frame at a time
        cfg = CameraConfig(source=str(videos[1]), stream_id="stalled", max_in_flight=1)
        gateway: CameraGateway

        async def stall_after_three() -> None:
            # the uplink hangs after three frames until the camera has delivered every frame
            if gateway.stats.sent >= 3:
                while gateway.progress().captured < N:
                    await asyncio.sleep(0.01)

        gateway = CameraGateway(cfg, topology, before_send=stall_after_three)

        async def go():
            producer = create_frame_producer(kafka_bootstrap, topology)
            await producer.start()
            try:
                return await gateway.run(producer, asyncio.Event())
            finally:
                await producer.stop()

        stats = asyncio.run(go())
        # nothing queued behind the stall: one slot held the newest frame, the others were dropped
        assert stats.captured == N and stats.sent + stats.dropped == N
        assert 2 <= stats.sent <= 4 and stats.dropped >= N - 4
        assert stats.delivered == stats.sent and stats.max_in_flight_seen == 1
        records = asyncio.run(_consume(kafka_bootstrap, topology.frames.name, stats.sent))
        nums = [decode_frame(r.value, r.headers).meta.frame_no for r in records]
        assert len(nums) == stats.sent and nums == sorted(nums)
        assert nums[-1] == N  # after the stall the newest frame went out, not the next old one
        assert nums[-2] < N - 1  # and frames captured during the stall never left the camera

    def test_two_gateways_side_by_side(self, kafka_bootstrap, topology_factory, videos):
        topology = topology_factory()
        configs = [
            CameraConfig(
                source=str(videos[0]), stream_id="north", realtime=False, max_in_flight=4, stream_index=0
            ),
            CameraConfig(
                source=str(videos[1]), stream_id="south", realtime=False, max_in_flight=4, stream_index=1
            ),
        ]
        stats = asyncio.run(run_gateways(configs, bootstrap=kafka_bootstrap, topology=topology))
        assert [s.stream_id for s in stats] == ["north", "south"]
        assert all(s.captured == N and s.sent == s.delivered and s.sent + s.dropped == N for s in stats)
        records = asyncio.run(_consume(kafka_bootstrap, topology.frames.name, sum(s.sent for s in stats)))
        per_stream: dict[str, list[int]] = {}
        for r in records:
            meta = decode_frame(r.value, r.headers).meta
            assert r.key == meta.stream_id.encode()
            per_stream.setdefault(meta.stream_id, []).append(meta.frame_no)
        assert {k: len(v) for k, v in per_stream.items()} == {s.stream_id: s.sent for s in stats}
        assert all(v == sorted(v) and v[-1] == N for v in per_stream.values())


class TestCameraCommand:
    def test_camera_command_on_a_file(self, kafka_bootstrap, topology_factory, videos, capsys):
        topology = topology_factory()
        args = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topology.prefix, "camera", str(videos[0])]
        rc = main(args + ["--stream-id", "gate-1", "--no-realtime", "--size", "160x90", "--max-frames", "10"])
        assert rc == 0
        out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if x.startswith("gate-1"))
        assert "captured=10" in line and "failed=0" in line
        sent = int(line.split("sent=")[1].split()[0])
        records = asyncio.run(_consume(kafka_bootstrap, topology.frames.name, sent))
        assert len(records) == sent and {r.key for r in records} == {b"gate-1"}

    def test_mismatched_stream_ids_are_rejected(self, kafka_bootstrap, videos, capsys):
        rc = main(
            ["--bootstrap", kafka_bootstrap, "camera", str(videos[0]), "--stream-id", "a", "--stream-id", "b"]
        )
        assert rc == 2 and "2 --stream-id for 1 sources" in capsys.readouterr().err
