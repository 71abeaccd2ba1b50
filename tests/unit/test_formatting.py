import math

import pytest

from cdio_stream.formatting import NA, fmt


class TestFmt:
    @pytest.mark.parametrize(
        ("value", "spec", "scale", "text"),
        [
            (0.5, ".1%", 1.0, "50.0%"),
            (0.25, ".0f", 1000.0, "250"),
            (3, "d", 1, "3"),
            (-1.234, ".2f", 1.0, "-1.23"),
        ],
    )
    def test_numbers(self, value, spec, scale, text):
        assert fmt(value, spec, scale) == text

    @pytest.mark.parametrize("missing", [None, float("nan"), math.nan])
    def test_missing_values_are_na(self, missing):
        assert fmt(missing, ".1%") == NA == "n/a"
