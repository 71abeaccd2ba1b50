"""Judging against the reference: agreement with frame_map50's matcher, credit and P(C1) from the prior."""

from __future__ import annotations

import numpy as np
import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.feedback import ReferenceJudge, simulated_agreement
from cdio_stream.inference.detections import Detections


def dets(boxes, scores=None, cls=0):
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.full(len(boxes), 0.9) if scores is None else np.asarray(scores)
    return Detections(boxes, np.full(len(boxes), cls), scores)


BOXES = [[10, 10, 50, 50], [100, 100, 160, 150], [200, 20, 260, 90], [300, 300, 340, 360]]


class TestAgreement:
    judge = ReferenceJudge.from_mean("cloud", 40.0)

    def test_identical_detections_agree_fully(self):
        assert self.judge.agreement(dets(BOXES), dets(BOXES)) == pytest.approx(99.5)

    def test_half_of_the_reference_found(self):
        assert self.judge.agreement(dets(BOXES[:2]), dets(BOXES)) == pytest.approx(50.0, abs=1.0)

    def test_reference_below_the_score_threshold_is_not_an_object(self):
        reference = dets(BOXES, scores=[0.9, 0.9, 0.1, 0.1])
        assert self.judge.agreement(dets(BOXES[:2]), reference) == pytest.approx(99.5)

    def test_nothing_vs_nothing_and_false_positives(self):
        assert self.judge.agreement(dets([]), dets([])) == 100.0
        assert self.judge.agreement(dets(BOXES), dets([])) == 0.0


class TestCredit:
    def test_point_prior(self):
        judge = ReferenceJudge.from_mean("cloud", 40.0)
        assert judge.credit(None) == 40.0  # the reference's own result: its prior
        assert judge.credit(50.0) == 20.0  # half the reference's objects: half its accuracy
        assert judge.success_p(None, 39.0) == 1.0 and judge.success_p(None, 41.0) == 0.0
        assert judge.success_p(0.0, 10.0) == 0.0

    def test_prior_by_complexity_from_samples(self):
        rng = np.random.default_rng(0)
        c = rng.uniform(0, 1, 4000)
        acc = 90 - 40 * c + rng.normal(0, 5, 4000)  # complex frames are hard for the reference too
        judge = ReferenceJudge.from_samples("cloud", c, acc, buckets=4)
        assert len(judge.complexity_edges) == 3
        assert judge.prior_at(0.1) > judge.prior_at(0.9) + 20
        # success probability follows the per-frame spread, not a certain point
        assert 0.3 < judge.success_p(None, judge.prior_at(0.1), 0.1) < 0.7
        assert judge.success_p(80.0, 60.0, 0.1) < judge.success_p(None, 60.0, 0.1)

    def test_prior_by_policy_context(self):
        rng = np.random.default_rng(1)
        c = rng.uniform(0, 1, 2000)
        hard = rng.random(2000) < 0.5  # e.g. frames RPP flags as too hard for the edge
        acc = np.where(hard, 40.0, 80.0) + rng.normal(0, 3, 2000)
        ctx = np.where(hard, "compute/c0", "bandwidth/c0")
        ctx[:10] = "rare/c0"  # too few samples for a stratum of its own
        judge = ReferenceJudge.from_samples("cloud", c, acc, buckets=1, contexts=ctx, min_stratum=30)
        assert {k for k, _ in judge.strata} == {"compute/c0", "bandwidth/c0"}
        assert judge.prior_at(0.5, "compute/c0") == pytest.approx(40.0, abs=1.0)
        assert judge.prior_at(0.5, "bandwidth/c0") == pytest.approx(80.0, abs=1.0)
        assert judge.prior_at(0.5, "rare/c0") == pytest.approx(judge.prior_at(0.5), abs=1e-9)  # falls back
        assert judge.success_p(90.0, 60.0, 0.5, "compute/c0") < 0.05 < 0.95 < judge.success_p(90.0, 60.0, 0.5,
                                                                                             "bandwidth/c0")  # fmt: skip
        assert judge.credit(50.0, 0.5, "compute/c0") == pytest.approx(20.0, abs=0.5)

    def test_bad_priors(self):
        with pytest.raises(ConfigError):
            ReferenceJudge("cloud", ((120.0,),))
        with pytest.raises(ConfigError):
            ReferenceJudge("cloud", ((40.0,),), complexity_edges=(0.5,))
        with pytest.raises(ConfigError):
            ReferenceJudge("cloud", ((40.0,),), strata=(("compute/c0", ()),))


def test_simulated_agreement_is_the_nested_model():
    assert simulated_agreement(30.0, 60.0) == 50.0
    assert simulated_agreement(60.0, 30.0) == 50.0
    assert simulated_agreement(0.0, 0.0) == 100.0
    assert simulated_agreement(10.0, 0.0) == 0.0
