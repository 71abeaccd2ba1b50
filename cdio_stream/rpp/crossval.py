"""By-scene k-fold cross-validation of the preference LSTM against simple baselines.

Scenes (:func:`~cdio_stream.rpp.history.scene_of`: a camera sequence with every
requirement draw of it) are dealt into ``folds`` folds, seeded. For each fold, every
model is fitted on the other folds' scenes of the *training* history and scored on the
fold's scenes of each *evaluation* history (e.g. one per requirement range the system
samples), so a scene is never on both sides, and the spread over folds shows how much a
number depends on which scenes were held out.

The LSTM's hyperparameters are chosen inside each fold (nested): every configuration of
``grid`` is trained on the fold's training scenes with early stopping on a by-scene
validation share of them (``TrainConfig.val_fraction``), and the one with the lowest
validation log-loss is scored on the held-out fold. The held-out fold never takes part in
a choice. Compared, all fitted on the same training scenes:

* ``lstm``: the chosen configuration;
* ``lstm_no_sequence``: the same configuration with ``seq_len`` 1 (the task alone: what
  the sequence adds);
* ``task_logistic``: logistic regression on the task's whole feature vector, degree 2;
* ``a_req_logistic``: logistic regression on A^q (linear);
* ``a_req_binned``: the training label rate per A^q decile;
* ``class_prior``: the training label rate.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, replace

import numpy as np

from cdio_stream.errors import ConfigError, DatasetError
from cdio_stream.rpp.evaluate import LogisticBaseline, RequirementBaseline, log_loss, roc_auc, score
from cdio_stream.rpp.features import feature_names
from cdio_stream.rpp.history import HistoryRecord, scene_of
from cdio_stream.rpp.predictor import PreferencePredictor
from cdio_stream.rpp.train import TrainConfig, stream_sequences, train_predictor

__all__ = [
    "MODELS",
    "baseline_predictions",
    "config_key",
    "cross_validate",
    "evaluate_checkpoint",
    "expand_grid",
    "p_spread",
    "scene_folds",
]

MODELS = ("lstm", "lstm_no_sequence", "task_logistic", "a_req_logistic", "a_req_binned", "class_prior")
GRID_KEYS = (
    "seq_len",
    "hidden",
    "layers",
    "dropout",
    "weight_decay",
    "lr",
    "epochs",
    "batch_size",
    "patience",
)


def scene_folds(scenes: Iterable[str], folds: int, *, seed: int) -> list[frozenset[str]]:
    """``folds`` disjoint sets of scenes (sizes differ by at most one), seeded."""
    names = sorted(set(scenes))
    if folds < 2 or folds > len(names):
        raise ConfigError(f"folds must be in [2, {len(names)} scenes], got {folds}")
    order = np.random.default_rng(seed).permutation(len(names))
    return [frozenset(names[i] for i in order[k::folds]) for k in range(folds)]


def expand_grid(base: TrainConfig, grid: Mapping[str, Sequence]) -> list[TrainConfig]:
    """Every combination of the ``grid`` values, on top of ``base`` (in the grid's key order)."""
    bad = [k for k in grid if k not in GRID_KEYS]
    if bad:
        raise ConfigError(f"cannot search over {bad}; grid keys are {', '.join(GRID_KEYS)}")
    keys = list(grid)
    return [replace(base, **dict(zip(keys, vals, strict=True))) for vals in itertools.product(*grid.values())]


def config_key(config: TrainConfig, keys: Iterable[str] = GRID_KEYS) -> str:
    return ",".join(f"{k}={getattr(config, k)}" for k in keys)


def baseline_predictions(
    x_train_last: np.ndarray, y_train: np.ndarray, x_last: np.ndarray, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """P(compute) of the non-LSTM models, fitted on raw current-task vectors of training tasks."""
    names = tuple(names)
    a = names.index("a_req")
    return {
        "task_logistic": LogisticBaseline.fit(x_train_last, y_train, names, degree=2).predict(x_last),
        "a_req_logistic": LogisticBaseline.fit(x_train_last, y_train, names, use=("a_req",)).predict(x_last),
        "a_req_binned": RequirementBaseline.fit(x_train_last[:, a], y_train).predict(x_last[:, a]),
        "class_prior": np.full(len(x_last), float(np.mean(y_train))),
    }


def p_spread(p: np.ndarray, a_req: np.ndarray, y: np.ndarray, *, bins: int = 5) -> dict:
    """How a model's P(compute) spreads over tasks, overall and within equal-width A^q bins.

    The within-bin standard deviation is what the frame (not the requirement) moves.
    """
    p, a_req, y = (np.asarray(v, dtype=np.float64).ravel() for v in (p, a_req, y))
    q = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
    edges = np.linspace(a_req.min(), a_req.max(), bins + 1)
    idx = np.clip(np.searchsorted(edges, a_req, side="right") - 1, 0, bins - 1)
    by_bin = []
    for b in range(bins):
        m = idx == b
        if m.any():
            by_bin.append(
                {
                    "a_req": [round(float(edges[b]), 1), round(float(edges[b + 1]), 1)],
                    "tasks": int(m.sum()),
                    "compute_rate": round(float(y[m].mean()), 4),
                    "mean_p": round(float(p[m].mean()), 4),
                    "std_p": round(float(p[m].std()), 4),
                    "auc_within": _round(roc_auc(y[m], p[m])),
                }
            )
    return {
        "tasks": len(p),
        "quantiles": {str(k): round(float(v), 4) for k, v in zip(q, np.quantile(p, q), strict=True)},
        "mean": round(float(p.mean()), 4),
        "std": round(float(p.std()), 4),
        "fraction_ge_0.5": round(float((p >= 0.5).mean()), 4),
        "by_a_req": by_bin,
    }


def cross_validate(
    train: Sequence[HistoryRecord],
    evals: Mapping[str, Sequence[HistoryRecord]],
    grid: Sequence[TrainConfig],
    *,
    folds: int = 5,
    seed: int = 0,
    no_sequence: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """By-scene k-fold CV (module docstring); returns a JSON-ready report.

    ``evals`` maps a name to a history of the same scenes (another requirement range or
    draw); each fold's held-out scenes are scored on every one of them.
    """
    if not grid:
        raise ConfigError("the grid needs at least one configuration")
    if not evals:
        raise ConfigError("at least one evaluation history is needed")
    say = progress or (lambda _msg: None)
    scenes = {scene_of(r.stream) for r in train}
    fold_sets = scene_folds(scenes, folds, seed=seed)
    for name, recs in evals.items():
        missing = {scene_of(r.stream) for r in recs} - scenes
        if missing:
            raise DatasetError(
                f"evaluation history {name!r} has {len(missing)} scenes the training one lacks"
            )
    n_scales = len(train[0].complexity_scales)
    names = feature_names(n_scales)
    a_idx = names.index("a_req")
    both_fail = grid[0].both_fail
    keys = [k for k in GRID_KEYS if len({getattr(c, k) for c in grid}) > 1] or ["hidden"]
    per_fold: list[dict] = []
    pooled: dict[str, dict[str, list[np.ndarray]]] = {e: {"y": [], "a": []} for e in evals}
    for e in evals:
        pooled[e].update({m: [] for m in MODELS if m != "lstm_no_sequence" or no_sequence})
    for f, held in enumerate(fold_sets):
        fit_recs = [r for r in train if scene_of(r.stream) not in held]
        tried: dict[str, float] = {}
        best: tuple[float, str, PreferencePredictor, TrainConfig] | None = None
        for cfg in grid:
            cfg = replace(cfg, split="scene")
            result = train_predictor(fit_recs, cfg)
            loss = float(result.predictor.metrics["val_loss"])
            key = config_key(cfg, keys)
            tried[key] = round(loss, 5)
            say(f"fold {f + 1}/{folds}: {key}  inner val log-loss {loss:.4f} (epoch {result.best_epoch})")
            if best is None or loss < best[0]:
                best = (loss, key, result.predictor, cfg)
        assert best is not None
        _, chosen_key, lstm, chosen = best
        single = None
        if no_sequence:
            single = train_predictor(fit_recs, replace(chosen, seq_len=1)).predictor
        x_fit, y_fit, _ = stream_sequences(fit_recs, 1, both_fail=both_fail)
        fold: dict = {
            "fold": f + 1,
            "held_out_scenes": len(held),
            "training_tasks": len(y_fit),
            "inner_val_log_loss": tried,
            "chosen": chosen_key,
            "scores": {},
        }
        for e, recs in evals.items():
            held_recs = [r for r in recs if scene_of(r.stream) in held]
            x, y, _ = stream_sequences(held_recs, lstm.seq_len, both_fail=both_fail)
            preds = {"lstm": lstm.predict_proba(x)}
            if single is not None:
                preds["lstm_no_sequence"] = single.predict_proba(x[:, -1:, :])
            preds.update(baseline_predictions(x_fit[:, -1, :], y_fit, x[:, -1, :], names))
            fold["scores"][e] = {m: score(y, preds[m]).to_dict() for m in MODELS if m in preds}
            pooled[e]["y"].append(y)
            pooled[e]["a"].append(x[:, -1, a_idx])
            for m, p in preds.items():
                pooled[e][m].append(p)
            lstm_sc = fold["scores"][e]["lstm"]
            say(
                f"fold {f + 1}/{folds} {e}: lstm AUC {lstm_sc['auc']} log-loss {lstm_sc['log_loss']}  "
                f"a_req_binned AUC {fold['scores'][e]['a_req_binned']['auc']}  "
                f"log-loss {fold['scores'][e]['a_req_binned']['log_loss']}"
            )
        per_fold.append(fold)
    return {
        "folds": folds,
        "seed": seed,
        "scenes": len(scenes),
        "training_tasks": len(train),
        "grid": [config_key(replace(c, split="scene")) for c in grid],
        "base_config": asdict(replace(grid[0], split="scene")),
        "selected_per_fold": [fd["chosen"] for fd in per_fold],
        "selected_overall": _overall_choice(per_fold),
        "summary": {e: _summary(per_fold, e, pooled[e]) for e in evals},
        "label_balance": {
            e: {
                "tasks": int(sum(len(y) for y in pooled[e]["y"])),
                "compute": int(sum(y.sum() for y in pooled[e]["y"])),
            }
            for e in evals
        },
        "p_compute_lstm": {
            e: p_spread(
                np.concatenate(pooled[e]["lstm"]),
                np.concatenate(pooled[e]["a"]),
                np.concatenate(pooled[e]["y"]),
            )
            for e in evals
        },
        "per_fold": per_fold,
    }


def evaluate_checkpoint(
    predictor: PreferencePredictor,
    train: Sequence[HistoryRecord],
    evals: Mapping[str, Sequence[HistoryRecord]],
    *,
    both_fail: int = 0,
) -> dict:
    """Scores of a trained model and of the baselines fitted on ``train``, per evaluation history.

    For a final test on scenes nothing was chosen on (``cdio-stream rpp evaluate``).
    """
    x_fit, y_fit, _ = stream_sequences(train, 1, both_fail=both_fail)
    names = predictor.normaliser.names
    out = {}
    for e, recs in evals.items():
        x, y, _ = stream_sequences(recs, predictor.seq_len, both_fail=both_fail)
        preds = {"lstm": predictor.predict_proba(x)}
        preds |= baseline_predictions(x_fit[:, -1, :], y_fit, x[:, -1, :], names)
        out[e] = {
            "scores": {m: score(y, p).to_dict() for m, p in preds.items()},
            "p_compute_lstm": p_spread(preds["lstm"], x[:, -1, names.index("a_req")], y),
        }
    return out


def _overall_choice(per_fold: list[dict]) -> dict:
    """The configuration with the lowest mean inner-validation log-loss over the folds."""
    keys = per_fold[0]["inner_val_log_loss"]
    means = {k: float(np.mean([fd["inner_val_log_loss"][k] for fd in per_fold])) for k in keys}
    best = min(means, key=means.__getitem__)
    return {"config": best, "mean_inner_val_log_loss": {k: round(v, 5) for k, v in means.items()}}


def _summary(per_fold: list[dict], e: str, pooled: dict[str, list[np.ndarray]]) -> dict:
    y = np.concatenate(pooled["y"])
    out = {}
    for m in MODELS:
        if m not in pooled:
            continue
        aucs = [fd["scores"][e][m]["auc"] for fd in per_fold]
        losses = [fd["scores"][e][m]["log_loss"] for fd in per_fold]
        aucs_f = np.array([np.nan if a is None else a for a in aucs], dtype=np.float64)
        p = np.concatenate(pooled[m])
        out[m] = {
            "auc_mean": _round(np.nanmean(aucs_f)),
            "auc_std": _round(np.nanstd(aucs_f)),
            "auc_min": _round(np.nanmin(aucs_f)),
            "auc_max": _round(np.nanmax(aucs_f)),
            "log_loss_mean": round(float(np.mean(losses)), 4),
            "log_loss_std": round(float(np.std(losses)), 4),
            "pooled_auc": _round(roc_auc(y, p)),
            "pooled_log_loss": round(log_loss(y, p), 4),
            "accuracy_mean": round(float(np.mean([fd["scores"][e][m]["accuracy"] for fd in per_fold])), 4),
        }
    return out


def _round(v: float) -> float | None:
    return None if v is None or np.isnan(v) else round(float(v), 4)
