"""The pipeline's own overhead: raw Kafka for one hop vs the whole pipeline with no-op detectors.

One broker, the same frames, one run:

1. **raw**: one aiokafka producer and one consumer move the frames (JPEG value + the
   frame's metadata header, keyed by stream) through one topic, three times (two before
   the pipeline run, one after, to show the machine's drift; the ratio uses their median);
   frames/s from the first send to the last receive.
2. **Faust one hop**: the same frames through one Faust worker built like the project's
   (``create_app``'s settings) that only relays them from one topic to another, as
   preprocess does without its stage code (micro-batches of 16, each record written with
   :class:`agents.base.OutTopic` and acked): the framework's own floor per hop, fed flat
   out, and its CPU per frame.
3. **pipeline**: real worker processes (preprocess with the shipped LSTM, the CDIO
   scheduler, one inference worker per server, the sink) started by the project's
   Launcher, every server on the ``null`` detector (no model, no detections, near-zero
   time; the link is still emulated and the result priced; no reference runs: a no-op
   detector is no reference). After a warm-up, the frames are published flat out; the
   default size (4 x 1000 frames) keeps the pipeline busy for tens of seconds, so what is
   measured is its steady state, not start-up or idle loops. Printed: frames/s from the
   first send to the last result; where frames wait (p50/p95 of each part of
   capture -> result, from the results' own timestamps) and each stage's rate, which name
   the stage that limits throughput; the CPU time each worker process and the broker spent
   per frame (utime + stime from /proc/PID/stat, from the first send until 2 s after the
   last result, so the sink and the scheduler finish what they read; CPU time holds up on
   a shared machine where wall time does not), with and without its idle loops (idle CPU
   in ms/s, measured before the run, times the run's length).
4. **stage code**: the same frames through the stage objects in this process, no broker
   (preprocess, scheduler decide + reward, inference uplink + infer, with the codecs the
   agents run): CPU ms per frame of the project's own code, without Faust.

    PYTHONPATH=. .venv/bin/python benchmarks/pipeline_overhead.py [--streams 4 --frames 1000]
        [--bootstrap HOST:PORT] [--out benchmarks/results/pipeline_overhead.json]

Frames: the real UA-DETRAC sample (``CDIO_DETRAC_SAMPLE`` or ../shared/datasets/
ua-detrac-sample) when found, else synthetic 960x540 frames; each stream cycles them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402

from cdio_stream.cli.deployment import pipeline_workers  # noqa: E402
from cdio_stream.data.replay import create_frame_producer  # noqa: E402
from cdio_stream.formatting import fmt  # noqa: E402
from cdio_stream.kafka.admin import create_topics  # noqa: E402
from cdio_stream.kafka.connect import start_client  # noqa: E402
from cdio_stream.messages import Frame, FrameMeta, decode_result, encode_frame, encode_result  # noqa: E402
from cdio_stream.pipeline.launcher import Launcher  # noqa: E402
from cdio_stream.settings import Settings  # noqa: E402
from cdio_stream.topology import TopicSpec, Topology  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "datasets" / "ua-detrac-sample"
CLK_TCK = os.sysconf("SC_CLK_TCK")
WARMUP_FRAMES = 24

Message = tuple[bytes, bytes, list]  # key, value, headers


# ------------------------------------------------------------------ inputs


def load_jpegs(tmp: Path) -> tuple[list[bytes], str]:
    sample = Path(os.environ.get("CDIO_DETRAC_SAMPLE") or SAMPLE)
    files = sorted((sample / "Insight-MVT_Annotation_Train").glob("*/*.jpg"))
    if files:
        return [f.read_bytes() for f in files], f"UA-DETRAC sample ({len(files)} frames)"
    from cdio_stream.data.synth import SynthConfig, generate_dataset

    generate_dataset(tmp / "synth", SynthConfig(sequences=1, frames=9, seed=7))
    files = sorted((tmp / "synth").rglob("*.jpg"))
    return [f.read_bytes() for f in files], f"synthetic 960x540 ({len(files)} frames)"


def make_messages(jpegs: list[bytes], streams: int, per_stream: int, tag: str) -> list[Message]:
    """Frame messages, interleaved over streams; fresh capture times are set at publish."""
    out = []
    for i in range(per_stream):
        for s in range(streams):
            meta = FrameMeta(f"{tag}-{s}", i + 1, 0.0, a_req=65.0, d_req=0.4)
            value, headers = encode_frame(Frame(meta, jpegs[(i + s) % len(jpegs)]))
            out.append((meta.stream_id.encode(), value, headers))
    return out


def restamp(msg: Message) -> Message:
    """The same frame with capture time now (the pipeline's end-to-end delay starts there)."""
    key, value, headers = msg
    meta = json.loads(headers[0][1])
    meta["capture_time"] = time.time()
    return key, value, [(headers[0][0], json.dumps(meta).encode())]


async def publish(producer, topic: str, messages: list[Message]) -> None:
    futures = [await producer.send(topic, v, key=k, headers=restamp((k, v, h))[2]) for k, v, h in messages]
    await producer.flush()
    for f in futures:
        await f


# ------------------------------------------------------------------ raw one hop


async def assign_at_end(consumer, specs) -> None:
    """Read these topics from their current end: only what is sent from now on counts."""
    parts = [TopicPartition(t.name, p) for t in specs for p in range(t.partitions)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for p in parts:
        await consumer.position(p)  # resolve "end" now, before anything is sent


@contextlib.asynccontextmanager
async def frame_clients(bootstrap: str, topology: Topology):
    """A consumer (assigned by the caller) and a frame producer, both started; stopped after."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        max_partition_fetch_bytes=topology.max_message_bytes,
        fetch_max_bytes=topology.max_message_bytes * 4,
    )
    await start_client(consumer, bootstrap)
    producer = create_frame_producer(bootstrap, topology)
    await start_client(producer, bootstrap)
    try:
        yield consumer, producer
    finally:
        await producer.stop()
        await consumer.stop()


async def receive(consumer, n: int) -> float:
    """Read until ``n`` records arrived; the time the last one came."""
    got = 0
    while got < n:
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            got += len(records)
    return time.perf_counter()


async def raw_hop(
    bootstrap: str, topology: Topology, topic: TopicSpec, messages: list[Message], broker_pid: int | None
) -> dict:
    async with frame_clients(bootstrap, topology) as (consumer, producer):
        await assign_at_end(consumer, [topic])
        broker0 = broker_cpu_s(broker_pid)
        cpu0, t0 = time.process_time(), time.perf_counter()
        sending = asyncio.create_task(publish(producer, topic.name, messages))
        t1 = await receive(consumer, len(messages))
        await sending
        cpu = time.process_time() - cpu0
        broker = broker_cpu_s(broker_pid) - broker0
    n = len(messages)
    return {
        "frames": n,
        "elapsed_s": t1 - t0,
        "frames_per_s": n / (t1 - t0),
        "client_cpu_ms_per_frame": cpu * 1000 / n,  # producer + consumer, this process
        "broker_cpu_ms_per_frame": None if broker_pid is None else broker * 1000 / n,
    }


# ------------------------------------------------------------------ one Faust hop


def relay_role():
    """A worker role that relays records from one topic to another and does nothing else."""
    from dataclasses import dataclass

    from agents.base import Role, RoleOptions, out_topic, raw_topic

    @dataclass(frozen=True)
    class RelayOptions(RoleOptions):
        role = "relay"
        source: str = ""
        sink: str = ""

    class Relay(Role):
        Options = RelayOptions

        def _build(self, settings: Settings) -> None:
            pass

        def _register(self, app) -> None:
            out = out_topic(app, self.options.sink)

            @app.agent(raw_topic(app, self.options.source), name="relay")
            async def relay(stream):
                async for events in stream.noack_take(16, within=0.02):  # preprocess's batches
                    for e in events:
                        await out.send(key=e.message.key, value=e.message.value, headers=e.message.headers)
                        await stream.ack(e)

    return Relay, RelayOptions


def run_relay_worker(source: str, sink: str) -> None:
    """``--relay-worker SOURCE SINK``: this process is the relay (settings from the environment)."""
    from faust.worker import Worker

    from agents import app as agents_app
    from cdio_stream.pipeline.launcher import READY_MARKER

    relay, options = relay_role()
    agents_app.ROLES[relay.Options.role] = relay
    settings = Settings.from_env()
    app = agents_app.create_app(settings, settings.topology(), options(source=source, sink=sink))

    class ReadyWorker(Worker):
        async def on_startup_finished(self) -> None:
            await super().on_startup_finished()
            print(READY_MARKER, flush=True)

    ReadyWorker(app, loglevel="warning", redirect_stdouts=False, quiet=True).execute_from_commandline()


async def faust_hop_run(bootstrap, topology, source, sink, messages, pid, broker_pid) -> dict:
    async with frame_clients(bootstrap, topology) as (consumer, producer):
        await assign_at_end(consumer, [sink])
        relay0, broker0, t0 = proc_cpu_s(pid), broker_cpu_s(broker_pid), time.perf_counter()
        sending = asyncio.create_task(publish(producer, source.name, messages))
        t1 = await receive(consumer, len(messages))
        relay, broker = proc_cpu_s(pid) - relay0, broker_cpu_s(broker_pid) - broker0
        await sending
    n = len(messages)
    return {
        "frames": n,
        "elapsed_s": t1 - t0,
        "frames_per_s": n / (t1 - t0),
        "relay_cpu_ms_per_frame": relay * 1000 / n,
        "broker_cpu_ms_per_frame": None if broker_pid is None else broker * 1000 / n,
    }


def faust_hop(settings: Settings, topology: Topology, messages, warmup, logs: Path, broker_pid) -> dict:
    """One Faust worker relays the frames from the raw twin's frames topic to its tasks topic."""
    import subprocess

    from cdio_stream.pipeline.launcher import READY_MARKER

    source, sink = topology.frames, topology.tasks
    launcher = Launcher(settings, logs)  # its environment: broker, topics file, cache, log level
    env = {**launcher.env(), "PYTHONPATH": str(ROOT)}
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "faust-relay.log", "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--relay-worker", source.name, sink.name],
            stdout=subprocess.PIPE, stderr=log_file, stdin=subprocess.DEVNULL, env=env, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            for line in proc.stdout:
                if READY_MARKER in line:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("the Faust relay did not start")
            else:
                raise SystemExit(
                    f"the Faust relay exited (code {proc.wait()}); see {logs / 'faust-relay.log'}"
                )
            args = (settings.bootstrap, topology, source, sink)
            asyncio.run(faust_hop_run(*args, warmup, proc.pid, broker_pid))
            return asyncio.run(faust_hop_run(*args, messages, proc.pid, broker_pid))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


# ------------------------------------------------------------------ whole pipeline


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


def broker_cpu_s(pid: int | None) -> float:
    return 0.0 if pid is None else proc_cpu_s(pid)


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: proc_cpu_s(pid) for name, pid in pids.items()}


