"""``cdio-stream broker``: run a local throwaway Kafka broker until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

from cdio_stream.settings import Settings

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "broker",
        help="run a local single-node Kafka broker (KRaft) in the foreground",
        description="Fetch the Kafka jars once (Maven), start a throwaway KRaft broker on a free loopback "
        "port, print its bootstrap address, and remove everything on Ctrl-C.",
    )
    p.add_argument("--create-topics", action="store_true", help="also create the topics of topics.yaml")
    p.add_argument("--fetch-only", action="store_true", help="only fetch and cache the Kafka jars, then exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cdio_stream.kafka.broker import LocalKafkaBroker
    from cdio_stream.kafka.jars import ensure_kafka_jars

    if args.fetch_only:
        print(f"Kafka jars in {ensure_kafka_jars(settings.cache_dir)}")
        return 0

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalKafkaBroker(settings.cache_dir) as broker:
        if args.create_topics:
            import asyncio

            from cdio_stream.kafka.admin import create_topics

            report = asyncio.run(create_topics(broker.bootstrap, settings.topology()))
            print(f"created {len(report.created)} topics", flush=True)
        print(f"Kafka broker ready: bootstrap {broker.bootstrap}", flush=True)
        print(f"  export CDIO_KAFKA_BOOTSTRAP={broker.bootstrap}", flush=True)
        print("Press Ctrl-C to stop and delete it.", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("stopping broker...", flush=True)
    return 0
