"""Strict JPEG decoding: a frame whose entropy-coded data is cut short is an error.

OpenCV and Pillow both decode a JPEG truncated in the middle with an end marker
appended: libjpeg only warns ("premature end of data segment") and fills the missing
rows with grey, so half an image would be inferred as if it were a frame. libjpeg-turbo
through ``simplejpeg`` with ``strict=True`` turns those warnings into errors.

``verify_jpeg`` decodes every scan's entropy data but at the smallest DCT scale, which
is cheap enough for the preprocess stage to reject bad frames before they are
scheduled; ``decode_bgr`` is the full decode the inference stage runs its detector on.
"""

from __future__ import annotations

import numpy as np
import simplejpeg

from cdio_stream.errors import MessageError

__all__ = ["decode_bgr", "verify_jpeg"]


def decode_bgr(data: bytes) -> np.ndarray:
    """The full-size BGR image (H x W x 3, uint8); MessageError if the JPEG is not whole."""
    return _decode(data, colorspace="BGR")


def verify_jpeg(data: bytes) -> None:
    """Raise MessageError unless ``data`` decodes completely and without warnings."""
    _decode(data, colorspace="GRAY", min_factor=8)


def _decode(data: bytes, **kwargs) -> np.ndarray:
    try:
        return simplejpeg.decode_jpeg(bytes(data), strict=True, **kwargs)
    except ValueError as exc:
        raise MessageError(f"frame: JPEG does not decode completely ({exc})") from None
