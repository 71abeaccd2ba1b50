"""The fallback preference rule used when no trained LSTM is available."""

from __future__ import annotations

import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.rpp.features import TaskFeatures
from cdio_stream.rpp.rule import BANDWIDTH, COMPUTE, preference_of, rule_preference, rule_score


def _features(complexity: float, a_req: float, d_req: float = 0.5) -> TaskFeatures:
    return TaskFeatures(complexity, (complexity,), 0.0, 0.04, a_req, d_req)


class TestRule:
    def test_hard_and_demanding_prefers_compute(self):
        assert rule_preference(_features(0.02, 80.0)) == COMPUTE

    def test_easy_and_lenient_prefers_bandwidth(self):
        assert rule_preference(_features(0.001, 50.0)) == BANDWIDTH

    def test_tight_delay_forces_bandwidth(self):
        assert rule_preference(_features(0.02, 80.0, d_req=0.2)) == BANDWIDTH
        assert rule_preference(_features(0.02, 80.0, d_req=0.2), min_cloud_delay_s=0.1) == COMPUTE

    def test_score_is_monotone_and_bounded(self):
        scores = [rule_score(_features(c, a)) for c, a in [(0.0, 40), (0.005, 60), (0.01, 70), (1.0, 95)]]
        assert scores == sorted(scores)
        assert scores[0] == 0.0 and scores[-1] == 1.0

    def test_threshold_boundary(self):
        # complexity at the middle of c_range and a_req at the middle of a_range -> score 0.5
        f = _features(0.0085, 65.0)
        assert rule_score(f) == pytest.approx(0.5)
        assert rule_preference(f, threshold=0.49) == COMPUTE
        assert rule_preference(f, threshold=0.51) == BANDWIDTH

    def test_bad_ranges(self):
        with pytest.raises(ConfigError):
            rule_score(_features(0.01, 60), c_range=(0.02, 0.01))

    def test_preference_of(self):
        assert preference_of(0.5) == COMPUTE and preference_of(0.49) == BANDWIDTH
        assert preference_of(0.7, threshold=0.8) == BANDWIDTH
