from __future__ import annotations

import cv2
import numpy as np
import pytest

from cdio_stream.errors import MessageError
from cdio_stream.messages import Frame, FrameMeta, encode_frame
from cdio_stream.pipeline.preprocess import Preprocessor, load_rpp


def jpeg(seed: int, kind: str = "noise") -> bytes:
    rng = np.random.default_rng(seed)
    if kind == "gradient":
        img = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (180, 1))[..., None].repeat(3, axis=2)
    elif kind == "flat":
        img = np.full((180, 320, 3), 128, dtype=np.uint8)
    else:
        img = rng.integers(0, 255, size=(180, 320, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


class TestPreprocessor:
    def test_frame_becomes_task_with_features_and_preference(self):
        pre = Preprocessor(load_rpp(None), 4_000_000, clock=lambda: 123.0)
        tasks = []
        for i in range(3):
            meta = FrameMeta("cam", i, 10.0 + i * 0.04, a_req=60.0, d_req=0.4, gt_ref=f"MVI_1/{i}")
            tasks.append(pre.handle(*encode_frame(Frame(meta, jpeg(i)))))
        t = tasks[-1]
        assert t.task_id == "cam/2"
        assert t.frame.meta.gt_ref == "MVI_1/2"
        assert t.features.complexity > 0
        assert len(t.features.complexity_scales) == 5
        assert t.features.inter_arrival == pytest.approx(0.04)
        assert t.features.motion > 0  # random frames differ
        assert t.preference in (0.0, 1.0)  # the fallback rule decides without a checkpoint
        assert t.created_at == 123.0

    def test_flat_frame_has_no_complexity_structured_frame_has_some(self):
        pre = Preprocessor(load_rpp(None), 4_000_000)
        flat = pre.handle(*encode_frame(Frame(FrameMeta("a", 1, 0.0, 60, 0.4), jpeg(1, "flat"))))
        gradient = pre.handle(*encode_frame(Frame(FrameMeta("b", 1, 0.0, 60, 0.4), jpeg(1, "gradient"))))
        assert flat.features.complexity < 1e-9
        assert gradient.features.complexity > 1e-3

    def test_corrupt_jpeg_is_a_message_error(self):
        pre = Preprocessor(load_rpp(None), 4_000_000)
        good = jpeg(0)
        _, headers = encode_frame(Frame(FrameMeta("cam", 1, 0.0, 60, 0.4), good))
        corrupt = good[:20] + b"\x00" * 50 + b"\xff\xd9"  # markers intact, body destroyed
        with pytest.raises(MessageError):
            pre.handle(corrupt, headers)

    def test_jpeg_cut_in_the_middle_with_an_end_marker_is_a_message_error(self):
        pre = Preprocessor(load_rpp(None), 4_000_000)
        good = jpeg(0, "gradient")
        _, headers = encode_frame(Frame(FrameMeta("cam", 1, 0.0, 60, 0.4), good))
        half = good[: len(good) // 2] + b"\xff\xd9"  # passes the marker check, not a full decode
        with pytest.raises(MessageError, match="does not decode completely"):
            pre.handle(half, headers)
