"""Batched inference in the inference stage (no broker): one detector call per batch, each
task's timing the whole call and its cost its share, and bad items failing alone."""

from __future__ import annotations

import pytest

from cdio_stream.errors import MessageError
from cdio_stream.messages import Assignment, Frame
from cdio_stream.system.cost import compute_consumption
from cdio_stream.topology import load_topology
from tests.unit.pipeline.test_shedding import NOW, ROOT, CountingDetector, inference, task


@pytest.fixture
def topology():
    return load_topology(ROOT / "topics.yaml")


def assignments(n: int) -> list[tuple[Assignment, float]]:
    return [(Assignment(task(i, created_at=NOW - 0.01), "edge-1", "cdio"), 0.002) for i in range(n)]


class TestInferBatch:
    def test_one_detector_call_per_batch(self, topology):
        det = CountingDetector(call_s=0.08)
        stage = inference(topology, shed="never", detector=det)
        out = stage.infer_batch(assignments(4))
        assert det.calls == [4]
        assert [r.task_id for r in out] == [f"cam/{i}" for i in range(4)]
        for r in out:
            assert r.timings.inference == pytest.approx(0.08)  # each frame waited for the whole call
            assert r.costs.compute == pytest.approx(compute_consumption(stage.device, 0.02))  # its share
        assert stage.inference_s == pytest.approx(0.08)  # what the next shedding check expects per call
        assert all(r.assigned_at == a.assigned_at for r, (a, _) in zip(out, assignments(4), strict=True))

    def test_a_batch_of_one_prices_like_a_single_call(self, topology):
        one = inference(topology, shed="never", detector=CountingDetector(call_s=0.05))
        (a, t) = assignments(1)[0]
        r = one.infer(a, t)
        assert r.timings.inference == pytest.approx(0.05)
        assert r.costs.compute == pytest.approx(compute_consumption(one.device, 0.05))

    def test_a_frame_that_does_not_decode_fails_alone(self, topology):
        det = CountingDetector()
        stage = inference(topology, shed="never", detector=det)
        items = assignments(3)
        bad, t = items[1]
        broken = bad.task.frame.jpeg[:2] + b"\x00" * 50 + b"\xff\xd9"
        items[1] = (Assignment(type(bad.task)(**{**vars(bad.task), "frame": Frame(bad.task.frame.meta, broken)}),
                               "edge-1", "cdio"), t)  # fmt: skip
        out = stage.infer_batch(items)
        assert det.calls == [2]
        assert isinstance(out[1], MessageError) and "cam/1" in str(out[1])
        assert out[0].task_id == "cam/0" and out[2].task_id == "cam/2"
        with pytest.raises(MessageError):
            stage.infer(*items[1])
