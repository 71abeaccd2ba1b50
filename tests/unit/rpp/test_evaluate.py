"""AUC, log-loss and the baselines the card and the online trainer compare against."""

from __future__ import annotations

import numpy as np
import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.rpp.evaluate import RequirementBaseline, compare_to_baselines, log_loss, roc_auc, score


class TestAuc:
    def test_perfect_inverse_and_tied(self):
        y = np.array([0, 0, 1, 1])
        assert roc_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
        assert roc_auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
        assert roc_auc(y, np.full(4, 0.3)) == 0.5

    def test_matches_pair_counting(self):
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 200)
        p = np.round(rng.random(200), 1)  # many ties
        pos, neg = p[y == 1], p[y == 0]
        pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
        assert roc_auc(y, p) == pytest.approx(pairs / (len(pos) * len(neg)))

    def test_one_class_is_nan(self):
        assert np.isnan(roc_auc(np.zeros(3), np.array([0.1, 0.2, 0.3])))
        assert score(np.zeros(3), np.array([0.1, 0.2, 0.3])).to_dict()["auc"] is None


class TestLogLoss:
    def test_values(self):
        assert log_loss(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(np.log(2))
        assert log_loss(np.array([1]), np.array([0.0])) == pytest.approx(-np.log(1e-6))  # clipped, finite

    def test_bad_input(self):
        with pytest.raises(ConfigError):
            log_loss(np.array([]), np.array([]))
        with pytest.raises(ConfigError):
            roc_auc(np.array([1, 0]), np.array([0.5]))


class TestBaselines:
    def test_requirement_baseline_learns_the_rate_per_bin(self):
        rng = np.random.default_rng(1)
        a = rng.uniform(50, 80, 5000)
        y = (rng.random(5000) < np.where(a < 60, 0.6, 0.05)).astype(float)
        base = RequirementBaseline.fit(a, y)
        p = base.predict(np.array([52.0, 75.0]))
        assert p[0] == pytest.approx(0.6, abs=0.05) and p[1] == pytest.approx(0.05, abs=0.03)

    def test_compare_ranks_an_informed_model_first(self):
        rng = np.random.default_rng(2)
        a = rng.uniform(50, 80, 4000)
        z = rng.normal(size=4000)  # something only the model sees
        y = ((a < 60) & (z > 0)).astype(float)
        p_model = np.clip(np.where(a < 60, 0.5 + 0.45 * np.tanh(3 * z), 0.02), 0.01, 0.99)
        out = compare_to_baselines(p_model[2000:], y[2000:], a[2000:], y[:2000], a[:2000])
        assert out["model"]["log_loss"] < out["a_req_only"]["log_loss"] < out["class_prior"]["log_loss"]
        assert out["model"]["auc"] > out["a_req_only"]["auc"] > 0.5
        assert out["class_prior"]["auc"] == 0.5
