"""Inference latency, parameters and GFLOPs of the registry's models on this machine.

Runs each model on real 960x540 UA-DETRAC frames (the shared sample) one frame at a
time, as the inference agents do, after a warm-up, and reports the median and p90 of
preprocess + inference + postprocess. Prints a table and writes JSON.

    .venv/bin/python benchmarks/inference_latency.py [--models edge,cloud,yolov5s,...] \\
        [--repeats 5] [--threads 2] [--device cpu] [--out benchmarks/results/inference_latency.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdio_stream.inference.registry import PAPER_ARCHS, default_registry  # noqa: E402
from cdio_stream.inference.runner import Detector  # noqa: E402
from cdio_stream.settings import Settings  # noqa: E402

# The real UA-DETRAC sample: CDIO_DETRAC_SAMPLE, else ../shared/datasets/ua-detrac-sample.
SAMPLE = (
    Path(os.environ.get("CDIO_DETRAC_SAMPLE") or ROOT.parent / "shared" / "datasets" / "ua-detrac-sample")
    / "Insight-MVT_Annotation_Train"
    / "MVI_20011"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="edge,cloud," + ",".join(f"{a}-untrained" for a in PAPER_ARCHS))
    p.add_argument("--repeats", type=int, default=5, help="timed frames per model (after 1 warm-up)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--frames", type=Path, default=SAMPLE, help="folder of JPEG frames")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "inference_latency.json")
    args = p.parse_args(argv)

    settings = Settings.from_env()
    settings = Settings(cache_dir=settings.cache_dir, torch_threads=args.threads)
    images = [cv2.imread(str(f)) for f in sorted(args.frames.glob("*.jpg"))]
    if not images:
        p.error(f"no JPEG frames in {args.frames}")
    specs = default_registry().resolve_list(args.models)
    rows = []
    print(
        f"{'model':12s} {'arch':9s} {'imgsz':>5s} {'params':>7s} {'GFLOPs':>7s} {'median s':>9s} {'p90 s':>7s}"
    )
    for spec in specs:
        det = Detector(spec, settings=settings, device=args.device)
        times = [det.predict([images[i % len(images)]])[0].timings.total_s for i in range(args.repeats)]
        info = det.info()
        row = {
            "model": spec.name,
            "arch": spec.arch,
            "imgsz": spec.imgsz,
            "trained": spec.trained,
            "params": info.params,
            "gflops": round(info.gflops, 2),
            "median_s": round(float(np.median(times)), 4),
            "p90_s": round(float(np.percentile(times, 90)), 4),
            "times_s": [round(t, 4) for t in times],
        }
        rows.append(row)
        print(
            f"{spec.name:12s} {spec.arch:9s} {spec.imgsz:5d} {info.params / 1e6:6.1f}M {info.gflops:7.1f} "
            f"{row['median_s']:9.3f} {row['p90_s']:7.3f}",
            flush=True,
        )
        del det
    args.out.parent.mkdir(parents=True, exist_ok=True)
    env = {"device": args.device, "threads": args.threads, "cpu": platform.processor() or platform.machine()}
    args.out.write_text(
        json.dumps({"environment": env, "frame": "960x540 UA-DETRAC", "models": rows}, indent=2)
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
