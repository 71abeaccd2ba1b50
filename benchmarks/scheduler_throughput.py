"""Scheduler decision throughput: decisions per second for slots of 1, 8 and 64 tasks, one core.

Each policy is first trained by a short simulation (so the bandit has learned statistics
and every context has been seen), then ``assign`` is timed on pre-built slots of the
synthetic workload with a fixed system state, in CPU time (``time.process_time``, so
other processes on a shared machine do not count), best of ``--repeats`` passes;
``feedback`` is timed separately (items per second). The target of issue 4 is >= 20,000
decisions/s on one core. Finally a 100k-task simulation with the bandit is timed.

    .venv/bin/python benchmarks/scheduler_throughput.py [--policies cdio,sniper] [--out FILE]
"""

from __future__ import annotations

import os

# One core: keep BLAS/OpenMP pools single-threaded (set before numpy loads).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdio_stream.policy import POLICY_NAMES, Feedback, ServerState, SystemState, make_policy  # noqa: E402
from cdio_stream.sim import Simulator, SyntheticTraceConfig, synthetic_trace  # noqa: E402
from cdio_stream.system import make_links, make_servers  # noqa: E402

SLOT_SIZES = (1, 8, 64)


def _feedback_of(records) -> list[Feedback]:
    return [
        Feedback(r.task_id, r.server_id, r.accuracy, r.preprocess_s, r.queue_s, r.transmission_s, r.inference_s,
                 r.total_s, r.compute_tflop, r.bandwidth_bps, r.energy_j, r.payload_bytes, r.acc_ok, r.delay_ok)
        for r in records
    ]  # fmt: skip


def measure(policy_name: str, sim: Simulator, servers, repeats: int = 5) -> dict:
    """Decisions per CPU-second of ``assign`` (best of ``repeats`` passes) per slot size, and
    feedback items per CPU-second; the policy is trained by one simulated run first."""
    policy = make_policy(policy_name, servers, truth=sim.truth)  # truth: used by the oracle only
    result = sim.run(policy)  # warm-up: learn, see every context
    servers_state = tuple(
        ServerState(s.id, queue_length=2, queue_delay_s=0.03, bandwidth_bps=3e8, link_backlog_s=0.001)
        for s in servers
    )
    out = {}
    tasks = sim.tasks
    for size in SLOT_SIZES:
        slots = [tuple(tasks[k : k + size]) for k in range(0, len(tasks) - size, size)][
            : max(20, 2000 // size)
        ]
        per_decision = []
        for _ in range(repeats):
            t0, decisions = time.process_time(), 0
            for slot in slots:
                policy.assign(slot, SystemState(slot[-1].arrival_time + 0.02, servers_state))
                decisions += len(slot)
            per_decision.append((time.process_time() - t0) / decisions)
        out[str(size)] = {
            "decisions_per_s": 1.0 / min(per_decision),
            "decisions_per_s_median": 1.0 / statistics.median(per_decision),
            "slots": len(slots),
        }
    # Feedback: decide the same tasks afresh so every item matches a pending decision.
    learner = make_policy(policy_name, servers, truth=sim.truth)
    for k in range(0, len(tasks), 8):
        chunk = tuple(tasks[k : k + 8])
        learner.assign(chunk, SystemState(chunk[-1].arrival_time + 0.02, servers_state))
    items = _feedback_of(result.records)
    t0 = time.process_time()
    learner.feedback(items)
    out["feedback_per_s"] = len(items) / max(time.process_time() - t0, 1e-9)
    return out


def simulation_speed(n_tasks: int, deployment: str) -> dict:
    """Wall and CPU seconds to simulate ``n_tasks`` tasks with the CDIO bandit."""
    streams = 8
    trace = synthetic_trace(SyntheticTraceConfig(streams=streams, frames=-(-n_tasks // streams), seed=3))
    servers = make_servers(deployment)
    sim = Simulator(trace, servers, make_links(servers, "fluctuating", seed=3))
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    result = sim.run(make_policy("cdio", servers))
    return {
        "tasks": len(result.records),
        "wall_s": time.perf_counter() - t_wall,
        "cpu_s": time.process_time() - t_cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--policies", default="cdio,cdco-only,rpp-only,dao,sniper,javp,all-edge,random,oracle"
    )
    parser.add_argument("--deployment", default="V1")
    parser.add_argument("--frames", type=int, default=400, help="frames per stream of the warm-up trace")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed passes per slot size (best is reported)"
    )
    parser.add_argument(
        "--sim-tasks", type=int, default=100_000, help="tasks for the simulation-speed run (0: skip)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "scheduler_throughput.json"
    )
    args = parser.parse_args(argv)
    names = [p for p in args.policies.split(",") if p]
    unknown = [p for p in names if p not in POLICY_NAMES]
    if unknown:
        parser.error(f"unknown policies {unknown}; known: {', '.join(POLICY_NAMES)}")
    servers = make_servers(args.deployment)
    trace = synthetic_trace(SyntheticTraceConfig(streams=8, frames=args.frames, seed=7))
    sim = Simulator(trace, servers, make_links(servers, "stable", seed=7))
    results = {}
    header = (
        f"{'policy':<11}" + "".join(f"{'slot=' + str(s):>14}" for s in SLOT_SIZES) + f"{'feedback/s':>14}"
    )
    print("decisions per CPU-second on one core (best of --repeats passes; median in the JSON)")
    print(header)
    print("-" * len(header))
    for name in names:
        r = measure(name, sim, servers, repeats=args.repeats)
        results[name] = r
        cells = "".join(f"{r[str(s)]['decisions_per_s']:>14,.0f}" for s in SLOT_SIZES)
        print(f"{name:<11}{cells}{r['feedback_per_s']:>14,.0f}", flush=True)
    speed = None
    if args.sim_tasks:
        speed = simulation_speed(args.sim_tasks, args.deployment)
        print(
            f"\nsimulating {speed['tasks']:,} tasks with cdio: {speed['wall_s']:.1f} s wall, {speed['cpu_s']:.1f} s CPU"
        )
    meta = {"python": sys.version.split()[0], "machine": platform.machine(), "processor": platform.processor(),
            "deployment": args.deployment, "servers": len(servers), "target_decisions_per_s": 20000}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results, "simulation_speed": speed}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
