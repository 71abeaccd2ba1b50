"""Normalisation, checkpoint round trip, batched prediction and the RPP pipeline facade."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from cdio_stream.errors import ConfigError
from cdio_stream.rpp.features import FeatureConfig, StreamHistory, TaskFeatures, feature_names
from cdio_stream.rpp.model import Normaliser, PreferenceLSTM
from cdio_stream.rpp.pipeline import FrameTask, RppPipeline
from cdio_stream.rpp.predictor import CHECKPOINT_VERSION, PreferencePredictor
from cdio_stream.rpp.rule import BANDWIDTH, COMPUTE, rule_preference

N_FEATURES = 10


def _random_vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = np.empty((n, N_FEATURES), np.float32)
    v[:, :6] = rng.lognormal(np.log(0.002), 0.5, (n, 6))
    v[:, 6] = rng.lognormal(np.log(1e-3), 1.0, n)
    v[:, 7] = 0.04
    v[:, 8] = rng.uniform(50, 80, n)
    v[:, 9] = rng.uniform(0.2, 0.6, n)
    return v


@pytest.fixture
def predictor_factory():
    """A small untrained-but-valid predictor (weights seeded) for I/O and shape tests."""

    def make(seq_len: int = 4, feature_config: FeatureConfig | None = None) -> PreferencePredictor:
        torch.manual_seed(0)
        model = PreferenceLSTM(N_FEATURES, hidden=8, layers=2)
        norm = Normaliser.fit(_random_vectors(200), feature_names(5))
        hp = {"n_features": N_FEATURES, "hidden": 8, "layers": 2, "dropout": 0.0}
        return PreferencePredictor(
            model, norm, seq_len=seq_len, hyperparameters=hp, feature_config=feature_config, metrics={"x": 1}
        )

    return make


class TestNormaliser:
    def test_standardises_training_data(self):
        v = _random_vectors(500)
        norm = Normaliser.fit(v, feature_names(5))
        out = norm(v)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out[:, :7].mean(axis=0), 0.0, atol=1e-4)
        np.testing.assert_allclose(out[:, :7].std(axis=0), 1.0, atol=1e-3)
        np.testing.assert_allclose(out[:, 7], 0.0, atol=1e-6)  # constant column centred, not blown up

    def test_logs_complexity_and_motion_only(self):
        norm = Normaliser.fit(_random_vectors(50), feature_names(5))
        assert norm.log_mask == (True,) * 7 + (False,) * 3

    def test_dict_roundtrip_and_batch_shapes(self):
        norm = Normaliser.fit(_random_vectors(50), feature_names(5))
        again = Normaliser.from_dict(norm.to_dict())
        seqs = _random_vectors(24, seed=1).reshape(2, 12, N_FEATURES)
        np.testing.assert_array_equal(again(seqs), norm(seqs))
        assert norm(seqs).shape == seqs.shape
        np.testing.assert_allclose(norm(seqs)[1, 3], norm(seqs[1, 3]))

    def test_wrong_width_raises(self):
        norm = Normaliser.fit(_random_vectors(50), feature_names(5))
        with pytest.raises(ConfigError, match="9 entries"):
            norm(np.zeros((2, 9), np.float32))


class TestPredictor:
    def test_batch_and_single_agree(self, predictor_factory):
        pred = predictor_factory()
        seqs = _random_vectors(12, seed=2).reshape(3, 4, N_FEATURES)
        batch = pred.predict_proba(seqs)
        assert batch.shape == (3,) and batch.dtype == np.float32
        assert np.all((batch > 0) & (batch < 1))
        for i in range(3):
            assert pred.predict_proba(seqs[i : i + 1])[0] == pytest.approx(batch[i], abs=1e-6)

    def test_short_sequences_are_padded(self, predictor_factory):
        pred = predictor_factory(seq_len=4)
        v = _random_vectors(2, seed=3)
        padded = np.stack([v[0], v[0], v[0], v[1]])[None]
        assert pred.predict_proba([v])[0] == pytest.approx(pred.predict_proba(padded)[0], abs=1e-6)
        assert pred.predict_proba([]).shape == (0,)

    def test_predict_labels_follow_threshold(self, predictor_factory):
        pred = predictor_factory()
        seqs = _random_vectors(40, seed=4).reshape(10, 4, N_FEATURES)
        probs = pred.predict_proba(seqs)
        pred.threshold = float(np.median(probs))
        labels = pred.predict(seqs)
        assert labels == [COMPUTE if p >= pred.threshold else BANDWIDTH for p in probs]
        assert set(labels) == {COMPUTE, BANDWIDTH}

    def test_predict_streams_uses_history(self, predictor_factory):
        pred = predictor_factory(seq_len=4)
        hist = StreamHistory(seq_len=4)
        vecs = _random_vectors(6, seed=5)
        for i, v in enumerate(vecs):
            hist.append("a" if i % 2 else "b", v)
        got = pred.predict_streams(hist, ["a", "b"])
        want = pred.predict_proba(np.stack([hist.sequence("a"), hist.sequence("b")]))
        np.testing.assert_array_equal(got, want)

    def test_save_load_roundtrip(self, predictor_factory, tmp_path):
        pred = predictor_factory(feature_config=FeatureConfig(n_steps=5))
        path = tmp_path / "rpp.pt"
        pred.save(path)
        ckpt = torch.load(path, weights_only=True)
        assert ckpt["version"] == CHECKPOINT_VERSION and ckpt["seq_len"] == 4
        again = PreferencePredictor.load(path)
        seqs = _random_vectors(20, seed=6).reshape(5, 4, N_FEATURES)
        np.testing.assert_array_equal(again.predict_proba(seqs), pred.predict_proba(seqs))
        assert again.feature_config == FeatureConfig(n_steps=5)
        assert again.metrics == {"x": 1} and again.normaliser == pred.normaliser

    def test_load_errors_name_the_file(self, tmp_path, predictor_factory):
        with pytest.raises(ConfigError, match="does not exist"):
            PreferencePredictor.load(tmp_path / "missing.pt")
        junk = tmp_path / "junk.pt"
        junk.write_bytes(b"not a checkpoint")
        with pytest.raises(ConfigError, match="junk.pt"):
            PreferencePredictor.load(junk)
        other = tmp_path / "other.pt"
        torch.save({"format": "something-else"}, other)
        with pytest.raises(ConfigError, match="not an RPP checkpoint"):
            PreferencePredictor.load(other)
        old = tmp_path / "old.pt"
        predictor_factory().save(old)
        ckpt = torch.load(old, weights_only=True)
        ckpt["version"] = 999
        torch.save(ckpt, old)
        with pytest.raises(ConfigError, match="version 999"):
            PreferencePredictor.load(old)

    def test_bytes_roundtrip_keeps_the_model_version(self, predictor_factory):
        pred = predictor_factory().with_version(7)
        again = PreferencePredictor.from_bytes(pred.to_bytes())
        seqs = _random_vectors(20, seed=7).reshape(5, 4, N_FEATURES)
        assert again.version == 7 and predictor_factory().version == 0
        np.testing.assert_array_equal(again.predict_proba(seqs), pred.predict_proba(seqs))

    def test_old_checkpoints_without_model_version_are_version_0(self, predictor_factory, tmp_path):
        path = tmp_path / "old.pt"
        predictor_factory().with_version(3).save(path)
        ckpt = torch.load(path, weights_only=True)
        del ckpt["model_version"]
        torch.save(ckpt, path)
        assert PreferencePredictor.load(path).version == 0

    def test_bytes_errors(self, predictor_factory):
        with pytest.raises(ConfigError, match="empty"):
            PreferencePredictor.from_bytes(b"")
        with pytest.raises(ConfigError, match="cannot read"):
            PreferencePredictor.from_bytes(b"junk")
        with pytest.raises(ConfigError, match="version must be"):
            predictor_factory().with_version(-1)


def _jpeg_frames(natural_factory, n: int) -> list[bytes]:
    scene = (natural_factory(540, 960 + 4 * n, beta=2.5, seed=21) * 255).astype(np.uint8)
    out = []
    for i in range(n):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(scene[:, 4 * i : 4 * i + 960]))
        assert ok
        out.append(buf.tobytes())
    return out


class TestPipeline:
    def test_rule_without_predictor(self, natural_factory):
        frames = _jpeg_frames(natural_factory, 2)
        pipe = RppPipeline()
        tasks = [FrameTask("cam", 0.04 * i, frames[i], 80.0, 0.5) for i in range(2)]
        out = pipe.process(tasks)
        assert [d.probability for d in out] == [None, None]
        assert [d.preference for d in out] == [rule_preference(d.features) for d in out]
        assert out[1].features.inter_arrival == pytest.approx(0.04) and out[1].features.motion > 0

    def test_with_predictor_matches_manual_steps(self, natural_factory, predictor_factory):
        frames = _jpeg_frames(natural_factory, 3)
        pred = predictor_factory(seq_len=4)
        pipe = RppPipeline(pred)
        tasks = [FrameTask(s, 0.04 * i, frames[i], 60.0 + i, 0.4) for i in range(3) for s in ("a", "b")]
        out = pipe.process(tasks)
        hist = StreamHistory(seq_len=4)
        seqs = [hist.append(t.stream, d.features) for t, d in zip(tasks, out, strict=True)]
        np.testing.assert_allclose(
            [d.probability for d in out], pred.predict_proba(np.stack(seqs)), atol=1e-6
        )
        assert all(isinstance(d.features, TaskFeatures) for d in out)

    def test_mismatched_config_is_refused(self, predictor_factory):
        with pytest.raises(ConfigError, match="differs"):
            RppPipeline(predictor_factory(feature_config=FeatureConfig(reduce=2)))
        with pytest.raises(ConfigError, match="expects 10 features"):
            RppPipeline(predictor_factory(), config=FeatureConfig(n_steps=4))
