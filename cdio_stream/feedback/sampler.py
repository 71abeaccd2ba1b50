"""Which tasks get a reference run: a seeded compute budget spread over streams, more where unsure.

Rule (documented in the README):

* A task's *lane* is the model its shadow run would use (the reference model for a task
  served by another model, the cheap model for one the reference serves). Every (stream,
  lane) has an accumulator started at a seeded phase in [0, 1); each task adds
  ``rate`` x ``share`` to its lane's accumulator and is sampled when it reaches 1 (then 1 is
  taken off). ``share`` = mean compute of a served task / mean compute of a run in this lane
  (both measured as the runs come back, :meth:`observe`; 1 until both are known, at most
  1 / ``rate``). So a shadow that costs what an average task costs is run for ``rate`` of
  the tasks, a costlier one proportionally less often, a cheaper one more often, and the
  reference runs spend ``rate`` x the served compute whatever the mix of tiers: 5 % extra
  compute with the default rate. Sampling within a lane is even over time and reproducible
  from ``seed``: no stream is starved and none is judged in bursts.
* A *key* (the policy's context for the task, as CDCO reports it in its decision info) is
  uncertain while its worst-case binomial standard error 0.5 / sqrt(n), n = tasks of that
  key sampled so far, is above ``max_se``. A sample judges both models on its frame, so
  the key does not include the served model. Such a task is sampled ahead of its lane's
  turn: with the default ``max_se`` = 0.2 the first 7 tasks of each context are judged,
  after which the key falls back to the budget. The extra samples are *borrowed* from the
  lane (1 is taken off its accumulator) and a (stream, lane) borrows at most ``max_borrow``
  x min(``share``, 1) turns (``max_borrow`` defaults to the warm-up, 7), so a costly lane
  borrows fewer runs, the long-run spend stays ``rate`` and a short run adds at most
  ``max_borrow`` average-task runs per stream and lane.
* Tasks whose frame has ground truth (``uncertain_ok=False``) get no warm-up: their own
  results already teach the bandit; they are sampled at the budget only (their shadow runs
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
        self._acc: dict[str, float] = {}  # stream|lane -> accumulator
        self._n: dict[str, int] = {}  # key -> tasks sampled
        self._served = [0.0, 0]  # compute of served runs: total, count
        self._lane: dict[str, list[float]] = {}  # lane -> [compute total, runs]
        self.sampled = 0
        self.seen = 0

    def _phase(self, slot: str) -> float:
        # Seeded per (stream, lane) and independent of the order in which they first appear.
        digest = np.frombuffer(slot.encode(), dtype=np.uint8)
        return float(np.random.default_rng([self.seed, *digest.tolist()]).random())

    # ------------------------------------------------------------------ costs
    def observe(self, compute: float, lane: str, served: bool) -> None:
        """One finished run in ``lane`` (its model) that cost ``compute`` (TFLOP); ``served``:
        it was a task's served run (not a shadow), so it also counts in the mean task cost."""
        if not compute >= 0.0:  # also rejects NaN
            return
        total = self._lane.setdefault(lane, [0.0, 0])
        total[0] += compute
        total[1] += 1
        if served:
            self._served[0] += compute
            self._served[1] += 1

    def share(self, lane: str) -> float:
        """Mean served-task compute / mean compute in ``lane`` (1 until both are known)."""
        total = self._lane.get(lane)
        if not self._served[1] or not total or not total[1] or total[0] <= 0.0 or self._served[0] <= 0.0:
            return 1.0
        share = (self._served[0] / self._served[1]) / (total[0] / total[1])
        return min(share, 1.0 / self.rate) if self.rate > 0 else share

    # ------------------------------------------------------------------ decide
    def sample(self, stream_id: str, key: str, uncertain_ok: bool = True, lane: str = "") -> bool:
        """Decide for one task of ``stream_id`` whose key is ``key`` and whose shadow would
        run in ``lane``; counts it if sampled."""
        self.seen += 1
        if self.rate <= 0.0:
            return False
        slot = f"{stream_id}|{lane}" if lane else stream_id
        acc = self._acc.get(slot)
        if acc is None:
            acc = self._phase(slot)
        share = self.share(lane) if lane else 1.0
        acc += self.rate * share
        n = self._n.get(key, 0)
        borrow = self.max_borrow * min(share, 1.0)
        take = acc >= 1.0 or (uncertain_ok and n < self.warmup and acc - 1.0 >= -borrow)
        if take:
            acc -= 1.0
            self._n[key] = n + 1
            self.sampled += 1
        self._acc[slot] = acc
        return take

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        return {
            "acc": dict(self._acc),
            "n": dict(self._n),
            "served": list(self._served),
            "lanes": {k: list(v) for k, v in self._lane.items()},
            "sampled": self.sampled,
            "seen": self.seen,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._acc = {str(k): float(v) for k, v in state["acc"].items()}
        self._n = {str(k): int(v) for k, v in state["n"].items()}
        served = state.get("served", [0.0, 0])
        self._served = [float(served[0]), int(served[1])]
        self._lane = {str(k): [float(v[0]), int(v[1])] for k, v in state.get("lanes", {}).items()}
        self.sampled, self.seen = int(state["sampled"]), int(state["seen"])
