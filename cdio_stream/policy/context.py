"""Task contexts of the bandit: predicted preference x complexity bucket x requirement bucket.

A base arm is (context, server). The context groups tasks whose outcomes on a server
should look alike: the RPP preference (bandwidth / compute / unknown), the spatial
complexity bucket, and the accuracy-requirement bucket. Bucket edges are on the scale of
the deployment's complexity feature; :func:`complexity_edges_from` derives quantile edges
from a profiling trace so that buckets are equally populated.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.policy.base import SlotTask

__all__ = ["ContextSpace", "complexity_edges_from", "PREFERENCE_LABELS"]

PREFERENCE_LABELS = ("bandwidth", "compute", "unknown")


@dataclass(frozen=True)
class ContextSpace:
    complexity_edges: tuple[float, ...] = (0.35, 0.5, 0.65)
    a_req_edges: tuple[float, ...] = (65.0,)
    use_preference: bool = True
    preference_threshold: float = 0.5

    def __post_init__(self) -> None:
        for name in ("complexity_edges", "a_req_edges"):
            edges = tuple(float(e) for e in getattr(self, name))
            if list(edges) != sorted(set(edges)):
                raise ConfigError(f"{name} must be strictly increasing, got {edges}")
            object.__setattr__(self, name, edges)

    @property
    def n_preference(self) -> int:
        return len(PREFERENCE_LABELS) if self.use_preference else 1

    @property
    def n_contexts(self) -> int:
        return self.n_preference * (len(self.complexity_edges) + 1) * (len(self.a_req_edges) + 1)

    def preference_bucket(self, preference: float | None) -> int:
        if not self.use_preference:
            return 0
        if preference is None:
            return 2
        return 1 if preference >= self.preference_threshold else 0

    def index(self, task: SlotTask) -> int:
        p = self.preference_bucket(task.preference)
        c = bisect_right(self.complexity_edges, task.complexity)
        a = bisect_right(self.a_req_edges, task.a_req)
        return (p * (len(self.complexity_edges) + 1) + c) * (len(self.a_req_edges) + 1) + a

    def describe(self, index: int) -> str:
        na, nc = len(self.a_req_edges) + 1, len(self.complexity_edges) + 1
        a, rest = index % na, index // na
        c, p = rest % nc, rest // nc
        pref = PREFERENCE_LABELS[p] if self.use_preference else "any"
        return f"{pref}/c{c}/a{a}"


def complexity_edges_from(values: Iterable[float], n_buckets: int = 4) -> tuple[float, ...]:
    """Quantile edges splitting ``values`` into ``n_buckets`` equally populated buckets."""
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0 or n_buckets < 1:
        raise ConfigError("complexity_edges_from needs values and n_buckets >= 1")
    qs = np.quantile(arr, np.arange(1, n_buckets) / n_buckets)
    return tuple(float(q) for q in np.unique(qs))
