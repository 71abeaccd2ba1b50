"""Resource preferences and the fixed rule used when no trained LSTM is available.

A task *prefers compute* ("compute", label 1) when it needs the cloud's large model;
it *prefers bandwidth* ("bandwidth", label 0) when the edge's small model can serve it,
which saves the uplink and the cloud's FLOPs (paper 3.1: compute -> cloud first,
bandwidth -> edge first; the scheduler may still move it).

:func:`rule_preference` is a transparent stand-in for the LSTM at start-up and in tests:
a frame is "hard" when its complexity is high in ``c_range`` and "demanding" when its
accuracy requirement is high in ``a_range``; the mean of the two, each clipped to [0, 1],
at or above ``threshold`` means compute, unless the delay requirement is below
``min_cloud_delay_s`` (too tight for the cloud round trip), which means bandwidth. The
``c_range`` default fits the default FeatureConfig (1/4-size grey, block 2, 5 steps):
UA-DETRAC street frames score about 0.008, smooth synthetic scenes 0.002-0.005.
"""

from __future__ import annotations

from typing import Final, Literal

from cdio_stream.errors import ConfigError
from cdio_stream.rpp.features import TaskFeatures

__all__ = ["BANDWIDTH", "COMPUTE", "Preference", "preference_of", "rule_preference", "rule_score"]

Preference = Literal["compute", "bandwidth"]
COMPUTE: Final = "compute"
BANDWIDTH: Final = "bandwidth"


def preference_of(probability: float, threshold: float = 0.5) -> Preference:
    """ "compute" when P(compute) >= threshold, else "bandwidth"."""
    return COMPUTE if probability >= threshold else BANDWIDTH


def rule_score(
    features: TaskFeatures,
    *,
    c_range: tuple[float, float] = (0.002, 0.015),
    a_range: tuple[float, float] = (50.0, 80.0),
) -> float:
    """Mean of clipped hardness (complexity) and demand (accuracy requirement), in [0, 1]."""
    c_lo, c_hi = c_range
    a_lo, a_hi = a_range
    if not (c_hi > c_lo and a_hi > a_lo):
        raise ConfigError(f"ranges must be increasing, got c_range={c_range}, a_range={a_range}")
    hard = min(1.0, max(0.0, (features.complexity - c_lo) / (c_hi - c_lo)))
    demand = min(1.0, max(0.0, (features.a_req - a_lo) / (a_hi - a_lo)))
    return 0.5 * (hard + demand)


def rule_preference(
    features: TaskFeatures,
    *,
    c_range: tuple[float, float] = (0.002, 0.015),
    a_range: tuple[float, float] = (50.0, 80.0),
    threshold: float = 0.5,
    min_cloud_delay_s: float = 0.25,
) -> Preference:
    """Fallback preference of one task from its complexity and requirements (see module doc)."""
    if features.d_req < min_cloud_delay_s:
        return BANDWIDTH
    return preference_of(rule_score(features, c_range=c_range, a_range=a_range), threshold)
