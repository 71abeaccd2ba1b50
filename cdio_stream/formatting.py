"""Numbers in printed tables: one rule for a value that does not exist.

A rate with nothing to count (accuracy success where no frame has ground truth, a delay
percentile of an empty run) is NaN or None in the code and ``null`` in JSON; in a table a
person reads it is ``n/a``, never ``nan``.
"""

from __future__ import annotations

import math

__all__ = ["NA", "fmt"]

NA = "n/a"


def fmt(value: float | None, spec: str = ".2f", scale: float = 1.0) -> str:
    """``format(value * scale, spec)``, or ``n/a`` for None and NaN.

    >>> fmt(0.5, ".1%"), fmt(float("nan"), ".1%"), fmt(0.2, ".0f", 1000)
    ('50.0%', 'n/a', '200')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    return format(value * scale, spec)
