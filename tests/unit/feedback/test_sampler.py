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
