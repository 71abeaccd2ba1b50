from __future__ import annotations

import asyncio

import pytest

from cdio_stream.kafka.state_store import KafkaStateStore

pytestmark = pytest.mark.kafka


class TestKafkaStateStore:
    def test_latest_snapshot_per_key_survives_a_new_store(self, kafka_bootstrap, topology_factory):
        topic = topology_factory().scheduler_state.name

        async def scenario():
            store = KafkaStateStore(kafka_bootstrap, topic)
            assert await store.load("policy") is None  # empty topic
            await store.start()
            try:
                for i in range(5):
                    await store.save("policy", b"state-%d" % i)
                await store.save("other", b"x" * 100_000)
            finally:
                await store.stop()
            fresh = KafkaStateStore(kafka_bootstrap, topic)  # as after a restart
            return await fresh.load("policy"), await fresh.load("other"), await fresh.load("missing")

        policy, other, missing = asyncio.run(scenario())
        assert policy == b"state-4"
        assert other == b"x" * 100_000
        assert missing is None
