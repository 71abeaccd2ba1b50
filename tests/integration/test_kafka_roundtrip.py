"""The foundation's promise: a real broker, the topics of topics.yaml, frames in and out intact."""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from cdio_stream.kafka.admin import create_topics
from cdio_stream.messages import Frame, FrameMeta, decode_frame, encode_frame

pytestmark = pytest.mark.kafka


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, size=(54, 96, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


class TestTopics:
    def test_all_topics_created_with_partitions_and_idempotent(self, kafka_bootstrap, topology_factory):
        topology = topology_factory()

        async def describe():
            admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
            await admin.start()
            try:
                return await admin.describe_topics([t.name for t in topology.all_topics()])
            finally:
                await admin.close()

        described = {d["topic"]: d for d in asyncio.run(describe())}
        for spec in topology.all_topics():
            assert described[spec.name]["error_code"] == 0, spec.name
            assert len(described[spec.name]["partitions"]) == spec.partitions, spec.name
        again = asyncio.run(create_topics(kafka_bootstrap, topology))
        assert again.created == ()
        assert set(again.existing) == {t.name for t in topology.all_topics()}


class TestFrameRoundTrip:
    N = 50

    def test_frames_produced_and_consumed_back_intact(self, kafka_bootstrap, topology_factory):
        topology = topology_factory()
        sent = [
            Frame(
                meta=FrameMeta(
                    stream_id=f"cam-{i % 3}",
                    frame_no=i,
                    capture_time=time.time(),
                    a_req=50 + i % 30,
                    d_req=0.2 + (i % 5) * 0.1,
                    gt_ref=f"MVI_0000{i % 3}/{i}",
                ),
                jpeg=_jpeg(i),
            )
            for i in range(self.N)
        ]

        async def roundtrip():
            producer = AIOKafkaProducer(
                bootstrap_servers=kafka_bootstrap, max_request_size=topology.max_message_bytes
            )
            await producer.start()
            try:
                wire = []
                for f in sent:
                    value, headers = encode_frame(f, topology.max_frame_bytes)
                    wire.append((value, headers))
                    await producer.send(
                        topology.frames.name, value, key=f.meta.stream_id.encode(), headers=headers
                    )
                await producer.flush()
            finally:
                await producer.stop()
            consumer = AIOKafkaConsumer(
                topology.frames.name,
                bootstrap_servers=kafka_bootstrap,
                auto_offset_reset="earliest",
                group_id=f"{topology.prefix}roundtrip",
            )
            await consumer.start()
            got = []
            try:
                deadline = time.monotonic() + 30
                while len(got) < self.N and time.monotonic() < deadline:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        got.extend(records)
            finally:
                await consumer.stop()
            return wire, got

        wire, got = asyncio.run(roundtrip())
        assert len(got) == self.N
        by_no = {}
        for rec in got:
            frame = decode_frame(rec.value, rec.headers, topology.max_frame_bytes)
            by_no[frame.meta.frame_no] = (rec, frame)
        assert sorted(by_no) == list(range(self.N))
        for i, original in enumerate(sent):
            rec, frame = by_no[i]
            assert rec.value == wire[i][0] == original.jpeg  # bytes equal
            assert list(rec.headers) == wire[i][1]  # headers equal
            assert frame == original
