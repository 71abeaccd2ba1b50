"""End-to-end pipeline throughput and per-stage latency, with real workers on a real broker.

Runs ``cdio-stream demo`` (local throwaway broker, 8 worker processes, the shipped
detectors) twice: paced at the demo's default rate, and unpaced (``--fps 0``) to find the
most frames/s the whole pipeline sustains on this machine. Prints results/s and the
p50/p95 of each delay part, and writes JSON.

    .venv/bin/python benchmarks/pipeline_e2e.py [--frames 60] [--out benchmarks/results/pipeline_e2e.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdio_stream.cli import main as cli  # noqa: E402

STAGES = ("preprocess", "queue", "transmission", "inference", "total")


def run(fps: float, frames: int, workdir: Path) -> dict:
    out = workdir / f"fps{fps}.json"
    code = cli(
        ["--log-level", "WARNING", "demo", "--fps", str(fps), "--frames", str(frames), "--json", str(out)]
    )
    if code != 0:
        raise SystemExit(f"demo exited with {code}")
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per stream (4 streams)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "pipeline_e2e.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            label: run(fps, args.frames, Path(tmp))
            for label, fps in (("paced 2.5 fps", 2.5), ("unpaced", 0.0))
        }
    print()
    print(
        f"{'run':14s} {'tasks':>6s} {'results/s':>9s} {'delay ok':>8s}  "
        + "  ".join(f"{s + ' p50/p95 ms':>24s}" for s in STAGES)
    )
    for label, doc in runs.items():
        s = doc["summary"]
        stages = "  ".join(
            f"{doc['stage_p50_p95_s'][st][0] * 1000:11.1f} / {doc['stage_p50_p95_s'][st][1] * 1000:10.1f}"
            for st in STAGES
        )
        print(
            f"{label:14s} {s['tasks']:6.0f} {doc['results_per_s']:9.2f} {s['delay_success']:8.1%}  {stages}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(runs, indent=2, allow_nan=True))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
