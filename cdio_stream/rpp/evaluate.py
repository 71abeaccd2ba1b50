"""How good a preference model is: AUC and log-loss against two simple baselines.

Used for the shipped checkpoint's card (``cdio-stream rpp train`` prints it) and by the
online trainer, which promotes a candidate only if its held-out log-loss beats the current
model's (:mod:`cdio_stream.rpp.online`). Broker-free and torch-free: scores are arrays.

Baselines, both fitted on the *training* labels only:

* class prior: P(compute) = the training label rate, for every task;
* A^q only: the training label rate within each A^q decile (edges from the training
  A^q quantiles), Laplace-smoothed; it says how much the requirement alone explains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cdio_stream.errors import ConfigError

__all__ = ["BinaryScores", "RequirementBaseline", "log_loss", "roc_auc", "score", "compare_to_baselines"]

_EPS = 1e-6  # probabilities are clipped to [eps, 1 - eps] so one confident miss stays finite


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, tied scores count half); NaN with one class."""
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ConfigError(f"labels {y.shape} and scores {p.shape} differ in shape")
    pos = int((y == 1).sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p), dtype=np.float64)
    sorted_p = p[order]
    # average rank within each group of tied scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_p)) + 1]
    ends = np.r_[starts[1:], len(p)]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy (natural log), probabilities clipped to [1e-6, 1 - 1e-6]."""
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.clip(np.asarray(p, dtype=np.float64).ravel(), _EPS, 1.0 - _EPS)
    if y.shape != p.shape or len(y) == 0:
        raise ConfigError(f"log-loss needs equal, non-empty labels and scores: {y.shape} vs {p.shape}")
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))


@dataclass(frozen=True)
class BinaryScores:
    tasks: int
    compute: int  # positives
    auc: float  # NaN when the set has one class only
    log_loss: float
    accuracy: float  # at the 0.5 threshold
    mean_p: float

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in asdict(self).items()}


def score(y: np.ndarray, p: np.ndarray) -> BinaryScores:
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    return BinaryScores(
        tasks=len(y),
        compute=int(y.sum()),
        auc=round(roc_auc(y, p), 4),
        log_loss=round(log_loss(y, p), 4),
        accuracy=round(float(((p >= 0.5) == (y == 1)).mean()), 4),
        mean_p=round(float(p.mean()), 4),
    )


@dataclass(frozen=True)
class RequirementBaseline:
    """P(compute) from A^q alone: the training label rate per A^q quantile bin."""

    edges: tuple[float, ...]  # inner bin edges
    rates: tuple[float, ...]  # one per bin (len(edges) + 1)

    @classmethod
    def fit(cls, a_req: np.ndarray, y: np.ndarray, *, bins: int = 10) -> RequirementBaseline:
        a_req = np.asarray(a_req, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(a_req) == 0 or a_req.shape != y.shape or bins < 1:
            raise ConfigError(f"cannot fit the A^q baseline on {a_req.shape} requirements, {y.shape} labels")
        edges = np.unique(np.quantile(a_req, np.linspace(0, 1, bins + 1)[1:-1]))
        idx = np.searchsorted(edges, a_req, side="right")
        rates = [(y[idx == b].sum() + 1.0) / ((idx == b).sum() + 2.0) for b in range(len(edges) + 1)]
        return cls(tuple(edges.tolist()), tuple(float(r) for r in rates))

    def predict(self, a_req: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(np.asarray(self.edges), np.asarray(a_req, dtype=np.float64), side="right")
        return np.asarray(self.rates)[idx]


def compare_to_baselines(
    p_model: np.ndarray, y_val: np.ndarray, a_val: np.ndarray, y_train: np.ndarray, a_train: np.ndarray
) -> dict[str, dict]:
    """Held-out scores of the model, the A^q-only baseline and the class prior."""
    prior = float(np.mean(y_train))
    return {
        "model": score(y_val, p_model).to_dict(),
        "a_req_only": score(y_val, RequirementBaseline.fit(a_train, y_train).predict(a_val)).to_dict(),
        "class_prior": score(y_val, np.full(len(y_val), prior)).to_dict(),
    }
