"""``cdio-stream simulate``: run scheduling policies through the discrete-event simulator.

Uses a profiling trace (``--trace``, written by ``cdio-stream profile``) or, without one,
the documented synthetic generator. Prints the paper's metrics per policy; ``--json``
prints them as JSON instead, ``--records`` writes every task's record as JSON Lines.

    cdio-stream simulate --policy cdio --policy sniper --deployment V2 --bandwidth fluctuating

The servers are a paper deployment (``--deployment V1..V4``, device profiles) or those of a
``topics.yaml`` (``--topology FILE``: their registry detectors, e.g. the shipped ``edge`` and
``cloud``, need their inference times from ``--calibration``). ``--calibration FILE`` is
what ``worker scheduler --calibration`` takes: the policies get it as the scheduler would, the
simulator its servers' inference times and, when it was measured on a running pipeline
(``cdio-stream calibrate --live-results``), the pipeline's own latencies, so it models the
live deployment (cdio_stream/sim/simulator.py). ``--replay`` makes the frames arrive and get
their requirements as ``cdio-stream replay`` and the demo publish them, so a simulated and a
live run of the same frames and seed see the same tasks:

    cdio-stream simulate --trace trace.jsonl --topology topics.yaml --calibration cal.json \\
        --replay --accuracy-range auto --policy cdio --preference lstm --seed 0
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from cdio_stream.cli.accuracy_range import add_accuracy_range, resolve_accuracy_range
from cdio_stream.formatting import fmt

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("simulate", help="simulate scheduling policies on a trace (no broker needed)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--policy", action="append", dest="policies", metavar="NAME",
                   help="policy to run (repeatable; default: cdio); 'all' runs every policy")  # fmt: skip
    p.add_argument("--deployment", default="V1", help="model deployment version V1..V4 (paper Table 2)")
    p.add_argument("--topology", type=Path, metavar="TOPICS_YAML",
                   help="simulate the servers of this topics.yaml instead of --deployment")  # fmt: skip
    p.add_argument("--calibration", type=Path,
                   help="calibration file (`cdio-stream calibrate --out`): for the policies, the servers' inference "
                        "times and, if measured on a live run, the pipeline's latencies")  # fmt: skip
    p.add_argument("--replay", action="store_true",
                   help="streams start together and requirements are drawn per stream, as replay and the demo do")  # fmt: skip
    add_accuracy_range(p, ("50", "80"))
    p.add_argument("--delay-range", nargs=2, type=float, default=[0.2, 0.6], metavar=("LO", "HI"),
                   help="D^q range, seconds (default the paper's 0.2 0.6)")  # fmt: skip
    p.add_argument("--edges", type=int, default=4, help="number of edge servers")
    p.add_argument("--bandwidth", choices=("stable", "fluctuating"), default="stable")
    p.add_argument("--trace", type=Path, help="profiling trace (JSON Lines); default: synthetic")
    p.add_argument("--cameras", "--streams", type=int, default=6, dest="streams",
                   help="synthetic trace: cameras (the load is cameras x fps)")  # fmt: skip
    p.add_argument("--fps", type=float, default=25.0, help="synthetic trace: frames per second per camera")
    p.add_argument("--frames", type=int, default=1000, help="synthetic trace: frames per camera")
    p.add_argument("--slot", type=float, default=0.04, help="slot length in seconds")
    p.add_argument("--preference", choices=("noisy-oracle", "lstm", "none"), default="noisy-oracle",
                   help="RPP's preference: a noisy oracle of the frame's true edge accuracy (default), the "
                        "RPP LSTM run on the trace's features (live scale), or none")  # fmt: skip
    p.add_argument(
        "--rpp-checkpoint", type=Path, help="--preference lstm: checkpoint (default: the shipped one)"
    )
    p.add_argument("--preference-error", type=float, default=0.1, help="error rate of the simulated RPP")
    p.add_argument("--feedback", choices=("truth", "reference", "none"), default="truth",
                   help="what accuracy the policy learns from: the trace's truth, reference runs on a "
                        "sampled share of tasks (as a deployment without labels), or none")  # fmt: skip
    p.add_argument("--reference-rate", type=float, default=0.05,
                   help="--feedback reference: reference runs' compute budget, as a share of the served "
                        "compute (the share of tasks for a shadow of average cost; README)")  # fmt: skip
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--records", type=Path, help="write per-task records (JSON Lines) here")
    p.add_argument("--json", action="store_true", help="print metrics as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    import orjson

    from cdio_stream.calibration import Calibration, load_calibration
    from cdio_stream.errors import ConfigError
    from cdio_stream.policy import POLICY_NAMES, make_policy
    from cdio_stream.sim import Simulator, SyntheticTraceConfig, WorkloadConfig, synthetic_trace
    from cdio_stream.sim.simulator import reference_card
    from cdio_stream.system import make_links, make_servers
    from cdio_stream.trace import read_trace

    names = args.policies or ["cdio"]
    if "all" in names:
        names = list(POLICY_NAMES)
    unknown = [n for n in names if n not in POLICY_NAMES]
    if unknown:
        raise ConfigError(f"unknown policies {unknown}; known: {', '.join(POLICY_NAMES)}")
    if args.trace is not None:
        trace = read_trace(args.trace)
    else:
        trace = synthetic_trace(
            SyntheticTraceConfig(streams=args.streams, frames=args.frames, fps=args.fps, seed=args.seed)
        )
    if args.topology is not None:
        settings = replace(settings, topics_file=args.topology)
        servers = list(settings.topology().servers)
    else:
        servers = make_servers(args.deployment, n_edge=args.edges)
    given = load_calibration(args.calibration) if args.calibration is not None else None
    # The policies take --calibration as the scheduler does; without one, the trace's complexity
    # scale (bucket edges, median) and no model priors: the simulated servers' latencies are
    # device profiles, not the profiling machine's.
    calibration = given or Calibration.from_trace(trace, models=False, source="the simulated trace")
    a_range = resolve_accuracy_range(args.accuracy_range, settings)
    workload = WorkloadConfig(a_req_range=a_range, d_req_range=tuple(args.delay_range), preference=args.preference,
                              preference_error=args.preference_error,
                              rpp_checkpoint=str(args.rpp_checkpoint) if args.rpp_checkpoint else None,
                              seed=args.seed, requirements="replay" if args.replay else "uniform",
                              stream_offsets=not args.replay)  # fmt: skip
    judge = None
    if args.trace is None and args.feedback == "reference":
        # The reference's card: other annotated synthetic frames (another seed) run through the same
        # workload, its prior kept per context of each bandit that is run (cdio, cdco-only).
        card_frames = synthetic_trace(SyntheticTraceConfig(streams=args.streams, frames=args.frames, fps=args.fps,
                                                           seed=args.seed + 1000))  # fmt: skip
        spaces = [
            make_policy(n, servers, calibration=calibration).space
            for n in ("cdio", "cdco-only")
            if n in names
        ]
        judge = reference_card(card_frames, servers, replace(workload, seed=args.seed + 1000), spaces)
    sim = Simulator(trace, servers, make_links(servers, args.bandwidth, seed=args.seed), slot_s=args.slot,
                    workload=workload, feedback=args.feedback, reference_rate=args.reference_rate,
                    reference_judge=judge, calibration=given,
                    pipeline=None if given is None else given.pipeline)  # fmt: skip
    results = {}
    records_fh = args.records.open("wb") if args.records else None
    try:
        for name in names:
            policy = make_policy(name, servers, calibration=calibration, truth=sim.truth, seed=args.seed)
            result = sim.run(policy)
            results[name] = result.metrics.as_dict()
            if records_fh:
                for r in result.records:
                    records_fh.write(
                        orjson.dumps({"policy": name, **_record(r)}, option=orjson.OPT_SERIALIZE_NUMPY)
                        + b"\n"
                    )
    finally:
        if records_fh:
            records_fh.close()
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
        return 0
    where = f"servers of {args.topology}" if args.topology is not None else f"deployment {args.deployment}"
    live = " (live pipeline latencies from the calibration)" if sim.pipeline is not None else ""
    print(f"{len(sim.tasks)} tasks, {where}{live}, {args.bandwidth} bandwidth, feedback {args.feedback}, "
          f"preference {args.preference}, A^q in [{a_range[0]:g}, {a_range[1]:g}]")  # fmt: skip
    cols = (("mean_accuracy", "acc", ".2f", 1), ("acc_success", "acc ok%", ".1f", 100),
            ("delay_success", "delay ok%", ".1f", 100), ("mean_delay_s", "delay ms", ".0f", 1000),
            ("compute_tflop", "TFLOP", ".3f", 1), ("bandwidth_mbps", "paperMbps", ".1f", 1),
            ("wan_mbps", "WAN Mbps", ".1f", 1),
            ("energy_j_per_task", "J/task", ".3f", 1), ("cloud_share", "cloud%", ".1f", 100))  # fmt: skip
    print(f"{'policy':<11}" + "".join(f"{label:>11}" for _, label, _, _ in cols))
    for name, m in results.items():
        print(f"{name:<11}" + "".join(f"{fmt(m[k], f, s):>11}" for k, _, f, s in cols))
    if args.feedback == "reference":
        print("reference overhead (on top of the figures above):")
        for name, m in results.items():
            print(f"  {name:<11} {m['feedback_reference']:.1%} of tasks judged, "
                  f"+{m['reference_compute_tflop']:.3f} TFLOP/task (+{m['reference_compute_overhead']:.1%} compute), "
                  f"+{m['reference_uplink_bytes'] / 1e3:.1f} kB/task sent, "
                  f"+{m['reference_energy_j_per_task']:.3f} J/task")  # fmt: skip
    return 0


def _record(r: Any) -> dict[str, Any]:
    return {name: getattr(r, name) for name in r.__slots__ if name != "info"} | {"info": dict(r.info)}
