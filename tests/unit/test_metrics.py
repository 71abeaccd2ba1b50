"""Simulated and live runs report their metrics under one set of names."""

from __future__ import annotations

import dataclasses

from cdio_stream.messages import Costs, Result, Timings
from cdio_stream.metrics import Metrics
from cdio_stream.pipeline.metrics import LiveMetrics


def test_live_summary_uses_the_simulators_names():
    live = LiveMetrics()
    live.add(Result("s/1", "s", 1, "cloud", "cloud", "m", 60.0, 0.4, 10, (), 70.0, Timings(0.1), Costs(1.0, 2.0, 3.0), 0.0))  # fmt: skip
    names = {f.name for f in dataclasses.fields(Metrics)}
    summary = live.summary()
    assert set(summary) <= names, f"live-only names: {sorted(set(summary) - names)}"
    assert summary["cloud_share"] == 1.0 and summary["acc_success"] == 1.0
