"""The shipped LSTM (rpp/checkpoints/rpp-default.pt) is the one its card describes, and says something.

The card's claims are checked against the file: its hash and size, its model, the numbers it
reports for the checkpoint's own training run. And the model is not a constant: on a
generated sequence (features as the live preprocess worker computes them, A^q from the range
the demo samples) its P(compute) moves with A^q and, at one A^q, with the frames.
"""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest

from cdio_stream.data.synth import SynthConfig, SyntheticSequence, scenes_for
from cdio_stream.rpp.features import FeatureConfig, FeatureExtractor, StreamHistory
from cdio_stream.rpp.predictor import PreferencePredictor
from cdio_stream.rpp.shipped import DEFAULT_RPP_CHECKPOINT

CARD = DEFAULT_RPP_CHECKPOINT.with_suffix(".json")


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads(CARD.read_text())


@pytest.fixture(scope="module")
def predictor() -> PreferencePredictor:
    return PreferencePredictor.load(DEFAULT_RPP_CHECKPOINT)


@pytest.fixture(scope="module")
def generated_features() -> list[list[np.ndarray]]:
    """Raw feature vectors (A^q, D^q zero) of 4 generated scenes x 12 frames, as the live path makes them."""
    config = SynthConfig(sequences=4, frames=12, seed=1, first_id=99001)
    out = []
    for scene in scenes_for(config):
        extractor = FeatureExtractor(FeatureConfig())
        vecs = []
        for frame in SyntheticSequence(scene).frames(config.frames):
            ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
            assert ok
            feats = extractor.extract(scene.name, (frame.num - 1) / config.fps, jpeg.tobytes(), 0.0, 0.0)
            vecs.append(feats.vector())
        out.append(vecs)
    return out


def p_compute(predictor, features, a_req: np.ndarray, d_req: float = 0.4) -> np.ndarray:
    """P(compute) of every frame's task, A^q per frame, through the live StreamHistory."""
    history = StreamHistory(predictor.seq_len)
    names = list(predictor.normaliser.names)
    ia, idq = names.index("a_req"), names.index("d_req")
    seqs, k = [], 0
    for s, vecs in enumerate(features):
        for v in vecs:
            v = v.copy()
            v[ia], v[idq] = a_req[k], d_req
            seqs.append(history.append(f"s{s}", v))
            k += 1
    return predictor.predict_proba(np.stack(seqs))


class TestCard:
    def test_hash_size_and_model_are_the_files(self, card, predictor):
        data = DEFAULT_RPP_CHECKPOINT.read_bytes()
        assert card["checkpoint_file"] == DEFAULT_RPP_CHECKPOINT.name
        assert card["checkpoint_sha256"] == hashlib.sha256(data).hexdigest()
        assert card["checkpoint_bytes"] == len(data)
        model = card["model"]
        assert model["seq_len"] == predictor.seq_len
        for key in ("n_features", "hidden", "layers", "dropout"):
            assert model[key] == predictor.hyperparameters[key]
        assert model["feature_names"] == list(predictor.normaliser.names)
        assert model["best_epoch"] == predictor.metrics["best_epoch"]
        assert model["train_config"] == predictor.metrics["train_config"]
        assert card["final_training"]["validation"] == predictor.metrics["heldout"]

    def test_card_reports_both_ranges_by_scene_against_the_baselines(self, card):
        cv = card["cross_validation"]
        assert cv["folds"] >= 5 and cv["scenes"] >= 400
        assert len(cv["selected_per_fold"]) == cv["folds"]
        for rng in ("auto", "paper"):
            table = cv["table"][rng]
            for model in ("lstm", "a_req_logistic", "a_req_binned", "class_prior"):
                row = table[model]
                assert 0 < row["log_loss_mean"] < 1 and row["log_loss_std"] >= 0
            assert table["class_prior"]["auc_mean"] == 0.5
            assert table["lstm"]["auc_mean"] > 0.6  # it ranks held-out scenes' tasks, not a constant
            spread = cv["p_compute_lstm_held_out"][rng]
            assert spread["quantiles"]["0.95"] - spread["quantiles"]["0.05"] > 0.05
        assert card["a_ranges"]["paper"] == [50.0, 80.0]
        assert set(card["test_seed6"]["scores"]) == {
            "auto-fps25",
            "auto-fps2.5",
            "paper-fps25",
            "paper-fps2.5",
        }


class TestSaysSomething:
    def test_p_compute_moves_with_the_requirement(self, card, predictor, generated_features):
        n = sum(len(v) for v in generated_features)
        lo, hi = card["a_ranges"]["auto"]
        p = p_compute(predictor, generated_features, np.random.default_rng(0).uniform(lo, hi, n))
        assert np.all((p > 0) & (p < 1))
        assert np.quantile(p, 0.95) - np.quantile(p, 0.05) > 0.2, (
            "P(compute) is near constant on the auto range"
        )
        # the bottom of the range is the edge detector's median: the cloud serves where the edge
        # fails, so compute is likely; at the top even the cloud mostly fails: bandwidth (label rule)
        low = p_compute(predictor, generated_features, np.full(n, lo))
        high = p_compute(predictor, generated_features, np.full(n, hi))
        assert low.mean() > 0.4 and high.mean() < 0.25 and low.mean() - high.mean() > 0.3

    def test_at_one_requirement_the_frames_move_it(self, predictor, generated_features):
        n = sum(len(v) for v in generated_features)
        p = p_compute(predictor, generated_features, np.full(n, 40.0))
        assert p.std() > 0.02, "P(compute) hardly depends on the frame"
