"""Deadline-aware load shedding without a broker: the rule, the scheduler's and the
inference stage's expired results, what the policy and the sink make of them, and a
restarted scheduler that must not decide a shed task twice."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from cdio_stream.errors import ConfigError, MessageError
from cdio_stream.inference.detections import Detections
from cdio_stream.inference.detections import Timings as DetectorTimings
from cdio_stream.messages import (
    Assignment,
    Costs,
    Frame,
    FrameMeta,
    Result,
    Task,
    TaskFeatures,
    Timings,
    decode_result,
    encode_result,
)
from cdio_stream.pipeline.inference import InferenceStage
from cdio_stream.pipeline.metrics import LiveMetrics
from cdio_stream.pipeline.scheduler import SchedulerStage
from cdio_stream.pipeline.shedding import check_shed_mode, elapsed_s, expired_result, is_late
from cdio_stream.policy.base import Feedback
from cdio_stream.policy.registry import make_policy
from cdio_stream.system.network import make_links
from cdio_stream.system.profiles import default_profiles
from cdio_stream.topology import load_topology

ROOT = Path(__file__).resolve().parents[3]
JPEG = cv2.imencode(".jpg", np.zeros((32, 48, 3), dtype=np.uint8))[1].tobytes()
NOW = 100.0


@pytest.fixture
def topology():
    return load_topology(ROOT / "topics.yaml")


def task(i: int, *, created_at: float = NOW, d_req: float = 0.5, preprocess_s: float = 0.01) -> Task:
    meta = FrameMeta(stream_id="cam", frame_no=i, capture_time=created_at - 0.05, a_req=60.0, d_req=d_req)
    features = TaskFeatures(complexity=0.005, complexity_scales=(0.1,) * 5, motion=0.0, inter_arrival=0.04)
    return Task(
        Frame(meta, JPEG), features, 0.2, preprocess_s=preprocess_s, created_at=created_at, source=f"0/{i}"
    )


def served_result(a: Assignment, inference: float) -> bytes:
    return encode_result(
        Result(
            task_id=a.task.task_id, stream_id="cam", frame_no=a.task.frame.meta.frame_no, server_id=a.server_id,
            tier="cloud" if a.server_id == "cloud" else "edge", model="m", a_req=60.0, d_req=a.task.frame.meta.d_req,
            payload_bytes=len(JPEG), detections=(), accuracy=70.0,
            timings=Timings(inference=inference), costs=Costs(compute=1.0, bandwidth=1e8, energy=0.5),
            completed_at=NOW,
        )
    )  # fmt: skip


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def scheduler(topology, shed="late", policy="all-cloud", clock=None) -> SchedulerStage:
    return SchedulerStage(
        make_policy(policy, list(topology.servers), seed=0), topology, shed=shed, clock=clock or Clock()
    )


class TestRule:
    def test_elapsed_is_what_the_delay_metric_counts(self):
        t = task(1, created_at=NOW - 0.3, preprocess_s=0.02)
        assert elapsed_s(t, NOW) == pytest.approx(0.32)
        assert not is_late(t, NOW, 0.17)  # 0.49 <= 0.5: it can still make it
        assert is_late(t, NOW, 0.19)

    def test_unknown_mode_is_a_one_line_config_error(self):
        assert check_shed_mode("late") == "late"
        with pytest.raises(ConfigError, match="never, late"):
            check_shed_mode("sometimes")

    def test_expired_result_is_a_delay_failure_with_nothing_sent(self, topology):
        r = expired_result(task(1, created_at=NOW - 0.2), topology.server("edge-2"), "scheduler", NOW)
        assert (r.server_id, r.tier, r.expired, r.source) == ("edge-2", "edge", "scheduler", "0/1")
        assert r.detections == () and r.accuracy is None and r.accuracy_source == "none"
        assert r.payload_bytes == 0 and r.costs == Costs()
        assert r.delay == pytest.approx(0.21) and r.delay < r.d_req and not r.delay_met  # shed: missed anyway
        assert decode_result(encode_result(r)) == r

    def test_an_expired_result_with_detections_or_a_bad_stage_does_not_decode(self, topology):
        r = expired_result(task(1), topology.server("edge-1"), "inference", NOW)
        with pytest.raises(MessageError, match="expired must be one of"):
            decode_result(encode_result(r).replace(b'"inference"', b'"sink"'))
        with pytest.raises(MessageError, match="cannot have detections or accuracy"):
            decode_result(encode_result(r).replace(b'"accuracy":null', b'"accuracy":50.0'))


class TestScheduler:
    def test_never_assigns_a_late_task(self, topology):
        stage = scheduler(topology, shed="never")
        (a,) = stage.decide([task(1, created_at=NOW - 5.0)])
        assert isinstance(a, Assignment) and stage.stats()["shed"] == 0

    def test_late_task_becomes_an_expired_result_and_a_delay_failure_for_the_policy(self, topology):
        stage = scheduler(topology, policy="cdio")
        outcome = stage.decide_slot([task(1, created_at=NOW - 5.0), task(2)])
        (a,) = outcome.assignments
        (r,) = outcome.expired
        assert a.task.task_id == "cam/2" and r.task_id == "cam/1" and r.expired == "scheduler"
        assert r.server_id in topology.server_ids  # attributed to the server the policy chose
        assert set(stage.pending) == {"cam/1", "cam/2"} and stage.stats()["shed"] == 1
        delay_n, cost_n = stage.policy.delay.n.copy(), stage.policy.cost.n.sum()
        assert stage.on_result(encode_result(r)) == r
        j = stage.policy.index[r.server_id]
        assert stage.policy.delay.n[j] == delay_n[j] + 1  # the miss is learned ...
        assert stage.policy.cost.n.sum() == cost_n  # ... and a shed task's zero cost is not
        assert stage.policy.inf_n[j] == 0
        assert stage.feedbacks == 1 and "cam/1" in stage.done and "cam/1" not in stage.pending
        assert stage.on_result(encode_result(r)) is None  # redelivered: once only

    def test_a_server_known_to_be_slow_makes_a_task_late_before_its_deadline(self, topology):
        clock = Clock()
        stage = scheduler(topology, clock=clock)
        (first,) = stage.decide([task(1)])
        stage.on_result(served_result(first, inference=0.3))  # the cloud takes 0.3 s
        clock.t += 1.0
        # 0.01 + 0.25 elapsed: 0.24 s left, the cloud needs 0.3 s
        (late,) = stage.decide([task(2, created_at=clock.t - 0.25)])
        (ok,) = stage.decide([task(3, created_at=clock.t - 0.1)])
        assert isinstance(late, Result) and late.expired == "scheduler"
        assert isinstance(ok, Assignment)
        assert stage._service_s["cloud"] == pytest.approx(0.3)  # expired results do not smooth it
        stage.on_result(encode_result(late))
        assert stage._service_s["cloud"] == pytest.approx(0.3)

    def test_restarted_scheduler_recovers_what_it_shed_after_its_snapshot(self, topology):
        stage = scheduler(topology)
        saved = stage.snapshot()
        (r,) = stage.decide([task(7, created_at=NOW - 5.0)])  # shed and published, then the worker died
        restored = scheduler(topology)
        restored.restore(saved)
        assert restored.recover([r, expired_result(task(8), topology.server("cloud"), "inference", NOW)]) == 1
        again = restored.decide_slot([task(7, created_at=NOW - 5.0)])  # the re-read task
        assert again.redelivered == [0] and again.expired == [] and again.assignments == []
        assert restored.on_result(encode_result(r)) == r  # its result, read again, is expected
        assert restored.feedbacks == 1 and not restored.pending

    def test_expired_feedback_is_censored_above_the_deadline(self):
        fb = Feedback.expired_task("cam/1", "edge-1", d_req=0.5, preprocess_s=0.01, queue_s=0.2)
        assert fb.expired and not fb.delay_ok and fb.acc_ok is None and fb.accuracy is None
        assert fb.total_s > 0.5 and fb.preprocess_s + fb.queue_s == pytest.approx(fb.total_s)
        late = Feedback.expired_task("cam/2", "edge-1", d_req=0.5, preprocess_s=0.01, queue_s=2.0)
        assert late.total_s == pytest.approx(2.01)


class CountingDetector:
    """Records each call's batch size; each call takes ``call_s``, split evenly per frame."""

    def __init__(self, call_s: float = 0.06) -> None:
        self.call_s = call_s
        self.calls: list[int] = []

    def predict(self, frames):
        self.calls.append(len(frames))
        n = len(frames)
        return [Detections.empty(DetectorTimings(inference_s=self.call_s / n)) for _ in frames]