# Where a frame's time goes, from its result's own timestamps (seconds):
#   before preprocess  capture -> its preprocess batch started (frames topic, batch fill)
#   preprocess         its batch's time in the stage
#   scheduler          task created -> decided (tasks topic, slot fill, the decision)
#   to inference       decided -> its inference started, less the emulated transfer
#                      (assignment topic, the server's backlog, the worker's own work)
#   transmission       the emulated uplink
#   inference          the detector call
WAIT_PARTS = ("before preprocess", "preprocess", "scheduler", "to inference", "transmission", "inference")


def frame_times(r) -> dict[str, float] | None:
    """The parts of one result's capture -> result time, and when each stage finished it."""
    if r.expired is not None or r.capture_time is None:
        return None
    t = r.timings
    created = r.completed_at - (t.queue + t.transmission + t.inference)
    parts = {
        "before preprocess": created - t.preprocess - r.capture_time,
        "preprocess": t.preprocess,
        "scheduler": float("nan"),
        "to inference": t.queue,
        "transmission": t.transmission,
        "inference": t.inference,
        "capture->result": r.completed_at - r.capture_time,
    }
    assigned = getattr(r, "assigned_at", None)  # results carry it from messages v2 with assigned_at
    if assigned is not None:
        parts["scheduler"] = assigned - created
        parts["to inference"] = t.queue - parts["scheduler"]
    done = {"preprocess": created, "scheduler": assigned, "inference": r.completed_at}
    return {"parts": parts, "done": done}


