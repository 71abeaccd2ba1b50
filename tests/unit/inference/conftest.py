"""Fixtures for the inference tests: one private Ultralytics cache per test session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cdio_stream.data.annotations import GroundTruth
from cdio_stream.settings import Settings


@pytest.fixture(scope="session")
def inference_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with a throwaway cache dir, so no test writes to ``~``; 2 torch threads."""
    return Settings(cache_dir=tmp_path_factory.mktemp("cdio-cache"), torch_threads=2)


@pytest.fixture
def gt_factory():
    """Build a GroundTruth from plain lists: boxes xyxy, class ids, ignored regions xyxy."""

    def make(boxes, classes, ignored=()) -> GroundTruth:
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        return GroundTruth(
            boxes=boxes,
            classes=np.asarray(classes, dtype=np.int64).reshape(-1),
            track_ids=np.arange(len(boxes), dtype=np.int64),
            ignored=np.asarray(ignored, dtype=np.float32).reshape(-1, 4),
        )

    return make


@pytest.fixture(scope="session")
def sample_dir(detrac_sample: Path) -> Path:
    return detrac_sample
