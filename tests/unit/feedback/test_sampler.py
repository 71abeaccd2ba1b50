"""Reference sampling: exact share per stream, seeded, warm-up per uncertain key, state round trip."""

from __future__ import annotations

import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.feedback import ReferenceSampler


def run(sampler, streams=("a", "b", "c"), n=400, key=lambda s, i: "k"):
    taken = {s: 0 for s in streams}
    order = []
    for i in range(n):
        for s in streams:
            if sampler.sample(s, key(s, i)):
                taken[s] += 1
                order.append((s, i))
    return taken, order


class TestReferenceSampler:
    def test_each_stream_gets_the_rate_evenly(self):
        taken, order = run(ReferenceSampler(0.05, max_se=0.5, seed=3))
        # max_se 0.5: one warm-up sample for the single key, repaid by its stream later
        assert sum(taken.values()) == pytest.approx(0.05 * 1200, abs=1)
        assert all(abs(v - 20) <= 1 for v in taken.values())
        gaps = [b - a for (s1, a), (s2, b) in zip(order, order[1:], strict=False) if s1 == s2 == "a"]
        assert all(g >= 10 for g in gaps)  # spread over time, never in bursts

    def test_seeded_and_reproducible(self):
        assert run(ReferenceSampler(0.1, seed=1))[1] == run(ReferenceSampler(0.1, seed=1))[1]
        assert run(ReferenceSampler(0.1, seed=1))[1] != run(ReferenceSampler(0.1, seed=2))[1]

    def test_uncertain_keys_are_sampled_until_warm(self):
        sampler = ReferenceSampler(0.05, max_se=0.2, seed=0)
        assert sampler.warmup == 7  # 0.5 / sqrt(n) <= 0.2 needs n >= 6.25
        picks = [sampler.sample("a", "new") for _ in range(7)]
        assert all(picks)
        rest = [sampler.sample("a", "new") for _ in range(200)]
        # the warm-up was borrowed from the stream's budget: 207 tasks x 0.05 = 10 in all
        assert 7 + sum(rest) == pytest.approx(10.35, abs=1)

    def test_rate_zero_never_samples(self):
        sampler = ReferenceSampler(0.0)
        assert not any(sampler.sample("a", "k") for _ in range(100))

    def test_state_round_trip(self):
        a = ReferenceSampler(0.2, seed=5)
        run(a, n=37)
        b = ReferenceSampler(0.2, seed=5)
        b.load_state(a.state())
        assert run(a, n=50)[1] == run(b, n=50)[1]

    @pytest.mark.parametrize("kw", [{"rate": -0.1}, {"rate": 1.5}, {"rate": 0.1, "max_se": 0.0}])
    def test_bad_settings(self, kw):
        with pytest.raises(ConfigError):
            ReferenceSampler(**kw)


class TestBorrowing:
    def test_warm_up_borrows_at_most_max_borrow_turns_per_stream(self):
        sampler = ReferenceSampler(0.05, max_se=0.2, max_borrow=3, seed=0)
        picks = [sampler.sample("a", f"key-{i}") for i in range(40)]  # every task a new, uncertain key
        # 40 tasks x 0.05 = 2 turns of its own, plus at most 3 borrowed
        assert sum(picks) <= 2 + 3 + 1

    def test_frames_with_ground_truth_get_no_warm_up(self):
        sampler = ReferenceSampler(0.05, seed=0)
        picks = [sampler.sample("a", "new", uncertain_ok=False) for _ in range(100)]
        assert sum(picks) == pytest.approx(5, abs=1)  # the base rate only


class TestComputeBudget:
    def test_lanes_are_sampled_inversely_to_their_cost(self):
        sampler = ReferenceSampler(0.05, max_se=0.5, max_borrow=0, seed=0)
        # tasks cost 1 TFLOP on average; a shadow in "big" costs 4, one in "small" 0.25
        for _ in range(10):
            sampler.observe(1.0, "mid", served=True)
            sampler.observe(4.0, "big", served=False)
            sampler.observe(0.25, "small", served=False)
        assert sampler.share("big") == pytest.approx(0.25) and sampler.share("small") == pytest.approx(4.0)
        big = sum(sampler.sample("a", "k", lane="big") for _ in range(4000))
        small = sum(sampler.sample("a", "k", lane="small") for _ in range(4000))
        assert big == pytest.approx(4000 * 0.05 / 4, abs=1) and small == pytest.approx(4000 * 0.05 * 4, abs=1)
        # either lane spends rate x the served compute: 10 TFLOP per 4000 tasks of 1 TFLOP x 0.05
        assert big * 4.0 == pytest.approx(200, abs=4) and small * 0.25 == pytest.approx(200, abs=1)

    def test_share_is_one_until_costs_are_known_and_capped(self):
        sampler = ReferenceSampler(0.2)
        assert sampler.share("x") == 1.0
        sampler.observe(1.0, "x", served=True)
        sampler.observe(0.01, "y", served=False)
        assert sampler.share("y") == pytest.approx(5.0)  # 100 x cheaper, but at most every task
        sampler.observe(float("nan"), "y", served=False)  # ignored
        assert sampler.share("y") == pytest.approx(5.0)

    def test_a_costly_lane_borrows_fewer_warm_up_runs(self):
        sampler = ReferenceSampler(0.05, max_se=0.2, seed=0)
        sampler.observe(1.0, "m", served=True)
        sampler.observe(4.0, "big", served=False)
        picks = sum(sampler.sample("a", f"key-{i}", lane="big") for i in range(40))  # every key new
        assert picks <= 0.05 * 0.25 * 40 + 7 * 0.25 + 1

    def test_costs_survive_the_state_round_trip(self):
        a = ReferenceSampler(0.1, seed=2)
        a.observe(2.0, "m", served=True)
        a.observe(8.0, "big", served=False)
        b = ReferenceSampler(0.1, seed=2)
        b.load_state(a.state())
        assert b.share("big") == a.share("big") == pytest.approx(0.25)
