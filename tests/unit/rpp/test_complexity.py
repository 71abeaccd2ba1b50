"""Fast multiscale complexity against a slow literal implementation of eqs. 1-2."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cdio_stream.errors import ConfigError, MessageError
from cdio_stream.rpp.complexity import (
    complexity_from_jpeg,
    decode_gray,
    multiscale_complexity,
    pyramid_complexity,
    reduce_gray,
    to_unit_gray,
)

RTOL, ATOL = 1e-6, 1e-12  # ATOL only matters for terms that are exactly 0 in theory


def reference_block_mean(s: np.ndarray, g: int) -> np.ndarray:
    """s_{ae}(n+1): every g x g block replaced by its mean, pixel by pixel (literal)."""
    h, w = s.shape[0] // g, s.shape[1] // g
    out = np.empty((h, w))
    for a in range(h):
        for e in range(w):
            total = 0.0
            for i in range(g):
                for j in range(g):
                    total += s[a * g + i, e * g + j]
            out[a, e] = total / (g * g)
    return out


def reference_complexity(img: np.ndarray, g: int, n_steps: int) -> list[float]:
    """Eq. 2 term by term with overlaps computed on a common grid, not via the identity.

    Non-multiple sizes: the rows/columns of scale n that do not fill a block are dropped
    before coarse-graining, and the term compares the two scales on that region.
    """
    s = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    terms = []
    for _ in range(n_steps):
        h, w = s.shape[0] // g, s.shape[1] // g
        fine = s[: h * g, : w * g]
        coarse = reference_block_mean(fine, g)
        up = np.kron(coarse, np.ones((g, g)))  # scale n+1 drawn on scale n's grid
        o_nn = np.mean(fine * fine)
        o_mm = np.mean(up * up)
        o_mn = np.mean(up * fine)  # O_{n+1,n}
        terms.append(abs(o_mn - 0.5 * (o_nn + o_mm)))
        s = coarse
    return terms


def checkerboard(h: int, w: int, square: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (((yy // square) + (xx // square)) % 2).astype(np.float64)


class TestAgainstReference:
    @pytest.mark.parametrize(
        ("shape", "g", "n_steps"),
        [((64, 64), 2, 5), ((61, 97), 2, 4), ((135, 240), 2, 5), ((81, 90), 3, 3), ((33, 40), 2, 5)],
    )
    def test_random_images(self, shape, g, n_steps):
        rng = np.random.default_rng(sum(shape) + g)
        for img in (rng.random(shape), rng.integers(0, 256, shape, dtype=np.uint8)):
            fast = multiscale_complexity(img, block=g, n_steps=n_steps)
            ref = reference_complexity(img, g, n_steps)
            np.testing.assert_allclose(fast.scales, ref, rtol=RTOL, atol=ATOL)
            assert fast.total == pytest.approx(sum(ref), rel=RTOL)

    def test_natural_like_and_smooth(self, natural_factory):
        for beta in (1.5, 2.0, 3.0):
            img = natural_factory(135, 240, beta=beta, seed=3)
            np.testing.assert_allclose(
                multiscale_complexity(img).scales, reference_complexity(img, 2, 5), rtol=RTOL, atol=ATOL
            )

    def test_full_size_960x540(self, natural_factory):
        img = (natural_factory(540, 960, seed=1) * 255).astype(np.uint8)
        fast = multiscale_complexity(img, n_steps=6)
        np.testing.assert_allclose(fast.scales, reference_complexity(img, 2, 6), rtol=RTOL, atol=ATOL)

    def test_real_frame(self, detrac_sample):
        path = detrac_sample / "Insight-MVT_Annotation_Train" / "MVI_20011" / "img00001.jpg"
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        fast = multiscale_complexity(gray, n_steps=7)
        np.testing.assert_allclose(fast.scales, reference_complexity(gray, 2, 7), rtol=RTOL, atol=ATOL)

    def test_reference_block_mean_matches_reshape(self):
        s = np.random.default_rng(0).random((6, 9))
        np.testing.assert_allclose(reference_block_mean(s, 3), s.reshape(2, 3, 3, 3).mean(axis=(1, 3)))


class TestKnownValues:
    @pytest.mark.parametrize("value", [0.0, 0.3, 1.0])
    def test_constant_image_is_zero(self, value):
        c = multiscale_complexity(np.full((135, 240), value))
        assert c.total == pytest.approx(0.0, abs=ATOL)  # float64 rounding of the energies only
        assert all(t == pytest.approx(0.0, abs=ATOL) for t in c.scales)

    @pytest.mark.parametrize("j", [0, 1, 2, 3])
    def test_checkerboard_puts_one_eighth_on_its_scale(self, j):
        c = multiscale_complexity(checkerboard(128, 128, 2**j), n_steps=5)
        expected = [0.125 if n == j else 0.0 for n in range(5)]
        np.testing.assert_allclose(c.scales, expected, atol=1e-12)
        assert c.total == pytest.approx(0.125)

    def test_white_noise_decays_by_block_area_per_scale(self):
        noise = np.random.default_rng(7).random((1024, 1024))  # variance 1/12
        c = multiscale_complexity(noise, n_steps=4)
        assert c.scales[0] == pytest.approx(3 / 8 / 12, rel=0.02)
        for n in range(1, 4):
            assert c.scales[n] / c.scales[n - 1] == pytest.approx(0.25, rel=0.1)

    def test_ordering_constant_smooth_natural_structured(self, natural_factory):
        """Documented ordering on 135x240: constant < gradient < natural-like < stripes."""
        yy, xx = np.mgrid[0:135, 0:240]
        constant = multiscale_complexity(np.full((135, 240), 0.5)).total
        gradient = multiscale_complexity(xx / 239.0).total
        natural = multiscale_complexity(natural_factory(135, 240, seed=2)).total
        structured = multiscale_complexity(((xx // 4) % 2).astype(np.float64)).total
        assert constant < gradient < natural < structured
        assert gradient < 1e-3 and structured > 0.1

    def test_terms_are_nonnegative_and_sum_to_total(self, natural_factory):
        c = multiscale_complexity(natural_factory(100, 150, seed=9), n_steps=5)
        assert all(t >= 0 for t in c.scales)
        assert c.total == pytest.approx(sum(c.scales))

    def test_uint8_and_float_inputs_agree(self, natural_factory):
        img8 = (natural_factory(64, 64, seed=4) * 255).astype(np.uint8)
        a = multiscale_complexity(img8)
        b = multiscale_complexity(img8.astype(np.float32) / 255)
        np.testing.assert_allclose(a.scales, b.scales, rtol=1e-5)


class TestInputs:
    def test_bgr_is_converted_to_grey(self, natural_factory):
        gray = (natural_factory(64, 80, seed=5) * 255).astype(np.uint8)
        bgr = cv2.merge([gray, gray, gray])
        np.testing.assert_allclose(
            multiscale_complexity(bgr).scales, multiscale_complexity(gray).scales, rtol=1e-9
        )

    def test_input_is_not_mutated(self):
        img = np.random.default_rng(1).random((64, 64))
        before = img.copy()
        multiscale_complexity(img)
        np.testing.assert_array_equal(img, before)

    @pytest.mark.parametrize(
        "bad", [np.zeros((4, 4, 2), np.uint8), np.zeros((8,), np.uint8), np.zeros((64, 64), np.int32)]
    )
    def test_bad_images_raise_message_error(self, bad):
        with pytest.raises(MessageError):
            multiscale_complexity(bad)

    def test_too_small_image_names_the_size(self):
        with pytest.raises(MessageError, match="20x31 too small"):
            multiscale_complexity(np.zeros((31, 20)), n_steps=5)

    @pytest.mark.parametrize(("block", "n_steps"), [(1, 5), (2, 0)])
    def test_bad_parameters_raise_config_error(self, block, n_steps):
        with pytest.raises(ConfigError):
            multiscale_complexity(np.zeros((64, 64)), block=block, n_steps=n_steps)

    def test_keep_level_returns_that_coarse_image(self):
        img = np.random.default_rng(2).random((64, 96))
        _, level2 = pyramid_complexity(img, n_steps=4, keep_level=2)
        np.testing.assert_allclose(level2, img.reshape(16, 4, 24, 4).mean(axis=(1, 3)))
        _, level0 = pyramid_complexity(img, n_steps=4, keep_level=0)
        assert level0 is img

    def test_to_unit_gray_scales_uint8(self):
        out = to_unit_gray(np.array([[0, 255]], np.uint8))
        np.testing.assert_array_equal(out, [[0.0, 1.0]])


class TestReduceGray:
    @pytest.mark.parametrize(("shape", "r"), [((540, 960), 4), ((61, 97), 2), ((100, 130), 8), ((9, 9), 1)])
    def test_uint8_and_float_equal_block_means(self, shape, r):
        rng = np.random.default_rng(r)
        img8 = rng.integers(0, 256, shape, dtype=np.uint8)
        h, w = shape[0] // r, shape[1] // r
        want = (img8[: h * r, : w * r] / 255.0).reshape(h, r, w, r).mean(axis=(1, 3))
        np.testing.assert_allclose(reduce_gray(img8, r), want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(reduce_gray(img8 / 255.0, r), want, rtol=1e-12, atol=1e-15)
        assert reduce_gray(img8, r).dtype == np.float64

    def test_bgr(self):
        bgr = np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        np.testing.assert_array_equal(reduce_gray(bgr, 4), reduce_gray(gray, 4))

    def test_errors(self):
        with pytest.raises(ConfigError):
            reduce_gray(np.zeros((8, 8), np.uint8), 3)
        with pytest.raises(MessageError, match="smaller than one 8x8 block"):
            reduce_gray(np.zeros((4, 40), np.uint8), 8)


class TestJpeg:
    def _jpeg(self, img8: np.ndarray) -> bytes:
        ok, buf = cv2.imencode(".jpg", img8, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        return buf.tobytes()

    def test_reduced_decode_size(self, natural_factory):
        data = self._jpeg((natural_factory(540, 960, seed=0) * 255).astype(np.uint8))
        assert decode_gray(data, reduce=4).shape == (135, 240)
        assert decode_gray(data, reduce=1).shape == (540, 960)

    def test_reduced_decode_approximates_coarser_terms_of_full_frame(self, natural_factory):
        """C_n of the 1/4 decode ~ C_{n+2} of the full-size frame (documented approximation)."""
        img8 = (natural_factory(540, 960, beta=2.5, seed=0) * 255).astype(np.uint8)
        data = self._jpeg(img8)
        small = complexity_from_jpeg(data, reduce=4, n_steps=5)
        full = multiscale_complexity(decode_gray(data, reduce=1), n_steps=7)
        np.testing.assert_allclose(small.scales, full.scales[2:], rtol=0.02)

    def test_corrupt_jpeg_raises_message_error(self):
        with pytest.raises(MessageError, match="not a readable JPEG"):
            decode_gray(b"\xff\xd8 definitely not a jpeg")
        with pytest.raises(MessageError, match="cannot decode"):
            decode_gray(b"\x89PNG definitely not a png either")
        with pytest.raises(MessageError, match="empty"):
            decode_gray(b"")

    @pytest.mark.parametrize("reduce", [1, 2, 4, 8])
    def test_decodes_pixel_for_pixel_like_opencv_and_strictly(self, natural_factory, reduce):
        data = self._jpeg((natural_factory(181, 323, seed=1) * 255).astype(np.uint8))
        flag = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2}.get(reduce)
        flag = flag if flag is not None else getattr(cv2, f"IMREAD_REDUCED_GRAYSCALE_{reduce}")
        assert np.array_equal(
            decode_gray(data, reduce=reduce), cv2.imdecode(np.frombuffer(data, np.uint8), flag)
        )
        cut = data[: len(data) // 2] + b"\xff\xd9"  # OpenCV would decode it, half grey
        with pytest.raises(MessageError, match="does not decode completely"):
            decode_gray(cut, reduce=reduce)

    def test_bad_reduce_raises_config_error(self):
        with pytest.raises(ConfigError, match="reduce"):
            decode_gray(b"\xff\xd8", reduce=3)
