"""Detector: build a YAML model, run it on real frames, report size; weights round trip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.inference.registry import ModelSpec
from cdio_stream.inference.runner import Detector

IMGSZ = 128  # small input: these tests only check plumbing, not accuracy


@pytest.fixture(scope="module")
def frame(sample_dir) -> np.ndarray:
    img = cv2.imread(str(sample_dir / "Insight-MVT_Annotation_Train" / "MVI_20011" / "img00001.jpg"))
    assert img is not None and img.shape == (540, 960, 3)
    return img


@pytest.fixture(scope="module")
def yaml_detector(inference_settings) -> Detector:
    # conf 0: an untrained model then returns max_det boxes, which exercises the whole output path
    spec = ModelSpec("tiny", "yolov5n", imgsz=IMGSZ, conf=0.0, max_det=50)
    return Detector(spec, settings=inference_settings, warmup_shape=None)


class TestYamlModel:
    def test_predict_one_frame(self, yaml_detector, frame):
        [d] = yaml_detector.predict([frame])
        assert 1 <= len(d) <= 50  # NMS may merge a few of the 50 best
        assert d.boxes.dtype == np.float32 and d.boxes.shape == (len(d), 4)
        assert d.classes.dtype == np.int64 and set(d.classes.tolist()) <= {0, 1, 2, 3}
        assert np.all((d.scores >= 0) & (d.scores <= 1))
        # boxes are in original pixels (960 x 540), not in the 128-px network input
        assert d.boxes[:, [0, 2]].min() >= 0 and d.boxes[:, [0, 2]].max() <= 960
        assert d.boxes[:, [1, 3]].min() >= 0 and d.boxes[:, [1, 3]].max() <= 540
        assert d.boxes[:, 2].max() > IMGSZ
        assert d.timings.inference_s > 0 and d.timings.total_s >= d.timings.inference_s
        assert yaml_detector.takes_pixels  # the inference stage decodes frames for it

    def test_batch_gives_one_result_per_frame(self, yaml_detector, frame):
        small = cv2.resize(frame, (480, 270))
        out = yaml_detector.predict([frame, small])
        assert len(out) == 2
        assert out[1].boxes[:, 2].max() <= 480

    def test_keeps_the_configured_thread_count(self, yaml_detector, frame, inference_settings):
        import torch

        yaml_detector.predict([frame])
        assert torch.get_num_threads() == inference_settings.torch_threads

    def test_info_counts_params_and_flops(self, yaml_detector):
        info = yaml_detector.info()
        assert 2_000_000 < info.params < 3_000_000  # yolov5n with a 4-class head
        assert 0 < info.gflops < 1.0  # ~7 GFLOPs at 640 scale to ~0.3 at 128
        assert yaml_detector.names == {0: "car", 1: "bus", 2: "van", 3: "others"}

    def test_rejects_non_image_input(self, yaml_detector, frame):
        assert yaml_detector.predict([]) == []
        with pytest.raises(ValueError, match="frame 1"):
            yaml_detector.predict([frame, frame[:, :, 0]])

    def test_unknown_device(self, inference_settings):
        with pytest.raises(ConfigError, match="device"):
            Detector(ModelSpec("t", "yolov5n", imgsz=IMGSZ), settings=inference_settings, device="tpu")


class TestWeights:
    def test_compact_round_trip_gives_the_same_detections(
        self, yaml_detector, frame, inference_settings, tmp_path
    ):
        from cdio_stream.inference.weights import read_compact, save_compact

        path = tmp_path / "tiny.pt"
        size = save_compact(
            yaml_detector._yolo.model,
            path,
            arch="yolov5n",
            names=["car", "bus", "van", "others"],
            imgsz=IMGSZ,
        )
        assert 3_000_000 < size < 7_000_000  # fp16 halves the ~10 MB fp32 state
        assert read_compact(path)["arch"] == "yolov5n"
        spec = ModelSpec("reloaded", "yolov5n", weights=path, imgsz=IMGSZ, conf=0.0, max_det=50)
        again = Detector(spec, settings=inference_settings, warmup_shape=None)
        [a] = yaml_detector.predict([frame])
        [b] = again.predict([frame])
        # fp16 storage rounds the weights: same boxes up to a small tolerance
        assert len(a) == len(b)
        assert np.abs(np.sort(a.scores) - np.sort(b.scores)).max() < 0.02

    def test_missing_weights(self, inference_settings):
        spec = ModelSpec("ghost", "yolov5n", weights="/nonexistent/ghost.pt", imgsz=IMGSZ)
        with pytest.raises(ConfigError, match="ghost.pt not found"):
            Detector(spec, settings=inference_settings)

    def test_class_count_mismatch(self, yaml_detector, inference_settings, tmp_path):
        from cdio_stream.inference.weights import save_compact

        path = tmp_path / "tiny.pt"
        save_compact(
            yaml_detector._yolo.model,
            path,
            arch="yolov5n",
            names=["car", "bus", "van", "others"],
            imgsz=IMGSZ,
        )
        spec = ModelSpec("t", "yolov5n", weights=path, imgsz=IMGSZ, num_classes=3)
        with pytest.raises(ConfigError, match="4 classes, spec says 3"):
            Detector(spec, settings=inference_settings, warmup_shape=None)


class TestNullDetector:
    """The no-op detector: no detections, no model, and the rest of the inference stage unchanged."""

    @pytest.fixture
    def null(self, inference_settings) -> Detector:
        from cdio_stream.inference.registry import default_registry

        return Detector(default_registry().spec("null"), settings=inference_settings)

    def test_no_detections_for_every_frame(self, null):
        frames = [np.full((54, 96, 3), 128, np.uint8), np.zeros((540, 960, 3), np.uint8)]
        out = null.predict(frames)
        assert len(out) == 2 and all(len(d) == 0 for d in out)
        assert all(0 <= d.timings.total_s < 0.01 for d in out)
        assert null._yolo is None  # nothing was built
        assert not null.takes_pixels  # so the inference stage does not decode frames for it
        assert null.predict([np.empty((0, 0, 3), np.uint8)])[0].boxes.shape == (0, 4)

    def test_still_checks_its_input(self, null):
        assert null.predict([]) == []
        with pytest.raises(ValueError, match="frame 0"):
            null.predict([np.zeros((4, 4), np.uint8)])

    def test_size_and_names(self, null):
        info = null.info()
        assert (info.params, info.gflops, info.trained) == (0, 0.0, False)
        assert null.names == {0: "car", 1: "bus", 2: "van", 3: "others"}

    def test_inference_stage_gives_a_real_result_with_no_detections(self, null):
        from cdio_stream.messages import Assignment, Frame, FrameMeta, Task, TaskFeatures
        from cdio_stream.pipeline.inference import InferenceStage
        from cdio_stream.system.network import make_links
        from cdio_stream.system.profiles import default_profiles
        from cdio_stream.topology import load_topology

        topology = load_topology(Path(__file__).resolve().parents[3] / "topics.yaml")
        server = topology.server("edge-1")
        stage = InferenceStage(
            server,
            null,
            default_profiles().device(server.device),
            make_links(topology.servers, "stable", seed=0)[server.id],
            max_frame_bytes=topology.max_frame_bytes,
        )
        ok, jpeg = cv2.imencode(".jpg", np.full((270, 480, 3), 90, np.uint8))
        meta = FrameMeta("cam-1", 1, 1000.0, a_req=60.0, d_req=0.4)
        task = Task(Frame(meta, jpeg.tobytes()), TaskFeatures(0.01, (0.01,), 0.0, 0.04), 0.3, 0.002, 1000.0)
        result = stage.infer(Assignment(task, "edge-1", "cdio"), 0.003)
        assert result.detections == () and result.accuracy is None and result.error is None
        assert result.payload_bytes == len(jpeg) and result.timings.transmission == pytest.approx(0.003)
        assert 0 <= result.timings.inference < 0.01 and result.costs.bandwidth > 0
