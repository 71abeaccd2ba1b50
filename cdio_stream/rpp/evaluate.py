"""How good a preference model is: AUC and log-loss against two simple baselines.

Used for the shipped checkpoint's card (``cdio-stream rpp train`` prints it) and by the
online trainer, which promotes a candidate only if its held-out log-loss beats the current
model's (:mod:`cdio_stream.rpp.online`). Broker-free and torch-free: scores are arrays.

Baselines, both fitted on the *training* labels only:

* class prior: P(compute) = the training label rate, for every task;
* A^q only: the training label rate within each A^q decile (edges from the training
  A^q quantiles), Laplace-smoothed; it says how much the requirement alone explains.

The by-scene cross-validation (:mod:`cdio_stream.rpp.crossval`) adds two logistic
regressions (:class:`LogisticBaseline`): on A^q alone (linear, so it cannot follow a
label rate that rises and falls again with A^q, which the decile rates can), and on the
current task's whole feature vector with all squares and pairwise products: a model
that sees everything the LSTM sees of the task, but no sequence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cdio_stream.errors import ConfigError

__all__ = [
    "BinaryScores",
    "LogisticBaseline",
    "RequirementBaseline",
    "compare_to_baselines",
    "log_loss",
    "roc_auc",
    "score",
]

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


@dataclass(frozen=True)
class LogisticBaseline:
    """L2-regularised logistic regression on raw task feature vectors (Newton's method).

    Columns whose name starts with ``complexity`` or is ``motion`` are log-transformed
    (they span orders of magnitude, as in the LSTM's normaliser), then every column is
    z-scored on the training set; ``degree=2`` adds all squares and pairwise products.
    ``columns`` picks the features used (names of the raw vector).
    """

    columns: tuple[int, ...]
    log_mask: tuple[bool, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    degree: int
    weights: tuple[float, ...]  # intercept first

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        names: tuple[str, ...] | list[str],
        *,
        use: tuple[str, ...] | None = None,
        degree: int = 1,
        l2: float = 1e-3,
        iterations: int = 50,
    ) -> LogisticBaseline:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).ravel()
        if x.ndim != 2 or x.shape[0] != len(y) or x.shape[1] != len(names) or len(y) == 0:
            raise ConfigError(f"cannot fit a logistic baseline on {x.shape} features, {y.shape} labels")
        if degree not in (1, 2):
            raise ConfigError(f"degree must be 1 or 2, got {degree}")
        wanted = tuple(names) if use is None else use
        missing = [n for n in wanted if n not in names]
        if missing:
            raise ConfigError(f"features {missing} not among {list(names)}")
        columns = tuple(list(names).index(n) for n in wanted)
        log_mask = tuple(names[c].startswith("complexity") or names[c] == "motion" for c in columns)
        raw = _log_columns(x[:, columns], np.array(log_mask))
        std = raw.std(axis=0)
        std[std < 1e-12] = 1.0
        model = cls(columns, log_mask, tuple(raw.mean(axis=0)), tuple(std), degree, ())
        design = model._design(x)
        w = np.zeros(design.shape[1])
        penalty = np.full(design.shape[1], l2 * len(y))
        penalty[0] = 0.0  # the intercept is not shrunk
        for _ in range(iterations):
            p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -30, 30)))
            grad = design.T @ (p - y) + penalty * w
            hess = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.max(np.abs(step)) < 1e-8:
                break
        return cls(columns, log_mask, model.mean, model.std, degree, tuple(w.tolist()))

    def _design(self, x: np.ndarray) -> np.ndarray:
        z = _log_columns(np.asarray(x, dtype=np.float64)[:, self.columns], np.array(self.log_mask))
        z = (z - np.asarray(self.mean)) / np.asarray(self.std)
        cols = [np.ones(len(z)), *z.T]
        if self.degree == 2:
            k = z.shape[1]
            cols += [z[:, i] * z[:, j] for i in range(k) for j in range(i, k)]
        return np.column_stack(cols)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(compute) for raw feature vectors (N, F) in the order the model was fitted on."""
        return 1.0 / (1.0 + np.exp(-np.clip(self._design(x) @ np.asarray(self.weights), -30, 30)))


def _log_columns(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[:, mask] = np.log(np.maximum(out[:, mask], 0.0) + 1e-5)
    return out


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
