"""``cdio-stream rpp``: build training histories and train the preference LSTM.

cdio-stream rpp history --trace TRACE --edge-model M --cloud-model M --out HISTORY
cdio-stream rpp train --history HISTORY --out CKPT [--split scene --epochs N --seed S ...]
cdio-stream rpp cv --history HISTORY [--eval NAME=HISTORY ...] [--folds 5 --grid hidden=16,32 ...]
cdio-stream rpp evaluate --checkpoint CKPT --train-history HISTORY --eval NAME=HISTORY ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cdio_stream.errors import CdioError, ConfigError
from cdio_stream.settings import Settings

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rpp", help="resource preference prediction: history files, LSTM training")
    sub = parser.add_subparsers(dest="rpp_command", metavar="ACTION", required=True)

    hist = sub.add_parser("history", help="build a labelled training history from a profiling trace")
    hist.add_argument("--trace", type=Path, required=True, help="trace JSONL (cdio_stream.trace format)")
    hist.add_argument("--edge-model", required=True, help="model name in the trace used at the edge")
    hist.add_argument("--cloud-model", required=True, help="model name in the trace used in the cloud")
    hist.add_argument("--out", type=Path, required=True, help="history JSONL to write")
    hist.add_argument("--seed", type=int, default=0, help="seed of the sampled requirements")
    hist.add_argument(
        "--a-range",
        type=float,
        nargs=2,
        action="append",
        metavar=("LO", "HI"),
        help="A^q range, mAP50 percent (default 50 80). Repeat it for several ranges: each range gets "
        "--draws draws of every stream, numbered on (range 1: #1..#N, range 2: #N+1..#2N, ...)",
    )
    hist.add_argument("--d-range", type=float, nargs=2, default=(0.2, 0.6), metavar=("LO", "HI"))
    hist.add_argument("--cloud-bandwidth", type=float, default=300e6, help="cloud uplink, bits/s")
    hist.add_argument(
        "--draws", type=int, default=1, help="requirement draws per frame (streams <stream>#k); default 1"
    )
    hist.set_defaults(func=run)

    train = sub.add_parser("train", help="train the preference LSTM on a history file")
    train.add_argument("--history", type=Path, required=True, help="history JSONL (cdio_stream.rpp.history)")
    train.add_argument("--out", type=Path, required=True, help="checkpoint file to write")
    _add_train_flags(train)
    train.add_argument(
        "--split",
        choices=("scene", "time"),
        default="scene",
        help="validation: whole streams held out (scene, default) or each stream's last frames (time)",
    )
    train.add_argument(
        "--report", type=Path, help="also write the held-out scores (model, A^q only, class prior) as JSON"
    )
    train.set_defaults(func=run)

    cv = sub.add_parser(
        "cv",
        help="by-scene k-fold cross-validation: LSTM (hyperparameters chosen inside each fold) "
        "against per-task and A^q-only baselines and the class prior",
    )
    cv.add_argument("--history", type=Path, required=True, help="training history JSONL")
    cv.add_argument(
        "--eval",
        action="append",
        metavar="NAME=HISTORY",
        help="score held-out scenes on this history (same scenes, e.g. another A^q range); repeatable; "
        "default: the training history",
    )
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--cv-seed", type=int, default=0, help="seed of the scene folds")
    cv.add_argument(
        "--grid",
        action="append",
        metavar="KEY=V1,V2",
        help="hyperparameter values to choose from inside each fold (repeatable; every combination); "
        "keys: seq_len hidden layers dropout weight_decay lr epochs batch_size patience",
    )
    cv.add_argument("--no-sequence-baseline", action="store_true", help="skip the seq_len 1 LSTM")
    cv.add_argument("--out", type=Path, help="write the report as JSON")
    _add_train_flags(cv)
    cv.set_defaults(func=run)

    ev = sub.add_parser(
        "evaluate", help="score a checkpoint on histories against baselines fitted on its training history"
    )
    ev.add_argument("--checkpoint", type=Path, required=True)
    ev.add_argument("--train-history", type=Path, required=True, help="history the baselines are fitted on")
    ev.add_argument("--eval", action="append", required=True, metavar="NAME=HISTORY", help="repeatable")
    ev.add_argument("--both-fail", type=int, choices=(0, 1), default=0)
    ev.add_argument("--out", type=Path, help="write the scores as JSON")
    ev.set_defaults(func=run)


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seq-len", type=int, default=8)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--dropout", type=float, default=0.0, help="between LSTM layers")
    p.add_argument("--patience", type=int, default=6)
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument(
        "--both-fail", type=int, choices=(0, 1), default=0, help="label of tasks neither tier serves"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.rpp_command == "history":
        return _history(args)
    if args.rpp_command == "train":
        return _train(args, settings)
    if args.rpp_command == "cv":
        return _cv(args, settings)
    if args.rpp_command == "evaluate":
        return _evaluate(args, settings)
    raise CdioError(f"unknown rpp action {args.rpp_command!r}")  # argparse prevents this


def _history(args: argparse.Namespace) -> int:
    from cdio_stream.rpp.history import LinkDelay, history_from_trace, preference_label, write_history
    from cdio_stream.trace import read_trace

    ranges = [tuple(r) for r in args.a_range] if args.a_range else [(50.0, 80.0)]
    frames = read_trace(args.trace)
    records = []
    for i, a_range in enumerate(ranges):
        part = history_from_trace(
            frames,
            args.edge_model,
            args.cloud_model,
            seed=args.seed,
            a_range=a_range,
            d_range=tuple(args.d_range),
            delay_fn=LinkDelay(cloud_bandwidth_bps=args.cloud_bandwidth),
            draws=args.draws,
            first_draw=1 + i * args.draws,
        )
        if len(ranges) > 1:
            c = sum(preference_label(r) for r in part)
            print(f"A^q in [{a_range[0]:g}, {a_range[1]:g}]: {len(part)} tasks, {c} prefer compute")
        records += part
    n = write_history(args.out, records)
    compute = sum(preference_label(r) for r in records)
    print(f"wrote {n} tasks to {args.out} ({compute} prefer compute, {n - compute} prefer bandwidth)")
    return 0


def _train(args: argparse.Namespace, settings: Settings) -> int:
    import orjson
    import torch

    from cdio_stream.rpp.history import read_history
    from cdio_stream.rpp.train import EpochStats, train_predictor

    torch.set_num_threads(settings.torch_threads)
    config = _train_config(args, args.split)
    records = read_history(args.history)

    def progress(st: EpochStats) -> None:
        print(
            f"epoch {st.epoch:3d}  train_loss {st.train_loss:.4f}  val_loss {st.val_loss:.4f}  "
            f"val_acc {st.val_accuracy:.4f}",
            flush=True,
        )

    result = train_predictor(records, config, progress=progress)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.predictor.save(args.out)
    print(
        f"best epoch {result.best_epoch}: val_accuracy {result.val_accuracy:.4f} "
        f"(majority class {result.val_majority_accuracy:.4f}; "
        f"{result.n_train} train / {result.n_val} val tasks)"
    )
    print(f"held-out ({args.split} split)   tasks  compute     AUC  log-loss  accuracy")
    for name, sc in result.heldout.items():
        auc = "n/a" if sc["auc"] is None else f"{sc['auc']:.3f}"
        print(
            f"  {name:<22} {sc['tasks']:>6} {sc['compute']:>8} {auc:>7} {sc['log_loss']:>9.4f} "
            f"{sc['accuracy']:>9.3f}"
        )
    print(f"saved {args.out}")
    if args.report is not None:
        report = {
            "split": args.split,
            "n_train": result.n_train,
            "n_val": result.n_val,
            "best_epoch": result.best_epoch,
            "heldout": result.heldout,
        }
        args.report.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        print(f"wrote {args.report}")
    return 0


def _train_config(args: argparse.Namespace, split: str):
    from cdio_stream.rpp.train import TrainConfig

    return TrainConfig(
        seq_len=args.seq_len,
        hidden=args.hidden,
        layers=args.layers,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        dropout=args.dropout,
        patience=args.patience,
        val_fraction=args.val_fraction,
        both_fail=args.both_fail,
        split=split,
        seed=args.seed,
    )


def _named_histories(values: list[str] | None, flag: str) -> dict:
    from cdio_stream.rpp.history import read_history

    out = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"{flag} takes NAME=HISTORY, got {value!r}")
        if name in out:
            raise ConfigError(f"{flag} name {name!r} given twice")
        out[name] = read_history(Path(path))
    return out


def _parse_grid(values: list[str] | None) -> dict[str, list]:
    from cdio_stream.rpp.crossval import GRID_KEYS
    from cdio_stream.rpp.train import TrainConfig

    types = {k: type(getattr(TrainConfig(), k)) for k in GRID_KEYS}
    grid: dict[str, list] = {}
    for value in values or []:
        key, sep, vals = value.partition("=")
        if not sep or key not in types:
            raise ConfigError(f"--grid takes KEY=V1,V2 with KEY one of {', '.join(types)}, got {value!r}")
        try:
            grid[key] = [types[key](v) for v in vals.split(",")]
        except ValueError:
            raise ConfigError(f"--grid {key}: cannot read {vals!r} as {types[key].__name__} values") from None
    return grid


def _print_scores(title: str, scores: dict[str, dict]) -> None:
    print(f"{title:<24} {'tasks':>6} {'compute':>8} {'AUC':>7} {'log-loss':>9} {'accuracy':>9}")
    for name, sc in scores.items():
        auc = "n/a" if sc["auc"] is None else f"{sc['auc']:.3f}"
        print(
            f"  {name:<22} {sc['tasks']:>6} {sc['compute']:>8} {auc:>7} {sc['log_loss']:>9.4f} "
            f"{sc['accuracy']:>9.3f}"
        )


def _cv(args: argparse.Namespace, settings: Settings) -> int:
    import orjson
    import torch

    from cdio_stream.rpp.crossval import cross_validate, expand_grid
    from cdio_stream.rpp.history import read_history

    torch.set_num_threads(settings.torch_threads)
    train = read_history(args.history)
    evals = _named_histories(args.eval, "--eval") or {"train": train}
    grid = expand_grid(_train_config(args, "scene"), _parse_grid(args.grid))
    report = cross_validate(
        train,
        evals,
        grid,
        folds=args.folds,
        seed=args.cv_seed,
        no_sequence=not args.no_sequence_baseline,
        progress=lambda msg: print(msg, flush=True),
    )
    print(
        f"{report['scenes']} scenes, {args.folds} folds; chosen per fold: {', '.join(report['selected_per_fold'])}"
    )
    print(f"lowest mean inner-validation log-loss: {report['selected_overall']['config']}")
    for e, summary in report["summary"].items():
        bal = report["label_balance"][e]
        print(f"{e}: {bal['tasks']} held-out tasks, {bal['compute']} compute")
        print(f"  {'model':<18} {'AUC mean':>8} {'(std)':>7} {'log-loss':>8} {'(std)':>7} {'pooled AUC':>10}")
        for m, sc in summary.items():
            print(
                f"  {m:<18} {sc['auc_mean'] or float('nan'):>8.3f} {sc['auc_std'] or 0:>7.3f} "
                f"{sc['log_loss_mean']:>8.4f} {sc['log_loss_std']:>7.4f} {sc['pooled_auc'] or float('nan'):>10.3f}"
            )
        sp = report["p_compute_lstm"][e]
        qs = sp["quantiles"]
        print(
            f"  LSTM P(compute): p5 {qs['0.05']:.3f} median {qs['0.5']:.3f} p95 {qs['0.95']:.3f} "
            f"std {sp['std']:.3f}, >= 0.5 on {sp['fraction_ge_0.5']:.1%}"
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        print(f"wrote {args.out}")
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    import orjson
    import torch

    from cdio_stream.rpp.crossval import evaluate_checkpoint
    from cdio_stream.rpp.history import read_history
    from cdio_stream.rpp.predictor import PreferencePredictor

    torch.set_num_threads(settings.torch_threads)
    predictor = PreferencePredictor.load(args.checkpoint)
    evals = _named_histories(args.eval, "--eval")
    out = evaluate_checkpoint(predictor, read_history(args.train_history), evals, both_fail=args.both_fail)
    for e, result in out.items():
        _print_scores(e, result["scores"])
        qs = result["p_compute_lstm"]["quantiles"]
        print(f"  LSTM P(compute): p5 {qs['0.05']:.3f} median {qs['0.5']:.3f} p95 {qs['0.95']:.3f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
        print(f"wrote {args.out}")
    return 0
