"""``cdio-stream dataset``: generate a synthetic UA-DETRAC-format dataset, or describe one.

Examples::

    cdio-stream dataset synth --out runs/synth --sequences 4 --frames 100 --seed 0
    cdio-stream dataset info runs/synth
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from cdio_stream.data.classes import DETRAC_CLASSES, WEATHERS, map_vehicle_type
from cdio_stream.settings import Settings

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("dataset", help="synthetic UA-DETRAC generator and dataset summary")
    sub = p.add_subparsers(dest="dataset_action", metavar="ACTION", required=True)

    s = sub.add_parser("synth", help="write a synthetic dataset in UA-DETRAC's layout and XML")
    s.add_argument("--out", type=Path, required=True, help="dataset directory to write")
    s.add_argument("--sequences", type=int, default=4, help="number of sequences (default 4)")
    s.add_argument("--frames", type=int, default=100, help="frames per sequence (default 100)")
    s.add_argument("--width", type=int, default=960, help="frame width in pixels (default 960)")
    s.add_argument("--height", type=int, default=540, help="frame height in pixels (default 540)")
    s.add_argument(
        "--fps", type=float, default=25.0, help="frame rate the motion is simulated at (default 25)"
    )
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument(
        "--weather",
        nargs="+",
        choices=WEATHERS,
        default=list(WEATHERS),
        help="weathers to cycle through (default all)",
    )
    s.add_argument(
        "--split", choices=["Train", "Test"], default="Train", help="split folder names (default Train)"
    )
    s.add_argument("--quality", type=int, default=90, help="JPEG quality 1-100 (default 90)")
    s.add_argument(
        "--first-id", type=int, default=90001, help="number of the first sequence, MVI_<id> (default 90001)"
    )
    s.set_defaults(func=run)

    i = sub.add_parser("info", help="sequences, frames, boxes, classes and weather of a dataset")
    i.add_argument("root", type=Path, help="dataset directory (UA-DETRAC split layout or flat)")
    i.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.dataset_action == "synth":
        return _synth(args)
    return _info(args.root)


def _synth(args: argparse.Namespace) -> int:
    from cdio_stream.data.synth import SynthConfig, generate_dataset

    config = SynthConfig(
        sequences=args.sequences,
        frames=args.frames,
        width=args.width,
        height=args.height,
        fps=args.fps,
        seed=args.seed,
        weathers=tuple(args.weather),
        split=args.split,
        jpeg_quality=args.quality,
        first_id=args.first_id,
    ).validated()
    total = config.sequences * config.frames
    done = 0
    start = time.perf_counter()

    def progress(name: str, num: int) -> None:
        nonlocal done
        done += 1
        if num == config.frames or done % 50 == 0:
            rate = done / max(time.perf_counter() - start, 1e-9)
            end = "\n" if num == config.frames else ""
            print(
                f"\r{name} frame {num}/{config.frames}  total {done}/{total}  {rate:.0f} frames/s",
                end=end,
                flush=True,
            )

    summaries = generate_dataset(args.out, config, on_frame=progress)
    elapsed = time.perf_counter() - start
    print(
        f"{'sequence':12s} {'weather':8s} {'scale':>5s} {'dens.':>5s} {'frames':>6s} {'boxes':>6s} {'occl.':>6s}"
    )
    for s in summaries:
        print(
            f"{s.name:12s} {s.weather:8s} {s.scale:5.2f} {s.density:5.2f} {s.frames:6d} {s.boxes:6d} {s.occluded:6d}"
        )
    print(
        f"wrote {total} frames to {args.out} in {elapsed:.1f} s ({total / max(elapsed, 1e-9):.1f} frames/s)"
    )
    return 0


def _info(root: Path) -> int:
    from cdio_stream.data.detrac import DetracDataset

    ds = DetracDataset(root)
    header = f"{'sequence':12s} {'split':5s} {'weather':8s} {'camera':8s} {'images':>6s} {'annot.':>6s} {'boxes':>7s}"
    print(header + "".join(f" {c:>6s}" for c in DETRAC_CLASSES) + f" {'ignored':>7s}")
    totals = Counter()
    raw_types: Counter[str] = Counter()
    for seq in ds:
        targets = [t for f in seq.annotation.frames.values() for t in f.targets]
        classes = Counter(t.vehicle_type for t in targets)
        raw_types.update(t.label for t in targets)
        n_boxes = sum(classes.values())
        print(
            f"{seq.name:12s} {seq.split or '-':5s} {seq.weather or '-':8s} {seq.camera_state or '-':8s} "
            f"{len(seq.images):6d} {len(seq.annotation.frames):6d} {n_boxes:7d}"
            + "".join(f" {classes[c]:6d}" for c in DETRAC_CLASSES)
            + f" {len(seq.ignored_regions):7d}"
        )
        totals.update(classes)
        totals["_images"] += len(seq.images)
        totals["_frames"] += len(seq.annotation.frames)
    print(
        f"{len(ds)} sequences, {totals['_images']} images, {totals['_frames']} annotated frames, "
        f"{sum(totals[c] for c in DETRAC_CLASSES)} boxes"
    )
    if raw_types:
        print("vehicle_type in the files -> class (cdio_stream/data/classes.py):")
        for raw, n in sorted(raw_types.items(), key=lambda kv: (-kv[1], kv[0])):
            cls, known = map_vehicle_type(raw)
            print(f"  {raw:18s} {n:7d} -> {cls}{'' if known else ' (unknown type)'}")
    return 0
