"""The slot oracle: the best super arm for given per-(task, server, queue position) scores.

Servers run one task at a time, so a task's delay depends on how many tasks of the
same slot are queued before it on that server. Each server j is expanded into R
columns (j, r), "the r-th task of this slot on j", and a task scores
``score[i, j, r]`` there. Every task takes exactly one column (C3) and every column holds
at most one task, which is a rectangular linear assignment problem solved exactly by
:func:`scipy.optimize.linear_sum_assignment` (so the oracle is a 1-approximation,
alpha = beta = 1 in eq. 10, for the position-expanded model). Scores must not decrease
with r; positions are renumbered 0, 1, ... per server afterwards. Servers may get
different numbers of columns (:func:`columns`): positions that no task could use within
its delay budget need not be offered beyond what capacity requires.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["FORBIDDEN", "columns", "solve_columns", "solve_slot", "dispatch_order"]

#: Score for a forbidden column (unavailable server or beyond capacity).
FORBIDDEN = 1e12


def columns(capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column layout for per-server capacities: (server of each column, position of each column)."""
    capacity = np.asarray(capacity, dtype=np.int64)
    col_server = np.repeat(np.arange(capacity.size), capacity)
    starts = np.repeat(np.cumsum(capacity) - capacity, capacity)
    return col_server, np.arange(col_server.size) - starts


def solve_columns(
    score: np.ndarray, col_server: np.ndarray, col_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``score`` (n, C) over the columns of :func:`columns` -> (server index, position) per task."""
    n, c = score.shape
    if c < n:
        raise ValueError(f"{n} tasks cannot fit {c} (server, position) columns")
    if n == 1:
        col = int(np.argmin(score[0]))
        return col_server[[col]], np.zeros(1, dtype=np.int64)
    rows, cols = linear_sum_assignment(score)
    server = np.empty(n, dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    server[rows] = col_server[cols]
    pos[rows] = col_pos[cols]
    # Renumber: positions on each server become 0..k-1 in the oracle's order.
    seen: dict[int, int] = {}
    for i in np.lexsort((pos, server)).tolist():
        j = int(server[i])
        pos[i] = seen.get(j, 0)
        seen[j] = pos[i] + 1
    return server, pos


def solve_slot(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``score`` (n, M, R) -> (server index, position) per task, minimising the total score."""
    n, m, r = score.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    col_server, col_pos = columns(np.full(m, r))
    return solve_columns(score.reshape(n, m * r), col_server, col_pos)


def dispatch_order(server: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Task indices in dispatch order: all first-in-queue tasks, then the second, ..."""
    return np.lexsort((server, pos))