def inference(topology, server_id="edge-1", shed="late", detector=None, clock=None) -> InferenceStage:
    server = topology.server(server_id)
    return InferenceStage(
        server, detector or CountingDetector(), default_profiles().device(server.device),
        make_links(topology.servers, "stable", seed=0)[server.id], max_frame_bytes=topology.max_frame_bytes,
        shed=shed, clock=clock or Clock(),
    )  # fmt: skip


class TestInferenceStage:
    def test_late_task_expires_before_inference_and_a_fresh_one_does_not(self, topology):
        det = CountingDetector()
        stage = inference(topology, detector=det)
        late = stage.expire_if_late(Assignment(task(1, created_at=NOW - 1.0), "edge-1", "cdio"), 0.002)
        assert late is not None and late.expired == "inference" and late.server_id == "edge-1"
        assert stage.expire_if_late(Assignment(task(2), "edge-1", "cdio"), 0.002) is None
        assert det.calls == [] and stage.shed_tasks == 1

    def test_its_own_inference_time_counts(self, topology):
        stage = inference(topology, detector=CountingDetector(call_s=0.3))
        assert stage.infer(Assignment(task(1), "edge-1", "cdio"), 0.002).expired is None
        a = Assignment(task(2, created_at=NOW - 0.25), "edge-1", "cdio")  # 0.26 + 0.002 + 0.3 > 0.5
        assert stage.expire_if_late(a, 0.002) is not None
        assert inference(topology).expire_if_late(a, 0.002) is None  # nothing measured yet: it may make it

    def test_never_and_shadow_runs_are_not_shed(self, topology):
        old = task(1, created_at=NOW - 9.0)
        assert (
            inference(topology, shed="never").expire_if_late(Assignment(old, "edge-1", "cdio"), 0.0) is None
        )
        served = expired_result(old, topology.server("edge-1"), "inference", NOW)  # any served result will do
        shadow = Assignment(old, "cloud", "cdio", served=served)
        assert inference(topology, "cloud").expire_if_late(shadow, 0.0) is None


class TestMetrics:
    def test_expired_count_as_tasks_and_delay_failures_not_as_served_delay(self, topology):
        m = LiveMetrics(servers=topology.server_ids)
        stage = inference(topology, shed="never")
        for i in range(3):
            m.add(stage.infer(Assignment(task(i), "edge-1", "cdio"), 0.002))
        m.add(expired_result(task(9, created_at=NOW - 3.0), topology.server("cloud"), "scheduler", NOW))
        s = m.summary()
        assert s["tasks"] == 4 and m.expired == 1 and m.per_server_expired == {"cloud": 1}
        assert s["delay_success"] == pytest.approx(3 / 4)
        assert s["served_delay_success"] == pytest.approx(1.0)
        assert s["expired_share"] == pytest.approx(1 / 4)
        assert s["mean_delay_s"] < 0.5  # the shed task's 3 s wait is not a served delay
        assert re.search(r"^expired \(shed as late\) +1 \(25\.0%\)$", m.table(), re.M)
        assert "expired=1" in m.log_line()
        again = LiveMetrics(servers=topology.server_ids)
        again.restore(m.snapshot())
        assert (
            again.summary() == pytest.approx(s, nan_ok=True)
            and again.per_server_expired == m.per_server_expired
        )
