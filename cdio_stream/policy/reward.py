"""The reward of eq. 9 with the constraint penalty, and the approximate regret of eq. 10.

Per task, with ``c`` its resource cost U + phi * B normalised by a cost scale to [0, 1]:

    r = 1 - (min(c, 1) + lambda_acc * [C1 missed] + lambda_delay * [D > D^q]) / (1 + lambda_acc + lambda_delay)

where C1 is missed when the result is inaccurate (A < A^q) *or late*: a result that comes
after D^q is of no use to the application whatever its mAP50, so it does not meet the
accuracy requirement either (A_{i,t} of eq. 8 is the accuracy the application gets).

Minimising eq. 8's objective U + phi B under C1/C2 is maximising -(U + phi B) (eq. 9);
the penalties turn C1/C2 into the "constraint-violation penalty" and the positive affine
map puts r in [0, 1], so that eq. 10's ``alpha * beta * R(S_max)`` is a meaningful (lower)
target: with negative rewards, scaling by alpha*beta < 1 would *raise* the target.
A slot's reward R(S_t) is the sum over its tasks. The expected reward replaces the
indicators by probabilities (accuracy and delay independent given the server), so the
expected C1 penalty is lambda_acc * (1 - P(D <= D^q) * P(A >= A^q)); it is what the bandit's
oracle maximises.

Why late results miss C1: with an accuracy penalty independent of the delay, a task that
cannot meet D^q anywhere still earns ``lambda_acc`` on the most accurate server. Under
overload that is the congested cloud path, where each such task takes the place of one
that could have been on time, and the queue it feeds makes the next tasks late too. With
late results missing C1, such a task scores the same penalty everywhere and goes where it
costs least, as eq. 8 asks. A task that cannot meet A^q anywhere still prefers to be on
time (its delay penalty is unchanged). With both lambdas above 1 (the largest normalised
cost), a placement that misses a constraint never scores below one that meets both.
"""

from __future__ import annotations

import numpy as np

__all__ = ["task_reward", "expected_penalty", "approx_regret"]


def task_reward(
    cost_norm: float, acc_ok: bool | None, delay_ok: bool, lambda_acc: float, lambda_delay: float
) -> float:
    """Realised reward of one task in [0, 1]; unknown accuracy (None) of an on-time result is
    not penalised, a late result misses C1 whatever its accuracy."""
    penalty = min(max(cost_norm, 0.0), 1.0)
    if not delay_ok:
        penalty += lambda_delay + lambda_acc
    elif acc_ok is False:
        penalty += lambda_acc
    return 1.0 - penalty / (1.0 + lambda_acc + lambda_delay)


def expected_penalty(
    cost_norm: np.ndarray, p_acc: np.ndarray, p_delay: np.ndarray, lambda_acc: float, lambda_delay: float
) -> np.ndarray:
    """``(1 + lambda_acc + lambda_delay) * (1 - E[r])``: the score the oracle minimises."""
    return np.minimum(cost_norm, 1.0) + lambda_acc * (1.0 - p_acc * p_delay) + lambda_delay * (1.0 - p_delay)


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
