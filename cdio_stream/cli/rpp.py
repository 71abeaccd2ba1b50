"""``cdio-stream rpp``: build training histories and train the preference LSTM.

cdio-stream rpp history --trace TRACE --edge-model M --cloud-model M --out HISTORY
cdio-stream rpp train --history HISTORY --out CKPT [--split scene --epochs N --seed S ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cdio_stream.errors import CdioError
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
    hist.add_argument("--a-range", type=float, nargs=2, default=(50.0, 80.0), metavar=("LO", "HI"))
    hist.add_argument("--d-range", type=float, nargs=2, default=(0.2, 0.6), metavar=("LO", "HI"))
    hist.add_argument("--cloud-bandwidth", type=float, default=300e6, help="cloud uplink, bits/s")
    hist.add_argument(
        "--draws", type=int, default=1, help="requirement draws per frame (streams <stream>#k); default 1"
    )
    hist.set_defaults(func=run)

    train = sub.add_parser("train", help="train the preference LSTM on a history file")
    train.add_argument("--history", type=Path, required=True, help="history JSONL (cdio_stream.rpp.history)")
    train.add_argument("--out", type=Path, required=True, help="checkpoint file to write")
    train.add_argument("--epochs", type=int, default=40)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--seq-len", type=int, default=8)
    train.add_argument("--hidden", type=int, default=32)
    train.add_argument("--layers", type=int, default=2)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=3e-3)
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--dropout", type=float, default=0.0, help="between LSTM layers")
    train.add_argument("--patience", type=int, default=6)
    train.add_argument("--val-fraction", type=float, default=0.2)
    train.add_argument(
        "--split",
        choices=("scene", "time"),
        default="scene",
        help="validation: whole streams held out (scene, default) or each stream's last frames (time)",
    )
    train.add_argument(
        "--report", type=Path, help="also write the held-out scores (model, A^q only, class prior) as JSON"
    )
    train.add_argument(
        "--both-fail", type=int, choices=(0, 1), default=0, help="label of tasks neither tier serves"
    )
    train.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.rpp_command == "history":
        return _history(args)
    if args.rpp_command == "train":
        return _train(args, settings)
    raise CdioError(f"unknown rpp action {args.rpp_command!r}")  # argparse prevents this


def _history(args: argparse.Namespace) -> int:
    from cdio_stream.rpp.history import LinkDelay, history_from_trace, preference_label, write_history
    from cdio_stream.trace import read_trace

    records = history_from_trace(
        read_trace(args.trace),
        args.edge_model,
        args.cloud_model,
        seed=args.seed,
        a_range=tuple(args.a_range),
        d_range=tuple(args.d_range),
        delay_fn=LinkDelay(cloud_bandwidth_bps=args.cloud_bandwidth),
        draws=args.draws,
    )
    n = write_history(args.out, records)
    compute = sum(preference_label(r) for r in records)
    print(f"wrote {n} tasks to {args.out} ({compute} prefer compute, {n - compute} prefer bandwidth)")
    return 0


def _train(args: argparse.Namespace, settings: Settings) -> int:
    import orjson
    import torch

    from cdio_stream.rpp.history import read_history
    from cdio_stream.rpp.train import EpochStats, TrainConfig, train_predictor

    torch.set_num_threads(settings.torch_threads)
    config = TrainConfig(
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
        split=args.split,
        seed=args.seed,
    )
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
