"""Multiscale structural complexity of a frame (paper eqs. 1-2, Bagrov et al. PNAS 2020).

The grey image f_0 (pixels in [0, 1]) is coarse-grained ``n_steps`` times by block
averaging: every ``block`` x ``block`` block of f_n becomes one pixel of f_{n+1}. The
complexity term between consecutive scales is (eq. 2)

    C_n = | O_{n+1,n} - (O_{n,n} + O_{n+1,n+1}) / 2 |

with O_{m,n} the overlap (mean product) of scales m and n on a common grid. For nested
block means O_{n+1,n} = O_{n+1,n+1} (eq. 1), so C_n = 1/2 (<f_n^2> - <f_{n+1}^2>): half
the energy lost by one coarse-graining step, i.e. half the mean within-block variance.
The whole computation is one image-pyramid pass; each term is >= 0 (Jensen) up to
float64 rounding (~1e-16 of the image energy, so a constant image gives |C| < 1e-14).

Non-power-of-``block`` sizes: before each step the trailing rows/columns of f_n that do
not fill a whole block (fewer than ``block`` of them) are dropped, and C_n compares f_n
and f_{n+1} on that common region. For 960x540 at block 2 this drops nothing for the
first two steps. An image needs at least ``block ** n_steps`` pixels per side.

Pixel values are normalised to [0, 1] (uint8 / 255; float images must already be in
[0, 1]), so numbers are comparable across images. Known values: a constant image has
C = 0; a 0/1 checkerboard of k-pixel squares (k = block^j) has C_j = 1/8 and every other
term 0; uniform white noise has C_0 ~ 3/8 * var and C_n ~ C_0 / block^(2n). On 240x135
images (5 steps) the total grows from smooth to structured: constant 0 < linear ramp
7e-4 < natural-like 1/f^2 field ~8e-3 (UA-DETRAC frames at 1/4 size: ~8e-3) < 4-pixel
stripes 0.125; white noise scores 0.04, almost all of it at n = 0.

Speed: frames usually arrive as JPEG; :func:`decode_gray` decodes at 1/2, 1/4 or 1/8
size directly in libjpeg (strictly: :func:`cdio_stream.jpeg.decode_gray`, so this one
decode also rejects a frame cut short), which is close to a block
mean of the full image, so C_n of the 1/4-size decode approximates C_{n+2} of the full
frame (within about 0.1 % on UA-DETRAC frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cdio_stream.errors import ConfigError, MessageError
from cdio_stream.jpeg import decode_gray as strict_decode_gray

__all__ = [
    "Complexity",
    "complexity_from_jpeg",
    "decode_gray",
    "multiscale_complexity",
    "pyramid_complexity",
    "reduce_gray",
    "to_unit_gray",
]

_REDUCED_FLAGS = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}


@dataclass(frozen=True)
class Complexity:
    """Total complexity C (eq. 2) and its per-scale terms C_0 .. C_{N-1}."""

    total: float
    scales: tuple[float, ...]


def to_unit_gray(image: np.ndarray) -> np.ndarray:
    """Grey float64 image in [0, 1] from a grey (H, W) or BGR (H, W, 3) uint8/float image.

    uint8 is divided by 255; float input is taken as already in [0, 1] (not checked, for
    speed). Other dtypes or shapes raise MessageError.
    """
    if not isinstance(image, np.ndarray):
        raise MessageError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 3:
        if image.dtype != np.uint8:
            raise MessageError(f"BGR image must be uint8, got {image.dtype}")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim != 2:
        raise MessageError(f"image must be grey (H, W) or BGR (H, W, 3), got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float64) * (1.0 / 255.0)
    if image.dtype in (np.float32, np.float64):
        return image.astype(np.float64, copy=False)
    raise MessageError(f"image dtype must be uint8, float32 or float64, got {image.dtype}")


def reduce_gray(image: np.ndarray, reduce: int = 4) -> np.ndarray:
    """Grey float64 [0, 1] image block-averaged by ``reduce`` (1, 2, 4 or 8) from grey/BGR.

    The array counterpart of :func:`decode_gray`: trailing rows/columns that do not fill a
    ``reduce`` block are dropped. uint8 frames are averaged in float32 by repeated exact
    2x2 means (sums of integers, exact), then scaled, which is ~5x faster than float64.
    """
    if reduce not in _REDUCED_FLAGS:
        raise ConfigError(f"reduce must be one of {sorted(_REDUCED_FLAGS)}, got {reduce}")
    if reduce == 1:
        return to_unit_gray(image)
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 2:
        h, w = image.shape[0] // reduce, image.shape[1] // reduce
        if h == 0 or w == 0:
            raise MessageError(
                f"image {image.shape[1]}x{image.shape[0]} smaller than one {reduce}x{reduce} block"
            )
        f = image[: h * reduce, : w * reduce].astype(np.float32)
        scale = 1.0 / 255.0
    else:
        f = to_unit_gray(image)
        h, w = f.shape[0] // reduce, f.shape[1] // reduce
        if h == 0 or w == 0:
            raise MessageError(f"image {f.shape[1]}x{f.shape[0]} smaller than one {reduce}x{reduce} block")
        f = f[: h * reduce, : w * reduce]
        scale = 1.0
    while f.shape[0] > h:
        f = cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return f.astype(np.float64) * scale


def decode_gray(jpeg: bytes | bytearray | memoryview | np.ndarray, *, reduce: int = 4) -> np.ndarray:
    """Decode JPEG (or PNG) bytes to a grey uint8 image at 1/``reduce`` size (1, 2, 4 or 8).

    Raises MessageError when the bytes do not decode, so callers can dead-letter the frame.
    """
    flag = _REDUCED_FLAGS.get(reduce)
    if flag is None:
        raise ConfigError(f"reduce must be one of {sorted(_REDUCED_FLAGS)}, got {reduce}")
    buf = jpeg if isinstance(jpeg, np.ndarray) else np.frombuffer(jpeg, dtype=np.uint8)
    if buf.size == 0:
        raise MessageError("cannot decode image: empty payload")
    if buf[:2].tobytes() == b"\xff\xd8":  # JPEG: strict, a frame cut short is an error
        return strict_decode_gray(buf.tobytes() if isinstance(jpeg, np.ndarray) else jpeg, reduce)
    gray = cv2.imdecode(buf, flag)
    if gray is None:
        raise MessageError(f"cannot decode image ({buf.size} bytes): not a valid JPEG/PNG")
    return gray


def pyramid_complexity(
    gray: np.ndarray, *, block: int = 2, n_steps: int = 5, keep_level: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-scale terms C_n (float64 array of length ``n_steps``) of a [0, 1] grey image.

    The fast path behind :func:`multiscale_complexity`. ``keep_level`` also returns the
    coarse-grained image f_level (0 = the input) so callers can reuse it (the temporal
    feature does); otherwise the second element is None.
    """
    _check_params(block, n_steps)
    if keep_level is not None and not 0 <= keep_level <= n_steps:
        raise ConfigError(f"keep_level must be in [0, {n_steps}], got {keep_level}")
    h, w = gray.shape
    need = block**n_steps
    if h < need or w < need:
        raise MessageError(
            f"image {w}x{h} too small for {n_steps} coarse-graining steps of block {block} "
            f"(needs at least {need} pixels per side)"
        )
    terms = np.empty(n_steps, dtype=np.float64)
    kept = gray if keep_level == 0 else None
    f = gray
    area = float(block * block)
    for n in range(n_steps):
        h2, w2 = f.shape[0] // block, f.shape[1] // block
        fine = f[: h2 * block, : w2 * block]
        energy_fine = cv2.norm(fine, cv2.NORM_L2SQR) / (h2 * w2 * area)  # cv2 sums in double
        f = _block_mean(fine, block, h2, w2)
        energy_coarse = cv2.norm(f, cv2.NORM_L2SQR) / (h2 * w2)
        terms[n] = abs(0.5 * (energy_fine - energy_coarse))
        if keep_level == n + 1:
            kept = f
    return terms, kept


