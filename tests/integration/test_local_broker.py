from __future__ import annotations

import socket

import pytest

from cdio_stream.errors import BrokerError
from cdio_stream.kafka import broker as broker_module
from cdio_stream.kafka.broker import LocalKafkaBroker

pytestmark = pytest.mark.kafka


class TestLocalBrokerFailures:
    def test_jvm_exit_fails_fast_with_the_broker_log(self, settings, monkeypatch):
        # Hold the port the broker will be told to use: the JVM cannot bind it and exits.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            ports = iter([port, broker_module.free_port()])
            monkeypatch.setattr(broker_module, "free_port", lambda: next(ports))
            broker = LocalKafkaBroker(settings.cache_dir, start_timeout_s=60)
            with pytest.raises(BrokerError) as info:
                broker.start()
        message = str(info.value)
        assert "exited with code" in message
        assert "Address already in use" in message or "BindException" in message, message[-2000:]
        assert broker.workdir is None  # temporary directory removed


class TestBrokerFaults:
    def test_killed_broker_restarts_on_its_log_dir(self, settings):
        import asyncio

        from aiokafka import AIOKafkaProducer

        from cdio_stream.kafka.state_store import KafkaStateStore

        async def produce(bootstrap: str, value: bytes) -> None:
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
            await producer.start()
            try:
                await producer.send_and_wait("kept", value)
            finally:
                await producer.stop()

        with LocalKafkaBroker(settings.cache_dir) as broker:
            asyncio.run(produce(broker.bootstrap, b"before"))
            port = broker.port
            broker.kill()
            broker.restart()
            assert broker.port == port
            asyncio.run(produce(broker.bootstrap, b"after"))
            records = asyncio.run(KafkaStateStore(broker.bootstrap, "kept").read(["kept"]))
        assert [r.value for r in records] == [b"before", b"after"]
