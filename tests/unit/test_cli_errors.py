"""What a new user sees when something is wrong: one line on stderr and exit code 2.

Each case runs the real command in a subprocess, so a traceback, a logged aiokafka error
or an "Unclosed AIOKafkaProducer" warning would show up in its stderr and fail the test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cdio_stream.data.synth import SynthConfig, generate_dataset, write_video

REPO = Path(__file__).resolve().parents[2]


def cdio(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CDIO_KAFKA_BOOTSTRAP", None)
    return subprocess.run(
        [sys.executable, "-m", "cdio_stream.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cdio-stream: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def dead_bootstrap() -> str:
    """A loopback address where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ds")
    generate_dataset(root, SynthConfig(sequences=1, frames=2, width=160, height=96, seed=3))
    return root


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(
        tmp_path_factory.mktemp("v") / "street.avi", SynthConfig(sequences=1, frames=4, width=96, height=64)
    )


class TestCameraSources:
    def test_missing_file(self, tmp_path):
        line = one_line_error(cdio("--bootstrap", "127.0.0.1:9", "camera", str(tmp_path / "nope.mp4")))
        assert line.endswith("nope.mp4: file not found")

    def test_directory(self, tmp_path):
        assert one_line_error(cdio("camera", str(tmp_path))).endswith("is a directory, not a video file")

    def test_not_a_video(self, tmp_path):
        path = tmp_path / "clip.mp4"
        path.write_text("hello")
        assert one_line_error(cdio("camera", str(path))).endswith("OpenCV cannot open it as video")

    def test_still_image_refused_without_the_flag(self, tmp_path):
        path = tmp_path / "still.png"
        cv2.imwrite(str(path), np.zeros((32, 32, 3), np.uint8))
        assert "--still-image" in one_line_error(cdio("camera", str(path)))


class TestUnreachableBroker:
    def _check(self, proc, bootstrap):
        line = one_line_error(proc)
        assert f"cannot reach Kafka at {bootstrap}" in line
        assert "Unclosed" not in proc.stderr and "Traceback" not in proc.stderr

    def test_replay(self, dead_bootstrap, small_dataset):
        self._check(cdio("--bootstrap", dead_bootstrap, "replay", str(small_dataset)), dead_bootstrap)

    def test_camera(self, dead_bootstrap, video):
        self._check(cdio("--bootstrap", dead_bootstrap, "camera", str(video)), dead_bootstrap)

    def test_topics_create(self, dead_bootstrap):
        self._check(cdio("--bootstrap", dead_bootstrap, "topics", "create"), dead_bootstrap)

    def test_demo(self, dead_bootstrap):
        self._check(cdio("--bootstrap", dead_bootstrap, "demo"), dead_bootstrap)


class TestDemoChecksItsDatasetFirst:
    @pytest.mark.parametrize("case", ["missing", "bad-xml", "no-images"])
    def test_fails_before_starting_anything(self, tmp_path, case):
        root = tmp_path / "ds"
        if case == "bad-xml":
            (root / "DETRAC-Train-Annotations-XML").mkdir(parents=True)
            (root / "DETRAC-Train-Annotations-XML" / "MVI_1.xml").write_text("<sequence name='MVI_1'><frame")
            (root / "Insight-MVT_Annotation_Train" / "MVI_1").mkdir(parents=True)
            cv2.imwrite(
                str(root / "Insight-MVT_Annotation_Train" / "MVI_1" / "img00001.jpg"), np.zeros((8, 8, 3))
            )
        elif case == "no-images":
            (root / "DETRAC-Train-Annotations-XML").mkdir(parents=True)
            (root / "DETRAC-Train-Annotations-XML" / "MVI_1.xml").write_text("<sequence name='MVI_1'/>")
        proc = cdio("demo", "--dataset", str(root))
        line = one_line_error(proc)
        assert {"missing": "does not exist", "bad-xml": "MVI_1.xml", "no-images": "no images"}[case] in line
        assert "broker" not in proc.stdout and "workers" not in proc.stdout  # nothing was started


class TestWorkerFlags:
    def test_an_inference_batch_without_a_wait_is_refused_before_the_model_loads(self, dead_bootstrap):
        proc = cdio("--bootstrap", dead_bootstrap, "worker", "inference", "--server", "edge-1",
                    "--batch-size", "4", "--batch-ms", "0")  # fmt: skip
        assert "--batch-ms must be > 0 with --batch-size above 1" in one_line_error(proc)

    def test_an_unknown_shed_mode_is_refused(self):
        proc = cdio("worker", "scheduler", "--shed", "sometimes")
        assert proc.returncode == 2 and "invalid choice: 'sometimes'" in proc.stderr