def bottleneck(rates: dict[str, float], within: float = 0.03) -> str | None:
    """The stage that limits throughput: the first, in pipeline order, whose rate is within
    ``within`` of the last stage's (stages in front of it run faster and their output waits
    for it; the ones after it can only go at its pace)."""
    known = {k: v for k, v in rates.items() if not np.isnan(v)}
    if not known:
        return None
    last = list(known.values())[-1]
    return next(k for k, v in known.items() if v <= last * (1 + within))


def stage_rate(done: list[float]) -> float:
    """Frames per second a stage finished over the middle 90 % of its outputs."""
    if len(done) < 20:
        return float("nan")
    lo, hi = np.percentile(done, [5, 95])
    return 0.9 * len(done) / (hi - lo) if hi > lo else float("nan")


async def publish_and_collect(bootstrap: str, topology: Topology, messages: list[Message], check) -> dict:
    """Publish flat out and read results (and dead letters) until every frame is accounted for."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="latest"
    )
    await start_client(consumer, bootstrap)
    producer = create_frame_producer(bootstrap, topology)
    await start_client(producer, bootstrap)
    times, per_server, dead, results = [], {}, 0, 0
    wanted = {k.decode() for k, _, _ in messages}
    try:
        await assign_at_end(consumer, [topology.results, topology.dead_letter])
        t0 = time.perf_counter()
        sending = asyncio.create_task(publish(producer, topology.frames.name, messages))
        deadline = time.monotonic() + 900
        while results + dead < len(messages):
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: {results} results, {dead} dead letters of {len(messages)}")
            check()
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                for rec in records:
                    if tp.topic == topology.dead_letter.name:
                        dead += 1
                        continue
                    r = decode_result(rec.value)
                    if r.stream_id in wanted:
                        results += 1
                        per_server[r.server_id] = per_server.get(r.server_id, 0) + 1
                        ft = frame_times(r)
                        if ft is not None:
                            times.append(ft)
        t1 = time.perf_counter()
        await sending
    finally:
        await producer.stop()
        await consumer.stop()
    waits = {}
    for part in (*WAIT_PARTS, "capture->result"):
        values = [ft["parts"][part] for ft in times if not np.isnan(ft["parts"][part])]
        waits[part] = (float(np.percentile(values, 50)), float(np.percentile(values, 95))) if values else None
    rates = {}
    for stage in ("preprocess", "scheduler", "inference"):
        done = [ft["done"][stage] for ft in times if ft["done"][stage] is not None]
        rates[stage] = stage_rate(done)
    return {
        "frames": len(messages),
        "results": results,
        "dead_letters": dead,
        "elapsed_s": t1 - t0,
        "frames_per_s": len(messages) / (t1 - t0),
        "wait_p50_p95_s": waits,
        "stage_frames_per_s": rates,
        "per_server": per_server,
    }


DRAIN_S = 2.0  # after the last result: the sink and the scheduler finish reading the results


def pipeline_run(settings: Settings, topology: Topology, messages, warmup, logs: Path, broker_pid) -> dict:
    launcher = Launcher(settings, logs)
    try:
        for spec in pipeline_workers(topology, reference_rate=0.0):
            launcher.start(spec)
        ready_s = launcher.wait_ready(timeout_s=300)
        print(f"  {len(launcher.workers)} workers ready in {ready_s:.0f} s", flush=True)
        pids = {name: wp.proc.pid for name, wp in launcher.workers.items()}
        if broker_pid is not None:
            pids["broker"] = broker_pid
        asyncio.run(publish_and_collect(settings.bootstrap, topology, warmup, launcher.check))
        time.sleep(DRAIN_S)
        idle0, t_idle = cpu_of(pids), time.perf_counter()
        time.sleep(5.0)
        idle1, idle_s = cpu_of(pids), time.perf_counter() - t_idle
        cpu0, t0 = cpu_of(pids), time.perf_counter()
        doc = asyncio.run(publish_and_collect(settings.bootstrap, topology, messages, launcher.check))
        time.sleep(DRAIN_S)
        cpu1, wall = cpu_of(pids), time.perf_counter() - t0
        n = len(messages)
        idle = {k: (idle1[k] - idle0[k]) / idle_s for k in pids}  # CPU seconds per second
        doc["ready_s"] = ready_s
        doc["measured_s"] = wall
        doc["cpu_ms_per_frame"] = {k: (cpu1[k] - cpu0[k]) * 1000 / n for k in pids}
        doc["busy_cpu_ms_per_frame"] = {k: (cpu1[k] - cpu0[k] - idle[k] * wall) * 1000 / n for k in pids}
        doc["idle_cpu_ms_per_s"] = {k: v * 1000 for k, v in idle.items()}
        return doc
    finally:
        launcher.stop_all()


# ------------------------------------------------------------------ stage code, no broker


def stage_code(settings: Settings, topology: Topology, messages: list[Message], slot_size: int = 16) -> dict:
    """CPU ms per frame of the stage objects the workers run, called directly (no Kafka, no Faust),
    in batches / slots of ``slot_size`` (the workers' default batch and slot sizes)."""
    import torch

    from agents.inference import Inference, InferenceOptions
    from agents.preprocess import Preprocess, PreprocessOptions
    from agents.scheduler import SchedulerOptions, scheduler_stage
    from cdio_stream.messages import encode_assignment, encode_task

    torch.set_num_threads(1)  # as each worker runs (the demo's --worker-threads 1)
    pre_role = Preprocess(PreprocessOptions())
    pre_role.build(settings, topology)
    pre = pre_role.preprocessor
    sched = scheduler_stage(topology, SchedulerOptions(policy="cdio", reference_rate=0.0))
    infer = {}
    for sid in topology.server_ids:
        role = Inference(InferenceOptions(sid))
        role.build(settings, topology)
        infer[sid] = role.stage
    cpu = {"preprocess": 0.0, "scheduler": 0.0, "inference": 0.0}
    clock = time.process_time
    for i in range(0, len(messages), slot_size):
        t = clock()
        records = [(value, headers, None) for _, value, headers in messages[i : i + slot_size]]
        # Batches as the worker takes them; a tree from before the micro-batching: one at a time.
        batch = getattr(pre, "handle_batch", None)
        tasks = batch(records) if batch else [pre.handle(*r) for r in records]
        encoded = [encode_task(task, topology.max_frame_bytes) for task in tasks]
        cpu["preprocess"] += clock() - t
        t = clock()
        tasks = [sched.decode_task(v, h) for v, h in encoded]
        wire = [(a.server_id, encode_assignment(a, topology.max_frame_bytes)) for a in sched.decide(tasks)]
        cpu["scheduler"] += clock() - t
        for sid, (value, headers) in wire:
            t = clock()
            stage = infer[sid]
            a = stage.decode(value, headers)
            result = encode_result(stage.infer(*stage.uplink(a)))
            cpu["inference"] += clock() - t
            t = clock()
            sched.on_result(result)
            cpu["scheduler"] += clock() - t
    return {k: v * 1000 / len(messages) for k, v in cpu.items()}


# ------------------------------------------------------------------ report


def null_topics(tmp: Path, prefix: str) -> Path:
    raw = yaml.safe_load((ROOT / "topics.yaml").read_text())
    raw["prefix"] = prefix
    for s in raw["servers"]:
        s["model"] = "null"
    path = tmp / "topics-null.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def print_report(doc: dict) -> None:
    raw = doc["raw"]
    pipe = doc["pipeline"]
    has_broker = raw[0]["broker_cpu_ms_per_frame"] is not None
    workers = {k: v for k, v in pipe["cpu_ms_per_frame"].items() if k != "broker"}
    print()
    print(f"frames: {doc['frames']} ({doc['frame_source']}, mean {doc['mean_jpeg_bytes'] / 1000:.0f} kB); "
          f"load average {doc['loadavg_at_start'][0]:.1f} at start, {doc['loadavg_at_end'][0]:.1f} at end "
          f"({doc['cpus']} CPUs)")  # fmt: skip
    print(f"{'run':34s} {'frames/s':>9s} {'CPU ms/frame':>13s} {'broker ms/frame':>16s}")
    for i, r in enumerate(raw):
        print(f"{'raw aiokafka one hop #' + str(i + 1):34s} {r['frames_per_s']:9.1f} "
              f"{r['client_cpu_ms_per_frame']:13.2f} {fmt(r['broker_cpu_ms_per_frame'], '.2f'):>16s}")  # fmt: skip
    relay = doc["faust_hop"]
    print(f"{'Faust one hop (relay worker)':34s} {relay['frames_per_s']:9.1f} {relay['relay_cpu_ms_per_frame']:13.2f} "
          f"{fmt(relay['broker_cpu_ms_per_frame'], '.2f'):>16s}")  # fmt: skip
    print(f"{'pipeline, null detectors':34s} {pipe['frames_per_s']:9.1f} {sum(workers.values()):13.2f} "
          f"{fmt(pipe['cpu_ms_per_frame'].get('broker'), '.2f'):>16s}")  # fmt: skip
    print(f"ratio pipeline / raw (median of {len(raw)} raw runs): {doc['ratio_pipeline_to_raw']:.3f}")
    hop = float(
        np.median([r["client_cpu_ms_per_frame"] + (r["broker_cpu_ms_per_frame"] or 0.0) for r in raw])
    )
    total = sum(pipe["cpu_ms_per_frame"].values())
    print(f"pipeline CPU per frame{' (workers + broker)' if has_broker else ''}: {total:.2f} ms "
          f"= {total / hop:.1f} raw hops' worth ({hop:.2f} ms each)")  # fmt: skip
    print()
    print(f"{'where frames wait':20s} {'p50 ms':>9s} {'p95 ms':>9s}")
    for part, pct in pipe["wait_p50_p95_s"].items():
        p50, p95 = pct if pct is not None else (None, None)
        print(f"{part:20s} {fmt(p50, '.1f', 1000):>9s} {fmt(p95, '.1f', 1000):>9s}")
    rates = pipe["stage_frames_per_s"]
    print("stage rate, frames/s over the middle 90 % of its outputs: "
          + ", ".join(f"{k} {fmt(v, '.0f')}" for k, v in rates.items()))  # fmt: skip
    stage = bottleneck(rates)
    if stage is not None:
        print(f"the first stage as slow as the whole pipeline: {stage} (it limits throughput)")
    print()
    print(
        f"{'process':22s} {'CPU ms/frame':>13s} {'less idle':>10s} {'idle ms/s':>10s} {'stage code ms/frame':>20s}"
    )
    code = doc["stage_code_cpu_ms_per_frame"]
    for name, ms in pipe["cpu_ms_per_frame"].items():
        role = "inference" if name.startswith("inference") else name
        own = code.get(role)
        own_txt = "n/a" if own is None else f"{own:.3f}" + (" (all servers)" if role == "inference" else "")
        print(f"{name:22s} {ms:13.3f} {pipe['busy_cpu_ms_per_frame'][name]:10.3f} "
              f"{pipe['idle_cpu_ms_per_s'][name]:10.1f} {own_txt:>20s}")  # fmt: skip
    print(f"results {pipe['results']} / {pipe['frames']} frames, dead letters {pipe['dead_letters']}, "
          f"per server {pipe['per_server']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--frames", type=int, default=1000, help="frames per stream")
    parser.add_argument("--bootstrap", help="an existing broker (default: start a local throwaway one)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "pipeline_overhead.json"
    )
    parser.add_argument("--logs", type=Path, help="folder for worker logs (default: a temporary one)")
    parser.add_argument("--relay-worker", nargs=2, metavar=("SOURCE", "SINK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay_worker:
        return run_relay_worker(*args.relay_worker)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # new topics' metadata warnings while they settle
    base = Settings.from_env()
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        jpegs, source = load_jpegs(tmp)
        messages = make_messages(jpegs, args.streams, args.frames, "cam")
        warmup = make_messages(jpegs, args.streams, WARMUP_FRAMES // args.streams, "warm")
        bootstrap, broker_pid = args.bootstrap, None
        if not bootstrap:
            from cdio_stream.kafka.broker import LocalKafkaBroker

            broker = stack.enter_context(LocalKafkaBroker(base.cache_dir))
            bootstrap, broker_pid = broker.bootstrap, broker.pid
        prefix = f"bench-{time.strftime('%H%M%S')}-{os.getpid()}."
        topics_file = null_topics(tmp, prefix)
        settings = replace(
            base, bootstrap=bootstrap, topics_file=topics_file, topic_prefix=None, torch_threads=1
        )
        topology = settings.topology()
        asyncio.run(create_topics(bootstrap, topology))
        # The raw hop runs on a twin of the frames topic: same partitions and limits, no workers.
        raw_topology = topology.with_prefix(prefix + "raw.")
        asyncio.run(create_topics(bootstrap, raw_topology))
        raw_topic = raw_topology.frames
        print(f"broker {bootstrap}; {len(messages)} frames ({source})", flush=True)
        asyncio.run(raw_hop(bootstrap, topology, raw_topic, warmup, broker_pid))  # connections, metadata
        raw = []
        for _ in range(2):
            raw.append(asyncio.run(raw_hop(bootstrap, topology, raw_topic, messages, broker_pid)))
            print(f"  raw one hop: {raw[-1]['frames_per_s']:.0f} frames/s", flush=True)
        logs = args.logs or tmp / "logs"
        print("one Faust hop ...", flush=True)
        raw_settings = replace(settings, topic_prefix=prefix + "raw.")
        relay = faust_hop(raw_settings, raw_topology, messages, warmup, logs, broker_pid)
        print(f"  Faust one hop: {relay['frames_per_s']:.0f} frames/s", flush=True)
        print("pipeline with null detectors ...", flush=True)
        pipe = pipeline_run(settings, topology, messages, warmup, logs, broker_pid)
        print(f"  pipeline: {pipe['frames_per_s']:.1f} frames/s", flush=True)
        raw.append(asyncio.run(raw_hop(bootstrap, topology, raw_topic, messages, broker_pid)))
        print(f"  raw one hop: {raw[-1]['frames_per_s']:.0f} frames/s", flush=True)
        print("stage code in this process ...", flush=True)
        code = stage_code(settings, topology, messages)
    doc = {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": load_at_start,
        "loadavg_at_end": os.getloadavg(),
        "frames": len(messages),
        "frame_source": source,
        "mean_jpeg_bytes": float(np.mean([len(v) for _, v, _ in messages])),
        "raw": raw,
        "faust_hop": relay,
        "pipeline": pipe,
        "ratio_pipeline_to_raw": pipe["frames_per_s"] / float(np.median([r["frames_per_s"] for r in raw])),
        "stage_code_cpu_ms_per_frame": code,
    }
    print_report(doc)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
