"""Every policy under load: two load levels, stable and fluctuating bandwidth, a load sweep,
the V1-V4 grid of the paper's Table 3, and the eq. 10 regret curve.

The system (cdio_stream/system/*.yaml, every number with its source): four Jetson Xavier NX
edge nodes, each on its own 1 Gbps LAN port (an estimate), and one A100 behind ONE shared
300 Mbps WAN uplink (+-20 % when fluctuating, paper 4.1.1) that every camera's cloud
traffic queues on; the A100 batches dynamically (latency from the profile's batch-1 and
batch-32 numbers). Load is cameras x fps (25 fps, 960x540 JPEGs of 60-200 kB). At V1 the
edges serve about 4 x 28 frames/s and the WAN carries about 290 frames/s, so capacity is
near 16 cameras: the low load (6) is the paper's regime, the high load (17) is just past
capacity, where queues grow over the run (its delay figures depend on the run's length).

Requirements A^q ~ U[50, 80], D^q ~ U[0.2, 0.6] s (paper 4.2.1). RPP's preference is the
RPP LSTM run on the trace's features (``--preference lstm``, the headline); the row
``cdio[noisy-rpp]`` is CDIO with the simulator's noisy oracle preference (10 % wrong), an
upper bound on what a better RPP would give. The synthetic trace of
cdio_stream/sim/synthetic.py stands in for profiled UA-DETRAC frames. CDIO's complexity
buckets and JAVP's threshold come from the trace's complexity quantiles. The hindsight
oracle (``oracle``, per-slot clairvoyant) is the reference both-success.

Bandwidth is reported both ways: the paper's per-task bits / transmission time
(``bandwidth_mbps``) and WAN uplink occupancy over the run (``wan_mbps``, what the bandit's
phi*B weighs).

The profiled trace (issue #12 item 4): the same policies on frames the shipped detectors
really ran on. Synthetic UA-DETRAC-format frames (``--profiled-seed``, 7 by default: seeds 0-1
trained and evaluated the detectors, 2-6 made the LSTM's training data), ``--profiled-streams``
x ``--profiled-frames`` at 25 fps, profiled once with ``cdio-stream profile`` (edge and cloud,
one torch thread: per-frame mAP50 against the annotations, latency, features) and cached under
``<cache>/bench-policies/`` (regenerated when missing or when the detectors' weights change;
never committed). The servers are those of topics.yaml (four ``edge`` Jetsons, one ``cloud``
A100, device profiles for compute and energy) running at the trace's measured latencies
(median per detector, the frame's own latency as jitter; one frame at a time), A^q from the
``--accuracy-range auto`` rule on the detectors' model cards, D^q in [0.2, 0.6] s, stable
bandwidth, at two rates per camera (``--profiled-fps``, default 5 and 25: the cloud detector
serves about 29 frames/s, so 6 x 5 fps leaves it room for the frames that need it and 6 x 25
fps, the capture rate, does not; the capture times are stretched, the frames are the same). CDIO's
headline row takes RPP's preference from the shipped LSTM (``--preference lstm``, trained on
profiled traces of these detectors on the live feature scale); ``cdio[noisy-rpp]`` (the noisy
oracle, 10 % wrong) is the upper bound a better RPP could reach. The policies' calibration:
the trace's complexity scale, the servers' measured latencies and the model cards' accuracy
(not the trace's own).

    .venv/bin/python benchmarks/policies.py [--low 6] [--high 17] [--seconds 20] [--out FILE]
        [--profiled-trace FILE|none]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdio_stream.calibration import Calibration, deployed_accuracy_range  # noqa: E402
from cdio_stream.formatting import fmt as fmt_num  # noqa: E402
from cdio_stream.policy import POLICY_NAMES, ContextSpace, make_policy  # noqa: E402
from cdio_stream.sim import Simulator, SyntheticTraceConfig, WorkloadConfig, synthetic_trace  # noqa: E402
from cdio_stream.sim.regret import StationaryEnv, run_regret  # noqa: E402
from cdio_stream.system import make_links, make_servers  # noqa: E402
from cdio_stream.trace import read_trace  # noqa: E402

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
NOISY = "cdio[noisy-rpp]"  # CDIO fed the noisy-oracle preference instead of the LSTM's
BASELINES = ("dao", "sniper", "javp", "all-edge", "all-cloud", "random")  # the paper's comparisons + naive
ABLATIONS = ("cdio", "rpp-only", "cdco-only")  # paper Table 4: RPP alone, CDCO alone, both


def trace_calibration(trace) -> Calibration:
    """The trace's complexity scale (bucket edges, median) for every policy; no model priors
    (the simulated servers' latencies are device profiles, not the profiling machine's)."""
    return Calibration.from_trace(trace, models=False, source="the synthetic trace")


class Runs:
    """Simulators per (cameras, bandwidth, deployment, preference), built once each."""

    def __init__(self, args) -> None:
        self.args = args
        self._traces: dict[int, tuple] = {}
        self._sims: dict[tuple, Simulator] = {}

    def trace(self, cameras: int):
        if cameras not in self._traces:
            a = self.args
            trace = synthetic_trace(SyntheticTraceConfig(streams=cameras, frames=int(a.seconds * a.fps), fps=a.fps,
                                                         seed=a.seed))  # fmt: skip
            self._traces[cameras] = (trace, trace_calibration(trace))
        return self._traces[cameras]

    def sim(self, cameras: int, bandwidth: str, deployment: str, preference: str) -> Simulator:
        key = (cameras, bandwidth, deployment, preference)
        if key not in self._sims:
            a = self.args
            trace = self.trace(cameras)[0]
            servers = make_servers(deployment)
            workload = WorkloadConfig(preference=preference, preference_error=a.preference_error, seed=a.seed)
            self._sims[key] = Simulator(
                trace, servers, make_links(servers, bandwidth, seed=a.seed), workload=workload
            )
        return self._sims[key]

    def run(self, cameras: int, bandwidth: str, deployment: str, policies: list[str]) -> list[dict]:
        calibration = self.trace(cameras)[1]
        rows = []
        for label in policies:
            name, preference = ("cdio", "noisy-oracle") if label == NOISY else (label, self.args.preference)
            sim = self.sim(cameras, bandwidth, deployment, preference)
            servers = list(sim.servers)
            t0 = time.perf_counter()
            result = sim.run(make_policy(name, servers, calibration=calibration, truth=sim.truth))
            rows.append({"cameras": cameras, "fps": self.args.fps, "bandwidth": bandwidth, "deployment": deployment,
                         "policy": label, "preference": preference, "wall_s": time.perf_counter() - t0,
                         **result.metrics.as_dict()})  # fmt: skip
        return rows


def regret(args) -> dict:
    trace = synthetic_trace(SyntheticTraceConfig(streams=4, frames=500, seed=args.seed))
    calibration = trace_calibration(trace)
    edges = calibration.complexity_edges
    servers = make_servers("V1", n_edge=2)
    out = {}
    for name, use_pref in (("cdio", True), ("cdco-only", False)):
        env = StationaryEnv(
            trace, servers, ContextSpace(edges, (60.0, 70.0), use_pref), slot_size=4, seed=args.seed
        )
        curve = run_regret(make_policy(name, servers, calibration=calibration), env, args.regret_slots)
        first, second = curve.slopes()
        n = len(curve.cumulative)
        points = sorted({min(n - 1, int(round(k * (n - 1) / 99))) for k in range(100)})
        out[name] = {
            "slots": args.regret_slots,
            "optimal_reward_per_slot": float(curve.optimal.mean()),
            "final_regret": float(curve.cumulative[-1]),
            "slope_first_half": first,
            "slope_second_half": second,
            "curve": [[p + 1, float(curve.cumulative[p])] for p in points],  # (slot, cumulative regret)
        }
    return out


COLUMNS = (("acc_success", "acc ok%", ".1f", 100), ("delay_success", "delay ok%", ".1f", 100),
           ("both_success", "both ok%", ".1f", 100), ("mean_delay_s", "delay ms", ".0f", 1000),
           ("compute_tflop", "TFLOP/task", ".3f", 1), ("wan_mbps", "WAN Mbps", ".1f", 1),
           ("wan_bytes_per_task", "WAN kB/task", ".1f", 1e-3), ("bandwidth_mbps", "paper Mbps", ".1f", 1),
           ("energy_j_per_task", "J/task", ".3f", 1), ("cloud_share", "cloud%", ".1f", 100))  # fmt: skip


def load_table(rows: list[dict], title: str) -> None:
    print(f"\n{title}")
    head = f"{'bandwidth':<12}{'policy':<16}" + "".join(f"{label:>12}" for _, label, _, _ in COLUMNS)
    print(head)
    print("-" * len(head))
    for r in rows:
        cells = "".join(f"{fmt_num(r[k], f, s):>12}" for k, _, f, s in COLUMNS)
        print(f"{r['bandwidth']:<12}{r['policy']:<16}{cells}")


def grid_table(
    rows: list[dict], policies: list[str], metric: str, title: str, f: str, scale: float = 1.0
) -> None:
    print(f"\n{title}")
    head = f"{'bandwidth':<12}{'model':<6}" + "".join(f"{p:>10}" for p in policies)
    print(head)
    print("-" * len(head))
    for bandwidth in BANDWIDTHS:
        for dep in DEPLOYMENTS:
            cells = {
                r["policy"]: r[metric] for r in rows if r["bandwidth"] == bandwidth and r["deployment"] == dep
            }
            print(
                f"{bandwidth:<12}{dep:<6}" + "".join(f"{fmt_num(cells[p], f, scale):>10}" for p in policies)
            )


def aims(rows: list[dict]) -> list[dict]:
    """Per load and bandwidth: CDIO against 95 % of the oracle's both-success, and against
    20 % less WAN than the best baseline (highest both-success) at equal or better success."""
    out = []
    for load, bandwidth in sorted({(r["load"], r["bandwidth"]) for r in rows}):
        mine = {r["policy"]: r for r in rows if r["load"] == load and r["bandwidth"] == bandwidth}
        if not {"cdio", "oracle"} <= set(mine):
            continue
        cdio, oracle = mine["cdio"], mine["oracle"]
        base = [mine[p] for p in BASELINES if p in mine]
        best = max(base, key=lambda r: r["both_success"]) if base else None
        entry = {
            "load": load, "bandwidth": bandwidth,
            "cdio_both": cdio["both_success"], "oracle_both": oracle["both_success"],
            "cdio_over_oracle": cdio["both_success"] / oracle["both_success"] if oracle["both_success"] else None,
        }  # fmt: skip
        if best is not None:
            entry |= {
                "best_baseline": best["policy"], "best_baseline_both": best["both_success"],
                "best_baseline_wan_mbps": best["wan_mbps"], "cdio_wan_mbps": cdio["wan_mbps"],
                "wan_saving": 1.0 - cdio["wan_mbps"] / best["wan_mbps"] if best["wan_mbps"] else None,
                "cdio_success_at_least_baseline": cdio["both_success"] >= best["both_success"],
            }  # fmt: skip
        out.append(entry)
    return out


def print_aims(entries: list[dict]) -> None:
    print(
        "\nAims: CDIO >= 95 % of the oracle's both-success; >= 20 % less WAN than the best baseline at >= its success"
    )
    for e in entries:
        line = (f"  {e['load']:<5}{e['bandwidth']:<12} CDIO both {e['cdio_both']:.1%} = "
                f"{fmt_num(e['cdio_over_oracle'], '.1%')} of oracle {e['oracle_both']:.1%}")  # fmt: skip
        if "best_baseline" in e:
            line += (f"; best baseline {e['best_baseline']} both {e['best_baseline_both']:.1%} "
                     f"WAN {e['best_baseline_wan_mbps']:.1f} Mbps, CDIO WAN {e['cdio_wan_mbps']:.1f} Mbps "
                     f"(saving {fmt_num(e['wan_saving'], '.1%')}, success "
                     f"{'>=' if e['cdio_success_at_least_baseline'] else '<'} baseline)")  # fmt: skip
        print(line)


# ---------------------------------------------------------------------------- profiled trace
def profiled_trace(args) -> tuple[list, str]:
    """The profiled trace: ``--profiled-trace FILE``, else the cached one (made if missing)."""
    if args.profiled_trace is not None:
        return read_trace(args.profiled_trace), str(args.profiled_trace)
    import hashlib
    import subprocess

    from cdio_stream.data.synth import SynthConfig, generate_dataset
    from cdio_stream.inference.registry import default_registry
    from cdio_stream.settings import Settings

    registry = default_registry()
    weights = b"".join(registry.spec(m).weights.read_bytes() for m in ("edge", "cloud"))
    tag = hashlib.sha256(weights).hexdigest()[:8]  # other detectors, another trace
    cache = Settings.from_env().cache_dir / "bench-policies"
    a = args
    config = SynthConfig(sequences=a.profiled_streams, frames=a.profiled_frames, seed=a.profiled_seed,
                         first_id=90001 + 1000 * a.profiled_seed)  # fmt: skip
    data = cache / f"synth-s{config.seed}-{config.sequences}x{config.frames}"
    if not (data / ".complete").is_file():
        print(f"generating {config.sequences} x {config.frames} synthetic frames (seed {config.seed}) in {data} ...",
              flush=True)  # fmt: skip
        generate_dataset(data, config)
        (data / ".complete").write_text("ok\n")
    trace = cache / f"trace-{data.name}-fps25-detectors-{tag}.jsonl"
    done = trace.with_suffix(".complete")
    if not done.is_file():
        print(f"profiling them with the shipped detectors into {trace} (once; resumable) ...", flush=True)
        cmd = [sys.executable, "-m", "cdio_stream.cli", "--torch-threads", "1", "profile", str(data), "--models",
               "edge,cloud", "--fps", "25", "--out", str(trace)]  # fmt: skip
        subprocess.run(cmd, check=True)  # its progress bar shows on stderr
        done.write_text("ok\n")
    return read_trace(trace), f"{data.name}, profiled with the shipped detectors (weights {tag})"


def profiled_calibration(trace, servers) -> Calibration:
    """What the policies know: the trace's complexity scale and the servers' measured latencies,
    accuracy priors from the model cards (not from the trace they are scored on)."""
    from cdio_stream.inference.registry import default_registry

    cal = Calibration.from_trace(
        trace, servers=servers, links=make_links(servers), source="the profiled trace"
    )
    models = {n: replace(p, accuracy=None, per_frame_map50=None) for n, p in cal.models.items()}
    cal = replace(cal, models=models, servers={k: replace(v, accuracy=None) for k, v in cal.servers.items()})
    return Calibration.from_cards(default_registry(), list(models), base=cal)


def profiled_section(args, policies: list[str]) -> dict:
    from cdio_stream.settings import Settings

    trace, desc = profiled_trace(args)
    topology = Settings.from_env().topology()
    servers = list(topology.servers)
    a_range = deployed_accuracy_range(topology)
    cal = profiled_calibration(trace, servers)
    streams = sorted({f.stream for f in trace})
    captured = 1.0 / float(np.median(np.diff(sorted({f.capture_time for f in trace}))))
    rows = []
    for fps in args.profiled_fps:
        # The same frames at another rate per camera: capture times stretched (the LSTM sees the gaps).
        paced = [replace(f, capture_time=f.capture_time * captured / fps) for f in trace]
        sims: dict[str, Simulator] = {}
        for label in policies:
            name, preference = ("cdio", "noisy-oracle") if label == NOISY else (label, args.preference)
            if preference not in sims:
                workload = WorkloadConfig(a_req_range=a_range, preference=preference,
                                          preference_error=args.preference_error, seed=args.seed)  # fmt: skip
                sims[preference] = Simulator(paced, servers, make_links(servers, "stable", seed=args.seed),
                                             workload=workload, calibration=cal)  # fmt: skip
            sim = sims[preference]
            t0 = time.perf_counter()
            result = sim.run(make_policy(name, servers, calibration=cal, truth=sim.truth))
            rows.append({"fps": fps, "cameras": len(streams), "bandwidth": "stable", "policy": label,
                         "preference": preference, "wall_s": time.perf_counter() - t0,
                         **result.metrics.as_dict()})  # fmt: skip
    return {
        "trace": desc,
        "frames": len(trace),
        "streams": len(streams),
        "captured_fps": round(captured, 3),
        "loads_fps": list(args.profiled_fps),
        "accuracy_range": list(a_range),
        "delay_range": list(WorkloadConfig().d_req_range),
        "servers": [
            {"id": s.id, "model": s.model, "device": s.device, "inference_s": cal.inference_s(s)}
            for s in servers
        ],  # fmt: skip
        "models": {
            m: {
                "mean_map50": float(np.mean([f.accuracy[m] for f in trace if m in f.accuracy])),
                "median_latency_s": cal.models[m].inference_s,
            }
            for m in sorted(cal.models)
        },  # fmt: skip
        "headline": "cdio",
        "upper_bound": NOISY,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--low", type=int, default=6, help="cameras at the low load")
    parser.add_argument("--high", type=int, default=17, help="cameras at the high load")
    parser.add_argument("--fps", type=float, default=25.0, help="frames per second per camera")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the run")
    parser.add_argument(
        "--sweep", default="4,8,12,14,16,17,18,20", help="cameras of the load sweep (fluctuating)"
    )
    parser.add_argument("--grid-load", choices=("low", "high"), default="low", help="load of the V1-V4 grid")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--preference", choices=("lstm", "noisy-oracle", "none"), default="lstm")
    parser.add_argument("--preference-error", type=float, default=0.1)
    parser.add_argument("--regret-slots", type=int, default=3000)
    parser.add_argument("--policies", default=",".join(ORDER))
    parser.add_argument("--profiled-trace", type=Path,
                        help="profiled trace of the topology's detectors (default: the cached one, made if missing); "
                        "'none' skips the section")  # fmt: skip
    parser.add_argument("--profiled-seed", type=int, default=7)
    parser.add_argument("--profiled-streams", type=int, default=6)
    parser.add_argument("--profiled-frames", type=int, default=300)
    parser.add_argument("--profiled-fps", default="5,25",
                        help="frame rates per camera the profiled trace is run at (default 5,25: the cloud detector "
                        "serves about 29 frames/s, so 6 x 5 fps leaves it room for what it is needed for, 6 x 25 "
                        "fps does not)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "policies.json")
    args = parser.parse_args(argv)
    args.profiled_fps = [float(f) for f in args.profiled_fps.split(",") if f]
    if args.profiled_seed < 7:
        parser.error(
            "--profiled-seed must be 7 or more: seeds 0-1 made the detectors, 2-6 the LSTM's training data"
        )
    args.policies = [p for p in args.policies.split(",") if p]
    unknown = [p for p in args.policies if p not in POLICY_NAMES]
    if unknown:
        parser.error(f"unknown policies {unknown}; known: {', '.join(POLICY_NAMES)}")
    sweep = sorted({int(c) for c in args.sweep.split(",") if c})
    t0 = time.perf_counter()
    runs = Runs(args)
    pol = list(args.policies)
    load_pol = pol + ([NOISY] if "cdio" in pol and args.preference != "noisy-oracle" else [])
    loads = {"low": args.low, "high": args.high}
    print(f"V1, {args.fps:g} fps x {args.seconds:g} s, seed {args.seed}, RPP preference {args.preference}")
    load_rows = []
    for load, cams in loads.items():
        rows = []
        for bandwidth in BANDWIDTHS:
            rows += [r | {"load": load} for r in runs.run(cams, bandwidth, "V1", load_pol)]
        load_rows += rows
        load_table(
            rows, f"{load.upper()} LOAD: {cams} cameras x {args.fps:g} fps = {cams * args.fps:g} frames/s, V1"
        )
        for bandwidth in BANDWIDTHS:
            mine = [r for r in rows if r["bandwidth"] == bandwidth and r["policy"] != "oracle"]
            best = max(mine, key=lambda r: r["delay_success"])
            print(f"  {bandwidth}: best delay success {best['delay_success']:.1%} ({best['policy']}), "
                  f"oracle {next(r['delay_success'] for r in rows if r['bandwidth'] == bandwidth and r['policy'] == 'oracle'):.1%}"
                  if "oracle" in pol else f"  {bandwidth}: best delay success {best['delay_success']:.1%} ({best['policy']})")  # fmt: skip
    goals = aims(load_rows)
    print_aims(goals)

    grid_cams = loads[args.grid_load]
    grid = [r for bw in BANDWIDTHS for dep in DEPLOYMENTS for r in runs.run(grid_cams, bw, dep, pol)]
    print(f"\nV1-V4 grid at the {args.grid_load} load ({grid_cams} cameras)")
    grid_table(grid, pol, "mean_accuracy", "Mean accuracy, mAP50 % (cf. paper Table 3)", ".2f")
    grid_table(grid, pol, "both_success", "Both requirements met, % of tasks", ".1f", 100)

    sweep_rows = [r for cams in sweep for r in runs.run(cams, "fluctuating", "V1", pol)]
    print("\nLoad sweep, V1, fluctuating bandwidth: both requirements met, % (WAN Mbps)")
    print(f"{'cameras':<9}{'fps':>6}" + "".join(f"{p:>16}" for p in pol))
    for cams in sweep:
        cells = {r["policy"]: r for r in sweep_rows if r["cameras"] == cams}
        line = "".join(
            f"{fmt_num(cells[p]['both_success'], '.1f', 100):>7} ({cells[p]['wan_mbps']:5.1f})" for p in pol
        )
        print(f"{cams:<9}{cams * args.fps:>6g}{line}")

    profiled = None
    if str(args.profiled_trace) != "none":
        profiled = profiled_section(args, load_pol)
        print(f"\nPROFILED TRACE: {profiled['trace']}: {profiled['streams']} cameras, {profiled['frames']} frames "
              f"(captured at {profiled['captured_fps']:g} fps); servers of topics.yaml at their measured latencies ("
              + ", ".join(f"{m} {v['median_latency_s'] * 1000:.1f} ms, mAP50 {v['mean_map50']:.1f} %"
                          for m, v in profiled["models"].items())
              + f"); A^q in [{profiled['accuracy_range'][0]:g}, {profiled['accuracy_range'][1]:g}] (auto); "
              f"CDIO's RPP: {args.preference} (headline), {NOISY}: noisy oracle (upper bound)")  # fmt: skip
        for fps in args.profiled_fps:
            mine = [r for r in profiled["rows"] if r["fps"] == fps]
            load_table(mine, f"every policy on the profiled trace at {profiled['streams']} cameras x {fps:g} fps "
                             f"= {profiled['streams'] * fps:g} frames/s, stable bandwidth")  # fmt: skip
    else:
        args.profiled_trace = None

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
    doc = {
        "meta": {
            **meta,
            "wall_s": elapsed,
            "loads": loads,
            "baselines": list(BASELINES),
            "ablations": list(ABLATIONS),
        },
        "loads": load_rows,
        "aims": goals,
        "grid": grid,
        "grid_load": args.grid_load,
        "sweep": sweep_rows,
        "regret": reg,
    } | ({"profiled": profiled} if profiled is not None else {})
    args.out.write_text(json.dumps(doc, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