def multiscale_complexity(image: np.ndarray, *, block: int = 2, n_steps: int = 5) -> Complexity:
    """Complexity C and its per-scale terms of a grey or BGR image (see module docstring)."""
    terms, _ = pyramid_complexity(to_unit_gray(image), block=block, n_steps=n_steps)
    return Complexity(total=float(terms.sum()), scales=tuple(terms.tolist()))


def complexity_from_jpeg(
    jpeg: bytes | bytearray | memoryview, *, reduce: int = 4, block: int = 2, n_steps: int = 5
) -> Complexity:
    """Complexity of a JPEG frame computed on its 1/``reduce`` grey decode (fast path)."""
    return multiscale_complexity(decode_gray(jpeg, reduce=reduce), block=block, n_steps=n_steps)


def _block_mean(fine: np.ndarray, block: int, h2: int, w2: int) -> np.ndarray:
    if block & (block - 1) == 0:
        # INTER_AREA with an integer factor is the block mean; its weights 1/G^2 are exact
        # in float32 only for powers of two, hence the numpy path for other blocks.
        return cv2.resize(fine, (w2, h2), interpolation=cv2.INTER_AREA)
    return fine.reshape(h2, block, w2, block).mean(axis=(1, 3))


def _check_params(block: int, n_steps: int) -> None:
    if not isinstance(block, int) or block < 2:
        raise ConfigError(f"block (coarse-graining factor G) must be an integer >= 2, got {block!r}")
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ConfigError(f"n_steps must be an integer >= 1, got {n_steps!r}")
