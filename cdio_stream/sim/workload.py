"""Turning a trace into the simulator's task stream: arrivals, requirements, preferences.

* Arrival: a frame arrives at its ``capture_time`` plus a per-stream offset drawn once in
  [0, 1/fps) so that cameras are not phase-locked.
* Requirements (paper 4.2.1): A^q ~ U[50, 80] percent and D^q ~ U[0.2, 0.6] s per task.
* Preference: the live system gets it from the RPP LSTM (cdio_stream.rpp). The simulator
  uses a *noisy oracle* with a stated error rate: the true label is "compute" when the edge
  model's accuracy on the frame is below A^q (the edge cannot satisfy C1), "bandwidth"
  otherwise; the label is flipped with probability ``error`` and reported as probability
  ``confidence`` (or 1 - confidence). ``preference="none"`` gives None for every task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.policy.base import SlotTask
from cdio_stream.trace import TraceFrame

__all__ = ["WorkloadConfig", "build_tasks"]


@dataclass(frozen=True)
class WorkloadConfig:
    a_req_range: tuple[float, float] = (50.0, 80.0)
    d_req_range: tuple[float, float] = (0.2, 0.6)
    preference: str = "noisy-oracle"  # or "none"
    preference_error: float = 0.1
    preference_confidence: float = 0.9
    seed: int = 0


def build_tasks(
    frames: Sequence[TraceFrame], edge_model: str | None, config: WorkloadConfig = WorkloadConfig()
) -> tuple[list[SlotTask], np.ndarray]:
    """Tasks sorted by arrival time, and for each the index of its frame in ``frames``."""
    cfg = config
    if cfg.preference not in ("noisy-oracle", "none"):
        raise ConfigError(f"preference must be 'noisy-oracle' or 'none', got {cfg.preference!r}")
    if not 0 <= cfg.preference_error <= 1 or not 0.5 <= cfg.preference_confidence <= 1:
        raise ConfigError("preference_error must be in [0, 1] and preference_confidence in [0.5, 1]")
    if cfg.preference == "noisy-oracle" and edge_model is None:
        raise ConfigError("the noisy-oracle preference needs the edge model's name")
    rng = np.random.default_rng(cfg.seed)
    n = len(frames)
    streams = sorted({fr.stream for fr in frames})
    period = _frame_period(frames)
    offsets = dict(zip(streams, rng.uniform(0.0, period, size=len(streams)), strict=True))
    a_req = rng.uniform(*cfg.a_req_range, size=n)
    d_req = rng.uniform(*cfg.d_req_range, size=n)
    flips = rng.random(n) < cfg.preference_error
    tasks = []
    for i, fr in enumerate(frames):
        pref = None
        if cfg.preference == "noisy-oracle":
            try:
                compute = fr.accuracy[edge_model] < a_req[i]
            except KeyError:
                raise ConfigError(
                    f"trace frame {fr.key} has no accuracy for edge model {edge_model!r}"
                ) from None
            compute ^= bool(flips[i])
            pref = cfg.preference_confidence if compute else 1.0 - cfg.preference_confidence
        tasks.append(
            SlotTask(
                task_id=f"{fr.stream}/{fr.frame}",
                stream_id=fr.stream,
                payload_bytes=fr.jpeg_bytes,
                complexity=fr.complexity,
                preference=pref,
                a_req=float(a_req[i]),
                d_req=float(d_req[i]),
                arrival_time=float(fr.capture_time + offsets[fr.stream]),
            )
        )
    order = sorted(range(n), key=lambda i: (tasks[i].arrival_time, i))
    return [tasks[i] for i in order], np.asarray(order, dtype=np.int64)


def _frame_period(frames: Sequence[TraceFrame]) -> float:
    """Median gap between consecutive captures of a stream (1/fps); 0.04 s if unknown."""
    by_stream: dict[str, list[float]] = {}
    for fr in frames:
        by_stream.setdefault(fr.stream, []).append(fr.capture_time)
    gaps = [g for ts in by_stream.values() for g in np.diff(sorted(ts)) if g > 0]
    return float(np.median(gaps)) if gaps else 0.04
