from __future__ import annotations

import cv2
import numpy as np
import pytest

from cdio_stream.errors import MessageError
from cdio_stream.jpeg import decode_bgr, decode_gray, verify_jpeg


@pytest.fixture
def jpeg() -> bytes:
    image = (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


class TestStrictJpeg:
    def test_whole_jpeg_decodes_like_opencv(self, jpeg):
        image = decode_bgr(jpeg)
        assert image.shape == (64, 96, 3)
        assert np.array_equal(image, cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
        verify_jpeg(jpeg)

    def test_grey_jpeg_becomes_three_channels(self):
        grey = cv2.imencode(".jpg", np.full((16, 16), 90, np.uint8))[1].tobytes()
        assert decode_bgr(grey).shape == (16, 16, 3)

    @pytest.mark.parametrize("cut", [0.5, 0.9])
    def test_truncated_jpeg_with_end_marker_is_rejected(self, jpeg, cut):
        half = jpeg[: int(len(jpeg) * cut)] + b"\xff\xd9"
        assert cv2.imdecode(np.frombuffer(half, np.uint8), cv2.IMREAD_COLOR) is not None  # OpenCV accepts it
        with pytest.raises(MessageError, match="does not decode completely"):
            decode_bgr(half)
        with pytest.raises(MessageError, match="does not decode completely"):
            verify_jpeg(half)

    def test_grey_decode_is_scaled(self, jpeg):
        assert decode_gray(jpeg).shape == (64, 96)
        assert decode_gray(jpeg, reduce=8).shape == (8, 12)  # libjpeg's 1/8 DCT scale, not a full decode

    def test_garbage_is_rejected(self):
        with pytest.raises(MessageError):
            verify_jpeg(b"\xff\xd8" + b"\x00" * 100 + b"\xff\xd9")
