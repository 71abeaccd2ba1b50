"""Which tasks get a reference run: a seeded share spread over streams, more where unsure.

Rule (documented in the README):

* Every stream has an accumulator started at a seeded phase in [0, 1); each of its tasks
  adds ``rate`` and a task is sampled when the accumulator reaches 1 (then 1 is taken
  off). Every stream is sampled at exactly ``rate``, evenly over time, and the pattern
  is reproducible from ``seed``: no stream is starved and none is judged in bursts.
* A *key* (the policy's context for the task, as CDCO reports it in its decision info,
  and the served model) is uncertain while its worst-case binomial standard error
  0.5 / sqrt(n), n = tasks of that key sampled so far, is above ``max_se``. Such a task
  is sampled ahead of its stream's turn: with the default ``max_se`` = 0.2 the first 7
  tasks of each (context, model) are judged, after which the key falls back to ``rate``.
  The extra samples are *borrowed* from the stream's budget (1 is taken off its
  accumulator), and a stream borrows at most ``max_borrow`` turns (default: ``warmup``),
  so the long-run share stays ``rate`` and a short run samples at most
  ``rate`` x tasks + ``max_borrow`` per stream.
* Tasks whose frame has ground truth (``uncertain_ok=False``) get no warm-up: their own
  results already teach the bandit; they are sampled at ``rate`` only (their shadow runs
  still give both tiers' outcomes, which RPP's online training needs).

The counts include tasks whose reference outcome has not come back yet, so a burst of
tasks in a new context does not all get sampled while the first ones are in flight.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cdio_stream.errors import ConfigError

__all__ = ["ReferenceSampler"]


class ReferenceSampler:
    def __init__(
        self, rate: float = 0.05, *, max_se: float = 0.2, max_borrow: int | None = None, seed: int = 0
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"reference_rate must be in [0, 1], got {rate}")
        if not 0.0 < max_se <= 0.5:
            raise ConfigError(f"reference max_se must be in (0, 0.5], got {max_se}")
        self.rate, self.max_se, self.seed = float(rate), float(max_se), int(seed)
        # 0.5 / sqrt(n) > max_se  <=>  n < (0.5 / max_se)^2
        self.warmup = math.ceil((0.5 / self.max_se) ** 2 - 1e-9) if self.rate > 0 else 0
        self.max_borrow = self.warmup if max_borrow is None else int(max_borrow)
        if self.max_borrow < 0:
            raise ConfigError(f"reference max_borrow must be >= 0, got {max_borrow}")
        self._acc: dict[str, float] = {}  # stream -> accumulator
        self._n: dict[str, int] = {}  # key -> tasks sampled
        self.sampled = 0
        self.seen = 0

    def _phase(self, stream_id: str) -> float:
        # Seeded per stream and independent of the order in which streams first appear.
        digest = np.frombuffer(stream_id.encode(), dtype=np.uint8)
        return float(np.random.default_rng([self.seed, *digest.tolist()]).random())

    def sample(self, stream_id: str, key: str, uncertain_ok: bool = True) -> bool:
        """Decide for one task of ``stream_id`` whose key is ``key``; counts it if sampled."""
        self.seen += 1
        if self.rate <= 0.0:
            return False
        acc = self._acc.get(stream_id)
        if acc is None:
            acc = self._phase(stream_id)
        acc += self.rate
        n = self._n.get(key, 0)
        take = acc >= 1.0 or (uncertain_ok and n < self.warmup and acc - 1.0 >= -self.max_borrow)
        if take:
            acc -= 1.0
            self._n[key] = n + 1
            self.sampled += 1
        self._acc[stream_id] = acc
        return take

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        return {"acc": dict(self._acc), "n": dict(self._n), "sampled": self.sampled, "seen": self.seen}

    def load_state(self, state: dict[str, Any]) -> None:
        self._acc = {str(k): float(v) for k, v in state["acc"].items()}
        self._n = {str(k): int(v) for k, v in state["n"].items()}
        self.sampled, self.seen = int(state["sampled"]), int(state["seen"])
