"""Fault injection and exactly-once accounting for the live pipeline.

Used by ``benchmarks/faults.py`` (the fault table) and the fault integration test. A
*round* replays its own synthetic streams while one fault is injected (a worker killed
with SIGKILL and restarted, every worker killed, the broker frozen or killed and
restarted on its log dir); afterwards every topic is read back from offset 0.

Accounting. Every record on the frames topic is a frame sent. Its outcomes are the result
records of its task id and the dead letters that trace back to it: a preprocess dead
letter names the frame record itself (source partition/offset); later stages' dead
letters keep the task's metadata header, whose ``source`` names the frame record; a dead
letter of a result names the result's task id. A frame has *exactly one outcome* when
all its records are copies of one outcome: results from one server and no dead letter,
or dead letters of one stage and reason and no result. Further copies of that one
outcome are at-least-once redeliveries, which the scheduler and the sink drop by task id;
they are counted in ``extra_copies``, not hidden.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from cdio_stream.data.detrac import DetracDataset
from cdio_stream.data.replay import ReplayConfig, create_frame_producer, plan_streams, replay
from cdio_stream.kafka.state_store import KafkaStateStore
from cdio_stream.messages import META_HEADER
from cdio_stream.pipeline.dead_letter import read_dead_letter
from cdio_stream.pipeline.launcher import Launcher, LaunchSpec
from cdio_stream.topology import Topology

__all__ = [
    "FrameOutcome",
    "FaultRow",
    "frame_outcomes",
    "fault_row",
    "reason_label",
    "read_outcomes",
    "FaultRunner",
    "send_bad_inputs",
]

log = logging.getLogger(__name__)

FrameKey = tuple[int, int]  # (partition, offset) on the frames topic
_ASSIGNED = "Seek stream partitions to committed offsets"  # Faust logs it once partitions are assigned


@dataclass
class FrameOutcome:
    key: FrameKey
    stream_id: str | None
    task_id: str | None
    results: list[str] = field(default_factory=list)  # server id of each result record
    dead: list[tuple[str, str]] = field(default_factory=list)  # (stage, reason) of each dead letter

    @property
    def kind(self) -> str:
        """'result', 'dead letter', 'none' or 'duplicated' (two different outcomes)."""
        if self.results and not self.dead and len(set(self.results)) == 1:
            return "result"
        if self.dead and not self.results and len(set(self.dead)) == 1:
            return "dead letter"
        if not self.results and not self.dead:
            return "none"
        return "duplicated"

    @property
    def extra_copies(self) -> int:
        return max(0, len(self.results) + len(self.dead) - 1) if self.kind != "duplicated" else 0


@dataclass
class FaultRow:
    scenario: str
    frames: int
    one_result: int
    one_dead_letter: int
    none: int
    duplicated: int
    extra_copies: int  # redelivered copies of a frame's one outcome (dropped by task id downstream)
    dead_letters: dict[str, int]  # by reason, one per frame
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reason_label(reason: str) -> str:
    """A short bucket for a dead-letter reason, for the table."""
    r = reason.lower()
    for needle, label in (
        ("exceeds the limit", "oversize frame"),
        ("does not decode completely", "truncated JPEG"),
        ("duplicate task", "duplicate frame"),
        ("must be", "impossible value"),
        ("unknown task", "result for unknown task"),
        ("came from", "result from wrong server"),
        ("unknown server", "unknown server"),
        ("not a jpeg", "not a JPEG"),
        ("internal error", "internal error"),
    ):
        if needle in r:
            return label
    return reason[:40]


def _meta(headers: Any) -> dict[str, Any] | None:
    for k, v in headers or ():
        if k == META_HEADER:
            try:
                meta = orjson.loads(bytes(v))
            except orjson.JSONDecodeError:
                return None
            return meta if isinstance(meta, dict) else None
    return None


def frame_outcomes(
    topology: Topology, frames: list[Any], results: list[Any], dead_letters: list[Any]
) -> dict[FrameKey, FrameOutcome]:
    """Each frame record's outcomes, from the raw records of the three topics."""
    out: dict[FrameKey, FrameOutcome] = {}
    owner: dict[str, FrameKey] = {}  # task id -> the first frame record that carried it
    for rec in sorted(frames, key=lambda r: (r.partition, r.offset)):
        meta = _meta(rec.headers) or {}
        stream, no = meta.get("stream_id"), meta.get("frame_no")
        task_id = f"{stream}/{no}" if isinstance(stream, str) and isinstance(no, int) else None
        key = (rec.partition, rec.offset)
        out[key] = FrameOutcome(key, stream if isinstance(stream, str) else None, task_id)
        if task_id is not None:
            owner.setdefault(task_id, key)
    for rec in results:
        try:
            task_id = orjson.loads(rec.value)["task_id"]
            server = orjson.loads(rec.value)["server_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
        if task_id in owner:
            out[owner[task_id]].results.append(server)
    for rec in dead_letters:
        dl = read_dead_letter(rec.headers)
        key: FrameKey | None = None
        if dl.source_topic == topology.frames.name:
            key = (dl.source_partition, dl.source_offset)
        else:
            source = (_meta(rec.headers) or {}).get("source")
            if isinstance(source, str) and "/" in source:
                p, o = source.split("/", 1)
                key = (int(p), int(o))
            elif dl.source_topic == topology.results.name:
                try:
                    key = owner.get(orjson.loads(rec.value)["task_id"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    key = None
        if key in out:
            out[key].dead.append((dl.stage, reason_label(dl.reason)))
    return out


def fault_row(scenario: str, outcomes: list[FrameOutcome], notes: dict[str, Any] | None = None) -> FaultRow:
    kinds = Counter(o.kind for o in outcomes)
    reasons = Counter(o.dead[0][1] for o in outcomes if o.kind == "dead letter")
    return FaultRow(
        scenario=scenario,
        frames=len(outcomes),
        one_result=kinds["result"],
        one_dead_letter=kinds["dead letter"],
        none=kinds["none"],
        duplicated=kinds["duplicated"],
        extra_copies=sum(o.extra_copies for o in outcomes),
        dead_letters=dict(sorted(reasons.items())),
        notes=dict(notes or {}),
    )


async def read_outcomes(bootstrap: str, topology: Topology) -> dict[FrameKey, FrameOutcome]:
    """Read frames, results and dead letters from offset 0 and account every frame."""
    reader = KafkaStateStore(bootstrap, topology.frames.name)
    limit = topology.max_message_bytes
    frames = await reader.read([topology.frames.name], max_bytes=limit)
    results = await reader.read([topology.results.name], max_bytes=limit)
    dead = await reader.read([topology.dead_letter.name], max_bytes=limit)
    return frame_outcomes(topology, frames, results, dead)


async def send_bad_inputs(
    bootstrap: str, topology: Topology, stream_id: str, good_jpeg: bytes
) -> dict[str, int]:
    """Publish one oversize, one truncated, one impossible-value frame and a duplicate of
    frame 1 of ``stream_id``; returns how many of each were sent."""
    from cdio_stream.messages import Frame, FrameMeta, encode_frame

    def headers_for(name: str, no: int, **meta_changes: Any) -> list[tuple[str, bytes]]:
        meta = FrameMeta(f"{stream_id}.{name}", no, time.time(), 60.0, 0.4)
        _, headers = encode_frame(Frame(meta, good_jpeg))
        if meta_changes:
            raw = {**orjson.loads(headers[0][1]), **meta_changes}
            headers = [(META_HEADER, orjson.dumps(raw))]
        return headers

    oversize = good_jpeg[:-2] + b"\x00" * (topology.max_frame_bytes + 50_000 - len(good_jpeg)) + b"\xff\xd9"
    truncated = good_jpeg[: len(good_jpeg) // 2] + b"\xff\xd9"
    producer = create_frame_producer(bootstrap, topology)
    await producer.start()
    try:
        await producer.send_and_wait(
            topology.frames.name, oversize, key=b"bad", headers=headers_for("oversize", 1)
        )
        await producer.send_and_wait(
            topology.frames.name, truncated, key=b"bad", headers=headers_for("truncated", 1)
        )
        await producer.send_and_wait(
            topology.frames.name, good_jpeg, key=b"bad", headers=headers_for("huge", 1, a_req=1e308)
        )
        # The same stream and frame number as a frame already sent, from another record.
        dup = FrameMeta(stream_id, 1, time.time(), 60.0, 0.4)
        _, dup_headers = encode_frame(Frame(dup, good_jpeg))
        await producer.send_and_wait(
            topology.frames.name, good_jpeg, key=stream_id.encode(), headers=dup_headers
        )
    finally:
        await producer.stop()
    return {"oversize": 1, "truncated": 1, "impossible value": 1, "duplicate": 1}


Fault = Callable[["FaultRunner"], dict[str, Any]]


@dataclass
class FaultRunner:
    """One deployment (workers of ``specs`` on ``bootstrap``) and the rounds run on it."""

    bootstrap: str
    topology: Topology
    launcher: Launcher
    specs: list[LaunchSpec]
    dataset: Path
    broker: Any = None  # a LocalKafkaBroker this run owns (broker faults need one)
    fps: float = 4.0
    round_timeout_s: float = 240.0
    settle_s: float = 4.0
    # Faults run on one long-lived thread: a broker restarted from a thread that then
    # exits would get its parent-death signal (PR_SET_PDEATHSIG follows the thread).
    _thread: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "faults"))

    # ------------------------------------------------------------------ faults
    def restart(self, names: list[str], *, kill: bool = True) -> dict[str, Any]:
        t0, wall0 = time.monotonic(), time.time()
        for name in names:
            if kill:
                self.launcher.kill(name)
            else:
                self.launcher.stop(name)
        for spec in self.specs:
            if spec.name in names:
                self.launcher.start(spec)
        self.launcher.wait_ready(timeout_s=300)
        notes: dict[str, Any] = {"restarted": names, "ready_after_s": round(time.monotonic() - t0, 1)}
        took = [self._partitions_at(name, deadline=time.monotonic() + 60) for name in names]
        if all(t is not None for t in took):
            # Kill -> the restarted worker owns partitions again: process start-up, then the
            # group coordinator waits for the dead member's session to expire.
            notes["takeover_s"] = round(max(took) - wall0, 1)
        return notes

    def _partitions_at(self, name: str, *, deadline: float) -> float | None:
        """Wall time at which worker ``name`` (this run of it) was first assigned partitions."""
        while time.monotonic() < deadline:
            for line in self.launcher.workers[name].log_text().splitlines():
                if _ASSIGNED in line and line.startswith("["):
                    stamp = line[1 : line.index("]")]
                    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
            time.sleep(0.5)
        return None

    def all_names(self) -> list[str]:
        return [s.name for s in self.specs]

    # ------------------------------------------------------------------ rounds
    async def run_round(
        self,
        scenario: str,
        sequences: list[str],
        fault: Fault | None = None,
        *,
        fault_at_s: float = 2.0,
        bad_inputs: bool = False,
    ) -> FaultRow:
        """Replay ``sequences`` (paced), inject ``fault`` after ``fault_at_s``, wait until every
        frame has an outcome (or the timeout), and account the round's frames."""
        loop = asyncio.get_running_loop()
        plans = plan_streams(DetracDataset(self.dataset), sequences)
        publishing = asyncio.create_task(
            replay(plans, bootstrap=self.bootstrap, topology=self.topology, config=ReplayConfig(fps=self.fps))
        )
        notes: dict[str, Any] = {}
        t_fault = None
        if fault is not None:
            await asyncio.sleep(fault_at_s)
            t_fault = time.monotonic()
            notes.update(await loop.run_in_executor(self._thread, fault, self))
        stats = await publishing
        # Frames the replay (the cameras) could not get onto the frames topic are not the
        # pipeline's to lose, but a round that sent fewer frames tested less: say so.
        notes["replay"] = {k: int(stats.total(k)) for k in ("sent", "delivered", "failed")}
        if bad_inputs:
            good = next(self.dataset.rglob(f"{sequences[0]}/*.jpg")).read_bytes()
            notes["bad_inputs"] = await send_bad_inputs(self.bootstrap, self.topology, sequences[0], good)
        streams = set(sequences)
        deadline = time.monotonic() + self.round_timeout_s
        complete_at = None
        while True:
            outcomes = [
                o
                for o in (await read_outcomes(self.bootstrap, self.topology)).values()
                if o.stream_id is not None and o.stream_id.split(".")[0] in streams
            ]
            missing = sum(o.kind == "none" for o in outcomes)
            if missing == 0 and complete_at is None:
                complete_at = time.monotonic()
                if t_fault is not None:
                    notes["all_outcomes_after_fault_s"] = round(complete_at - t_fault, 1)
            if complete_at is not None and time.monotonic() - complete_at >= self.settle_s:
                break
            if time.monotonic() > deadline:
                notes["timed_out"] = f"{missing} frames without an outcome after {self.round_timeout_s:.0f} s"
                break
            dead = [n for n, wp in self.launcher.workers.items() if wp.proc.poll() is not None]
            if dead:  # a worker that stops itself is a finding; restart it and go on
                notes.setdefault("workers_exited", []).extend(dead)
                await loop.run_in_executor(self._thread, functools.partial(self.restart, dead))
            await asyncio.sleep(2.0)
        row = fault_row(scenario, outcomes, notes)
        log.info("round %s: %s", scenario, row)
        return row


# Scenarios: what each fault does to the deployment.
def kill_worker(name: str) -> Fault:
    return lambda run: run.restart([name])


def kill_with_standby(name: str) -> Fault:
    """Kill ``name`` while a second worker of its role runs in the same group: the takeover
    is the group's session timeout alone, not a process start-up."""

    def fault(run: FaultRunner) -> dict[str, Any]:
        spec = next(s for s in run.specs if s.name == name)
        standby = Launcher(run.launcher.settings, run.launcher.log_dir / "standby")
        wp = standby.start(spec)
        try:
            standby.wait_ready(timeout_s=300)
            seen = wp.log_text().count(_ASSIGNED)
            t_kill = time.time()
            run.launcher.kill(name)
            deadline = time.monotonic() + 120
            takeover = None
            while takeover is None and time.monotonic() < deadline:
                lines = [ln for ln in wp.log_text().splitlines() if _ASSIGNED in ln and ln.startswith("[")]
                if len(lines) > seen:
                    stamp = lines[seen][1 : lines[seen].index("]")]
                    takeover = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp() - t_kill
                time.sleep(0.2)
            time.sleep(3.0)  # let the standby work a little before handing back
        finally:
            standby.stop_all()
        run.launcher.start(spec)
        run.launcher.wait_ready(timeout_s=300)
        return {"killed": name, "standby_takeover_s": None if takeover is None else round(takeover, 1)}

    return fault


def kill_all(run: FaultRunner) -> dict[str, Any]:
    return run.restart(run.all_names())


def sigterm_all(run: FaultRunner) -> dict[str, Any]:
    return run.restart(run.all_names(), kill=False)


def pause_broker(seconds: float) -> Fault:
    def fault(run: FaultRunner) -> dict[str, Any]:
        run.broker.pause()
        time.sleep(seconds)
        run.broker.resume()
        return {"broker_paused_s": seconds}

    return fault


def kill_broker(run: FaultRunner) -> dict[str, Any]:
    t0 = time.monotonic()
    run.broker.kill()
    time.sleep(2.0)
    run.broker.restart()
    return {"broker_back_after_s": round(time.monotonic() - t0, 1)}
