"""The ``--accuracy-range LO HI | auto`` flag shared by replay, camera and demo."""

from __future__ import annotations

import argparse
from typing import Any

from cdio_stream.errors import ConfigError

__all__ = ["add_accuracy_range", "resolve_accuracy_range"]

PAPER_RANGE = ("50", "80")


def add_accuracy_range(p: argparse.ArgumentParser, default: tuple[str, ...]) -> None:
    shown = " ".join(default)
    p.add_argument(
        "--accuracy-range", nargs="+", default=list(default), metavar="LO HI | auto",
        help=f"A^q range, mAP50 percent (default {shown}; paper 4.2.1: 50 80). 'auto': from the deployed "
        "edge model's median per-frame mAP50 to the cloud model's 90th percentile, from their model cards",
    )  # fmt: skip


def resolve_accuracy_range(values: list[str], settings: Any, models_file=None) -> tuple[float, float]:
    """(lo, hi) from the flag's values; ``auto`` reads the deployment's model cards."""
    if values == ["auto"]:
        from cdio_stream.calibration import deployed_accuracy_range

        return deployed_accuracy_range(settings.topology(), models_file)
    try:
        lo, hi = (float(v) for v in values)
    except ValueError:
        raise ConfigError(
            f"--accuracy-range takes LO HI (mAP50 percent) or 'auto', got {' '.join(values)}"
        ) from None
    if not 0.0 <= lo <= hi <= 100.0:
        raise ConfigError(f"--accuracy-range needs 0 <= LO <= HI <= 100, got {lo} {hi}")
    return lo, hi
