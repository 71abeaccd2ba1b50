"""The bandit's building blocks: slot oracle, arm statistics, contexts, reward, state codec, types."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

from cdio_stream.errors import ConfigError, MessageError
from cdio_stream.policy import (
    ContextSpace,
    Feedback,
    approx_regret,
    complexity_edges_from,
    expected_penalty,
    task_reward,
)
from cdio_stream.policy.arms import HistogramArms, MeanArms, confidence_radius
from cdio_stream.policy.codec import decode_state, encode_state, rng_from_json, rng_to_json
from cdio_stream.policy.slot_oracle import columns, dispatch_order, solve_columns, solve_slot


class TestSlotOracle:
    def brute_force(self, score):
        n, m, r = score.shape
        best = math.inf
        for cols in itertools.permutations(range(m * r), n):
            best = min(best, sum(score[i, c // r, c % r] for i, c in enumerate(cols)))
        return best

    def test_matches_brute_force(self):
        rng = np.random.default_rng(0)
        for _ in range(20):
            score = np.sort(rng.random((3, 2, 3)), axis=2)  # non-decreasing in position
            server, pos = solve_slot(score)
            value = sum(score[i, server[i], pos[i]] for i in range(3))
            assert value == pytest.approx(self.brute_force(score))

    def test_positions_are_renumbered_contiguously(self):
        score = np.zeros((3, 1, 5))
        score[:, 0, :] = [0.0, 0.0, 0.0, 0.0, 0.0]
        server, pos = solve_slot(score)
        assert sorted(pos.tolist()) == [0, 1, 2] and set(server.tolist()) == {0}

    def test_capacity_columns_and_dispatch_order(self):
        col_server, col_pos = columns(np.array([2, 0, 3]))
        assert col_server.tolist() == [0, 0, 2, 2, 2] and col_pos.tolist() == [0, 1, 0, 1, 2]
        score = np.array([[0.0, 1.0, 5.0, 6.0, 7.0]] * 3)
        server, pos = solve_columns(score, col_server, col_pos)
        assert sorted(zip(server.tolist(), pos.tolist(), strict=True)) == [(0, 0), (0, 1), (2, 0)]
        order = dispatch_order(server, pos).tolist()
        assert pos[order[-1]] == 1  # second-in-queue tasks come last
        with pytest.raises(ValueError, match="cannot fit"):
            solve_columns(np.zeros((3, 2)), np.array([0, 1]), np.array([0, 0]))


class TestArms:
    def test_confidence_radius(self):
        eps = confidence_radius(np.array([0.0, 1.0, 100.0]), math.log(100), 0.5)
        assert (
            eps[0] == 1.0 and eps[1] == 1.0 and eps[2] == pytest.approx(0.5 * math.sqrt(math.log(100) / 100))
        )

    def test_histogram_cdf_and_optimism(self):
        h = HistogramArms(2, 0.0, 1.0, 10, explore=0.0)
        for v in (0.05, 0.15, 0.55, 0.95):
            h.update(0, v)
        assert h.cdf_at(np.array([0]), np.array([0.2]))[0] == pytest.approx(0.5)
        assert h.cdf_at(np.array([0]), np.array([0.15]))[0] == pytest.approx(0.375)  # interpolated in-bin
        assert h.optimistic_cdf(np.array([1]), np.array([0.5]))[0] == 1.0  # unplayed arm: fully optimistic
        assert h.optimistic_cdf(np.array([0]), np.array([-0.1]))[0] == 0.0  # below the support
        assert h.optimistic_cdf_one(0, 0.2) == pytest.approx(0.5)
        assert h.mean(0) == pytest.approx(0.425)  # bin centres

    def test_histogram_optimism_shrinks_with_samples(self):
        h = HistogramArms(1, 0.0, 1.0, 10, explore=0.5)
        h.set_time(math.log(1000))
        bonus = []
        for _ in range(200):
            h.update(0, 0.9)
            bonus.append(h.optimistic_cdf_one(0, 0.5))
        assert bonus[0] == 1.0 and bonus[-1] < 0.2 and all(a >= b for a, b in itertools.pairwise(bonus))

    def test_discount_forgets(self):
        h = HistogramArms(1, 0.0, 1.0, 10, explore=0.0, discount=0.9)
        for _ in range(50):
            h.update(0, 0.05)
        for _ in range(30):
            h.update(0, 0.95)
        assert h.cdf_at(np.array([0]), np.array([0.5]))[0] < 0.1

    def test_mean_arms_bounds(self):
        up = MeanArms(2, side="upper", explore=0.1)
        low = MeanArms(2, side="lower", explore=0.1)
        for _ in range(100):
            up.update(0, 0.5)
            low.update(0, 2.0)
        low.set_time(math.log(100), scale=4.0)
        assert 0.5 < up.bound[0] < 0.6 and up.bound[1] == 1.0
        assert 0.4 < low.bound[0] < 0.5 and low.bound[1] == 0.0


class TestContexts:
    def test_index_is_a_bijection_onto_range(self):
        space = ContextSpace((0.3, 0.6), (65.0,), use_preference=True)
        seen = set()
        for p, c, a in itertools.product((0.1, 0.9, None), (0.1, 0.5, 0.9), (55.0, 75.0)):
            from cdio_stream.policy import SlotTask

            seen.add(space.index(SlotTask("t", "s", 1, c, p, a, 0.4, 0.0)))
        assert seen == set(range(space.n_contexts)) and space.n_contexts == 18
        assert space.describe(0) == "bandwidth/c0/a0"

    def test_edges_from_quantiles(self):
        assert complexity_edges_from(np.arange(100.0), 4) == pytest.approx((24.75, 49.5, 74.25))
        with pytest.raises(ConfigError):
            ContextSpace((0.5, 0.2))


class TestReward:
    def test_task_reward_range_and_penalties(self):
        assert task_reward(0.0, True, True, 4.0, 4.0) == 1.0
        assert task_reward(1.0, False, False, 4.0, 4.0) == 0.0
        assert task_reward(0.5, None, True, 4.0, 4.0) > task_reward(0.5, False, True, 4.0, 4.0)

    def test_a_late_result_misses_c1_whatever_its_accuracy(self):
        assert task_reward(0.3, True, False, 4.0, 4.0) == task_reward(0.3, False, False, 4.0, 4.0)
        assert task_reward(0.3, None, False, 4.0, 4.0) == task_reward(0.3, False, False, 4.0, 4.0)
        # so a task that misses D^q everywhere scores least where it costs least ...
        late_cheap = expected_penalty(np.array(0.1), np.array(0.2), np.array(0.0), 4.0, 4.0)
        late_accurate = expected_penalty(np.array(0.6), np.array(0.9), np.array(0.0), 4.0, 4.0)
        assert late_cheap < late_accurate
        # ... and one that misses A^q everywhere still prefers to be on time
        on_time = expected_penalty(np.array(0.6), np.array(0.0), np.array(1.0), 4.0, 4.0)
        late = expected_penalty(np.array(0.1), np.array(0.0), np.array(0.0), 4.0, 4.0)
        assert on_time < late

    def test_a_violation_never_scores_below_a_placement_that_meets_both(self):
        # the cost is capped at 1
        ok_costliest = expected_penalty(np.array(5.0), np.array(1.0), np.array(1.0), 4.0, 4.0)
        for p_acc, p_delay in ((0.0, 1.0), (1.0, 0.0), (0.0, 0.0)):
            free = expected_penalty(np.array(0.0), np.array(p_acc), np.array(p_delay), 4.0, 4.0)
            assert free > ok_costliest

    def test_approx_regret(self):
        cum = approx_regret(np.array([2.0, 2.0]), np.array([1.5, 2.0]), alpha=0.5, beta=1.0)
        assert cum.tolist() == [-0.5, -1.5]
        with pytest.raises(ValueError):
            approx_regret(np.ones(2), np.ones(2), alpha=1.5)


class TestCodec:
    def test_roundtrip_exact(self):
        arrays = {"f": np.array([[0.1, 1 / 3]]), "b": np.array([True, False]), "i": np.arange(3)}
        header, back = decode_state(encode_state({"x": 1.0 / 7, "y": [1, "a"]}, arrays))
        assert header == {"x": 1.0 / 7, "y": [1, "a"]}
        assert all(np.array_equal(arrays[k], back[k]) and arrays[k].dtype == back[k].dtype for k in arrays)

    @pytest.mark.parametrize("blob", [b"", b"XXXX\x01\x00\x00\x00\x00", b"CDPS\x09\x00\x00\x00\x00",
                                      b"CDPS\x01\x05\x00\x00\x00{bad"])  # fmt: skip
    def test_malformed(self, blob):
        with pytest.raises(MessageError):
            decode_state(blob)

    def test_rng_state_roundtrip(self):
        a, b = np.random.default_rng(3), np.random.default_rng(99)
        a.random(5)
        rng_from_json(b, rng_to_json(a))
        assert a.random() == b.random()


class TestTypes:
    def test_feedback_measured_derives_total_and_flags(self):
        fb = Feedback.measured("t", "cloud", accuracy=70.0, a_req=72.0, d_req=0.1, preprocess_s=0.01, queue_s=0.02,
                               transmission_s=0.03, inference_s=0.04)  # fmt: skip
        assert fb.total_s == pytest.approx(0.1) and fb.acc_ok is False and fb.delay_ok is True
        assert Feedback.measured("t", "c", accuracy=None, a_req=50.0, d_req=1.0).acc_ok is None

    def test_policy_package_imports_no_torch_faust_or_kafka(self):
        code = ("import sys, cdio_stream.policy, cdio_stream.sim, cdio_stream.system; "
                "bad = [m for m in ('torch', 'faust', 'aiokafka', 'kafka') if m in sys.modules]; "
                "sys.exit(1 if bad else 0)")  # fmt: skip
        assert subprocess.run([sys.executable, "-c", code], cwd=".", check=False).returncode == 0
