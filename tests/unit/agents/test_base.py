"""agents.base.OutTopic: records go straight to the app's producer (no broker)."""

from __future__ import annotations

import asyncio
import logging

from agents.base import out_topic


class FakeProducer:
    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[tuple] = []
        self.fail = fail

    async def send(self, topic, key, value, partition, timestamp, headers):
        self.sent.append((topic, key, value, partition, timestamp, headers))
        delivery = asyncio.get_running_loop().create_future()
        if self.fail is None:
            delivery.set_result("metadata")
        else:
            delivery.set_exception(self.fail)
        return delivery


class FakeApp:
    def __init__(self, producer: FakeProducer) -> None:
        self.producer = producer


class TestOutTopic:
    def test_hands_the_record_to_the_producer_with_headers_as_a_list(self):
        producer = FakeProducer()
        topic = out_topic(FakeApp(producer), "cdio.tasks")

        async def go():
            await topic.send(key=b"cam-1", value=b"\xff\xd8..\xff\xd9", headers=(("cdio", b"{}"),))
            await topic.send(key=None, value=b"x")

        asyncio.run(go())
        assert producer.sent == [
            ("cdio.tasks", b"cam-1", b"\xff\xd8..\xff\xd9", None, None, [("cdio", b"{}")]),
            ("cdio.tasks", None, b"x", None, None, None),
        ]

    def test_a_record_the_producer_gives_up_on_is_logged(self, caplog):
        topic = out_topic(FakeApp(FakeProducer(fail=RuntimeError("broker gone"))), "cdio.results")

        async def go():
            await topic.send(key=b"k", value=b"v")
            await asyncio.sleep(0)  # the delivery callback runs

        with caplog.at_level(logging.ERROR, logger="cdio.agents"):
            asyncio.run(go())
        assert "cdio.results" in caplog.text and "broker gone" in caplog.text
