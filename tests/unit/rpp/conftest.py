"""Fixtures for the RPP tests: synthetic images, trace frames and labelled histories."""

from __future__ import annotations

import numpy as np
import pytest

from cdio_stream.rpp.history import HistoryRecord
from cdio_stream.trace import TraceFrame


def natural_like(h: int, w: int, *, beta: float = 2.0, seed: int = 0) -> np.ndarray:
    """1/f^beta random field scaled to [0, 1]: the power spectrum of natural images."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    k = np.sqrt(fx**2 + fy**2)
    k[0, 0] = 1.0
    spec = (rng.normal(size=k.shape) + 1j * rng.normal(size=k.shape)) / k ** (beta / 2)
    spec[0, 0] = 0.0
    img = np.fft.irfft2(spec, s=(h, w))
    return (img - img.min()) / (img.max() - img.min())


@pytest.fixture
def natural_factory():
    return natural_like


@pytest.fixture
def trace_frame_factory():
    """TraceFrame with sensible defaults; override any field by keyword."""

    def make(**kw) -> TraceFrame:
        base = dict(
            stream="s1",
            frame=1,
            capture_time=0.0,
            jpeg_bytes=75_000,
            width=960,
            height=540,
            complexity=0.008,
            complexity_scales=(0.001, 0.002, 0.002, 0.0015, 0.0015),
            motion=0.001,
            n_objects=5,
            accuracy={"edge": 60.0, "cloud": 75.0},
            latency_s={"edge": 0.05, "cloud": 0.02},
            detections={"edge": 4, "cloud": 5},
        )
        base.update(kw)
        return TraceFrame(**base)

    return make


def synthetic_history(
    seed: int, *, n_streams: int = 16, n_tasks: int = 120, random_labels: bool = False
) -> list[HistoryRecord]:
    """A labelled history whose label follows a learnable rule with temporal context.

    Per stream, log-complexity and log-motion follow AR(1) processes. The task prefers
    compute iff (a_req - 65) / 8.66 + (mean log-motion of its last 3 tasks - log 1e-3) / 0.8
    > 0: the current requirement plus the recent motion of the stream, so one frame alone
    does not determine it. Outcomes are written so that ``preference_label`` returns that
    label. ``random_labels`` draws the labels as fair coins instead (same features).
    """
    rng = np.random.default_rng(seed)
    records: list[HistoryRecord] = []
    for s in range(n_streams):
        mu = rng.uniform(np.log(0.002), np.log(0.02))
        lc, lm = mu, np.log(1e-3)
        recent: list[float] = []
        for t in range(n_tasks):
            lc = mu + 0.8 * (lc - mu) + 0.3 * rng.normal()
            lm = np.log(1e-3) + 0.7 * (lm - np.log(1e-3)) + 0.8 * rng.normal()
            c, m = float(np.exp(lc)), float(np.exp(lm))
            weights = rng.dirichlet(np.full(5, 5.0))
            a, d = float(rng.uniform(50, 80)), float(rng.uniform(0.2, 0.6))
            recent = [*recent[-2:], lm]
            score = (a - 65) / 8.66 + (np.mean(recent) - np.log(1e-3)) / 0.8
            label = int(rng.random() < 0.5) if random_labels else int(score > 0)
            records.append(
                HistoryRecord(
                    stream=f"s{s}",
                    frame=t + 1,
                    capture_time=t * 0.04,
                    complexity=c,
                    complexity_scales=tuple((c * weights).tolist()),
                    motion=m,
                    inter_arrival=0.04 if t else 0.0,
                    a_req=a,
                    d_req=d,
                    edge_accuracy=a - 5 if label else a + 3,
                    edge_delay=0.03,
                    cloud_accuracy=a + 5,
                    cloud_delay=d - 0.05,
                )
            )
    return records


@pytest.fixture
def history_factory():
    return synthetic_history
