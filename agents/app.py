"""Build the Faust app of one worker role.

``create_app(settings, topology, parts)`` returns a ``faust.App`` with only the agents of
``parts.role`` registered; the stage objects in ``parts`` (built by
:mod:`cdio_stream.pipeline.workers`) hold all state. No module-level app, no
autodiscovery: each worker process builds exactly one app.

Consumer groups: the app id is ``<topic prefix><role>`` (``...inference-<server>`` for
inference), so starting more workers of a role on more nodes splits that role's
partitions between them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import mode

from cdio_stream.errors import CdioError
from cdio_stream.messages import encode_assignment, encode_result, encode_task
from cdio_stream.pipeline.dead_letter import dead_letter
from cdio_stream.settings import Settings
from cdio_stream.topology import Topology

__all__ = ["ROLES", "WorkerParts", "create_app"]

log = logging.getLogger("cdio.agents")

ROLES = ("preprocess", "scheduler", "inference", "sink")


@dataclass
class WorkerParts:
    """What one worker runs: its role and the stage objects its agents call."""

    role: str
    preprocessor: Any = None  # cdio_stream.pipeline.preprocess.Preprocessor
    scheduler: Any = None  # cdio_stream.pipeline.scheduler.SchedulerStage
    state_store: Any = None  # cdio_stream.kafka.state_store.KafkaStateStore
    inference: Any = None  # cdio_stream.pipeline.inference.InferenceStage
    metrics: Any = None  # cdio_stream.pipeline.metrics.LiveMetrics
    slot_size: int = 16  # scheduler: most tasks decided together
    slot_s: float = 0.05  # scheduler: longest wait to fill a slot
    snapshot_every_s: float = 2.0  # scheduler: how often learned state is saved
    log_every: int = 50  # sink: a metrics log line every N results

    @property
    def app_id_suffix(self) -> str:
        if self.role == "inference":
            return f"inference-{self.inference.server.id}"
        return self.role


def _reason(exc: Exception) -> str:
    """Why a record is dead-lettered: bad input says so itself; anything else is our bug,
    logged with its traceback, and still must not stop the stream or lose the record."""
    if isinstance(exc, CdioError):
        return str(exc)
    log.exception("unexpected error while processing a record")
    return f"internal error: {exc!r}"


def create_app(settings: Settings, topology: Topology, parts: WorkerParts) -> faust.App:
    if parts.role not in ROLES:
        raise CdioError(f"unknown worker role {parts.role!r}; one of {', '.join(ROLES)}")
    if not settings.bootstrap:
        raise CdioError("a worker needs a Kafka broker: pass --bootstrap or set CDIO_KAFKA_BOOTSTRAP")
    app_id = f"{topology.prefix}{parts.app_id_suffix}"
    datadir = Path(settings.cache_dir) / "faust" / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = faust.App(
        app_id,
        broker=",".join(f"kafka://{b}" for b in settings.bootstrap.split(",")),
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",  # frames published before a worker joined still count
        producer_max_request_size=topology.max_message_bytes,
        consumer_max_fetch_size=topology.max_message_bytes,
        topic_allow_declare=False,  # topics come from topics.yaml via `cdio-stream topics create`
        topic_disable_leader=True,
        broker_commit_every=50,
    )
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    dead = app.topic(topology.dead_letter.name, **raw)

    async def to_dead_letter(event: Any, reason: str) -> None:
        msg = event.message
        value, headers = dead_letter(
            msg.value,
            msg.headers,
            reason=reason,
            stage=parts.role,
            source_topic=msg.topic,
            source_partition=msg.partition,
            source_offset=msg.offset,
        )
        log.warning(
            "dead-letter stage=%s topic=%s offset=%s reason=%s", parts.role, msg.topic, msg.offset, reason
        )
        await dead.send(key=msg.key, value=value, headers=headers)

    if parts.role == "preprocess":
        _preprocess(app, topology, parts, raw, to_dead_letter)
    elif parts.role == "scheduler":
        _scheduler(app, topology, parts, raw, to_dead_letter)
    elif parts.role == "inference":
        _inference(app, topology, parts, raw, to_dead_letter)
    else:
        _sink(app, topology, parts, raw, to_dead_letter)
    return app


def _preprocess(app: faust.App, topology: Topology, parts: WorkerParts, raw: dict, to_dead_letter) -> None:
    frames = app.topic(topology.frames.name, **raw)
    tasks = app.topic(topology.tasks.name, **raw)
    pre = parts.preprocessor

    @app.agent(frames, name="preprocess")
    async def preprocess(stream):
        async for event in stream.events():
            try:
                task = pre.handle(event.value, event.message.headers)
            except Exception as exc:
                await to_dead_letter(event, _reason(exc))
                continue
            value, headers = encode_task(task, topology.max_frame_bytes)
            await tasks.send(key=task.frame.meta.stream_id.encode(), value=value, headers=headers)


def _scheduler(app: faust.App, topology: Topology, parts: WorkerParts, raw: dict, to_dead_letter) -> None:
    tasks = app.topic(topology.tasks.name, **raw)
    results = app.topic(topology.results.name, **raw)
    assign = {sid: app.topic(topology.assignment_topic(sid).name, **raw) for sid in topology.server_ids}
    sched = parts.scheduler
    store = parts.state_store
    state_key = "scheduler"
    restored = asyncio.Event()
    dirty = {"changed": False}

    async def save_state() -> None:
        if dirty["changed"]:
            dirty["changed"] = False
            await store.save(state_key, sched.snapshot())
            log.info("scheduler state saved %s", sched.stats())

    @app.service
    class SchedulerState(mode.Service):
        """Restores the learned state before the first slot; saves it last on shutdown."""

        async def on_start(self) -> None:
            await store.start()
            snapshot = await store.load(state_key)
            if snapshot is not None:
                sched.restore(snapshot)
                log.info("scheduler state restored %s", sched.stats())
            else:
                log.info("scheduler starts with a fresh %s policy", sched.policy.name)
            restored.set()

        async def on_stop(self) -> None:
            if restored.is_set():
                await save_state()
            await store.stop()

    @app.timer(interval=parts.snapshot_every_s)
    async def periodic_save() -> None:
        if restored.is_set():
            await save_state()

    @app.agent(tasks, name="schedule")
    async def schedule(stream):
        await restored.wait()
        async for events in stream.take_events(parts.slot_size, within=parts.slot_s):
            slot, slot_events = [], []
            for event in events:
                try:
                    slot.append(sched.decode_task(event.value, event.message.headers))
                    slot_events.append(event)
                except Exception as exc:
                    await to_dead_letter(event, _reason(exc))
            try:
                assignments = sched.decide(slot)
            except Exception as exc:  # the policy failed: keep the slot's tasks, say why
                reason = _reason(exc)
                for event in slot_events:
                    await to_dead_letter(event, reason)
                continue
            for a in assignments:
                value, headers = encode_assignment(a, topology.max_frame_bytes)
                await assign[a.server_id].send(
                    key=a.task.frame.meta.stream_id.encode(), value=value, headers=headers
                )
            dirty["changed"] = dirty["changed"] or bool(slot)

    @app.agent(results, name="rewards")
    async def rewards(stream):
        await restored.wait()
        async for event in stream.events():
            try:
                sched.on_result(event.value)
            except Exception as exc:
                await to_dead_letter(event, _reason(exc))
                continue
            dirty["changed"] = True


def _inference(app: faust.App, topology: Topology, parts: WorkerParts, raw: dict, to_dead_letter) -> None:
    stage = parts.inference
    source = app.topic(topology.assignment_topic(stage.server.id).name, **raw)
    results = app.topic(topology.results.name, **raw)

    @app.agent(source, name="infer")
    async def infer(stream):
        loop = asyncio.get_running_loop()
        async for event in stream.events():
            try:
                assignment = stage.decode(event.value, event.message.headers)
                transmission_s = stage.transmission_s(assignment)
                await asyncio.sleep(transmission_s)  # the emulated uplink
                # Inference blocks for tens of ms: keep the event loop (heartbeats, commits) free.
                result = await loop.run_in_executor(None, stage.infer, assignment, transmission_s)
            except Exception as exc:
                await to_dead_letter(event, _reason(exc))
                continue
            await results.send(key=result.stream_id.encode(), value=encode_result(result))


def _sink(app: faust.App, topology: Topology, parts: WorkerParts, raw: dict, to_dead_letter) -> None:
    results = app.topic(topology.results.name, **raw)
    metrics = parts.metrics

    @app.agent(results, name="sink")
    async def sink(stream):
        last_log = time.monotonic()
        async for event in stream.events():
            try:
                metrics.add_encoded(event.value)
            except Exception as exc:
                await to_dead_letter(event, _reason(exc))
                continue
            if metrics.count % parts.log_every == 0 or time.monotonic() - last_log > 10:
                last_log = time.monotonic()
                log.info("metrics %s", metrics.log_line())
