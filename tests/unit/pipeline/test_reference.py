"""Reference feedback in the live stages (no broker): sampling in the scheduler, the shadow
run's judgement in the inference stage, and what the bandit learns from it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cdio_stream.calibration import auto_accuracy_range, per_frame_map50, reference_judge
from cdio_stream.errors import MessageError
from cdio_stream.feedback import ReferenceJudge, ReferencePlan, ReferenceSampler
from cdio_stream.inference.detections import Detections, Timings
from cdio_stream.inference.registry import default_registry
from cdio_stream.messages import (
    Assignment,
    Frame,
    FrameMeta,
    Task,
    TaskFeatures,
    decode_assignment,
    encode_assignment,
    encode_result,
)
from cdio_stream.pipeline.inference import InferenceStage
from cdio_stream.pipeline.scheduler import SchedulerStage
from cdio_stream.policy.registry import make_policy
from cdio_stream.system.network import make_links
from cdio_stream.system.profiles import default_profiles
from cdio_stream.topology import load_topology

ROOT = Path(__file__).resolve().parents[3]
JPEG = cv2.imencode(".jpg", np.zeros((64, 96, 3), dtype=np.uint8))[1].tobytes()
BOXES = np.array([[5, 5, 20, 20], [30, 10, 50, 30], [60, 30, 90, 60], [10, 40, 25, 60]], dtype=np.float32)


@pytest.fixture
def topology():
    return load_topology(ROOT / "topics.yaml")


def judge(prior: float = 40.0) -> ReferenceJudge:
    return ReferenceJudge.from_mean("cloud", prior)


def task(i: int, stream: str = "cam") -> Task:
    meta = FrameMeta(stream_id=stream, frame_no=i, capture_time=99.0, a_req=20.0, d_req=0.5)
    features = TaskFeatures(complexity=0.5, complexity_scales=(0.1,) * 5, motion=0.0, inter_arrival=0.04)
    return Task(
        Frame(meta, JPEG), features, 0.5, preprocess_s=0.001, created_at=99.5, source=f"0/{stream}{i}"
    )


class FixedDetector:
    def __init__(self, n: int) -> None:
        self.n = n

    def predict(self, frames):
        n = self.n
        scores = np.full(n, 0.9, dtype=np.float32)
        return [Detections(BOXES[:n], np.zeros(n, dtype=np.int64), scores, Timings(inference_s=0.03))]


def inference_stage(topology, server_id: str, found: int, with_judge: bool = True) -> InferenceStage:
    server = topology.server(server_id)
    device = default_profiles().device(server.device)
    link = make_links(topology.servers, "stable", seed=0)[server.id]
    return InferenceStage(
        server, FixedDetector(found), device, link, judge=judge() if with_judge else None,
        max_frame_bytes=topology.max_frame_bytes,
    )  # fmt: skip


def shadowed(stage_a: InferenceStage, stage_b: InferenceStage, assignment):
    """Run an assignment on its server, forward it over the wire, judge it on the shadow."""
    first = stage_a.infer(stage_a.decode(*encode_assignment(assignment)), 0.001)
    forwarded = decode_assignment(*encode_assignment(stage_a.forward(assignment, first)))
    assert forwarded.server_id == assignment.shadow_server and forwarded.served == first
    return stage_b.infer(stage_b.decode(*encode_assignment(forwarded)), 0.002)


class TestShadowRun:
    def test_edge_result_judged_by_the_cloud_reference(self, topology):
        a = Assignment(task(1), "edge-1", "cdio", shadow_server="cloud")
        # the edge finds 2 of the 4 objects the cloud (the reference) finds
        result = shadowed(inference_stage(topology, "edge-1", 2), inference_stage(topology, "cloud", 4), a)
        assert result.server_id == "edge-1" and result.accuracy_source == "reference"
        ref = result.reference
        assert ref.server_id == "cloud" and ref.reference_model == "cloud" and ref.score_threshold == 0.25
        assert ref.agreement == pytest.approx(50.0, abs=1.0)
        assert result.accuracy == pytest.approx(ref.agreement * 40.0 / 100)  # agreement x prior
        assert (ref.edge_accuracy, ref.cloud_accuracy) == (result.accuracy, 40.0)
        assert ref.costs.compute > 0 and ref.payload_bytes == len(JPEG)
        assert ref.edge_delay == pytest.approx(result.delay)

    def test_cloud_result_gets_its_edge_outcome_from_an_edge_shadow(self, topology):
        a = Assignment(task(2), "cloud", "cdio", shadow_server="edge-3")
        result = shadowed(inference_stage(topology, "cloud", 4), inference_stage(topology, "edge-3", 1), a)
        assert result.server_id == "cloud" and result.accuracy == 40.0  # the reference's own: its prior
        assert result.reference.server_id == "edge-3"
        assert result.reference.edge_accuracy == pytest.approx(result.reference.agreement * 0.4)
        assert result.reference.agreement == pytest.approx(25.0, abs=1.0)

    def test_a_shadow_without_a_judge_is_bad_input(self, topology):
        a = Assignment(task(3), "edge-1", "cdio", shadow_server="cloud")
        with pytest.raises(MessageError, match="no reference judge"):
            shadowed(inference_stage(topology, "edge-1", 2), inference_stage(topology, "cloud", 4, False), a)


class TestSchedulerSampling:
    def stage(self, topology, rate=0.25):
        plan = ReferencePlan(topology.servers, judge(), ReferenceSampler(rate, seed=0))
        return SchedulerStage(make_policy("cdio", list(topology.servers)), topology, reference=plan)

    def test_sampled_tasks_name_a_shadow_of_the_other_tier(self, topology):
        stage = self.stage(topology)
        out = [a for k in range(20) for a in stage.decide([task(k * 4 + i, f"s{i}") for i in range(4)])]
        sampled = [a for a in out if a.shadow_server is not None]
        assert 0.25 <= len(sampled) / len(out) <= 0.6  # the rate plus the warm-up of new contexts
        for a in sampled:
            expected_tier = "edge" if a.server_id == "cloud" else "cloud"
            assert topology.server(a.shadow_server).tier == expected_tier

    def test_a_joined_server_is_sampled_and_can_shadow(self, topology):
        from cdio_stream.topology import ServerSpec

        stage = self.stage(topology, rate=1.0)
        edge = topology.server("edge-1")
        joined = ServerSpec("edge-9", "edge", edge.model, edge.device)
        stage.add_server(joined)
        plan = stage.reference
        assert plan.shadow_for("s0", "ctx", "edge-9", {}) == "cloud"  # its tasks are sampled
        quiet = {s.id: 5.0 for s in topology.servers if s.tier == "edge"}
        assert plan.shadow_for("s1", "ctx", "cloud", quiet) == "edge-9"  # the least-loaded shadow

    def test_judged_results_update_both_models_success_and_the_sampler_survives_a_snapshot(self, topology):
        stage = self.stage(topology, rate=1.0)
        a = stage.decide([task(1)])[0]
        assert a.shadow_server is not None
        other = "cloud" if a.server_id != "cloud" else "edge-1"
        served = inference_stage(topology, a.server_id, 2 if a.server_id != "cloud" else 4)
        result = shadowed(served, inference_stage(topology, other, 4 if other == "cloud" else 2), a)
        before = stage.policy.success.n.sum()
        stage.on_result(encode_result(result))
        assert stage.policy.success.n.sum() == before + 2  # the served and the other model
        again = self.stage(topology, rate=1.0)
        again.restore(stage.snapshot())
        assert again.reference.sampler.state() == stage.reference.sampler.state()


class TestCards:
    def test_shipped_cards_give_the_reference_prior_and_the_auto_range(self):
        reg = default_registry()
        edge = per_frame_map50("edge", reg.spec("edge").weights)
        cloud = per_frame_map50("cloud", reg.spec("cloud").weights)
        lo, hi = auto_accuracy_range(edge, cloud)
        assert (lo, hi) == (round(edge["p50"], 1), round(cloud["p90"], 1)) and 0 < lo < hi < 100
        j = reference_judge("cloud", reg.spec("cloud").weights)
        assert j.prior_at() == pytest.approx(cloud["mean"], abs=1.0)  # quantile mean ~ the card's mean


class TestAccuracyRangeFlag:
    def test_auto_numbers_and_bad_values(self):
        from cdio_stream.cli.accuracy_range import resolve_accuracy_range
        from cdio_stream.errors import ConfigError
        from cdio_stream.settings import Settings

        settings = Settings(topics_file=ROOT / "topics.yaml")
        lo, hi = resolve_accuracy_range(["auto"], settings)
        reg = default_registry()
        assert (lo, hi) == auto_accuracy_range(
            per_frame_map50("edge", reg.spec("edge").weights),
            per_frame_map50("cloud", reg.spec("cloud").weights),
        )
        assert resolve_accuracy_range(["50", "80"], settings) == (50.0, 80.0)
        for bad in (["50"], ["a", "b"], ["80", "50"], ["auto", "1"]):
            with pytest.raises(ConfigError, match="accuracy-range"):
                resolve_accuracy_range(bad, settings)
