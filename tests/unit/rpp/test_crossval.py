"""By-scene cross-validation: folds of whole scenes, nested choice, baselines, P spread."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cdio_stream.errors import ConfigError, DatasetError
from cdio_stream.rpp import crossval
from cdio_stream.rpp.crossval import (
    MODELS,
    config_key,
    cross_validate,
    expand_grid,
    p_spread,
    scene_folds,
)
from cdio_stream.rpp.history import scene_of
from cdio_stream.rpp.train import TrainConfig

SMALL = TrainConfig(seq_len=4, hidden=8, epochs=3, patience=2, seed=0)


def with_draws(records, draws=(1, 2)):
    return [replace(r, stream=f"{r.stream}#{k}") for k in draws for r in records]


class TestFolds:
    def test_folds_partition_the_scenes_evenly_and_are_seeded(self):
        scenes = [f"MVI_{i}" for i in range(23)]
        folds = scene_folds(scenes, 5, seed=1)
        assert sorted(s for f in folds for s in f) == sorted(scenes)
        assert {len(f) for f in folds} <= {4, 5}
        assert folds == scene_folds(reversed(scenes), 5, seed=1)
        assert folds != scene_folds(scenes, 5, seed=2)

    def test_bad_fold_counts(self):
        with pytest.raises(ConfigError, match="folds"):
            scene_folds(["a", "b"], 3, seed=0)
        with pytest.raises(ConfigError, match="folds"):
            scene_folds(["a", "b"], 1, seed=0)


class TestGrid:
    def test_every_combination_on_the_base(self):
        grid = expand_grid(SMALL, {"hidden": [8, 16], "dropout": [0.0, 0.3]})
        assert [(c.hidden, c.dropout) for c in grid] == [(8, 0.0), (8, 0.3), (16, 0.0), (16, 0.3)]
        assert all(c.seq_len == 4 and c.epochs == 3 for c in grid)
        assert config_key(grid[1], ("hidden", "dropout")) == "hidden=8,dropout=0.3"

    def test_unknown_key(self):
        with pytest.raises(ConfigError, match="split"):
            expand_grid(SMALL, {"split": ["time"]})


class TestSpread:
    def test_quantiles_and_within_bin_spread(self):
        rng = np.random.default_rng(0)
        a = rng.uniform(10, 70, 2000)
        p = np.clip(0.5 + 0.3 * rng.normal(size=2000), 0, 1)
        y = (rng.random(2000) < p).astype(float)
        out = p_spread(p, a, y, bins=3)
        assert (
            out["tasks"] == 2000
            and out["quantiles"]["0.0"] <= out["quantiles"]["0.5"] <= out["quantiles"]["1.0"]
        )
        assert [b["tasks"] for b in out["by_a_req"]] and sum(b["tasks"] for b in out["by_a_req"]) == 2000
        assert all(b["std_p"] > 0.2 and b["auc_within"] > 0.6 for b in out["by_a_req"])
        const = p_spread(np.full(50, 0.1), a[:50], y[:50])
        assert const["std"] == 0 and const["fraction_ge_0.5"] == 0


class TestCrossValidate:
    def test_held_out_scenes_never_reach_a_fit_and_are_all_scored(self, history_factory, monkeypatch):
        train = with_draws(history_factory(2, n_streams=10, n_tasks=20))
        other = with_draws(history_factory(3, n_streams=10, n_tasks=20), draws=(7,))
        seen: list[set[str]] = []
        real = crossval.train_predictor

        def spy(records, config):
            seen.append({scene_of(r.stream) for r in records})
            return real(records, config)

        monkeypatch.setattr(crossval, "train_predictor", spy)
        grid = expand_grid(SMALL, {"hidden": [4, 8]})
        report = cross_validate(train, {"a": train, "b": other}, grid, folds=5, seed=3)
        folds = scene_folds({scene_of(r.stream) for r in train}, 5, seed=3)
        assert len(seen) == 5 * 3  # two configurations and the no-sequence LSTM per fold
        for k, fold in enumerate(folds):
            for fitted in seen[3 * k : 3 * k + 3]:
                assert not fitted & fold and fitted | fold == {f"s{i}" for i in range(10)}
        # every task of each evaluation history is scored exactly once over the folds
        assert report["label_balance"]["a"]["tasks"] == len(train)
        assert report["label_balance"]["b"]["tasks"] == len(other)
        assert sum(fd["scores"]["b"]["lstm"]["tasks"] for fd in report["per_fold"]) == len(other)
        assert set(report["summary"]["a"]) == set(MODELS)
        assert all(fd["chosen"] in fd["inner_val_log_loss"] for fd in report["per_fold"])
        assert report["selected_overall"]["config"] in {"hidden=4", "hidden=8"}

    def test_baselines_rank_as_the_rule_says(self, history_factory):
        # the rule: A^q plus recent motion; a per-task model that sees motion beats A^q alone
        train = history_factory(4, n_streams=15, n_tasks=60)
        report = cross_validate(train, {"all": train}, [SMALL], folds=3, seed=0, no_sequence=False)
        s = report["summary"]["all"]
        assert "lstm_no_sequence" not in s
        assert s["task_logistic"]["auc_mean"] > s["a_req_logistic"]["auc_mean"] > 0.6
        assert s["a_req_binned"]["log_loss_mean"] < s["class_prior"]["log_loss_mean"]
        assert s["class_prior"]["auc_mean"] == 0.5

    def test_evaluation_scenes_must_be_training_scenes(self, history_factory):
        train = history_factory(2, n_streams=6, n_tasks=10)
        stranger = [replace(r, stream="elsewhere") for r in train[:5]]
        with pytest.raises(DatasetError, match="scenes the training one lacks"):
            cross_validate(train, {"x": stranger}, [SMALL], folds=3)
        with pytest.raises(ConfigError):
            cross_validate(train, {"x": train}, [], folds=3)
