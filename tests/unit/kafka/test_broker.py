from __future__ import annotations

import pytest

from cdio_stream.errors import BrokerError
from cdio_stream.kafka.broker import LocalKafkaBroker


class TestLocalBrokerConfig:
    def test_properties_are_single_node_kraft_for_tests(self, tmp_path):
        b = LocalKafkaBroker(tmp_path)
        b.workdir = tmp_path
        props = dict(line.split("=", 1) for line in b._properties(9092, 9093).splitlines())
        assert props["process.roles"] == "broker,controller"
        assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
        assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
        assert props["offsets.topic.replication.factor"] == "1"
        assert props["group.initial.rebalance.delay.ms"] == "0"

    def test_bootstrap_before_start_is_an_error(self, tmp_path):
        with pytest.raises(BrokerError, match="not running"):
            _ = LocalKafkaBroker(tmp_path).bootstrap
