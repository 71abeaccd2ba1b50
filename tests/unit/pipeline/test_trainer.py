"""Trainer stage: which results are labels, and what a promotion publishes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cdio_stream.errors import MessageError
from cdio_stream.messages import (
    Costs,
    ReferenceOutcome,
    Result,
    RppModel,
    TaskFeatures,
    Timings,
    decode_rpp_model,
    encode_result,
    encode_rpp_model,
)
from cdio_stream.pipeline.trainer import TrainerStage, history_record
from cdio_stream.rpp.online import OnlineConfig, OnlineTrainer
from cdio_stream.rpp.predictor import PreferencePredictor
from cdio_stream.rpp.train import TrainConfig, train_predictor
from tests.unit.rpp.conftest import synthetic_history

FEATURES = TaskFeatures(0.005, (0.001, 0.001, 0.001, 0.001, 0.001), 0.001, 0.04)


def ref(edge_acc: float | None = 20.0, cloud_acc: float | None = 37.7, error: str | None = None):
    return ReferenceOutcome(
        server_id="cloud", tier="cloud", model="cloud", reference_model="cloud", score_threshold=0.25,
        agreement=50.0, edge_accuracy=edge_acc, cloud_accuracy=cloud_acc, edge_delay=0.05, cloud_delay=0.1,
        timings=Timings(), costs=Costs(), payload_bytes=100, error=error,
    )  # fmt: skip


def result(
    frame: int, reference=None, *, features=FEATURES, a_req: float = 30.0, stream: str = "cam"
) -> Result:
    return Result(
        f"{stream}/{frame}", stream, frame, "edge-1", "edge", "edge", a_req, 0.4, 100, (),
        None if reference is None else 20.0, Timings(), Costs(), 1.0,
        accuracy_source="none" if reference is None else "reference", features=features,
        preference=0.2, capture_time=frame * 0.04, reference=reference,
    )  # fmt: skip


@pytest.fixture(scope="module")
def base() -> PreferencePredictor:
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        return train_predictor(
            synthetic_history(1, n_streams=4, n_tasks=40), TrainConfig(epochs=3, hidden=8)
        ).predictor


class TestHistoryRecord:
    def test_reference_result_is_a_label_with_both_tiers(self):
        rec = history_record(result(3, ref(edge_acc=20.0, cloud_acc=37.7), a_req=30.0))
        assert rec is not None and (rec.stream, rec.frame, rec.capture_time) == (
            "cam",
            3,
            pytest.approx(0.12),
        )
        assert rec.a_req == 30.0 and rec.complexity_scales == FEATURES.complexity_scales
        assert rec.label() == 1  # edge 20 < 30 <= cloud 37.7, both in time

    @pytest.mark.parametrize(
        "r",
        [
            result(1),  # not sampled
            result(1, ref(error="shadow failed")),
            result(1, ref(edge_acc=None)),
            result(1, ref(), features=None),
            replace(result(1, ref()), error="inference failed"),
        ],
    )
    def test_no_label(self, r):
        assert history_record(r) is None


class TestStage:
    def test_feeds_windows_and_labels(self, base):
        stage = TrainerStage(OnlineTrainer(base, OnlineConfig(min_labels=2, window=10)), clock=lambda: 5.0)
        assert not stage.on_result(encode_result(result(1)))
        assert stage.on_result(encode_result(result(2, ref())))
        assert not stage.on_result(encode_result(result(3, features=None)))
        assert stage.stats() == {
            "results": 3, "labels": 1, "window": 1, "retrains": 0, "promotions": 0, "model_version": 0,
        }  # fmt: skip
        assert stage.without_features == 1
        # the label's LSTM window holds the unlabelled frame before it
        seq = stage.trainer.labels[0].sequence
        assert seq.shape == (base.seq_len, 10) and np.count_nonzero(seq[:, -2] == 30.0) == base.seq_len
        with pytest.raises(MessageError):
            stage.on_result(b"not json")

    def test_promotion_publishes_a_decodable_versioned_model(self, base):
        cfg = OnlineConfig(retrain_every=60, min_labels=60, window=200, epochs=15, lr=3e-3)
        stage = TrainerStage(OnlineTrainer(base, cfg), clock=lambda: 9.0)
        # every task: the edge fails and the cloud serves -> compute; the base model says otherwise
        for i in range(1, 121):
            stage.on_result(
                encode_result(result(i, ref(edge_acc=10.0, cloud_acc=90.0) if i % 2 else None, a_req=50.0))
            )
        assert stage.due()
        outcome, model = stage.retrain()
        assert outcome.promoted and model is not None and model.version == 1 and model.published_at == 9.0
        back = decode_rpp_model(*encode_rpp_model(model))
        assert back.card["holdout"]["candidate"]["log_loss"] < back.card["holdout"]["current"]["log_loss"]
        assert PreferencePredictor.from_bytes(back.checkpoint).version == 1

    def test_adopts_only_newer_published_models(self, base):
        stage = TrainerStage(OnlineTrainer(base))
        newer = base.with_version(4)
        assert stage.adopt(*encode_rpp_model(RppModel(4, newer.to_bytes(), {}, 0.0)))
        assert not stage.adopt(*encode_rpp_model(RppModel(2, base.with_version(2).to_bytes(), {}, 0.0)))
        assert stage.trainer.current.version == 4
