"""Training the preference LSTM: it learns a learnable rule and does not memorise noise.

The three training runs here take a few seconds each on one CPU thread.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cdio_stream.errors import ConfigError, DatasetError
from cdio_stream.rpp.train import TrainConfig, build_sequences, train_predictor


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class TestLearning:
    def test_learns_a_rule_with_temporal_context(self, history_factory):
        records = history_factory(1)
        seen = []
        result = train_predictor(records, TrainConfig(epochs=40, seed=0), progress=seen.append)
        assert result.val_accuracy >= 0.90
        assert result.val_majority_accuracy < 0.6  # balanced: 90 % is not the majority class
        assert seen and seen[-1].epoch == len(result.history)
        # the stored predictor gives the reported validation accuracy
        _, _, xva, yva, _ = build_sequences(records, 8, val_fraction=0.2)
        acc = np.mean((result.predictor.predict_proba(xva) >= 0.5) == yva)
        assert acc == pytest.approx(result.val_accuracy, abs=1e-6)

    def test_one_step_sequences_do_worse(self, history_factory):
        """The rule averages the last 3 frames' motion, so seq_len 1 must lose accuracy."""
        records = history_factory(1)
        short = train_predictor(records, TrainConfig(epochs=40, seed=0, seq_len=1))
        assert short.val_accuracy < 0.88

    def test_random_labels_stay_near_chance(self, history_factory):
        result = train_predictor(history_factory(1, random_labels=True), TrainConfig(epochs=40, seed=0))
        assert 0.35 <= result.val_accuracy <= 0.65


class TestMechanics:
    def test_seeded_runs_are_identical(self, history_factory):
        records = history_factory(2, n_streams=4, n_tasks=40)
        cfg = TrainConfig(epochs=2, seed=5, hidden=8)
        a = train_predictor(records, cfg)
        b = train_predictor(records, cfg)
        c = train_predictor(records, TrainConfig(epochs=2, seed=6, hidden=8))
        _, _, xva, _, _ = build_sequences(records, 8, val_fraction=0.2)
        np.testing.assert_array_equal(a.predictor.predict_proba(xva), b.predictor.predict_proba(xva))
        assert not np.array_equal(a.predictor.predict_proba(xva), c.predictor.predict_proba(xva))

    def test_global_rng_untouched(self, history_factory):
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        train_predictor(history_factory(2, n_streams=2, n_tasks=20), TrainConfig(epochs=1, hidden=4))
        assert torch.equal(torch.rand(3), expected)

    def test_split_is_chronological_per_stream(self, history_factory):
        records = history_factory(3, n_streams=3, n_tasks=10)
        xtr, ytr, xva, yva, n_scales = build_sequences(records, 4, val_fraction=0.3)
        assert n_scales == 5 and xtr.shape == (21, 4, 10) and xva.shape == (9, 4, 10)
        # the first validation window of stream s0 ends with its 8th task
        last = xva[0, -1]
        assert last[-2] == pytest.approx(records[7].a_req)
        assert ytr.shape == (21,) and set(np.unique(np.concatenate([ytr, yva]))) <= {0.0, 1.0}

    def test_early_stopping_stops(self, history_factory):
        result = train_predictor(
            history_factory(4, n_streams=4, n_tasks=40, random_labels=True),
            TrainConfig(epochs=200, patience=2, seed=0, hidden=8),
        )
        assert len(result.history) < 200
        assert len(result.history) - result.best_epoch <= 2

    def test_empty_and_tiny_histories(self, history_factory):
        with pytest.raises(DatasetError, match="empty"):
            train_predictor([])
        with pytest.raises(DatasetError, match="too small"):
            train_predictor(history_factory(0, n_streams=1, n_tasks=2))

    def test_inconsistent_scales(self, history_factory):
        from dataclasses import replace

        records = history_factory(0, n_streams=1, n_tasks=5)
        records[3] = replace(records[3], complexity_scales=(0.1,))
        with pytest.raises(DatasetError, match="1 complexity scales"):
            build_sequences(records, 4, val_fraction=0.2)

    @pytest.mark.parametrize("kw", [{"val_fraction": 0.0}, {"epochs": 0}, {"lr": 0.0}])
    def test_bad_config(self, kw):
        with pytest.raises(ConfigError):
            TrainConfig(**kw)
