"""Overload with and without deadline-aware load shedding (``--shed never`` vs ``late``).

One 960x540 video at 30 fps goes through the camera gateway (``cdio-stream camera``, in
real time, newest frame wins; ``--cameras N`` runs N gateways at once, each its own stream
of the video) into the default pipeline of ``topics.yaml`` (preprocess,
scheduler with CDIO, inference for every server, sink: 8 workers) on a local throwaway
broker, once per shed mode, each on topics of its own. Without a video file
(``--video``), one is written with OpenCV from a seeded synthetic UA-DETRAC-format
sequence (moving vehicles, 960x540). Every frame the camera published is waited for (one
result or one dead letter each); then the run's figures: delay success over all tasks
(expired ones are failures), delay success of the frames actually served, the expired
share by stage, mean delay and queue p50 of the served frames. Prints a table and writes
JSON.

    nice -n 10 .venv/bin/python benchmarks/shedding.py [--seconds 20] [--modes never,late] \\
        [--cameras 1] [--video FILE] [--out benchmarks/results/shedding.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdio_stream.cli.deployment import pipeline_workers  # noqa: E402
from cdio_stream.data.synth import SynthConfig, write_video  # noqa: E402
from cdio_stream.kafka.admin import create_topics  # noqa: E402
from cdio_stream.kafka.broker import LocalKafkaBroker  # noqa: E402
from cdio_stream.pipeline.launcher import Launcher  # noqa: E402
from cdio_stream.pipeline.run import ResultCollector  # noqa: E402
from cdio_stream.settings import Settings  # noqa: E402

FPS = 30.0


def traffic_video(path: Path, seconds: float, seed: int) -> Path:
    """A 960x540 video at 30 fps of one synthetic sequence (vehicles moving along lanes)."""
    return write_video(path, SynthConfig(sequences=1, frames=int(round(seconds * FPS)), fps=FPS, seed=seed))


def cameras(video: Path, n: int, settings: Settings, log: Path, delay_range: tuple[float, float]) -> dict:
    """``n`` gateways ``cdio-stream camera VIDEO --stream-id cam-k`` at once, in real time
    (each its own stream of the same video); their summary lines, parsed and summed."""
    env = {
        **os.environ,
        "CDIO_KAFKA_BOOTSTRAP": settings.bootstrap,
        "CDIO_TOPIC_PREFIX": settings.topic_prefix,
    }
    procs = []
    for k in range(1, n + 1):
        cmd = [sys.executable, "-m", "cdio_stream.cli", "camera", str(video), "--stream-id", f"cam-{k}"]
        cmd += ["--delay-range", *(str(d) for d in delay_range)]
        procs.append(
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    total: Counter[str] = Counter()
    with log.open("w") as fh:
        for k, proc in enumerate(procs, start=1):
            out, _ = proc.communicate()
            fh.write(out)
            if proc.returncode != 0:
                raise SystemExit(f"camera cam-{k} exited with {proc.returncode}; see {log}")
            line = next(ln for ln in out.splitlines() if ln.startswith(f"cam-{k} ") and "captured=" in ln)
            total.update({key: int(v) for key, v in (kv.split("=") for kv in line.split()[1:])})
    return dict(total)


def run_mode(
    mode: str, video: Path, n_cameras: int, base: Settings, workdir: Path, timeout_s: float, delay_range
) -> dict:
    settings = replace(base, topic_prefix=f"shed-{mode}-{time.time_ns()}.")
    topology = settings.topology()
    asyncio.run(create_topics(settings.bootstrap, topology))
    launcher = Launcher(settings, workdir / f"logs-{mode}")
    try:
        for spec in pipeline_workers(topology, shed=mode):
            launcher.start(spec)
        ready_s = launcher.wait_ready(timeout_s=timeout_s)
        print(f"[{mode}] {len(launcher.workers)} workers ready in {ready_s:.0f} s; {n_cameras} camera(s) start",
              flush=True)  # fmt: skip
        t0 = time.monotonic()
        cam = cameras(video, n_cameras, settings, workdir / f"camera-{mode}.log", delay_range)
        print(f"[{mode}] cameras done in {time.monotonic() - t0:.1f} s: {cam}", flush=True)
        collector = ResultCollector(settings.bootstrap, topology, keep_results=True)
        asyncio.run(collector.collect(lambda: cam["acked"], timeout_s=timeout_s, check=launcher.check))
        elapsed = time.monotonic() - t0
    finally:
        launcher.stop_all()
    m = collector.metrics
    s = m.summary()
    by_stage = Counter(r.expired for r in collector.results if r.expired is not None)
    return {
        "mode": mode,
        "cameras": n_cameras,
        "delay_range_s": list(delay_range),
        "camera": cam,
        "results": m.count,
        "dead_letters": len(collector.dead_letters),
        "expired": m.expired,
        "expired_by_stage": dict(by_stage),
        "served": m.count - m.expired,
        "delay_success": s["delay_success"],
        "served_delay_success": s["served_delay_success"],
        "expired_share": s["expired_share"],
        "mean_delay_served_s": s["mean_delay_s"],
        "stage_p50_p95_served_s": m.stage_percentiles(),
        "served_on_time": round(s["served_delay_success"] * (m.count - m.expired))
        if m.count > m.expired
        else 0,
        "elapsed_s": elapsed,
        "per_server": dict(m.per_server),
        "per_server_expired": dict(m.per_server_expired),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="video length when one is generated (30 fps)")
    p.add_argument("--video", type=Path, help="a 960x540 video file to use instead")
    p.add_argument("--modes", default="never,late")
    p.add_argument(
        "--cameras",
        type=int,
        default=1,
        help="camera gateways at once, each a stream of the video (default 1)",
    )
    p.add_argument("--seed", type=int, default=3)
    p.add_argument(
        "--delay-range",
        nargs=2,
        type=float,
        default=[0.2, 0.6],
        metavar=("LO", "HI"),
        help="D^q range of the camera (default the paper's 0.2 0.6 s)",
    )
    p.add_argument("--timeout", type=float, default=900.0, help="per mode: worker start-up, then draining")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "shedding.json")
    args = p.parse_args(argv)

    base = Settings.from_env()
    base = replace(base, torch_threads=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, LocalKafkaBroker(base.cache_dir) as broker:
        workdir = Path(tmp)
        video = args.video or traffic_video(workdir / "traffic-960x540-30fps.avi", args.seconds, args.seed)
        base = replace(base, bootstrap=broker.bootstrap)
        for mode in args.modes.split(","):
            rows.append(
                run_mode(mode, video, args.cameras, base, workdir, args.timeout, tuple(args.delay_range))
            )
        video_desc = str(args.video) if args.video else f"synthetic, {args.seconds:g} s, seed {args.seed}"
    load = os.getloadavg()
    print()
    lo, hi = args.delay_range
    print(f"video: 960x540 @ 30 fps ({video_desc}), {args.cameras} camera(s); D^q ~ U[{lo:g}, {hi:g}] s; "
          f"load average {load[0]:.1f}")  # fmt: skip
    head = (
        f"{'shed':6s} {'captured':>8s} {'published':>9s} {'results':>7s} {'served':>6s} {'expired':>7s} "
        f"{'(sched/inf)':>11s} {'expired %':>9s} {'delay ok, all':>13s} {'delay ok, served':>16s} "
        f"{'served on time':>14s} {'mean delay served ms':>20s} {'queue p50 ms':>12s} {'drained s':>9s}"
    )
    print(head)
    for r in rows:
        st = r["expired_by_stage"]
        print(
            f"{r['mode']:6s} {r['camera']['captured']:8d} {r['camera']['acked']:9d} {r['results']:7d} "
            f"{r['served']:6d} {r['expired']:7d} {st.get('scheduler', 0):5d}/{st.get('inference', 0):<5d} "
            f"{r['expired_share']:9.1%} {r['delay_success']:13.1%} {r['served_delay_success']:16.1%} "
            f"{r['served_on_time']:14d} {r['mean_delay_served_s'] * 1000:20.0f} "
            f"{r['stage_p50_p95_served_s']['queue'][0] * 1000:12.0f} {r['elapsed_s']:9.0f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"video": video_desc, "fps": FPS, "cameras": args.cameras, "load_average": load, "runs": rows}
    args.out.write_text(json.dumps(doc, indent=2, allow_nan=True))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
