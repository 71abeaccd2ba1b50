"""One settings object, built once in ``main()`` and passed down.

Sources, later ones winning: built-in defaults, ``CDIO_*`` environment variables,
command-line flags. Nothing in the library reads ``os.environ`` at import time.

| setting        | env var                 | flag            | default                        |
|----------------|-------------------------|-----------------|--------------------------------|
| bootstrap      | CDIO_KAFKA_BOOTSTRAP    | --bootstrap     | none (start a local broker)    |
| topics_file    | CDIO_TOPICS             | --topics        | ./topics.yaml, else packaged   |
| topic_prefix   | CDIO_TOPIC_PREFIX       | --topic-prefix  | the prefix in topics.yaml      |
| cache_dir      | CDIO_CACHE_DIR          | --cache-dir     | ~/.cache/cdio-stream           |
| log_level      | CDIO_LOG_LEVEL          | --log-level     | INFO                           |
| torch_threads  | CDIO_TORCH_THREADS      | --torch-threads | number of CPU cores            |
| offline        | CDIO_OFFLINE (1/0)      | --offline       | off: fetch pretrained weights  |
| weights_dir    | CDIO_WEIGHTS_DIR        | --weights-dir   | <cache_dir>/weights            |

``offline`` keeps every model download off (tests and CI set it): pretrained weights must
then already be in ``weights_dir``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from cdio_stream.errors import ConfigError
from cdio_stream.topology import Topology, load_topology

__all__ = ["Settings", "default_topics_file"]

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def default_topics_file() -> Path:
    """``./topics.yaml`` when present, else the copy shipped in the repository root."""
    local = Path.cwd() / "topics.yaml"
    if local.is_file():
        return local
    return Path(__file__).resolve().parent.parent / "topics.yaml"


@dataclass(frozen=True)
class Settings:
    bootstrap: str | None = None
    topics_file: Path | None = None
    topic_prefix: str | None = None
    cache_dir: Path = Path("~/.cache/cdio-stream").expanduser()
    log_level: str = "INFO"
    torch_threads: int = os.cpu_count() or 1
    offline: bool = False
    weights_dir_override: Path | None = None

    @property
    def topics_path(self) -> Path:
        return self.topics_file or default_topics_file()

    @property
    def weights_dir(self) -> Path:
        """Where pretrained checkpoints are looked for and downloaded to."""
        return self.weights_dir_override or self.cache_dir / "weights"

    def topology(self) -> Topology:
        """topics.yaml, validated, with the prefix override applied."""
        topology = load_topology(self.topics_path)
        return topology if self.topic_prefix is None else topology.with_prefix(self.topic_prefix)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        s = cls()
        if env.get("CDIO_KAFKA_BOOTSTRAP"):
            s = replace(s, bootstrap=env["CDIO_KAFKA_BOOTSTRAP"])
        if env.get("CDIO_TOPICS"):
            s = replace(s, topics_file=Path(env["CDIO_TOPICS"]))
        if env.get("CDIO_TOPIC_PREFIX") is not None:
            s = replace(s, topic_prefix=env["CDIO_TOPIC_PREFIX"])
        if env.get("CDIO_CACHE_DIR"):
            s = replace(s, cache_dir=Path(env["CDIO_CACHE_DIR"]).expanduser())
        if env.get("CDIO_LOG_LEVEL"):
            s = replace(s, log_level=env["CDIO_LOG_LEVEL"].upper())
        if env.get("CDIO_TORCH_THREADS"):
            s = replace(s, torch_threads=_positive_int("CDIO_TORCH_THREADS", env["CDIO_TORCH_THREADS"]))
        if env.get("CDIO_OFFLINE"):
            s = replace(s, offline=_flag("CDIO_OFFLINE", env["CDIO_OFFLINE"]))
        if env.get("CDIO_WEIGHTS_DIR"):
            s = replace(s, weights_dir_override=Path(env["CDIO_WEIGHTS_DIR"]).expanduser())
        return s.validated()

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("global settings (also CDIO_* environment variables)")
        g.add_argument("--bootstrap", help="Kafka bootstrap servers (env CDIO_KAFKA_BOOTSTRAP)")
        g.add_argument("--topics", type=Path, help="topics.yaml to use (env CDIO_TOPICS)")
        g.add_argument(
            "--topic-prefix", help="override the topic prefix of topics.yaml (env CDIO_TOPIC_PREFIX)"
        )
        g.add_argument("--cache-dir", type=Path, help="cache for Kafka jars, models (env CDIO_CACHE_DIR)")
        g.add_argument("--log-level", choices=_LOG_LEVELS, help="log level (env CDIO_LOG_LEVEL)")
        g.add_argument("--torch-threads", type=int, help="torch CPU threads (env CDIO_TORCH_THREADS)")
        g.add_argument(
            "--offline",
            action="store_true",
            default=None,
            help="never download model weights (env CDIO_OFFLINE=1)",
        )
        g.add_argument("--weights-dir", type=Path, help="pretrained weights folder (env CDIO_WEIGHTS_DIR)")

    @classmethod
    def from_args(cls, args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
        s = cls.from_env(env)
        if getattr(args, "bootstrap", None):
            s = replace(s, bootstrap=args.bootstrap)
        if getattr(args, "topics", None):
            s = replace(s, topics_file=args.topics)
        if getattr(args, "topic_prefix", None) is not None:
            s = replace(s, topic_prefix=args.topic_prefix)
        if getattr(args, "cache_dir", None):
            s = replace(s, cache_dir=args.cache_dir.expanduser())
        if getattr(args, "log_level", None):
            s = replace(s, log_level=args.log_level)
        if getattr(args, "torch_threads", None):
            s = replace(s, torch_threads=args.torch_threads)
        if getattr(args, "offline", None):
            s = replace(s, offline=True)
        if getattr(args, "weights_dir", None):
            s = replace(s, weights_dir_override=args.weights_dir.expanduser())
        return s.validated()

    def validated(self) -> Settings:
        if self.log_level not in _LOG_LEVELS:
            raise ConfigError(f"log level must be one of {', '.join(_LOG_LEVELS)}, got {self.log_level!r}")
        if self.torch_threads < 1:
            raise ConfigError(f"torch_threads must be >= 1, got {self.torch_threads}")
        return self


def _flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be 1 or 0, got {text!r}")


def _positive_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {text!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be >= 1, got {value}")
    return value
