"""CDIO in the simulator with each RPP preference source, for one or more LSTM checkpoints.

Runs ``cdio-stream simulate --policy cdio --deployment Vk --feedback F --preference P
--json`` (the default synthetic trace) for V1-V4 x feedback truth/reference/none x
preference noisy-oracle/none, and preference lstm once per ``--checkpoint NAME=PATH``.
Prints CDIO's acc_success (and, with reference feedback, the reference runs' compute
overhead) and writes the numbers as JSON.

    python benchmarks/rpp_simulate.py --checkpoint old=OLD.pt --checkpoint new=NEW.pt \
        --out benchmarks/results/rpp_simulate.json

The synthetic trace's accuracies are a formula around the paper's V1-V4 models (yolov5s..x6,
50-80 % mAP), not the shipped detectors an LSTM is trained on: read it as "what this LSTM
does to CDIO there", not as the LSTM's accuracy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

DEPLOYMENTS = ("V1", "V2", "V3", "V4")
FEEDBACK = ("truth", "reference", "none")


def simulate(deployment: str, feedback: str, preference: str, seed: int, checkpoint: str | None) -> dict:
    cmd = [sys.executable, "-m", "cdio_stream.cli", "simulate", "--policy", "cdio"]
    cmd += ["--deployment", deployment, "--feedback", feedback, "--preference", preference]
    cmd += ["--seed", str(seed), "--json"]
    if checkpoint is not None:
        cmd += ["--rpp-checkpoint", checkpoint]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["cdio"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH", help="repeatable")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/rpp_simulate.json"))
    args = p.parse_args(argv)
    sources: list[tuple[str, str, str | None]] = [
        ("noisy-oracle", "noisy-oracle", None),
        ("none", "none", None),
    ]
    for item in args.checkpoint:
        name, _, path = item.partition("=")
        sources.append((f"lstm:{name}", "lstm", path))
    rows = []
    start = time.perf_counter()
    for dep in DEPLOYMENTS:
        for fb in FEEDBACK:
            for label, pref, ckpt in sources:
                m = simulate(dep, fb, pref, args.seed, ckpt)
                rows.append(
                    {
                        "deployment": dep,
                        "feedback": fb,
                        "preference": label,
                        "acc_success": m["acc_success"],
                        "reference_compute_overhead": m.get("reference_compute_overhead"),
                        "cloud_share": m["cloud_share"],
                        "mean_accuracy": m["mean_accuracy"],
                    }
                )
                print(f"{dep} {fb:<9} {label:<16} acc_success {m['acc_success']:.4f}", flush=True)
    labels = [s[0] for s in sources]
    print(f"\nCDIO acc_success, default synthetic trace, seed {args.seed} (reference: + compute overhead)")
    print(f"{'':<14}" + "".join(f"{lb:>22}" for lb in labels))
    for dep in DEPLOYMENTS:
        for fb in FEEDBACK:
            cells = []
            for lb in labels:
                r = next(
                    r for r in rows if (r["deployment"], r["feedback"], r["preference"]) == (dep, fb, lb)
                )
                cell = f"{100 * r['acc_success']:.1f} %"
                if fb == "reference":
                    cell += f" (+{100 * r['reference_compute_overhead']:.1f} %)"
                cells.append(cell)
            print(f"{dep} {fb:<10}" + "".join(f"{c:>22}" for c in cells))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "seed": args.seed,
                "checkpoints": {
                    label: {"path": path, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
                    for label, _, path in sources
                    if path is not None
                },
                "rows": rows,
                "wall_s": round(time.perf_counter() - start, 1),
            },
            indent=1,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
