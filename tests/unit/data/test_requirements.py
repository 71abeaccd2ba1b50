import numpy as np
import pytest

from cdio_stream.data.requirements import RequirementSampler
from cdio_stream.errors import ConfigError


class TestRequirementSampler:
    def test_defaults_are_the_paper_ranges(self):
        s = RequirementSampler().for_stream(3)
        draws = np.array([s.draw() for _ in range(2000)])
        assert draws[:, 0].min() >= 50.0 and draws[:, 0].max() <= 80.0
        assert draws[:, 1].min() >= 0.2 and draws[:, 1].max() <= 0.6
        # uniform: both halves of each range are used about equally
        assert 0.4 < np.mean(draws[:, 0] < 65.0) < 0.6 and 0.4 < np.mean(draws[:, 1] < 0.4) < 0.6

    def test_streams_are_reproducible_and_independent(self):
        a = [RequirementSampler(seed=1).for_stream(0).draw() for _ in range(1)]
        s0, s0b, s1 = (RequirementSampler(seed=1).for_stream(i) for i in (0, 0, 1))
        seq0 = [s0.draw() for _ in range(5)]
        assert seq0 == [s0b.draw() for _ in range(5)]
        assert seq0 != [s1.draw() for _ in range(5)]
        assert a[0] == seq0[0]
        assert seq0 != [RequirementSampler(seed=2).for_stream(0).draw() for _ in range(5)]

    def test_custom_ranges(self):
        s = RequirementSampler(accuracy_range=(70.0, 70.0), delay_range=(0.5, 0.55)).for_stream(0)
        for _ in range(20):
            a, d = s.draw()
            assert a == 70.0 and 0.5 <= d <= 0.55

    @pytest.mark.parametrize(
        "kwargs",
        [{"accuracy_range": (80.0, 50.0)}, {"accuracy_range": (50.0, 120.0)}, {"delay_range": (0.0, 0.5)}],
    )
    def test_invalid_ranges(self, kwargs):
        with pytest.raises(ConfigError):
            RequirementSampler(**kwargs)
