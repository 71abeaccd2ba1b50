"""``cdio-stream topics``: show or provision the topics declared in topics.yaml."""

from __future__ import annotations

import argparse
import asyncio

from cdio_stream.errors import ConfigError
from cdio_stream.settings import Settings

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("topics", help="list or create the topics of topics.yaml")
    p.add_argument(
        "action", choices=["list", "create"], help="list: print them; create: provision (idempotent)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cdio_stream.kafka.admin import topic_configs

    topology = settings.topology()
    if args.action == "list":
        for spec, cfg in topic_configs(topology):
            extra = " ".join(f"{k}={v}" for k, v in cfg.items())
            print(f"{spec.name:40s} partitions={spec.partitions} {extra}")
        return 0
    if not settings.bootstrap:
        raise ConfigError("topics create needs a broker: pass --bootstrap or set CDIO_KAFKA_BOOTSTRAP")
    from cdio_stream.kafka.admin import create_topics

    report = asyncio.run(create_topics(settings.bootstrap, topology))
    for name in report.created:
        print(f"created  {name}")
    for name in report.existing:
        print(f"exists   {name}")
    return 0
