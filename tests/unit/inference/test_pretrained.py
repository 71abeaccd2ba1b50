"""The paper's models by name: pretrained checkpoints found, downloaded, or a one-line error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cdio_stream.data.classes import CLASS_IDS
from cdio_stream.errors import ConfigError
from cdio_stream.inference.registry import default_registry
from cdio_stream.inference.runner import coco_to_detrac
from cdio_stream.inference.weights import locate_pretrained

REPO = Path(__file__).resolve().parents[3]


class TestLocatePretrained:
    def test_offline_without_the_file_names_it_and_the_folder(self, tmp_path):
        spec = default_registry().spec("yolov5s")
        with pytest.raises(ConfigError) as info:
            locate_pretrained(spec, tmp_path / "weights", offline=True)
        message = str(info.value)
        assert "\n" not in message
        assert "yolov5su.pt not found and offline (CDIO_OFFLINE=1)" in message
        assert str(tmp_path / "weights") in message

    def test_a_file_in_the_folder_is_used_without_any_download(self, tmp_path):
        spec = default_registry().spec("yolov5l6")
        (tmp_path / "yolov5l6u.pt").write_bytes(b"placeholder")
        assert locate_pretrained(spec, tmp_path, offline=True) == tmp_path / "yolov5l6u.pt"

    def test_the_cli_gives_one_line_and_exit_2(self, tmp_path):
        env = {**os.environ, "PYTHONPATH": str(REPO), "CDIO_OFFLINE": "1", "CDIO_WEIGHTS_DIR": str(tmp_path)}
        from cdio_stream.data.synth import SynthConfig, generate_dataset

        generate_dataset(tmp_path / "ds", SynthConfig(sequences=1, frames=1, width=96, height=64, seed=1))
        proc = subprocess.run(
            [sys.executable, "-m", "cdio_stream.cli", "models", "eval", "--data", str(tmp_path / "ds")]
            + ["--models", "yolov5x"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
        assert lines == [
            f"cdio-stream: error: model 'yolov5x': yolov5xu.pt not found and offline (CDIO_OFFLINE=1): "
            f"put yolov5xu.pt (Ultralytics' release asset of that name) in {tmp_path}"
        ]


class TestCocoClasses:
    def test_vehicles_kept_and_renumbered_the_rest_dropped(self):
        boxes = np.arange(20, dtype=np.float32).reshape(5, 4)
        classes = np.array([2, 0, 5, 7, 3])  # car, person, bus, truck, motorcycle
        scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5], np.float32)
        xyxy, mapped, kept = coco_to_detrac(boxes, classes, scores)
        assert mapped.tolist() == [CLASS_IDS["car"], CLASS_IDS["bus"], CLASS_IDS["others"]]
        assert kept.tolist() == pytest.approx([0.9, 0.7, 0.6])
        np.testing.assert_array_equal(xyxy, boxes[[0, 2, 3]])
