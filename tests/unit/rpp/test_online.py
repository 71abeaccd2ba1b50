"""The online trainer: label windows, schedule, held-out comparison, promotion."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cdio_stream.errors import ConfigError
from cdio_stream.rpp.features import TaskFeatures
from cdio_stream.rpp.online import OnlineConfig, OnlineTrainer, StreamWindows
from cdio_stream.rpp.predictor import PreferencePredictor
from cdio_stream.rpp.train import TrainConfig, train_predictor


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def base_model() -> PreferencePredictor:
    from tests.unit.rpp.conftest import synthetic_history

    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        return train_predictor(
            synthetic_history(1, n_streams=8, n_tasks=80), TrainConfig(epochs=15, hidden=16)
        ).predictor


def flipped(records):
    """The same tasks with the opposite preference: the deployment drifted."""
    out = []
    for r in records:
        if r.label():  # was compute: make the edge serve
            out.append(replace(r, edge_accuracy=r.a_req + 3))
        else:  # was bandwidth: the edge fails, the cloud serves
            out.append(
                replace(r, edge_accuracy=r.a_req - 5, cloud_accuracy=r.a_req + 5, cloud_delay=r.d_req - 0.05)
            )
    return out


def feed(trainer: OnlineTrainer, records, every: int = 1) -> None:
    """Results in capture order; one in ``every`` is reference-labelled."""
    for i, r in enumerate(sorted(records, key=lambda r: (r.capture_time, r.stream))):
        if i % every == 0:
            trainer.observe_label(r)
        else:
            trainer.observe_features(r.stream, r.frame, r.capture_time, r.features())


def feats(v: float) -> TaskFeatures:
    return TaskFeatures(v, (v, v, v, v, v), 0.001, 0.04, 60.0, 0.4)


class TestStreamWindows:
    def test_window_is_in_capture_order_whatever_the_arrival(self):
        w = StreamWindows(per_stream=8)
        for frame in (3, 1, 4, 2):  # out of order, like results from tiers of different speed
            w.add("s", frame, frame * 0.04, feats(float(frame)))
        seq = w.sequence("s", 3, 0.12, 4)
        assert seq.shape == (4, 10)
        assert seq[:, 0].tolist() == [1.0, 1.0, 2.0, 3.0]  # left-padded with the first, ends at frame 3

    def test_bounded_and_missing(self):
        w = StreamWindows(per_stream=2, max_streams=1)
        for f in range(1, 5):
            w.add("a", f, f * 0.04, feats(float(f)))
        assert w.sequence("a", 4, 0.16, 3)[:, 0].tolist() == [3.0, 3.0, 4.0]
        w.add("b", 1, 0.0, feats(1.0))  # evicts stream a
        with pytest.raises(ConfigError, match="a/4"):
            w.sequence("a", 4, 0.16, 3)


class TestSchedule:
    def test_due_every_n_labels_after_min(self, base_model, history_factory):
        t = OnlineTrainer(base_model, OnlineConfig(retrain_every=30, min_labels=50, window=200))
        recs = sorted(history_factory(3, n_streams=4, n_tasks=30), key=lambda r: r.capture_time)
        for r in recs[:49]:
            t.observe_label(r)
        assert not t.due(0.0)  # 49 labels < min_labels
        t.observe_label(recs[49])
        assert t.due(0.0) and len(t.labels) == 50

    def test_due_on_interval(self, base_model, history_factory):
        t = OnlineTrainer(
            base_model, OnlineConfig(retrain_every=1000, min_labels=10, window=100, retrain_interval_s=60)
        )
        for r in history_factory(3, n_streams=2, n_tasks=10):
            t.observe_label(r)
        assert t.due(0.0)  # never retrained: due
        t.retrain(0.0)
        assert not t.due(30.0)  # no new label
        t.observe_label(history_factory(4, n_streams=1, n_tasks=1)[0])
        assert not t.due(30.0) and t.due(61.0)

    @pytest.mark.parametrize(
        "kw", [{"min_labels": 1}, {"holdout_fraction": 1.0}, {"retrain_every": 0}, {"min_improvement": -1}]
    )
    def test_bad_config(self, kw):
        with pytest.raises(ConfigError):
            OnlineConfig(**kw)

    def test_feature_size_checked(self, base_model):
        t = OnlineTrainer(base_model)
        with pytest.raises(ConfigError, match="features"):
            t.observe_features("s", 1, 0.0, TaskFeatures(0.1, (0.1,), 0.0, 0.0, 60.0, 0.4))


class TestPromotion:
    def test_drift_is_learnt_and_promoted(self, base_model, history_factory):
        """Labels flip: the current model is confidently wrong, a fine-tuned candidate wins."""
        cfg = OnlineConfig(retrain_every=400, min_labels=400, window=800, epochs=15, lr=3e-3)
        t = OnlineTrainer(base_model, cfg)
        feed(t, flipped(history_factory(5, n_streams=8, n_tasks=100)), every=2)
        assert t.due(1.0)
        out = t.retrain(1.0)
        hold = out.card["holdout"]
        assert out.promoted and out.card["version"] == 1 and out.model.version == 1
        assert hold["candidate"]["log_loss"] < hold["current"]["log_loss"]
        assert t.current is out.model and out.model.metrics["online"]["parent_version"] == 0
        assert out.card["labels"]["holdout"] == 100 and out.card["labels"]["window"] == 400
        assert base_model.version == 0  # the base was copied, not modified
        # a second round builds on version 1
        feed(t, flipped(history_factory(6, n_streams=8, n_tasks=100)), every=2)
        out2 = t.retrain(2.0)
        assert out2.card["parent_version"] == 1
        assert t.current.version == (2 if out2.promoted else 1)

    def test_no_gain_no_promotion(self, base_model, history_factory):
        """Same rule as the base learnt: nothing beats it by the required margin."""
        cfg = OnlineConfig(retrain_every=200, min_labels=200, window=400, min_improvement=0.2)
        t = OnlineTrainer(base_model, cfg)
        feed(t, history_factory(7, n_streams=4, n_tasks=100), every=2)
        out = t.retrain(1.0)
        assert not out.promoted and out.model is base_model and t.current.version == 0
        assert "not better" in out.card["why"] and "version" not in out.card

    def test_promoted_model_round_trips_with_its_version(self, base_model, history_factory):
        t = OnlineTrainer(
            base_model, OnlineConfig(retrain_every=400, min_labels=400, window=800, epochs=15, lr=3e-3)
        )
        feed(t, flipped(history_factory(5, n_streams=8, n_tasks=100)), every=2)
        out = t.retrain(1.0)
        assert out.promoted
        back = PreferencePredictor.from_bytes(out.model.to_bytes())
        x = np.stack([task.sequence for task in list(t.labels)[:20]])
        assert back.version == 1 and back.metrics["online"]["promoted"] is True
        np.testing.assert_allclose(back.predict_proba(x), out.model.predict_proba(x), rtol=1e-6)

    def test_adopt_only_newer(self, base_model):
        t = OnlineTrainer(base_model)
        t.adopt(base_model.with_version(3))
        assert t.current.version == 3
        t.adopt(base_model.with_version(2))
        assert t.current.version == 3
