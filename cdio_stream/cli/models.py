"""``cdio-stream models``: list the model registry, train detectors, evaluate them on a dataset.

    cdio-stream models list [--sizes]
    cdio-stream models train --name edge --arch yolov5n --imgsz 256 --out cdio_stream/weights \\
        --synth-sequences 52 --synth-frames 15 --synth-seed 0 --time-budget 360
    cdio-stream models eval --data DIR --models edge,cloud,cloud@448 [--out eval.json]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

from cdio_stream.errors import ConfigError
from cdio_stream.settings import Settings

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list, train and evaluate the YOLO detectors")
    sub = p.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--registry", type=Path, help="YAML file adding models/deployments to the built-ins")

    ls = sub.add_parser("list", parents=[common], help="models and deployment versions")
    ls.add_argument("--sizes", action="store_true", help="also build each model to count params and GFLOPs")

    tr = sub.add_parser("train", help="train a detector on DETRAC-format data (Ultralytics, CPU)")
    src = tr.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="UA-DETRAC-format dataset directory")
    src.add_argument("--synth-sequences", type=int, help="generate this many synthetic sequences instead")
    tr.add_argument("--synth-frames", type=int, default=15, help="frames per synthetic sequence")
    tr.add_argument("--synth-seed", type=int, default=0, help="seed of the synthetic dataset")
    tr.add_argument("--name", required=True, help="output name: writes NAME.pt and NAME.json")
    tr.add_argument("--out", type=Path, required=True, help="folder for the weights and model card")
    tr.add_argument("--arch", default="yolov5n", help="architecture, e.g. yolov5n, yolov5s (default yolov5n)")
    tr.add_argument("--imgsz", type=int, default=256, help="training input size (default 256)")
    tr.add_argument("--epochs", type=int, default=30, help="epochs (an upper bound with --time-budget)")
    tr.add_argument("--time-budget", type=float, help="seconds; Ultralytics fits the epochs into it")
    tr.add_argument("--batch", type=int, default=16)
    tr.add_argument("--init", type=Path, help="start from these weights instead of from scratch")
    tr.add_argument("--seed", type=int, default=0, help="training and train/val split seed")
    tr.add_argument("--val-fraction", type=float, default=0.25, help="share of sequences kept for validation")
    tr.add_argument("--frame-stride", type=int, default=3, help="use every N-th frame of each sequence")

    ev = sub.add_parser("eval", parents=[common], help="mAP50 of models on a dataset, by weather and size")
    ev.add_argument("--data", type=Path, required=True, help="UA-DETRAC-format dataset directory")
    ev.add_argument("--models", default="edge,cloud", help="comma-separated, NAME or NAME@IMGSZ")
    ev.add_argument("--frame-stride", type=int, default=1, help="use every N-th frame of each sequence")
    ev.add_argument("--limit", type=int, help="at most this many frames per model")
    ev.add_argument("--class-agnostic", action="store_true", help="score boxes regardless of class")
    ev.add_argument("--out", type=Path, help="write the scores as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.models_action == "list":
        return _list(args, settings)
    if args.models_action == "train":
        return _train(args, settings)
    return _eval(args, settings)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from cdio_stream.inference.registry import load_registry

    reg = load_registry(args.registry)
    print(f"{'model':12s} {'arch':10s} {'imgsz':>5s} {'params':>8s} {'GFLOPs':>7s}  weights")
    for spec in reg.models.values():
        params = gflops = ""
        if args.sizes:
            from cdio_stream.inference.runner import Detector

            info = Detector(spec, settings=settings, warmup_shape=None).info()
            params, gflops = f"{info.params / 1e6:.1f}M", f"{info.gflops:.1f}"
        weights = str(spec.weights) if spec.weights else "(untrained YAML build)"
        print(f"{spec.name:12s} {spec.arch:10s} {spec.imgsz:5d} {params:>8s} {gflops:>7s}  {weights}")
    print()
    for d in reg.deployments.values():
        print(f"deployment {d.name:8s} edge={d.edge:10s} cloud={d.cloud}")
    return 0


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from cdio_stream.inference.training import TrainConfig, train_detector
    from cdio_stream.inference.yolo_dataset import export_yolo_dataset

    config = TrainConfig(
        arch=args.arch,
        imgsz=args.imgsz,
        epochs=args.epochs,
        time_budget_s=args.time_budget,
        batch=args.batch,
        seed=args.seed,
        init=None if args.init is None else str(args.init),
    ).validated()
    work = Path(settings.cache_dir) / "training" / args.name
    init_card = _init_card(args.init)
    if args.data is not None:
        source, data_info = args.data, {"source": str(args.data)}
    else:
        synth_dir = f"synth-{args.synth_sequences}x{args.synth_frames}-seed{args.synth_seed}"
        source, data_info = _synthesize(args, Path(settings.cache_dir) / "training" / synth_dir)
    started = time.monotonic()
    yolo_data = export_yolo_dataset(
        source, work / "yolo", val_fraction=args.val_fraction, frame_stride=args.frame_stride, seed=args.seed
    )
    data_info.update(
        frame_stride=args.frame_stride,
        val_fraction=args.val_fraction,
        split_seed=args.seed,
        ignored_regions="painted grey (114) in training images; boxes centred in them dropped",
        train_sequences=list(yolo_data.train_sequences),
        val_sequences=list(yolo_data.val_sequences),
        export_time_s=round(time.monotonic() - started, 1),
    )
    if init_card is not None:
        data_info["init_card"] = init_card
    print(
        f"training {args.arch} @ {args.imgsz} on {yolo_data.train_images} images "
        f"({yolo_data.val_images} val) from {source}",
        file=sys.stderr,
    )
    card = train_detector(
        yolo_data.data_yaml,
        args.out,
        args.name,
        config,
        settings=settings,
        data_info=data_info,
        command=_command_line(args),
    )
    print(json.dumps({k: v for k, v in asdict(card).items() if k not in ("data", "environment")}, indent=2))
    return 0


def _init_card(init: Path | None) -> dict | None:
    """The model card of ``--init`` weights (kept in the new card: how the starting point was made)."""
    if init is None:
        return None
    card = init.with_suffix(".json")
    return json.loads(card.read_text()) if card.is_file() else {"weights": str(init)}


def _synthesize(args: argparse.Namespace, out: Path) -> tuple[Path, dict]:
    from cdio_stream.data.synth import SynthConfig, generate_dataset

    if args.synth_sequences < 2:
        raise ConfigError("--synth-sequences must be >= 2 (train and validation sequences)")
    cfg = SynthConfig(sequences=args.synth_sequences, frames=args.synth_frames, seed=args.synth_seed)
    marker = out / "synth-info.json"  # written last: its presence means a complete, reusable dataset
    if marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("synth_config") == json.loads(json.dumps(asdict(cfg))):
            return out, info
    started = time.monotonic()
    summaries = generate_dataset(out, cfg)
    info = {
        "source": "synthetic (cdio_stream.data.synth)",
        "synth_config": asdict(cfg),
        "synth_boxes": sum(s.boxes for s in summaries),
        "synth_time_s": round(time.monotonic() - started, 1),
    }
    marker.write_text(json.dumps(info, indent=2))
    return out, info


def _command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run, rebuilt from the parsed options."""
    cmd = ["cdio-stream", "models", "train", "--name", args.name, "--out", str(args.out)]
    cmd += ["--arch", args.arch, "--imgsz", str(args.imgsz), "--epochs", str(args.epochs)]
    if args.time_budget is not None:
        cmd += ["--time-budget", f"{args.time_budget:g}"]
    cmd += ["--batch", str(args.batch), "--seed", str(args.seed)]
    if args.init is not None:
        cmd += ["--init", str(args.init)]
    cmd += ["--val-fraction", f"{args.val_fraction:g}", "--frame-stride", str(args.frame_stride)]
    if args.data is not None:
        cmd += ["--data", str(args.data)]
    else:
        cmd += ["--synth-sequences", str(args.synth_sequences), "--synth-frames", str(args.synth_frames)]
        cmd += ["--synth-seed", str(args.synth_seed)]
    return shlex.join(cmd)


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from cdio_stream.data.detrac import DetracDataset
    from cdio_stream.inference.evaluate import evaluate_detector, summarize
    from cdio_stream.inference.registry import load_registry
    from cdio_stream.inference.runner import Detector

    reg = load_registry(args.registry)
    specs = reg.resolve_list(args.models)
    dataset = DetracDataset(args.data)
    report = {}
    for spec in specs:
        detector = Detector(spec, settings=settings)
        scores = list(
            tqdm(
                evaluate_detector(
                    detector,
                    dataset,
                    frame_stride=args.frame_stride,
                    limit=args.limit,
                    class_agnostic=args.class_agnostic,
                ),
                desc=spec.name,
                unit="frame",
                file=sys.stderr,
            )
        )
        info = detector.info()
        report[spec.name] = {
            "arch": spec.arch,
            "imgsz": spec.imgsz,
            "params": info.params,
            "gflops": round(info.gflops, 2),
            "groups": {k: asdict(v) for k, v in summarize(scores).items()},
            # per frame; map50 null: the frame has no ground truth (not annotated), never 0
            "frames": [{"stream": f.stream, "frame": f.frame, "map50": f.map50} for f in scores],
        }
    _print_report(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"data": str(args.data), "models": report}, indent=2) + "\n")
    return 0


def _print_report(report: dict) -> None:
    keys = sorted({k for r in report.values() for k in r["groups"]}, key=lambda k: (k != "all", k))
    print(f"{'group':18s} {'frames':>6s} " + " ".join(f"{name:>22s}" for name in report))
    print(f"{'':18s} {'':6s} " + " ".join(f"{'mAP50 / frame-mean / s':>22s}" for _ in report))
    for key in keys:
        cells, frames = [], ""
        for r in report.values():
            g = r["groups"].get(key)
            if g is None:
                cells.append(f"{'-':>22s}")
                continue
            frames = str(g["frames"])
            if g["frames_with_truth"] == 0:
                cells.append(f"no ground truth / {g['mean_latency_s']:.3f}".rjust(22))
            else:
                cells.append(
                    f"{g['map50']:6.1f} / {g['mean_frame_map50']:5.1f} / {g['mean_latency_s']:.3f}".rjust(22)
                )
        print(f"{key:18s} {frames:>6s} " + " ".join(cells))
    unscored = max(
        r["groups"]["all"]["frames"] - r["groups"]["all"]["frames_with_truth"] for r in report.values()
    )
    if unscored:
        print(f"{unscored} frames have no ground truth (not annotated): their mAP50 is not scored")
