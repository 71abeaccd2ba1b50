"""Profiling traces on a tiny generated dataset: content, resume, crash recovery, CLI."""

from __future__ import annotations

import pytest

from cdio_stream.cli import main
from cdio_stream.data.detrac import DetracDataset
from cdio_stream.data.synth import SynthConfig, generate_dataset
from cdio_stream.errors import ConfigError
from cdio_stream.inference.profiler import count_frames, profile_dataset
from cdio_stream.inference.registry import ModelSpec
from cdio_stream.inference.runner import Detector
from cdio_stream.trace import read_trace


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> DetracDataset:
    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, SynthConfig(sequences=2, frames=3, seed=3))
    return DetracDataset(root)


@pytest.fixture(scope="module")
def detectors(inference_settings) -> dict[str, Detector]:
    # untrained but real models; conf 0 so that every frame has detections
    return {
        name: Detector(
            ModelSpec(name, "yolov5n", imgsz=imgsz, conf=0.0, max_det=20),
            settings=inference_settings,
            warmup_shape=None,
        )
        for name, imgsz in (("small", 64), ("large", 128))
    }


class TestProfile:
    def test_one_record_per_frame_with_every_field(self, tiny_dataset, detectors, tmp_path):
        out = tmp_path / "trace.jsonl"
        result = profile_dataset(tiny_dataset, detectors, out)
        frames = read_trace(out)
        assert (result.written, result.skipped) == (6, 0) == (len(frames), 0)
        assert [f.key for f in frames] == [(s.name, n) for s in tiny_dataset for n in (1, 2, 3)]
        seq = tiny_dataset.sequences[0]
        f = frames[0]
        assert f.jpeg_bytes == seq.image_path(1).stat().st_size
        assert (f.width, f.height) == (960, 540)
        assert f.complexity > 0 and len(f.complexity_scales) == 5
        assert f.complexity == pytest.approx(sum(f.complexity_scales))
        assert f.motion == 0.0 and frames[1].motion > 0.0  # first frame of a stream has no predecessor
        assert frames[1].capture_time == pytest.approx(1 / 25)
        assert f.n_objects == len(seq.ground_truth(1))
        for g in frames:
            assert set(g.accuracy) == set(g.latency_s) == set(g.detections) == {"small", "large"}
            assert all(0.0 <= a <= 100.0 for a in g.accuracy.values())
            assert all(t > 0 for t in g.latency_s.values())
            assert all(1 <= n <= 20 for n in g.detections.values())

    def test_limit_then_resume_completes_without_duplicates(self, tiny_dataset, detectors, tmp_path):
        out = tmp_path / "trace.jsonl"
        first = profile_dataset(tiny_dataset, detectors, out, limit=4)
        second = profile_dataset(tiny_dataset, detectors, out)
        keys = [f.key for f in read_trace(out)]
        assert (first.written, second.written, second.skipped) == (4, 2, 4)
        assert len(keys) == len(set(keys)) == 6
        # motion of the first resumed frame is computed against its (skipped) predecessor
        resumed = read_trace(out)[4]
        assert resumed.frame == 2 and resumed.motion > 0.0

    def test_incomplete_last_line_is_cut_and_redone(self, tiny_dataset, detectors, tmp_path):
        out = tmp_path / "trace.jsonl"
        profile_dataset(tiny_dataset, detectors, out, limit=2)
        with out.open("ab") as fh:
            fh.write(b'{"v": 1, "stream": "MVI_')  # a crash in the middle of a write
        result = profile_dataset(tiny_dataset, detectors, out, limit=3)
        assert (result.written, result.skipped) == (1, 2)
        assert len(read_trace(out)) == 3

    def test_other_models_refused(self, tiny_dataset, detectors, tmp_path):
        out = tmp_path / "trace.jsonl"
        profile_dataset(tiny_dataset, {"small": detectors["small"]}, out, limit=1)
        with pytest.raises(ConfigError, match="profiled with models"):
            profile_dataset(tiny_dataset, detectors, out)

    def test_count_frames(self, tiny_dataset):
        assert count_frames(tiny_dataset) == 6
        assert count_frames(tiny_dataset, limit=4) == 4


class TestProfileCommand:
    def test_cli_writes_and_resumes(self, tiny_dataset, inference_settings, tmp_path, capsys):
        out = tmp_path / "trace.jsonl"
        registry = tmp_path / "models.yaml"
        registry.write_text("models:\n  tiny: {arch: yolov5n, imgsz: 64}\n")
        argv = ["--cache-dir", str(inference_settings.cache_dir), "--torch-threads", "2", "profile"]
        argv += [str(tiny_dataset.root), "--models", "tiny", "--registry", str(registry), "--out", str(out)]
        assert main([*argv, "--limit", "2"]) == 0
        assert main(argv) == 0
        assert "4 frames profiled, 2 already there" in capsys.readouterr().out
        assert len(read_trace(out)) == 6
