"""Strict JPEG decoding: a frame whose entropy-coded data is cut short is an error.

OpenCV and Pillow both decode a JPEG truncated in the middle with an end marker
appended: libjpeg only warns ("premature end of data segment") and fills the missing
rows with grey, so half an image would be inferred as if it were a frame. libjpeg-turbo
through ``simplejpeg`` with ``strict=True`` turns those warnings into errors.

``decode_gray`` is the scaled grey decode the preprocess stage computes its features on
(libjpeg's DCT scaling: every scan's entropy data is still decoded, so it verifies the
frame too, once, where it enters); ``verify_jpeg`` is the same at the smallest scale;
``decode_bgr`` is the full decode the inference stage runs its detector on.
``reencode`` re-encodes a frame at a fraction of its bitrate (DAO's quality decision,
applied live before the emulated uplink).
"""

from __future__ import annotations

import numpy as np
import simplejpeg

from cdio_stream.errors import ConfigError, MessageError

__all__ = ["JPEG_SCALES", "decode_bgr", "decode_gray", "reencode", "verify_jpeg"]

#: The DCT scales libjpeg decodes at directly: 1/1, 1/2, 1/4, 1/8.
JPEG_SCALES = (1, 2, 4, 8)


def decode_bgr(data: bytes) -> np.ndarray:
    """The full-size BGR image (H x W x 3, uint8); MessageError if the JPEG is not whole."""
    return _decode(data, colorspace="BGR")


def decode_gray(data: bytes, reduce: int = 1) -> np.ndarray:
    """The grey image at 1/``reduce`` size (H x W uint8, sizes rounded up like libjpeg's,
    pixel for pixel what OpenCV's ``IMREAD_REDUCED_GRAYSCALE_*`` gives); MessageError if
    the JPEG is not whole."""
    if reduce not in JPEG_SCALES:
        raise ConfigError(f"reduce must be one of {JPEG_SCALES}, got {reduce}")
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(bytes(data))
    except ValueError as exc:
        raise MessageError(f"frame: not a readable JPEG ({exc})") from None
    # simplejpeg picks the smallest scale that keeps at least this size (min_factor alone
    # does not scale: it decodes at full size).
    image = _decode(data, colorspace="GRAY", min_height=-(-height // reduce), min_width=-(-width // reduce))
    return image[:, :, 0]


def reencode(data: bytes, target_bytes: int) -> bytes:
    """``data`` re-encoded to at most ``target_bytes`` (the highest JPEG quality factor that
    fits, by bisection over 1..95; quality 1 if none does); ``data`` itself if it fits."""
    if len(data) <= target_bytes:
        return bytes(data)
    image = decode_bgr(data)
    lo, hi, best = 1, 95, None
    while lo <= hi:
        q = (lo + hi) // 2
        encoded = simplejpeg.encode_jpeg(image, quality=q, colorspace="BGR")
        if len(encoded) <= target_bytes:
            best, lo = encoded, q + 1
        else:
            hi = q - 1
    return best if best is not None else simplejpeg.encode_jpeg(image, quality=1, colorspace="BGR")


def verify_jpeg(data: bytes) -> None:
    """Raise MessageError unless ``data`` decodes completely and without warnings."""
    decode_gray(data, reduce=8)


def _decode(data: bytes, **kwargs) -> np.ndarray:
    try:
        return simplejpeg.decode_jpeg(bytes(data), strict=True, **kwargs)
    except ValueError as exc:
        raise MessageError(f"frame: JPEG does not decode completely ({exc})") from None
