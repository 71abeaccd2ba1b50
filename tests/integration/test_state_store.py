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

    def test_end_offsets_and_read_from_positions(self, kafka_bootstrap, topology_factory):
        topology = topology_factory()
        topic = topology.results.name  # 4 partitions

        async def scenario():
            store = KafkaStateStore(kafka_bootstrap, topology.scheduler_state.name)
            await store.start()
            try:
                for i in range(6):
                    await store._producer.send_and_wait(topic, b"a%d" % i, partition=i % 2)
                ends = await store.end_offsets([topic])
                for i in range(4):
                    await store._producer.send_and_wait(topic, b"b%d" % i, partition=i % 2)
                after = await store.read([topic], starts=ends)
                everything = await store.read([topic])
            finally:
                await store.stop()
            return ends, after, everything

        ends, after, everything = asyncio.run(scenario())
        assert ends == {f"{topic}/0": 3, f"{topic}/1": 3, f"{topic}/2": 0, f"{topic}/3": 0}
        assert sorted(r.value for r in after) == [b"b0", b"b1", b"b2", b"b3"]
        assert len(everything) == 10
