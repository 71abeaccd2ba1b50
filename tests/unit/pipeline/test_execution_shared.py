"""The live inference stage and the simulator run the same execution code
(cdio_stream.sim.execution), and DAO's quality decision is applied live: the frame is
re-encoded before the emulated uplink and the detector sees the re-encoded frame."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import simplejpeg

from cdio_stream.inference.detections import Detections, Timings
from cdio_stream.jpeg import decode_bgr, reencode
from cdio_stream.messages import Assignment, Frame, FrameMeta, Task, TaskFeatures
from cdio_stream.pipeline.inference import InferenceStage
from cdio_stream.policy import make_policy
from cdio_stream.sim import Simulator, SyntheticTraceConfig, execution, synthetic_trace
from cdio_stream.system import default_profiles, make_links, make_servers
from cdio_stream.topology import load_topology

ROOT = Path(__file__).resolve().parents[3]
RNG = np.random.default_rng(0)
IMAGE = np.clip(RNG.normal(120, 50, size=(270, 480, 3)), 0, 255).astype(
    np.uint8
)  # textured: JPEG can shrink it
JPEG = simplejpeg.encode_jpeg(IMAGE, quality=90, colorspace="BGR")


class Recorder:
    """A detector that keeps the images it was given."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def predict(self, frames):
        self.seen.extend(frames)
        return [Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32),
                           Timings(inference_s=0.02)) for _ in frames]  # fmt: skip


def stage(server_id: str = "cloud", detector=None) -> InferenceStage:
    topology = load_topology(ROOT / "topics.yaml")
    server = topology.server(server_id)
    return InferenceStage(server, detector or Recorder(), default_profiles().device(server.device),
                          make_links(topology.servers, "stable", seed=0)[server.id],
                          max_frame_bytes=topology.max_frame_bytes)  # fmt: skip


def assignment(quality: float | None = None, server_id: str = "cloud") -> Assignment:
    meta = FrameMeta("cam-1", 1, 1000.0, a_req=60.0, d_req=0.4)
    task = Task(Frame(meta, JPEG), TaskFeatures(0.01, (0.01,), 0.0, 0.04), 0.3, 0.002, 1000.0)
    return Assignment(task, server_id, "dao", decision={} if quality is None else {"quality": quality})


def test_simulator_and_inference_stage_call_the_same_outcome_function(monkeypatch):
    calls = []
    real = execution.outcome

    def spy(*args, **kwargs):
        calls.append(args[2].id)  # the server
        return real(*args, **kwargs)

    monkeypatch.setattr(execution, "outcome", spy)
    servers = make_servers("V1", n_edge=1)
    trace = synthetic_trace(SyntheticTraceConfig(streams=1, frames=5, seed=1))
    records = Simulator(trace, servers, make_links(servers)).run(make_policy("all-cloud", servers)).records
    assert len(calls) == len(records) == 5
    live = stage("cloud")
    result = live.infer(*live.uplink(assignment()))
    assert len(calls) == 6 and calls[-1] == "cloud"
    # and the live numbers are the function's: transmission = bytes * 8 / rate + latency (the WAN)
    assert result.timings.transmission == pytest.approx(len(JPEG) * 8 / 300e6 + 0.02)
    assert result.costs.compute == pytest.approx(default_profiles().device("a100-40gb").fp16_tflops * 0.02)


def test_dao_quality_is_applied_live_before_the_uplink():
    full_stage, half_stage = stage(), stage()
    full = full_stage.infer(*full_stage.uplink(assignment()))
    half = half_stage.infer(*half_stage.uplink(assignment(0.5)))
    assert full.payload_bytes == len(JPEG)
    assert half.payload_bytes <= execution.sent_bytes(len(JPEG), 0.5) < len(JPEG)
    assert half.timings.transmission < full.timings.transmission
    assert half.costs.bandwidth > 0
    seen = half_stage.detector.seen[-1]
    assert seen.shape == IMAGE.shape
    assert not np.array_equal(seen, decode_bgr(JPEG))  # the detector ran on the re-encoded frame


def test_a_shadow_run_gets_the_frame_as_captured():
    live = stage("edge-1")
    served = live.infer(*live.uplink(assignment(0.5, "edge-1")))
    shadow = live.forward(replace(assignment(0.5, "edge-1"), shadow_server="cloud"), served)
    sent, transfer = stage("cloud").uplink(shadow)
    assert sent.task.frame.jpeg == JPEG and transfer.nbytes == len(JPEG)


def test_reencode_fits_the_target_and_stays_a_whole_jpeg():
    for share in (0.8, 0.5, 0.2):
        target = int(len(JPEG) * share)
        out = reencode(JPEG, target)
        assert len(out) <= target and decode_bgr(out).shape == IMAGE.shape
    assert reencode(JPEG, len(JPEG)) == JPEG
