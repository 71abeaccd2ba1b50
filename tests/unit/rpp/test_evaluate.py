"""AUC, log-loss and the baselines the card and the online trainer compare against."""

from __future__ import annotations

import numpy as np
import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.rpp.evaluate import (
    LogisticBaseline,
    RequirementBaseline,
    compare_to_baselines,
    log_loss,
    roc_auc,
    score,
)


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


class TestLogisticBaseline:
    NAMES = ("complexity", "motion", "a_req")

    def data(self, n, seed):
        rng = np.random.default_rng(seed)
        c = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), n))
        a = rng.uniform(10, 70, n)
        m = rng.uniform(0, 1, n)
        # true log-odds: linear in log complexity, a bump in A^q (rises, then falls)
        logit = 1.5 * (np.log(c) - np.log(1e-2)) - ((a - 40) / 12) ** 2 + 1.0
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
        return np.column_stack([c, m, a]), y, logit

    def test_recovers_a_logistic_model_on_log_complexity_and_a_req(self):
        rng = np.random.default_rng(0)
        n = 40000
        lc = rng.normal(np.log(1e-2), 1.0, n)
        a = rng.normal(40, 10, n)
        y = (rng.random(n) < 1 / (1 + np.exp(-(0.5 + 1.2 * (lc - np.log(1e-2)) - 0.08 * (a - 40))))).astype(
            float
        )
        x = np.column_stack([np.exp(lc), rng.random(n), a])
        fit = LogisticBaseline.fit(x, y, self.NAMES, use=("complexity", "a_req"), l2=0.0)
        assert fit.columns == (0, 2) and fit.log_mask == (True, False)
        # weights are per z-scored input: true slope x the input's standard deviation
        assert fit.weights[1] == pytest.approx(1.2 * 1.0, rel=0.05)
        assert fit.weights[2] == pytest.approx(-0.08 * 10, rel=0.05)

    def test_degree_two_follows_what_a_linear_fit_cannot(self):
        x, y, logit = self.data(20000, 1)
        xt, yt, _ = self.data(5000, 2)
        linear_a = LogisticBaseline.fit(x, y, self.NAMES, use=("a_req",))
        full = LogisticBaseline.fit(x, y, self.NAMES, degree=2)
        p_lin, p_full = linear_a.predict(xt), full.predict(xt)
        assert p_full.shape == (5000,) and np.all((p_full > 0) & (p_full < 1))
        assert log_loss(yt, p_full) < log_loss(yt, p_lin) - 0.1
        assert roc_auc(yt, p_full) > 0.8 > roc_auc(yt, p_lin)

    def test_bad_input(self):
        x, y, _ = self.data(100, 3)
        with pytest.raises(ConfigError, match="not among"):
            LogisticBaseline.fit(x, y, self.NAMES, use=("d_req",))
        with pytest.raises(ConfigError, match="degree"):
            LogisticBaseline.fit(x, y, self.NAMES, degree=3)
        with pytest.raises(ConfigError):
            LogisticBaseline.fit(x[:, :2], y, self.NAMES)
