"""Throughput and latency of batched inference (one detector call per batch) on this machine.

Runs the registry's models on real 960x540 UA-DETRAC frames (the shared sample) through
the inference stage's own path (:meth:`InferenceStage.infer_batch`: strict JPEG decode,
one ``Detector.predict`` call, pricing) at each batch size, after a warm-up call per size.
Per batch size: the wall time of a call (every frame of the batch waits for all of it:
that is each task's inference latency), its median and p90, frames/s = batch size / call
time, and the CPU time of a call (this process, all threads): on a machine shared with
other work the wall times grow with its load, the CPU per frame much less so, and frames
per CPU-second is what a dedicated core would sustain. Default one torch thread, as the
pipeline's workers run. Prints a table and writes JSON.

    nice -n 10 .venv/bin/python benchmarks/inference_batching.py [--models edge,cloud] \\
        [--batches 1,4,8] [--calls 8] [--threads 2] [--device cpu] \\
        [--out benchmarks/results/inference_batching.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdio_stream.inference.registry import default_registry  # noqa: E402
from cdio_stream.inference.runner import Detector  # noqa: E402
from cdio_stream.messages import Assignment, Frame, FrameMeta, Task, TaskFeatures  # noqa: E402
from cdio_stream.pipeline.inference import InferenceStage  # noqa: E402
from cdio_stream.settings import Settings  # noqa: E402
from cdio_stream.system.network import make_links  # noqa: E402
from cdio_stream.system.profiles import default_profiles  # noqa: E402
from cdio_stream.topology import load_topology  # noqa: E402

SAMPLE = (
    Path(os.environ.get("CDIO_DETRAC_SAMPLE") or ROOT.parent / "shared" / "datasets" / "ua-detrac-sample")
    / "Insight-MVT_Annotation_Train"
    / "MVI_20011"
)


def assignments(jpegs: list[bytes], n: int, start: int) -> list[tuple[Assignment, float]]:
    out = []
    for k in range(n):
        i = start + k
        meta = FrameMeta("bench", i, time.time(), a_req=50.0, d_req=1.0)
        task = Task(
            Frame(meta, jpegs[i % len(jpegs)]),
            TaskFeatures(0.005, (0.001,), 0.0, 0.04),
            0.5,
            0.0,
            time.time(),
        )
        out.append((Assignment(task, "bench", "bench"), 0.0))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="edge,cloud")
    p.add_argument("--batches", default="1,4,8")
    p.add_argument(
        "--calls", type=int, default=8, help="timed detector calls per batch size (after 1 warm-up)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the workers' default: 1)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--frames", type=Path, default=SAMPLE, help="folder of JPEG frames")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "inference_batching.json")
    args = p.parse_args(argv)

    settings = Settings.from_env()
    settings = Settings(cache_dir=settings.cache_dir, torch_threads=args.threads)
    jpegs = [f.read_bytes() for f in sorted(args.frames.glob("*.jpg"))]
    if not jpegs:
        p.error(f"no JPEG frames in {args.frames}")
    batches = [int(b) for b in args.batches.split(",")]
    topology = load_topology(ROOT / "topics.yaml")
    rows = []
    print(
        f"{'model':8s} {'batch':>5s} {'call median s':>13s} {'call p90 s':>10s} {'frames/s':>9s} "
        f"{'CPU s/call':>10s} {'frames/CPU-s':>12s} {'vs batch 1':>10s}"
    )
    for spec in default_registry().resolve_list(args.models):
        server = next(s for s in topology.servers if s.model == spec.name)
        stage = InferenceStage(
            server,
            Detector(spec, settings=settings, device=args.device),
            default_profiles().device(server.device),
            make_links(topology.servers, "stable", seed=0)[server.id],
            max_frame_bytes=topology.max_frame_bytes,
        )
        base_fps = None
        for b in batches:
            stage.infer_batch(assignments(jpegs, b, 0))  # warm-up: this batch shape's first call
            walls, cpus = [], []
            for c in range(args.calls):
                items = assignments(jpegs, b, c * b)
                t0, c0 = time.perf_counter(), time.process_time()
                outcomes = stage.infer_batch(items)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
                bad = [o for o in outcomes if isinstance(o, Exception)]
                if bad:
                    raise SystemExit(f"{spec.name} batch {b}: {bad[0]}")
            median, cpu = float(np.median(walls)), float(np.median(cpus))
            fps, cpu_fps = b / median, b / cpu
            base_fps = base_fps or cpu_fps
            row = {
                "model": spec.name,
                "imgsz": spec.imgsz,
                "batch": b,
                "call_median_s": round(median, 4),
                "call_p90_s": round(float(np.percentile(walls, 90)), 4),
                "frames_per_s": round(fps, 2),
                "cpu_median_s": round(cpu, 4),
                "frames_per_cpu_s": round(cpu_fps, 2),
                "speedup_vs_batch_1": round(cpu_fps / base_fps, 3),  # frames per CPU-second
                "task_inference_timing_s": round(float(outcomes[0].timings.inference), 4),
                "calls_s": [round(w, 4) for w in walls],
            }
            rows.append(row)
            print(
                f"{spec.name:8s} {b:5d} {median:13.3f} {row['call_p90_s']:10.3f} {fps:9.1f} "
                f"{cpu:10.3f} {cpu_fps:12.1f} {row['speedup_vs_batch_1']:9.2f}x",
                flush=True,
            )
    load = os.getloadavg()
    env = {
        "device": args.device,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "load_average": load,
    }
    print(
        f"(call = one detector call incl. strict JPEG decode and pricing; 'vs batch 1' in frames per "
        f"CPU-second; load average {load[0]:.1f})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"environment": env, "frame": "960x540 UA-DETRAC", "rows": rows}, indent=2)
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
