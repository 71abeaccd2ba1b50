"""Factories for the dashboard tests: results, JPEG frames, a view with a hand-driven clock."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cdio_stream.dashboard.view import DashboardView
from cdio_stream.messages import Costs, Detection, Result, Timings
from cdio_stream.pipeline.metrics import LiveMetrics
from cdio_stream.topology import ServerSpec

SERVERS = (
    ServerSpec("edge-1", "edge", "edge", "jetson-xavier-nx"),
    ServerSpec("cloud", "cloud", "cloud", "a100-40gb"),
)


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def result_factory():
    def make(
        stream="cam-1", frame_no=1, server="edge-1", *, accuracy=70.0, a_req=60.0, delay=0.1, d_req=0.4,
        payload=1000, detections=((10.0, 20.0, 110.0, 80.0, 0, 0.9),), source=None,
    ) -> Result:  # fmt: skip
        tier = "cloud" if server == "cloud" else "edge"
        return Result(
            task_id=f"{stream}/{frame_no}", stream_id=stream, frame_no=frame_no, server_id=server, tier=tier,
            model=tier, a_req=a_req, d_req=d_req, payload_bytes=payload,
            detections=tuple(Detection(d[:4], d[4], d[5]) for d in detections), accuracy=accuracy,
            timings=Timings(inference=delay), costs=Costs(compute=1.0, bandwidth=1e6, energy=2.0),
            completed_at=0.0, accuracy_source=source,
        )  # fmt: skip

    return make


@pytest.fixture
def jpeg_factory():
    def make(width=64, height=48, seed=0) -> bytes:
        img = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
        ok, buf = cv2.imencode(".jpg", img)
        assert ok
        return buf.tobytes()

    return make


@pytest.fixture
def view_factory():
    def make(**kwargs) -> tuple[DashboardView, LiveMetrics, Clock]:
        clock = Clock()
        metrics = LiveMetrics()
        kwargs.setdefault("queue_lag", {"edge-1": ("assign.edge-1", "inference-edge-1")})
        return DashboardView(SERVERS, metrics, clock=clock, **kwargs), metrics, clock

    return make
