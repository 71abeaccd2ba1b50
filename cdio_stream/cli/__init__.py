"""The ``cdio-stream`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a
``run(args, settings) -> int`` callable. Heavy imports (torch, ultralytics,
aiokafka) happen inside ``run`` so that ``cdio-stream --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from cdio_stream.errors import CdioError
from cdio_stream.settings import Settings

__all__ = ["main", "build_parser"]

# One line per sub-command module; order is the order shown in --help.
COMMAND_MODULES = [
    "cdio_stream.cli.broker",
    "cdio_stream.cli.topics",
    "cdio_stream.cli.worker",
    "cdio_stream.cli.demo",
    "cdio_stream.cli.dataset",
    "cdio_stream.cli.replay",
    "cdio_stream.cli.camera",
    "cdio_stream.cli.rpp",
    "cdio_stream.cli.models",
    "cdio_stream.cli.profile",
    "cdio_stream.cli.calibrate",
    "cdio_stream.cli.simulate",
    "cdio_stream.cli.report",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdio-stream",
        description="Edge-cloud video analytics scheduling (CDIO) on Kafka.",
    )
    Settings.add_arguments(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_args(args)
    except CdioError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if settings.log_level != "DEBUG":
        logging.getLogger("aiokafka").setLevel(logging.WARNING)  # group joins, one line per consumer
    try:
        return int(args.func(args, settings) or 0)
    except CdioError as exc:
        print(f"cdio-stream: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
