"""Fault table: does every frame end as exactly one result or one dead letter?

Starts its own throwaway Kafka broker (the broker scenarios kill and freeze it; never a
shared one) and one deployment of real workers (preprocess, scheduler, sink, one
inference worker per server). Each scenario is a round with its own synthetic streams,
paced, with one fault injected after ``--fault-at`` seconds: a worker killed with
SIGKILL and restarted, every worker killed, every worker stopped with SIGTERM, the
broker frozen (SIGSTOP) for 10 s, the broker killed and restarted on its log dir, and
bad inputs (an oversize frame, a truncated JPEG, an impossible A^q, a duplicated frame).
Afterwards every topic is read back from offset 0 (cdio_stream/pipeline/faults.py says
how frames and outcomes are matched), the workers are stopped, and the sink's and the
scheduler's saved state are checked against the topics.

    .venv/bin/python benchmarks/faults.py [--streams 2] [--frames 20] [--fps 4]
        [--servers edge-1,cloud] [--scenarios none,kill-scheduler,...] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdio_stream.cli.deployment import pipeline_workers  # noqa: E402
from cdio_stream.data.synth import SynthConfig, generate_dataset  # noqa: E402
from cdio_stream.kafka.admin import create_topics  # noqa: E402
from cdio_stream.kafka.broker import LocalKafkaBroker  # noqa: E402
from cdio_stream.kafka.state_store import KafkaStateStore  # noqa: E402
from cdio_stream.pipeline import faults  # noqa: E402
from cdio_stream.pipeline.launcher import Launcher  # noqa: E402
from cdio_stream.pipeline.metrics import LiveMetrics  # noqa: E402
from cdio_stream.policy.codec import decode_state  # noqa: E402
from cdio_stream.settings import Settings  # noqa: E402
from cdio_stream.topology import load_topology  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

SCENARIOS = {
    "none": lambda names: None,
    "bad-inputs": lambda names: None,
    "kill-preprocess": lambda names: faults.kill_worker("preprocess"),
    "kill-preprocess-standby": lambda names: faults.kill_with_standby("preprocess"),
    "kill-scheduler": lambda names: faults.kill_worker("scheduler"),
    "kill-inference": lambda names: faults.kill_worker(
        next(n for n in names if n.startswith("inference-edge"))
    ),
    "kill-sink": lambda names: faults.kill_worker("sink"),
    "kill-all": lambda names: faults.kill_all,
    "sigterm-all": lambda names: faults.sigterm_all,
    "broker-pause": lambda names: faults.pause_broker(10.0),
    "broker-kill": lambda names: faults.kill_broker,
}
LABELS = {
    "none": "none",
    "bad-inputs": "4 bad inputs (oversize, truncated, A^q=1e308, duplicate)",
    "kill-preprocess": "kill -9 preprocess, restart",
    "kill-preprocess-standby": "kill -9 preprocess, a second one takes over",
    "kill-scheduler": "kill -9 scheduler, restart",
    "kill-inference": "kill -9 edge inference, restart",
    "kill-sink": "kill -9 sink, restart",
    "kill-all": "kill -9 every worker, start all",
    "sigterm-all": "SIGTERM every worker, start all",
    "broker-pause": "broker frozen 10 s (SIGSTOP)",
    "broker-kill": "kill -9 broker, restart on its log dir",
}


def print_table(rows: list[faults.FaultRow]) -> None:
    head = (
        f"{'fault':58s} {'frames':>6s} {'1 result':>8s} {'1 DLQ':>5s} {'none':>4s} {'dup':>4s} {'extra':>5s} "
        f"{'unsent':>6s}  dead letters by reason"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        reasons = ", ".join(f"{k}: {v}" for k, v in r.dead_letters.items()) or "-"
        print(
            f"{LABELS.get(r.scenario, r.scenario):58s} {r.frames:6d} {r.one_result:8d} {r.one_dead_letter:5d} "
            f"{r.none:4d} {r.duplicated:4d} {r.extra_copies:5d} {r.notes.get('replay', {}).get('failed', 0):6d}  {reasons}"
        )
    print(
        "\n1 result / 1 DLQ: frames whose only outcome is one result / one dead letter; none: lost;"
        "\ndup: two different outcomes; extra: redelivered copies of a frame's one outcome"
        " (the scheduler and the sink drop them by task id);"
        "\nunsent: frames the replay's producer gave up on (never on the frames topic, so not in 'frames')."
    )


async def saved_state(bootstrap: str, topology) -> dict:
    sink = await KafkaStateStore(bootstrap, topology.sink_state.name).load("sink")
    sched = await KafkaStateStore(bootstrap, topology.scheduler_state.name).load("scheduler")
    out: dict = {}
    if sink is not None:
        m = LiveMetrics()
        m.restore(sink)
        out["sink"] = {"tasks": m.count, "duplicates_dropped": m.duplicates}
    if sched is not None:
        header, _ = decode_state(sched)
        out["scheduler"] = {
            k: header[k]
            for k in ("decisions", "feedbacks", "redelivered_tasks", "duplicate_results", "recovered")
        }
        out["scheduler"]["dead_lettered"] = header.get("dead_lettered", 0)
        out["scheduler"]["pending"] = len(header["pending"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2, help="synthetic streams per scenario")
    parser.add_argument("--frames", type=int, default=20, help="frames per stream")
    parser.add_argument("--fps", type=float, default=4.0, help="replay rate per stream")
    parser.add_argument("--fault-at", type=float, default=2.0, help="seconds into a round the fault hits")
    parser.add_argument("--servers", default="edge-1,cloud", help="servers of topics.yaml to deploy")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated, from: " + ", ".join(SCENARIOS)
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "faults.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the replay producer while the broker is away
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s) {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")

    settings = Settings.from_env()
    with (
        tempfile.TemporaryDirectory(prefix="cdio-faults-") as tmp_name,
        LocalKafkaBroker(settings.cache_dir) as broker,
    ):
        tmp = Path(tmp_name)
        raw = yaml.safe_load((ROOT / "topics.yaml").read_text())
        keep = args.servers.split(",")
        raw["servers"] = [s for s in raw["servers"] if s["id"] in keep]
        topics_file = tmp / "topics.yaml"
        topics_file.write_text(yaml.safe_dump(raw))
        topology = load_topology(topics_file).with_prefix(f"faults-{uuid.uuid4().hex[:6]}.")
        asyncio.run(create_topics(broker.bootstrap, topology))
        dataset = tmp / "dataset"
        sequences = {}
        for i, name in enumerate(scenarios):
            config = SynthConfig(
                sequences=args.streams,
                frames=args.frames,
                width=480,
                height=270,
                seed=i,
                first_id=80001 + 10 * i,
            )
            sequences[name] = [s.name for s in generate_dataset(dataset, config)]
        run_settings = replace(
            settings,
            bootstrap=broker.bootstrap,
            topics_file=topics_file,
            topic_prefix=topology.prefix,
            torch_threads=1,
        )
        launcher = Launcher(run_settings, tmp / "logs")
        specs = pipeline_workers(topology, dataset=dataset)
        runner = faults.FaultRunner(
            broker.bootstrap, topology, launcher, specs, dataset, broker=broker, fps=args.fps
        )
        rows: list[faults.FaultRow] = []
        t0 = time.monotonic()
        try:
            for spec in specs:
                launcher.start(spec)
            ready_s = launcher.wait_ready(timeout_s=300)
            print(f"{len(specs)} workers ready in {ready_s:.0f} s; broker {broker.bootstrap}", flush=True)
            names = runner.all_names()
            for name in scenarios:
                row = asyncio.run(
                    runner.run_round(
                        name,
                        sequences[name],
                        SCENARIOS[name](names),
                        fault_at_s=args.fault_at,
                        bad_inputs=name == "bad-inputs",
                    )
                )
                rows.append(row)
                print(
                    f"  {name}: {row.frames} frames, {row.one_result} results, {row.one_dead_letter} dead letters, "
                    f"{row.none} none, {row.duplicated} duplicated, {row.extra_copies} extra copies {row.notes}",
                    flush=True,
                )
        finally:
            launcher.stop_all()
        # Every worker stopped cleanly: the saved state must agree with the topics.
        state = asyncio.run(saved_state(broker.bootstrap, topology))
        outcomes = asyncio.run(faults.read_outcomes(broker.bootstrap, topology))
        tasks_with_results = len({o.task_id for o in outcomes.values() if o.results})
        state["tasks_with_a_result_on_the_topic"] = tasks_with_results
        wall = time.monotonic() - t0
    print()
    print_table(rows)
    print(f"\nsaved state after all rounds: {state}")
    print(f"wall time {wall:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "rows": [r.as_dict() for r in rows],
                "saved_state": state,
                "wall_s": wall,
            },
            indent=2,
        )
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
