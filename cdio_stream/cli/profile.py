"""``cdio-stream profile``: run models over a DETRAC-format dataset and write a per-frame trace.

    cdio-stream profile DATASET --models edge,cloud --out trace.jsonl [--limit N]

Resumable: run the same command again and it continues where it stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cdio_stream.settings import Settings

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "profile", help="per-frame trace (accuracy, latency, features) of models on a dataset"
    )
    p.add_argument("dataset", type=Path, help="UA-DETRAC-format dataset directory")
    p.add_argument(
        "--models", default="edge,cloud", help="comma-separated registry names, NAME or NAME@IMGSZ"
    )
    p.add_argument("--out", type=Path, required=True, help="trace JSONL to write or resume")
    p.add_argument("--limit", type=int, help="profile only the first N frames (dataset order)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate for capture times (default 25)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--registry", type=Path, help="YAML file adding models to the built-ins")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from cdio_stream.data.detrac import DetracDataset
    from cdio_stream.inference.profiler import count_frames, profile_dataset
    from cdio_stream.inference.registry import load_registry
    from cdio_stream.inference.runner import Detector

    specs = load_registry(args.registry).resolve_list(args.models)
    dataset = DetracDataset(args.dataset)
    detectors = {spec.name: Detector(spec, settings=settings, device=args.device) for spec in specs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tqdm(total=count_frames(dataset, args.limit), unit="frame", desc="profile", file=sys.stderr) as bar:

        def tick(skipped: bool) -> None:
            bar.update(1)
            if skipped:
                bar.set_postfix_str("resuming", refresh=False)

        result = profile_dataset(dataset, detectors, args.out, limit=args.limit, fps=args.fps, on_frame=tick)
    print(f"{args.out}: {result.written} frames profiled, {result.skipped} already there")
    return 0
