"""What the inference stage spends on a frame besides the detector (no broker): the JPEG is
decoded only for a detector that looks at pixels, the uplink re-encodes only at DAO's
quality below 1, and a call's blocking time is measured for the agent."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cdio_stream.messages import Assignment, Frame
from cdio_stream.topology import load_topology
from tests.unit.pipeline.test_shedding import NOW, ROOT, CountingDetector, inference, task


@pytest.fixture
def topology():
    return load_topology(ROOT / "topics.yaml")


class NoPixelsDetector(CountingDetector):
    """Like the no-op detector: it never looks at the frames it is given."""

    takes_pixels = False

    def __init__(self) -> None:
        super().__init__(call_s=0.0)
        self.shapes: list[tuple] = []

    def predict(self, frames):
        self.shapes += [f.shape for f in frames]
        return super().predict(frames)


def corrupt(a: Assignment) -> Assignment:
    """The same assignment with entropy data that does not decode (its markers still pass)."""
    jpeg = a.task.frame.jpeg[:2] + b"\x00" * 50 + b"\xff\xd9"
    return replace(a, task=replace(a.task, frame=Frame(a.task.frame.meta, jpeg)))


class TestPixels:
    def test_a_detector_that_takes_no_pixels_gets_no_decode(self, topology):
        det = NoPixelsDetector()
        stage = inference(topology, shed="never", detector=det)
        a = Assignment(task(1, created_at=NOW - 0.01), "edge-1", "cdio")
        (out,) = stage.infer_batch([(corrupt(a), 0.002)])  # validated where it entered, not again here
        assert out.task_id == "cam/1" and det.shapes == [(0, 0, 3)]

    def test_a_detector_that_takes_pixels_gets_the_strict_decode(self, topology):
        stage = inference(topology, shed="never", detector=CountingDetector())
        a = Assignment(task(1, created_at=NOW - 0.01), "edge-1", "cdio")
        (out,) = stage.infer_batch([(corrupt(a), 0.002)])
        assert isinstance(out, Exception) and "does not decode" in str(out)

    def test_each_call_measures_how_long_it_blocked(self, topology):
        stage = inference(topology, shed="never", detector=NoPixelsDetector())
        assert stage.blocking_s is None
        stage.infer_batch([(Assignment(task(1, created_at=NOW - 0.01), "edge-1", "cdio"), 0.002)])
        assert stage.blocking_s is not None and 0.0 <= stage.blocking_s < 1.0


class TestReencodes:
    def test_only_a_served_frame_below_full_quality_is_reencoded(self, topology):
        stage = inference(topology, shed="never")
        a = Assignment(task(1, created_at=NOW - 0.01), "edge-1", "dao", decision={"quality": 0.5})
        assert stage.reencodes(a)
        assert not stage.reencodes(replace(a, decision={}))
        assert not stage.reencodes(replace(a, decision={"quality": 1.0}))
        served = stage.infer(replace(a, decision={}), 0.002)
        assert not stage.reencodes(replace(a, served=served))  # a shadow run gets the frame as captured
