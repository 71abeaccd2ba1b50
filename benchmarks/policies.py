"""Every policy on the same seeded synthetic trace, stable and fluctuating bandwidth, V1-V4.

Prints a table like the paper's Table 3 (mean accuracy) plus success rates, delay and the
per-task compute / bandwidth / energy consumption (paper 4.2.1-4.2.5), and the eq. 10
regret of the bandit on the stationary environment; writes everything as JSON.

Setup (paper 4.1, with this project's documented stand-ins): four Jetson Xavier NX edge
servers and one A100 (cdio_stream/system/*.yaml); ``--streams`` cameras at 25 fps, A^q ~
U[50, 80], D^q ~ U[0.2, 0.6] s; RPP preference from the simulator's noisy oracle (10 %
wrong, see cdio_stream/sim/workload.py); the synthetic trace of cdio_stream/sim/synthetic.py
stands in for profiled UA-DETRAC frames. CDIO's complexity buckets and JAVP's threshold
come from the trace's complexity quantiles.

    .venv/bin/python benchmarks/policies.py [--frames 2000] [--streams 6] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdio_stream.formatting import fmt as fmt_num  # noqa: E402
from cdio_stream.policy import POLICY_NAMES, ContextSpace, complexity_edges_from, make_policy  # noqa: E402
from cdio_stream.sim import Simulator, SyntheticTraceConfig, WorkloadConfig, synthetic_trace  # noqa: E402
from cdio_stream.sim.regret import StationaryEnv, run_regret  # noqa: E402
from cdio_stream.system import make_links, make_servers  # noqa: E402

DEPLOYMENTS = ("V1", "V2", "V3", "V4")
BANDWIDTHS = ("stable", "fluctuating")
ORDER = (
    "dao",
    "sniper",
    "javp",
    "rpp-only",
    "cdco-only",
    "cdio",
    "all-edge",
    "all-cloud",
    "random",
    "oracle",
)


def policy_kwargs(name: str, sim: Simulator, edges: tuple[float, ...], median: float) -> dict:
    if name in ("cdio", "cdco-only"):
        return {"complexity_edges": edges}
    if name == "javp":
        return {"threshold": median}
    if name == "oracle":
        return {"truth": sim.truth}
    return {}


def run_grid(args) -> list[dict]:
    trace = synthetic_trace(SyntheticTraceConfig(streams=args.streams, frames=args.frames, seed=args.seed))
    complexity = [f.complexity for f in trace]
    edges, median = complexity_edges_from(complexity), float(np.median(complexity))
    rows = []
    for bandwidth in BANDWIDTHS:
        for dep in DEPLOYMENTS:
            servers = make_servers(dep)
            sim = Simulator(trace, servers, make_links(servers, bandwidth, seed=args.seed),
                            workload=WorkloadConfig(preference_error=args.preference_error, seed=args.seed))  # fmt: skip
            for name in args.policies:
                t0 = time.perf_counter()
                result = sim.run(make_policy(name, servers, **policy_kwargs(name, sim, edges, median)))
                rows.append({"bandwidth": bandwidth, "deployment": dep, "policy": name,
                             "wall_s": time.perf_counter() - t0, **result.metrics.as_dict()})  # fmt: skip
            print(
                f"  {bandwidth:<11} {dep}: {len(args.policies)} policies x {len(sim.tasks)} tasks done",
                flush=True,
            )
    return rows


def regret(args) -> dict:
    trace = synthetic_trace(SyntheticTraceConfig(streams=4, frames=500, seed=args.seed))
    edges = complexity_edges_from([f.complexity for f in trace])
    servers = make_servers("V1", n_edge=2)
    out = {}
    for name, use_pref in (("cdio", True), ("cdco-only", False)):
        env = StationaryEnv(
            trace, servers, ContextSpace(edges, (60.0, 70.0), use_pref), slot_size=4, seed=args.seed
        )
        curve = run_regret(make_policy(name, servers, complexity_edges=edges), env, args.regret_slots)
        first, second = curve.slopes()
        q = len(curve.cumulative) // 4
        out[name] = {
            "slots": args.regret_slots,
            "optimal_reward_per_slot": float(curve.optimal.mean()),
            "final_regret": float(curve.cumulative[-1]),
            "slope_first_half": first,
            "slope_second_half": second,
            "regret_at_quarters": [
                float(curve.cumulative[min((k + 1) * q, len(curve.cumulative)) - 1]) for k in range(4)
            ],
        }
    return out


def table(rows, policies, metric, title, fmt, scale=1.0):
    print(f"\n{title}")
    head = f"{'bandwidth':<12}{'model':<6}" + "".join(f"{p:>10}" for p in policies)
    print(head)
    print("-" * len(head))
    for bandwidth in BANDWIDTHS:
        for dep in DEPLOYMENTS:
            cells = {
                r["policy"]: r[metric] for r in rows if r["bandwidth"] == bandwidth and r["deployment"] == dep
            }
            line = "".join(f"{fmt_num(cells[p], fmt, scale):>10}" for p in policies)
            print(f"{bandwidth:<12}{dep:<6}{line}")


def averages(rows, policies):
    print("\nAverage over V1-V4 and both bandwidths")
    keys = (("mean_accuracy", "acc mAP50", ".2f", 1), ("acc_success", "acc ok %", ".1f", 100),
            ("delay_success", "delay ok %", ".1f", 100), ("both_success", "both ok %", ".1f", 100),
            ("mean_delay_s", "delay ms", ".0f", 1000), ("compute_tflop", "TFLOP/task", ".3f", 1),
            ("bandwidth_mbps", "Mbps/task", ".1f", 1), ("energy_j_per_task", "J/task", ".3f", 1),
            ("cloud_share", "cloud %", ".1f", 100))  # fmt: skip
    head = f"{'policy':<11}" + "".join(f"{label:>12}" for _, label, _, _ in keys)
    print(head)
    print("-" * len(head))
    for p in policies:
        mine = [r for r in rows if r["policy"] == p]
        print(
            f"{p:<11}"
            + "".join(f"{fmt_num(float(np.mean([r[k] for r in mine])), f, s):>12}" for k, _, f, s in keys)
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="frames per stream (25 fps)")
    parser.add_argument("--streams", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--preference-error", type=float, default=0.1)
    parser.add_argument("--regret-slots", type=int, default=3000)
    parser.add_argument("--policies", default=",".join(ORDER))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "policies.json")
    args = parser.parse_args(argv)
    args.policies = [p for p in args.policies.split(",") if p]
    unknown = [p for p in args.policies if p not in POLICY_NAMES]
    if unknown:
        parser.error(f"unknown policies {unknown}; known: {', '.join(POLICY_NAMES)}")
    t0 = time.perf_counter()
    print(f"{args.streams} streams x {args.frames} frames, seed {args.seed}")
    rows = run_grid(args)
    pol = args.policies
    table(rows, pol, "mean_accuracy", "Mean accuracy, mAP50 % (cf. paper Table 3)", ".2f")
    table(rows, pol, "acc_success", "Accuracy success rate, % of tasks with A >= A^q", ".1f", 100)
    table(rows, pol, "delay_success", "Delay success rate, % of tasks with D <= D^q", ".1f", 100)
    table(rows, pol, "mean_delay_s", "Mean delay, ms (cf. Figure 6)", ".0f", 1000)
    table(
        rows,
        pol,
        "compute_tflop",
        "Computing consumption, TFLOP per task (FP16 TFLOPS x inference time)",
        ".3f",
    )
    table(
        rows, pol, "bandwidth_mbps", "Bandwidth consumption, Mbps per task (bits / transmission time)", ".1f"
    )
    table(rows, pol, "energy_j_per_task", "Energy, J per task (working + idle + transmission)", ".3f")
    averages(rows, pol)
    reg = regret(args)
    print("\nEq. 10 regret (alpha = beta = 1) on the stationary environment, V1 with 2 edges, 4 tasks/slot")
    for name, r in reg.items():
        print(f"{name:<10} slots {r['slots']}  regret/slot first half {r['slope_first_half']:.4f}  "
              f"second half {r['slope_second_half']:.4f}  total {r['final_regret']:.2f} "
              f"(optimal reward {r['optimal_reward_per_slot']:.3f}/slot)")  # fmt: skip
    elapsed = time.perf_counter() - t0
    print(f"\ntotal {elapsed:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    args.out.write_text(
        json.dumps({"meta": {**meta, "wall_s": elapsed}, "results": rows, "regret": reg}, indent=1)
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
