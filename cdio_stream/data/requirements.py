"""Per-task requirements A^q (accuracy, mAP50 percent) and D^q (delay, seconds).

Paper 4.2.1 draws each task's accuracy requirement uniformly from [50, 80] and its delay
requirement from [0.2 s, 0.6 s]; both ranges and the seed are configurable. Every stream
gets its own generator derived from ``(seed, stream index)``, so a stream's requirements
are reproducible however the streams interleave.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cdio_stream.errors import ConfigError

__all__ = ["RequirementSampler", "DEFAULT_ACCURACY_RANGE", "DEFAULT_DELAY_RANGE"]

DEFAULT_ACCURACY_RANGE: tuple[float, float] = (50.0, 80.0)  # mAP50, percent
DEFAULT_DELAY_RANGE: tuple[float, float] = (0.2, 0.6)  # seconds


@dataclass(frozen=True)
class RequirementSampler:
    """Draws (A^q, D^q) pairs; ``for_stream(i)`` gives stream i its own seeded generator."""

    accuracy_range: tuple[float, float] = DEFAULT_ACCURACY_RANGE
    delay_range: tuple[float, float] = DEFAULT_DELAY_RANGE
    seed: int = 0

    def __post_init__(self) -> None:
        a0, a1 = self.accuracy_range
        d0, d1 = self.delay_range
        if not 0.0 <= a0 <= a1 <= 100.0:
            raise ConfigError(
                f"accuracy range must satisfy 0 <= low <= high <= 100 (percent), got {a0}..{a1}"
            )
        if not 0.0 < d0 <= d1:
            raise ConfigError(f"delay range must satisfy 0 < low <= high (seconds), got {d0}..{d1}")

    def for_stream(self, index: int) -> StreamRequirements:
        return StreamRequirements(self, np.random.default_rng([self.seed, index]))


class StreamRequirements:
    """The requirement generator of one stream; call :meth:`draw` once per frame."""

    def __init__(self, sampler: RequirementSampler, rng: np.random.Generator) -> None:
        self._sampler = sampler
        self._rng = rng

    def draw(self) -> tuple[float, float]:
        """One ``(a_req percent, d_req seconds)`` pair, rounded to 0.01 % and 1 ms."""
        a = self._rng.uniform(*self._sampler.accuracy_range)
        d = self._rng.uniform(*self._sampler.delay_range)
        return round(float(a), 2), round(float(d), 3)
