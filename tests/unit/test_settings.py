from __future__ import annotations

from pathlib import Path

import pytest

from cdio_stream.cli import build_parser
from cdio_stream.errors import ConfigError
from cdio_stream.settings import Settings


class TestSettings:
    def test_env_then_flags(self):
        env = {"CDIO_KAFKA_BOOTSTRAP": "k:9092", "CDIO_LOG_LEVEL": "debug", "CDIO_TORCH_THREADS": "3"}
        s = Settings.from_env(env)
        assert (s.bootstrap, s.log_level, s.torch_threads) == ("k:9092", "DEBUG", 3)
        args = build_parser().parse_args(
            ["--bootstrap", "other:1", "--cache-dir", "/tmp/c", "topics", "list"]
        )
        s2 = Settings.from_args(args, env)
        assert s2.bootstrap == "other:1"
        assert s2.cache_dir == Path("/tmp/c")
        assert s2.torch_threads == 3

    def test_offline_and_weights_dir(self):
        s = Settings.from_env({"CDIO_CACHE_DIR": "/tmp/c"})
        assert s.offline is False and s.weights_dir == Path("/tmp/c/weights")
        s = Settings.from_env({"CDIO_OFFLINE": "1", "CDIO_WEIGHTS_DIR": "/w"})
        assert s.offline is True and s.weights_dir == Path("/w")
        args = build_parser().parse_args(["--offline", "--weights-dir", "/x", "topics", "list"])
        s = Settings.from_args(args, {})
        assert s.offline is True and s.weights_dir == Path("/x")
        with pytest.raises(ConfigError, match="CDIO_OFFLINE must be 1 or 0"):
            Settings.from_env({"CDIO_OFFLINE": "maybe"})

    def test_bad_env_named(self):
        with pytest.raises(ConfigError, match="CDIO_TORCH_THREADS"):
            Settings.from_env({"CDIO_TORCH_THREADS": "many"})
        with pytest.raises(ConfigError, match="log level"):
            Settings.from_env({"CDIO_LOG_LEVEL": "LOUD"})
