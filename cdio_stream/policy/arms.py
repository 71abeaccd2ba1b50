"""Per-base-arm statistics with confidence bounds, as in SDCB / CUCB (paper ref [4], Chen et al. 2016).

Ref [4] handles CMAB rewards that are *non-linear* in the base arms' outcomes. Our delay
term is such a case: a task's reward depends on P(delay <= D^q - what the queues already
cost), a threshold that changes with the system state, so :class:`HistogramArms` keeps each
arm's empirical outcome distribution (Lazy-SDCB's discretisation) and evaluates the
*stochastically dominant* optimistic CDF: eps = c * sqrt(ln t / n) of mass moved to the
good end (c = sqrt(3/2) in the paper's analysis; smaller c explores less). Outcomes that
enter the reward linearly (cost; success indicators whose threshold the context fixes)
only need means with CUCB bounds: :class:`MeanArms`.

Bounds are cached: an arm's bound is recomputed when it is updated, and all bounds when
``set_time`` gives a new ln t (callers refresh on a geometric grid of t). ``discount`` < 1
multiplies an arm's past mass by ``discount`` at each of its updates, a per-arm sliding
window for non-stationary systems; 1 keeps the stationary estimator.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["confidence_radius", "HistogramArms", "MeanArms"]


def confidence_radius(n: np.ndarray, log_t: float, explore: float) -> np.ndarray:
    """eps = explore * sqrt(ln t / n), capped at 1; 1 where n == 0 (an unplayed arm is fully optimistic)."""
    n = np.asarray(n, dtype=float)
    played = n > 0
    eps = explore * np.sqrt(log_t / np.where(played, n, 1.0))
    return np.where(played, np.minimum(eps, 1.0), 1.0)


def _radius(n: float, log_t: float, explore: float) -> float:
    return min(explore * math.sqrt(log_t / n), 1.0) if n > 0 else 1.0


class HistogramArms:
    """Empirical outcome distributions of ``n_arms`` arms on ``n_bins`` bins over [lo, hi]."""

    def __init__(self, n_arms: int, lo: float, hi: float, n_bins: int, *, explore: float, discount: float = 1.0
                 ) -> None:  # fmt: skip
        if not hi > lo or n_bins < 1 or not 0 < discount <= 1 or explore < 0:
            raise ValueError(f"bad histogram arms: lo={lo} hi={hi} n_bins={n_bins} discount={discount}")
        self.lo, self.hi, self.n_bins = float(lo), float(hi), int(n_bins)
        self.explore, self.discount = float(explore), float(discount)
        self.width = (self.hi - self.lo) / self.n_bins
        self.mass = np.zeros((n_arms, n_bins))
        self.n = np.zeros(n_arms)
        # cdf[a, k] = P(X < lo + k * width), k = 0..n_bins; rows of unplayed arms stay 0.
        self.cdf = np.zeros((n_arms, n_bins + 1))
        self._flat = self.cdf.reshape(-1)  # a view: cdf is only ever written in place
        self.log_t = math.log(2)
        self.eps = np.ones(n_arms)

    def set_time(self, log_t: float) -> None:
        self.log_t = log_t
        self.eps = confidence_radius(self.n, log_t, self.explore)

    def update(self, arm: int, value: float) -> None:
        k = int((value - self.lo) / self.width) if value > self.lo else 0
        k = min(max(k, 0), self.n_bins - 1)
        row = self.mass[arm]
        if self.discount < 1.0:
            row *= self.discount
            self.n[arm] *= self.discount
        row[k] += 1.0
        self.n[arm] += 1.0
        self.cdf[arm, 1:] = np.cumsum(row) / self.n[arm]
        self.eps[arm] = _radius(self.n[arm], self.log_t, self.explore)

    def rebuild(self) -> None:
        """Recompute CDFs and bounds from ``mass`` and ``n`` (after restoring them)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            cdf = np.cumsum(self.mass, axis=1) / self.n[:, None]
        self.cdf[:, 1:] = np.where(self.n[:, None] > 0, cdf, 0.0)
        self.set_time(self.log_t)

    def cdf_at(self, arms: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Empirical P(X <= x) for each (arm, x) pair (arrays broadcast together)."""
        u = (np.asarray(x, dtype=float) - self.lo) * (1.0 / self.width)
        np.maximum(u, 0.0, out=u)
        k = np.minimum(u.astype(np.int64), self.n_bins - 1)
        frac = np.minimum(u - k, 1.0)
        base = np.asarray(arms, dtype=np.int64) * (self.n_bins + 1) + k
        lo_v = self._flat[base]
        return lo_v + frac * (self._flat[base + 1] - lo_v)

    def optimistic_cdf(self, arms: np.ndarray, x: np.ndarray) -> np.ndarray:
        """P(X <= x) under the dominant distribution for "lower is better" outcomes: the
        arm's eps of mass moved to ``lo`` (so it is at least eps once x >= lo)."""
        x = np.asarray(x, dtype=float)
        p = self.cdf_at(arms, x)
        p += self.eps[arms]
        np.minimum(p, 1.0, out=p)
        p[x < self.lo] = 0.0
        return p

    def optimistic_cdf_one(self, arm: int, x: float) -> float:
        """Scalar :meth:`optimistic_cdf` (the single-task fast path)."""
        if x < self.lo:
            return 0.0
        u = (x - self.lo) / self.width
        k = min(int(u), self.n_bins - 1)
        frac = min(u - k, 1.0)
        row = self.cdf[arm]
        lo_v = row[k]
        return min(float(lo_v + frac * (row[k + 1] - lo_v)) + float(self.eps[arm]), 1.0)

    def mean(self, arm: int) -> float:
        if self.n[arm] <= 0:
            return float("nan")
        centres = self.lo + (np.arange(self.n_bins) + 0.5) * self.width
        return float(self.mass[arm] @ centres / self.n[arm])


class MeanArms:
    """Running (optionally discounted) means with a cached CUCB bound per arm.

    ``side="upper"``: bound = min(mean + eps, 1) for outcomes in [0, 1] (unplayed: 1).
    ``side="lower"``: bound = max(mean / scale - eps, 0) for costs (unplayed: 0).
    """

    def __init__(self, n_arms: int, *, side: str, explore: float, discount: float = 1.0) -> None:
        if side not in ("upper", "lower") or not 0 < discount <= 1 or explore < 0:
            raise ValueError(f"bad mean arms: side={side!r} discount={discount} explore={explore}")
        self.side, self.explore, self.discount = side, float(explore), float(discount)
        self.total = np.zeros(n_arms)
        self.n = np.zeros(n_arms)
        self.mean = np.zeros(n_arms)
        self.scale = 1.0
        self.log_t = math.log(2)
        self.bound = np.ones(n_arms) if side == "upper" else np.zeros(n_arms)

    def set_time(self, log_t: float, scale: float | None = None) -> None:
        self.log_t = log_t
        if scale is not None:
            self.scale = scale
        eps = confidence_radius(self.n, log_t, self.explore)
        if self.side == "upper":
            self.bound = np.minimum(self.mean + eps, 1.0)
        else:
            self.bound = np.maximum(self.mean / self.scale - eps, 0.0)

    def update(self, arm: int, value: float) -> None:
        if self.discount < 1.0:
            self.total[arm] *= self.discount
            self.n[arm] *= self.discount
        self.total[arm] += value
        self.n[arm] += 1.0
        mean = self.total[arm] / self.n[arm]
        self.mean[arm] = mean
        eps = _radius(self.n[arm], self.log_t, self.explore)
        self.bound[arm] = min(mean + eps, 1.0) if self.side == "upper" else max(mean / self.scale - eps, 0.0)

    def rebuild(self) -> None:
        """Recompute means and bounds from ``total`` and ``n`` (after restoring them)."""
        self.mean = np.divide(self.total, self.n, out=np.zeros_like(self.total), where=self.n > 0)
        self.set_time(self.log_t)
