"""Simulation against the live pipeline: the same frames, policy and seed, run live and simulated.

Issue #12 item 5. One case, on this machine, with the project's own commands:

1. **frames**: seeded synthetic UA-DETRAC-format frames with ground truth, ``--streams`` x
   ``--frames`` (the demo's 4 x 40): set A (``--synth-seed``, the demo's default scenes), the
   frames compared, and set B (``--synth-seed`` + 1), the pilot's.
2. **traces**: ``cdio-stream profile`` of B and then of A, back to back (each detector alone,
   one torch thread): per-frame accuracy, latency and features at the replay's pacing.
3. **calibration, measured right before the live run and outside it**: a *pilot* live run of
   B (``cdio-stream demo``, same policy, seed, pacing and workers, ``--results``), then
   ``cdio-stream calibrate B --live-results``: B's complexity scale and accuracy priors, the
   pipeline's own latencies (preprocess, scheduling, dispatch, worker overhead) and each
   detector's slowdown inside the running pipeline (in-pipeline time / profiled time of the
   same frame, by how many other detector calls were running when it started). Nothing in it
   comes from A's run; the simulated detector time of a frame of A is its profiled time x the
   slowdown of its contention in the simulation.
4. **live**: ``cdio-stream demo`` on A with that calibration (the scheduler takes it), real
   broker, real workers (preprocess, scheduler, 4 edge + 1 cloud inference, sink).
5. **simulated**: ``cdio-stream simulate --trace A --topology topics.yaml --calibration C
   --replay``: the servers of topics.yaml with their device profiles, the same link model,
   requirement draws (A^q range ``auto``, D^q, per stream from the seed), pacing, LSTM
   preference and policy, the pipeline's latencies from C.
6. **compared**: accuracy success, delay success, mean delay, compute, WAN bandwidth (uplink
   occupancy) and energy per task, live and simulated, with their relative difference
   (simulated / live - 1); the delay split into its parts for both (where a metric disagrees,
   this says why); how many tasks went to the same tier.

Both sides run without reference runs (``demo --reference-rate 0``): the frames have ground
truth, so reference runs change nothing the policy learns, and the simulator models their
shadow runs only under ``--feedback reference``. With ``--detrac-sample DIR`` (default:
``CDIO_DETRAC_SAMPLE``) a second, small case replays the real UA-DETRAC sample (9 frames, one
stream) with the same calibration. Live runs on a shared 2-core machine are noisy: the load
average is printed before each step.

    nice .venv/bin/python benchmarks/sim_vs_live.py [--policy cdio] [--seed 0] [--keep DIR]
        [--out benchmarks/results/sim_vs_live.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdio_stream.calibration import load_calibration  # noqa: E402
from cdio_stream.data.synth import SynthConfig, generate_dataset  # noqa: E402
from cdio_stream.formatting import fmt  # noqa: E402
from cdio_stream.live_calibration import delay_parts  # noqa: E402
from cdio_stream.messages import decode_result  # noqa: E402
from cdio_stream.pipeline.metrics import LiveMetrics  # noqa: E402

# (key, label, format, scale): the six metrics of the comparison, as metrics.py names them.
METRICS = (
    ("acc_success", "accuracy success %", ".1f", 100.0),
    ("delay_success", "delay success %", ".1f", 100.0),
    ("mean_delay_s", "mean delay ms", ".1f", 1000.0),
    ("compute_tflop", "compute TFLOP/task", ".3f", 1.0),
    ("wan_mbps", "WAN uplink Mbit/s", ".2f", 1.0),
    ("energy_j_per_task", "energy J/task", ".3f", 1.0),
)
CONTEXT = (("cloud_share", "tasks on cloud %", ".1f", 100.0), ("mean_accuracy", "mean mAP50 %", ".2f", 1.0))
PARTS = ("preprocess", "schedule", "worker", "transmission", "inference")
TOLERANCE = 0.10


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.t0 = time.monotonic()
        self.loads: dict[str, list[float]] = {}

    def step(self, name: str) -> None:
        load = [round(x, 2) for x in os.getloadavg()]
        self.loads[name] = load
        print(f"[{time.monotonic() - self.t0:6.0f} s] {name} (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})",
              flush=True)  # fmt: skip

    def cli(self, *argv: str, quiet: bool = False) -> str:
        """``cdio-stream ARGV`` in a child process; its output is shown as it comes (``quiet``: only
        lines about progress) and returned."""
        cmd = [sys.executable, "-m", "cdio_stream.cli", "--torch-threads", "1", *argv]
        env = {**os.environ, "CDIO_OFFLINE": os.environ.get("CDIO_OFFLINE", "1")}
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT
        )
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if not quiet or line.startswith(("[", "all ", "all workers")):
                print(f"    | {line.rstrip()[:160]}", flush=True)
        if proc.wait() != 0:
            raise SystemExit(f"cdio-stream {' '.join(argv)} failed:\n{''.join(lines[-30:])}")
        return "".join(lines)

    def synth(self, name: str, seed: int) -> Path:
        out = self.work / name
        generate_dataset(out, SynthConfig(sequences=self.args.streams, frames=self.args.frames, seed=seed))
        return out

    def demo(self, dataset: Path, results: Path, *extra: str) -> None:
        a = self.args
        self.cli("demo", "--dataset", str(dataset), "--frames", str(a.frames), "--fps", f"{a.fps:g}",
                 "--policy", a.policy, "--seed", str(a.seed), "--reference-rate", "0", "--results", str(results),
                 "--logs", str(results.with_suffix(".logs")), *extra, quiet=True)  # fmt: skip


def live_side(results_file: Path) -> tuple[dict, list]:
    """The live run's metrics (the sink's LiveMetrics over its results) and delay parts."""
    metrics = LiveMetrics()
    parts = []
    for line in results_file.read_bytes().splitlines():
        result = decode_result(line)
        if metrics.add(result):
            parts.append((result, delay_parts(result)))
    return metrics.summary(), parts


def sim_side(records_file: Path) -> list[dict]:
    return [json.loads(line) for line in records_file.read_text().splitlines() if line.strip()]


def breakdown(live_parts: list, records: list[dict]) -> dict[str, dict[str, float]]:
    """Mean of each delay part (seconds), live and simulated, overall and per tier."""

    def sim_parts(r: dict) -> dict[str, float]:
        schedule = r["decided_s"] - r["arrival_s"] - r["preprocess_s"]
        return {"preprocess": r["preprocess_s"], "schedule": schedule, "worker": r["queue_s"] - schedule,
                "transmission": r["transmission_s"], "inference": r["inference_s"]}  # fmt: skip

    out = {}
    for tier in ("all", "edge", "cloud"):
        live = [p for r, p in live_parts if p is not None and tier in ("all", r.tier)]
        sim = [sim_parts(r) for r in records if tier in ("all", r["tier"])]
        out[tier] = {
            "live_tasks": len(live),
            "sim_tasks": len(sim),
            **{f"live_{k}": float(np.mean([getattr(p, k) for p in live])) if live else None for k in PARTS},
            **{f"sim_{k}": float(np.mean([p[k] for p in sim])) if sim else None for k in PARTS},
        }
    return out


def compare(live: dict, sim: dict) -> list[dict]:
    rows = []
    counted = {k for k, *_ in METRICS}
    for key, label, _, _ in METRICS + CONTEXT:
        lv, sv = live.get(key), sim.get(key)
        if lv is None or sv is None or lv != lv or sv != sv:
            rel = None
        else:  # both 0 agree exactly; a live 0 against a simulated non-zero has no ratio
            rel = 0.0 if lv == sv else (sv / lv - 1.0 if lv else None)
        rows.append({"metric": key, "label": label, "live": lv, "sim": sv, "relative_difference": rel,
                     "within_10pct": None if rel is None else abs(rel) <= TOLERANCE,
                     "counted": key in counted})  # fmt: skip
    return rows


def print_case(case: dict) -> None:
    print(f"\n{case['name']}: {case['tasks']} tasks, policy {case['policy']}, seed {case['seed']}, "
          f"load average before the live run {case['load_before_live'][0]:.2f} (1 min)")  # fmt: skip
    print(f"{'metric':<24}{'live':>12}{'simulated':>12}{'sim/live-1':>12}  within 10 %")
    for row in case["metrics"]:
        _, label, f, scale = next(m for m in METRICS + CONTEXT if m[0] == row["metric"])
        rel = row["relative_difference"]
        mark = "" if not row["counted"] else ("yes" if row["within_10pct"] else "no")
        print(f"{label:<24}{fmt(row['live'], f, scale):>12}{fmt(row['sim'], f, scale):>12}"
              f"{fmt(rel, '+.1%'):>12}  {mark}")  # fmt: skip
    agree = sum(1 for r in case["metrics"] if r["counted"] and r["within_10pct"])
    print(f"agree within 10 %: {agree} of {len(METRICS)}; same tier for {case['same_tier']:.1%} of tasks, "
          f"same server for {case['same_server']:.1%}")  # fmt: skip
    print("delay parts, mean ms (live / simulated):")
    print(f"  {'tier':<6}{'tasks':>10}" + "".join(f"{p:>16}" for p in PARTS))
    for tier, b in case["breakdown"].items():
        cells = "".join(
            f"{fmt(b[f'live_{p}'], '.1f', 1000):>7} / {fmt(b[f'sim_{p}'], '.1f', 1000):<6}" for p in PARTS
        )
        print(f"  {tier:<6}{b['live_tasks']:>4} / {b['sim_tasks']:<3}{cells}")


def run_case(bench: Bench, name: str, frames: Path, trace: Path, calibration: Path) -> dict:
    a, w = bench.args, bench.work
    results, records = w / f"{name}-live.jsonl", w / f"{name}-sim.jsonl"
    bench.step(f"{name}: live run (cdio-stream demo, calibration {calibration.name})")
    load_before = list(os.getloadavg())
    bench.demo(frames, results, "--calibration", str(calibration))
    load_after = list(os.getloadavg())
    bench.step(f"{name}: simulate the same deployment on the profiled trace")
    out = bench.cli("simulate", "--trace", str(trace), "--topology", str(ROOT / "topics.yaml"), "--calibration",
                    str(calibration), "--replay", "--accuracy-range", "auto", "--preference", "lstm", "--policy",
                    a.policy, "--seed", str(a.seed), "--json", "--records", str(records), quiet=True)  # fmt: skip
    sim = json.loads(out[out.index("{") :])[a.policy]
    live, live_parts = live_side(results)
    recs = sim_side(records)
    by_task = {r.task_id: r for r, _ in live_parts}
    matched = [(by_task[r["task_id"]], r) for r in recs if r["task_id"] in by_task]
    return {
        "name": name,
        "frames": str(frames),
        "policy": a.policy,
        "seed": a.seed,
        "tasks": int(live["tasks"]),
        "sim_tasks": len(recs),
        "load_before_live": load_before,
        "load_after_live": load_after,
        "metrics": compare(live, sim),
        "live": live,
        "sim": sim,
        "breakdown": breakdown(live_parts, recs),
        "same_tier": float(np.mean([lv.tier == r["tier"] for lv, r in matched])) if matched else 0.0,
        "same_server": float(np.mean([lv.server_id == r["server_id"] for lv, r in matched]))
        if matched
        else 0.0,
        "same_requirements": all(
            abs(lv.a_req - r["a_req"]) < 1e-6 and abs(lv.d_req - r["d_req"]) < 1e-6 for lv, r in matched
        ),  # fmt: skip
        "max_preference_difference": max(
            (abs(lv.preference - r["preference"]) for lv, r in matched), default=None
        ),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=4, help="synthetic streams (default 4, the demo's)")
    p.add_argument("--frames", type=int, default=40, help="frames per stream (default 40, the demo's)")
    p.add_argument("--fps", type=float, default=2.5, help="replay rate per stream (default 2.5, the demo's)")
    p.add_argument("--policy", default="cdio")
    p.add_argument(
        "--seed", type=int, default=0, help="demo and simulator seed (requirements, policy, links)"
    )
    p.add_argument(
        "--synth-seed", type=int, default=1000, help="scenes of the compared frames (default: the demo's)"
    )
    p.add_argument("--detrac-sample", type=Path, default=os.environ.get("CDIO_DETRAC_SAMPLE") or None,
                   help="also compare on this real UA-DETRAC sample (default: CDIO_DETRAC_SAMPLE); 'none' skips it")  # fmt: skip
    p.add_argument("--keep", type=Path, help="keep frames, traces, results and calibration in this folder")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sim_vs_live.json")
    args = p.parse_args(argv)
    if args.detrac_sample is not None and str(args.detrac_sample) == "none":
        args.detrac_sample = None

    with tempfile.TemporaryDirectory(prefix="cdio-sim-vs-live-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        bench = Bench(args, work)
        bench.step(f"frames: {args.streams} x {args.frames} synthetic, seeds {args.synth_seed} (compared) "
                   f"and {args.synth_seed + 1} (pilot)")  # fmt: skip
        frames = {"pilot": bench.synth("frames-B-pilot", args.synth_seed + 1),
                  "synthetic": bench.synth("frames-A", args.synth_seed)}  # fmt: skip
        if args.detrac_sample is not None:
            frames["ua-detrac-sample"] = args.detrac_sample
        traces = {name: work / f"{name}-trace.jsonl" for name in frames}
        for name, folder in frames.items():
            bench.step(f"trace: profile the {name} frames with the deployed detectors")
            bench.cli("profile", str(folder), "--models", "edge,cloud", "--fps", f"{args.fps:g}", "--out",
                      str(traces[name]), quiet=True)  # fmt: skip
        results_b, cal = work / "pilot-live.jsonl", work / "calibration.json"
        bench.step("calibration 1/2: pilot live run on the pilot frames (cdio-stream demo)")
        bench.demo(frames["pilot"], results_b)
        bench.step("calibration 2/2: cdio-stream calibrate the pilot frames with the pilot's results")
        bench.cli("calibrate", str(frames["pilot"]), "--fps", f"{args.fps:g}", "--trace", str(traces["pilot"]),
                  "--live-results", str(results_b), "--out", str(cal), "--no-publish")  # fmt: skip
        calibration = load_calibration(cal)
        cases = [run_case(bench, name, frames[name], traces[name], cal) for name in frames if name != "pilot"]
        elapsed = time.monotonic() - bench.t0

    pipe = calibration.pipeline
    print("\ncalibration (pilot run on other frames): pipeline means, ms: "
          + ", ".join(f"{k} {pipe.mean(k) * 1000:.1f}" for k in ("preprocess_s", "schedule_s", "dispatch_s",
                                                                   "worker_overhead_s"))
          + "; detector slowdown in the pipeline with 0 / 1 / 2+ other calls running: "
          + ", ".join(f"{m} " + " / ".join(f"{f:.2f}x" for f in v) for m, v in pipe.slowdown.items()))  # fmt: skip
    for case in cases:
        print_case(case)
    print(f"\ntotal {elapsed:.0f} s on {os.cpu_count()} CPUs")
    doc = {
        "meta": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "wall_s": elapsed,
            "load_average_by_step": bench.loads,
            "tolerance": TOLERANCE,
        },  # fmt: skip
        "calibration": calibration.to_dict(),
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
