"""Task features, the per-stream extractor and the bounded history."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cdio_stream.errors import ConfigError, MessageError
from cdio_stream.rpp.complexity import multiscale_complexity
from cdio_stream.rpp.features import (
    FeatureConfig,
    FeatureExtractor,
    StreamHistory,
    TaskFeatures,
    feature_names,
    pad_sequence,
)


def _features(**kw) -> TaskFeatures:
    base = dict(
        complexity=0.01,
        complexity_scales=(0.001, 0.002, 0.003, 0.002, 0.002),
        motion=0.0005,
        inter_arrival=0.04,
        a_req=65.0,
        d_req=0.4,
    )
    base.update(kw)
    return TaskFeatures(**base)


def _frames(natural_factory, n: int, *, shift: int = 3) -> list[np.ndarray]:
    """n uint8 960x540 frames of a scene panning by ``shift`` pixels per frame."""
    scene = (natural_factory(540, 960 + shift * n, beta=2.5, seed=11) * 255).astype(np.uint8)
    return [np.ascontiguousarray(scene[:, i * shift : i * shift + 960]) for i in range(n)]


class TestTaskFeatures:
    def test_vector_order_and_length(self):
        f = _features()
        v = f.vector()
        assert v.dtype == np.float32 and v.shape == (10,) and f.size == 10
        names = feature_names(5)
        assert len(names) == 10
        expected = {
            "complexity": 0.01,
            "complexity_2": 0.003,
            "motion": 0.0005,
            "inter_arrival": 0.04,
            "a_req": 65.0,
            "d_req": 0.4,
        }
        for name, value in expected.items():
            assert v[names.index(name)] == pytest.approx(value, rel=1e-6)

    def test_names_are_unique(self):
        names = feature_names(7)
        assert len(set(names)) == len(names) == 12


class TestFeatureConfig:
    @pytest.mark.parametrize(
        "kw", [{"reduce": 3}, {"block": 1}, {"n_steps": 0}, {"motion_level": 6}, {"motion_level": -1}]
    )
    def test_invalid_config_raises(self, kw):
        with pytest.raises(ConfigError):
            FeatureConfig(**kw)

    def test_n_features(self):
        assert FeatureConfig(n_steps=4).n_features == 9


class TestFeatureExtractor:
    def test_first_frame_has_no_temporal_feature(self, natural_factory):
        ex = FeatureExtractor()
        f = ex.extract("cam", 10.0, _frames(natural_factory, 1)[0], 60, 0.3)
        assert f.motion == 0.0 and f.inter_arrival == 0.0
        assert (f.a_req, f.d_req) == (60.0, 0.3)
        assert len(f.complexity_scales) == 5 and f.complexity == pytest.approx(sum(f.complexity_scales))

    def test_motion_and_inter_arrival(self, natural_factory):
        frames = _frames(natural_factory, 3)
        ex = FeatureExtractor()
        ex.extract("cam", 0.0, frames[0], 60, 0.3)
        f1 = ex.extract("cam", 0.04, frames[1], 60, 0.3)
        f_same = ex.extract("cam", 0.10, frames[1], 60, 0.3)
        assert f1.inter_arrival == pytest.approx(0.04)
        assert f_same.inter_arrival == pytest.approx(0.06)
        assert f1.motion > 1e-5
        assert f_same.motion == pytest.approx(0.0, abs=1e-12)

    def test_motion_is_mean_squared_difference_on_configured_level(self, natural_factory):
        a, b = _frames(natural_factory, 2, shift=8)
        cfg = FeatureConfig(reduce=4, motion_level=1)
        ex = FeatureExtractor(cfg)
        ex.extract("cam", 0.0, a, 60, 0.3)
        got = ex.extract("cam", 0.04, b, 60, 0.3).motion

        def level1(img):  # reduce 4 then one 2x2 step: 8x8 block means of the top 536 rows
            return (img[:536].astype(np.float64) / 255).reshape(67, 8, 120, 8).mean(axis=(1, 3))

        la, lb = level1(a), level1(b)
        assert got == pytest.approx(np.mean((la - lb) ** 2), rel=1e-4)

    def test_streams_are_independent(self, natural_factory):
        frames = _frames(natural_factory, 2)
        ex = FeatureExtractor()
        ex.extract("a", 0.0, frames[0], 60, 0.3)
        fb = ex.extract("b", 5.0, frames[1], 60, 0.3)
        assert fb.motion == 0.0 and fb.inter_arrival == 0.0

    def test_least_recently_seen_stream_is_evicted(self, natural_factory):
        frame = _frames(natural_factory, 1)[0]
        ex = FeatureExtractor(max_streams=2)
        ex.extract("a", 0.0, frame, 60, 0.3)
        ex.extract("b", 0.0, frame, 60, 0.3)
        ex.extract("a", 0.04, frame, 60, 0.3)  # a is now the most recent
        ex.extract("c", 0.0, frame, 60, 0.3)  # evicts b
        assert len(ex) == 2 and "a" in ex and "c" in ex and "b" not in ex
        assert ex.extract("b", 1.0, frame, 60, 0.3).inter_arrival == 0.0

    def test_size_change_restarts_the_stream(self, natural_factory):
        big = _frames(natural_factory, 1)[0]
        small = np.ascontiguousarray(big[:270, :480])
        ex = FeatureExtractor()
        ex.extract("cam", 0.0, big, 60, 0.3)
        f = ex.extract("cam", 0.04, small, 60, 0.3)
        assert f.motion == 0.0 and f.inter_arrival == 0.0

    def test_jpeg_and_array_paths_agree(self, natural_factory):
        img = _frames(natural_factory, 1)[0]
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        f_jpeg = FeatureExtractor().extract("cam", 0.0, buf.tobytes(), 60, 0.3)
        f_arr = FeatureExtractor().extract("cam", 0.0, img, 60, 0.3)
        np.testing.assert_allclose(f_jpeg.complexity_scales, f_arr.complexity_scales, rtol=0.03)

    def test_array_path_is_complexity_of_block_averaged_frame(self, natural_factory):
        img = _frames(natural_factory, 1)[0]
        f = FeatureExtractor(FeatureConfig(reduce=2, n_steps=4)).extract("cam", 0.0, img, 60, 0.3)
        half = img.astype(np.float64).reshape(270, 2, 480, 2).mean(axis=(1, 3)) / 255
        np.testing.assert_allclose(
            f.complexity_scales, multiscale_complexity(half, n_steps=4).scales, rtol=1e-9
        )

    def test_bgr_frames_accepted(self, natural_factory):
        gray = _frames(natural_factory, 1)[0]
        f = FeatureExtractor().extract("cam", 0.0, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), 60, 0.3)
        g = FeatureExtractor().extract("cam", 0.0, gray, 60, 0.3)
        np.testing.assert_allclose(f.complexity_scales, g.complexity_scales, rtol=1e-9)

    def test_corrupt_jpeg_leaves_state_untouched(self, natural_factory):
        ex = FeatureExtractor()
        with pytest.raises(MessageError):
            ex.extract("cam", 0.0, b"\x00\x01 garbage", 60, 0.3)
        assert "cam" not in ex


class TestPadSequence:
    def test_left_pads_with_oldest(self):
        seq = pad_sequence([np.array([1.0, 1.0]), np.array([2.0, 2.0])], 4)
        np.testing.assert_array_equal(seq[:, 0], [1, 1, 1, 2])
        assert seq.dtype == np.float32

    def test_keeps_last_when_too_long(self):
        seq = pad_sequence(np.arange(10, dtype=np.float32).reshape(5, 2), 3)
        np.testing.assert_array_equal(seq[:, 0], [4, 6, 8])

    def test_empty_raises(self):
        with pytest.raises(ValueError):
            pad_sequence(np.zeros((0, 3)), 4)


class TestStreamHistory:
    def test_sequence_holds_last_seq_len_vectors(self):
        hist = StreamHistory(seq_len=3)
        for i in range(5):
            seq = hist.append("cam", _features(a_req=50.0 + i))
        a_col = feature_names(5).index("a_req")
        np.testing.assert_array_equal(seq[:, a_col], [52, 53, 54])
        np.testing.assert_array_equal(hist.sequence("cam"), seq)

    def test_short_history_is_padded(self):
        hist = StreamHistory(seq_len=4)
        seq = hist.append("cam", _features(a_req=70.0))
        assert seq.shape == (4, 10)
        assert np.all(seq[:, feature_names(5).index("a_req")] == 70.0)

    def test_bounded_number_of_streams(self):
        hist = StreamHistory(seq_len=2, max_streams=3)
        for s in "abcd":
            hist.append(s, _features())
        assert len(hist) == 3 and "a" not in hist
        with pytest.raises(KeyError):
            hist.sequence("a")

    def test_vector_length_change_restarts_the_stream(self):
        hist = StreamHistory(seq_len=3)
        hist.append("cam", _features())
        seq = hist.append("cam", _features(complexity_scales=(0.1, 0.2)))
        assert seq.shape == (3, 7)

    @pytest.mark.parametrize("kw", [{"seq_len": 0}, {"max_streams": 0}])
    def test_invalid_sizes(self, kw):
        with pytest.raises(ConfigError):
            StreamHistory(**kw)
