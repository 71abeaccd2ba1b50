"""The reward of eq. 9 with the constraint penalty, and the approximate regret of eq. 10.

Per task, with ``c`` its resource cost U + phi * B normalised by a cost scale to [0, 1]:

    r = 1 - (min(c, 1) + lambda_acc * [A < A^q] + lambda_delay * [D > D^q]) / (1 + lambda_acc + lambda_delay)

Minimising eq. 8's objective U + phi B under C1/C2 is maximising -(U + phi B) (eq. 9);
the penalties turn C1/C2 into the "constraint-violation penalty" and the positive affine
map puts r in [0, 1], so that eq. 10's ``alpha * beta * R(S_max)`` is a meaningful (lower)
target: with negative rewards, scaling by alpha*beta < 1 would *raise* the target.
A slot's reward R(S_t) is the sum over its tasks. The expected reward replaces the
indicators by violation probabilities; it is what the bandit's oracle maximises.
"""

from __future__ import annotations

import numpy as np

__all__ = ["task_reward", "expected_penalty", "approx_regret"]


def task_reward(
    cost_norm: float, acc_ok: bool | None, delay_ok: bool, lambda_acc: float, lambda_delay: float
) -> float:
    """Realised reward of one task in [0, 1]; unknown accuracy (None) is not penalised."""
    penalty = min(max(cost_norm, 0.0), 1.0)
    if acc_ok is False:
        penalty += lambda_acc
    if not delay_ok:
        penalty += lambda_delay
    return 1.0 - penalty / (1.0 + lambda_acc + lambda_delay)


def expected_penalty(
    cost_norm: np.ndarray, p_acc: np.ndarray, p_delay: np.ndarray, lambda_acc: float, lambda_delay: float
) -> np.ndarray:
    """``(1 + lambda_acc + lambda_delay) * (1 - E[r])``: the score the oracle minimises."""
    return np.minimum(cost_norm, 1.0) + lambda_acc * (1.0 - p_acc) + lambda_delay * (1.0 - p_delay)


def approx_regret(
    optimal: np.ndarray, chosen: np.ndarray, alpha: float = 1.0, beta: float = 1.0
) -> np.ndarray:
    """Cumulative eq. 10 regret after each slot: sum_t (alpha * beta * R_t(S*) - R_t(S_t)).

    ``optimal`` and ``chosen`` are per-slot expected rewards of the oracle's and the
    policy's super arms under the true outcome distributions.
    """
    optimal = np.asarray(optimal, dtype=float)
    chosen = np.asarray(chosen, dtype=float)
    if optimal.shape != chosen.shape:
        raise ValueError(f"optimal and chosen must have the same shape, got {optimal.shape}, {chosen.shape}")
    if not (0 < alpha <= 1 and 0 < beta <= 1):
        raise ValueError(f"alpha and beta must be in (0, 1], got {alpha}, {beta}")
    return np.cumsum(alpha * beta * optimal - chosen)
