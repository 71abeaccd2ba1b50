"""Judging a result against the reference model instead of ground truth.

A deployment has no annotations. Like the "golden configuration" of Chameleon, AWStream
and Reducto, a sampled task also runs on the most accurate deployed model (the
*reference*, the cloud's by default) and the other tier's detections are scored against
the reference detections with the matcher of :func:`~cdio_stream.inference.accuracy.frame_map50`
(Ultralytics' greedy IoU-0.5 matching, COCO 101-point AP, classes of the reference).
That raw number, the *agreement*, says how close the cheap model came to the reference,
not how close either came to the truth.

The reference is not perfect: its own accuracy is a **prior** from its model card,
measured against real annotations (the mean per-frame mAP50 of the card's evaluation;
37.7 % for the shipped cloud detector on unseen synthetic frames). A result is therefore
credited with

    accuracy = agreement x prior / 100

which is the truth accuracy exactly when the other model finds a subset of what the
reference finds (misses are nested: frames and objects that are hard for the small model
are also the hard ones for the big one) and the reference scores its prior on the frame.
The reference model's own result is credited with the prior itself (it agrees with
itself perfectly). Reference detections below :data:`REFERENCE_SCORE_THRESHOLD` are
dropped first; it equals the deployment's NMS confidence (0.25, what every worker
already keeps), so in practice every reference detection counts.

Ground truth, when the frame has it, wins: the inference stage uses this only without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cdio_stream.errors import ConfigError

__all__ = ["REFERENCE_SCORE_THRESHOLD", "ReferenceJudge", "simulated_agreement"]

#: Reference detections with a lower score are not treated as objects.
REFERENCE_SCORE_THRESHOLD = 0.25


@dataclass(frozen=True)
class ReferenceJudge:
    """Credits results with accuracy judged against ``reference_model``'s detections.

    The prior is the reference model's per-frame mAP50 distribution on annotated frames (its
    card or a profiling trace), as ``quantiles`` (percent) per complexity bucket:
    ``complexity_edges`` (ascending, k values) split frames into k + 1 buckets, because how
    well even the reference does depends on the frame. ``credit`` gives the expected
    accuracy; ``success_p`` the probability that it meets A^q, which is what a bandit's
    success arm should average (a point prior would make the reference look certain).
    """

    reference_model: str
    quantiles: tuple[tuple[float, ...], ...]
    complexity_edges: tuple[float, ...] = ()
    score_threshold: float = REFERENCE_SCORE_THRESHOLD
    strata: tuple[tuple[str, tuple[float, ...]], ...] = ()  # (policy context, quantiles)

    def __post_init__(self) -> None:
        if len(self.quantiles) != len(self.complexity_edges) + 1 or not all(self.quantiles):
            raise ConfigError(
                f"reference prior needs {len(self.complexity_edges) + 1} non-empty quantile lists for "
                f"{len(self.complexity_edges)} complexity edges, got {len(self.quantiles)}"
            )
        if not all(0.0 <= q <= 100.0 for qs in self.quantiles for q in qs):
            raise ConfigError("reference prior quantiles must be mAP50 values in [0, 100]")
        if list(self.complexity_edges) != sorted(self.complexity_edges):
            raise ConfigError(f"reference complexity edges must ascend, got {self.complexity_edges}")
        if not 0.0 <= self.score_threshold < 1.0:
            raise ConfigError(f"reference score threshold must be in [0, 1), got {self.score_threshold}")
        if not all(qs and all(0.0 <= q <= 100.0 for q in qs) for _, qs in self.strata):
            raise ConfigError("reference prior strata need non-empty mAP50 quantiles in [0, 100]")
        object.__setattr__(self, "_q", [np.asarray(qs, dtype=float) for qs in self.quantiles])
        object.__setattr__(self, "_s", {str(k): np.asarray(qs, dtype=float) for k, qs in self.strata})

    @classmethod
    def from_mean(cls, reference_model: str, mean: float) -> ReferenceJudge:
        """A point prior (a card that gives only the mean per-frame mAP50)."""
        return cls(reference_model, ((float(mean),),))

    @classmethod
    def from_samples(
        cls,
        reference_model: str,
        complexity,
        accuracy,
        *,
        buckets: int = 4,
        n_quantiles: int = 20,
        contexts: Sequence[str] | None = None,
        min_stratum: int = 30,
    ) -> ReferenceJudge:
        """The prior measured on annotated frames: accuracy quantiles per complexity quantile
        bucket and, given each sample's policy ``contexts``, per context with at least
        ``min_stratum`` samples (the others fall back to their complexity bucket)."""
        complexity, accuracy = np.asarray(complexity, float), np.asarray(accuracy, float)
        if len(complexity) == 0 or len(complexity) != len(accuracy) or buckets < 1 or n_quantiles < 1:
            raise ConfigError("a reference prior needs matching, non-empty complexity and accuracy samples")
        edges = np.unique(np.quantile(complexity, np.arange(1, buckets) / buckets)) if buckets > 1 else []
        which = np.searchsorted(edges, complexity, side="right")
        levels = (np.arange(n_quantiles) + 0.5) / n_quantiles
        qs = tuple(
            tuple(
                float(v)
                for v in np.quantile(accuracy[which == b] if np.any(which == b) else accuracy, levels)
            )
            for b in range(len(edges) + 1)
        )
        strata = ()
        if contexts is not None:
            contexts = np.asarray(list(contexts), dtype=object)
            if len(contexts) != len(accuracy):
                raise ConfigError(f"{len(contexts)} contexts for {len(accuracy)} reference prior samples")
            strata = tuple(
                (str(k), tuple(float(v) for v in np.quantile(accuracy[contexts == k], levels)))
                for k in sorted(set(contexts.tolist()))
                if np.count_nonzero(contexts == k) >= min_stratum
            )
        return cls(reference_model, qs, tuple(float(e) for e in edges), strata=strata)

    def _bucket(self, complexity: float | None, context: str | None = None) -> np.ndarray:
        if context is not None and context in self._s:
            return self._s[context]
        if complexity is None:
            return np.concatenate(self._q)
        return self._q[int(np.searchsorted(self.complexity_edges, complexity, side="right"))]

    def prior_at(self, complexity: float | None = None, context: str | None = None) -> float:
        """The reference model's expected accuracy on a frame of this complexity (or context)."""
        return float(self._bucket(complexity, context).mean())

    def credit(self, agreement: float | None, complexity: float | None = None, context: str | None = None
               ) -> float:  # fmt: skip
        """Expected accuracy of a result with this agreement; None = the reference's own result."""
        prior = self.prior_at(complexity, context)
        return prior if agreement is None else agreement * prior / 100.0

    def success_p(
        self,
        agreement: float | None,
        a_req: float,
        complexity: float | None = None,
        context: str | None = None,
    ) -> float:
        """P(accuracy >= a_req) under the prior: P(r >= a_req) for the reference itself,
        P(agreement x r / 100 >= a_req) for another model."""
        r = self._bucket(complexity, context)
        if agreement is None:
            return float(np.mean(r >= a_req))
        if agreement <= 0.0:
            return float(a_req <= 0.0)
        return float(np.mean(r * agreement / 100.0 >= a_req))

    def agreement(self, detections, reference) -> float:
        """mAP50 (percent) of ``detections`` against ``reference`` (both inference Detections)."""
        from cdio_stream.data.annotations import GroundTruth
        from cdio_stream.inference.accuracy import frame_map50

        keep = reference.scores >= self.score_threshold
        truth = GroundTruth(
            boxes=reference.boxes[keep],
            classes=reference.classes[keep],
            track_ids=np.arange(int(keep.sum()), dtype=np.int64),
            ignored=np.zeros((0, 4), dtype=np.float32),
        )
        value = frame_map50(detections, truth)
        assert value is not None  # a GroundTruth was given
        return value


def simulated_agreement(accuracy: float, reference_accuracy: float) -> float:
    """The simulator's stand-in for :meth:`ReferenceJudge.agreement` (it has no detections).

    Under the nested-misses model of the module docstring a model with truth accuracy a
    finds a subset of what a reference with accuracy r finds, so it agrees min(a, r) /
    max(a, r) with it (recall a / r when a <= r; precision r / a when it finds more).
    Two models that both find nothing agree fully. Percent in, percent out.
    """
    lo, hi = min(accuracy, reference_accuracy), max(accuracy, reference_accuracy)
    return 100.0 if hi <= 0.0 else 100.0 * lo / hi
