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
from functools import partial
from pathlib import Path
from typing import Any

import faust
import mode

from agents.checkpoint import Checkpoint
from cdio_stream.errors import CdioError, MessageError
from cdio_stream.kafka.follow import TopicFollower
from cdio_stream.messages import (
    RPP_MODEL_KEY,
    ServerAnnouncement,
    decode_assignment,
    decode_result,
    encode_announcement,
    encode_assignment,
    encode_policy_view,
    encode_result,
    encode_rpp_model,
    encode_task,
)
from cdio_stream.pipeline.dead_letter import dead_letter, send_with_retries
from cdio_stream.pipeline.servers import HEARTBEAT_S, ServerDirectory
from cdio_stream.settings import Settings
from cdio_stream.topology import Topology

__all__ = ["ROLES", "WorkerParts", "create_app"]

log = logging.getLogger("cdio.agents")

ROLES = ("preprocess", "scheduler", "inference", "sink", "trainer")
STATEFUL_ROLES = ("scheduler", "sink", "trainer")
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 1.0
ANNOUNCEMENT_WAIT_S = 5.0  # sink: how long a result of an unannounced server waits for its announcement


@dataclass
class WorkerParts:
    """What one worker runs: its role and the stage objects its agents call."""

    role: str
    preprocessor: Any = None  # cdio_stream.pipeline.preprocess.Preprocessor
    model_feed: Any = None  # preprocess: cdio_stream.kafka.follow.TopicFollower on the model topic
    trainer: Any = None  # cdio_stream.pipeline.trainer.TrainerStage
    scheduler: Any = None  # cdio_stream.pipeline.scheduler.SchedulerStage
    state_store: Any = None  # cdio_stream.kafka.state_store.KafkaStateStore (scheduler, sink)
    inference: Any = None  # cdio_stream.pipeline.inference.InferenceStage
    metrics: Any = None  # cdio_stream.pipeline.metrics.LiveMetrics
    dashboard: Any = None  # sink: cdio_stream.dashboard.live.LiveDashboard, or None
    batch_size: int = 16  # preprocess: most frames per LSTM call
    batch_s: float = 0.02  # preprocess: longest wait to fill a batch
    inference_batch: int = 1  # inference: most assignments per detector call (1: one at a time)
    inference_batch_s: float = 0.01  # inference: longest wait to fill a batch (when inference_batch > 1)
    slot_size: int = 16  # scheduler: most tasks decided together
    slot_s: float = 0.05  # scheduler: longest wait to fill a slot
    snapshot_every_s: float = 2.0  # scheduler, sink: how often state is saved (and records acked)
    policy_view_every_s: float = 2.0  # scheduler: how often its estimates may be published
    log_every: int = 50  # sink: a metrics log line every N results
    heartbeat_s: float = HEARTBEAT_S  # inference: how often it announces itself on the servers topic
    servers: Any = None  # scheduler, sink: a ServerDirectory on the servers topic (create_app builds one)

    @property
    def server_id(self) -> str | None:
        return self.inference.server.id if self.role == "inference" else None


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
    app_id = topology.worker_group(parts.role, parts.server_id)
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
        # Takeover after a worker dies: the group coordinator drops a member that has not
        # sent a heartbeat for broker_session_timeout, then its partitions move to the
        # survivors or to the restarted worker (Faust's default is 60 s).
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=HEARTBEAT_INTERVAL_S,
        # An agent that raises stops the worker (exit code 1) instead of being restarted
        # past the record it failed on: records are acked only once their output is sent.
        agent_supervisor=mode.CrashingSupervisor,
        # The scheduler and the sink ack a record only once a snapshot includes it (see
        # agents/checkpoint.py), so waiting for acks before a rebalance or shutdown would
        # wait for a snapshot that only comes after it. Their restores skip what the state
        # already includes, which makes not waiting safe.
        stream_wait_empty=parts.role not in STATEFUL_ROLES,
    )
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    dead = app.topic(topology.dead_letter.name, **raw)
    if parts.role in ("scheduler", "sink") and parts.servers is None:
        follower = TopicFollower(settings.bootstrap, topology.server_registry.name)
        parts.servers = ServerDirectory(follower)

    async def to_dead_letter(event: Any, reason: str) -> None:
        """Write the record's dead letter and wait for the broker's ack, or raise DeadLetterError."""
        msg = event.message
        value, headers = dead_letter(
            msg.value,
            msg.headers,
            reason=reason,
            stage=parts.role,
            source_topic=msg.topic,
            source_partition=msg.partition,
            source_offset=msg.offset,
            max_bytes=topology.max_message_bytes,
        )
        log.warning(
            "dead-letter stage=%s topic=%s offset=%s reason=%s", parts.role, msg.topic, msg.offset, reason
        )
        await send_with_retries(
            lambda: app.producer.send_and_wait(dead.get_topic_name(), msg.key, value, None, None, headers),
            what=f"{msg.topic}[{msg.partition}]@{msg.offset}",
        )

    @app.on_partitions_assigned.connect
    async def log_assignment(sender: Any, assigned: Any, **kwargs: Any) -> None:
        """Which partitions this worker holds now: how a role's workers split its topics."""
        held: dict[str, list[int]] = {}
        for tp in assigned:
            held.setdefault(tp.topic, []).append(tp.partition)
        log.info(
            "partitions assigned %s",
            " ".join(f"{t}={','.join(map(str, sorted(p)))}" for t, p in sorted(held.items())) or "none",
        )

    if parts.role == "preprocess":
        _preprocess(app, topology, parts, raw, to_dead_letter)
    elif parts.role == "scheduler":
        _scheduler(app, topology, parts, raw, to_dead_letter)
        _publish_policy_view(app, topology, parts, raw)
    elif parts.role == "inference":
        _inference(app, topology, parts, raw, to_dead_letter)
    elif parts.role == "trainer":
        _trainer(app, topology, parts, raw, to_dead_letter)
    else:
        _sink(app, topology, parts, raw, to_dead_letter)
        if parts.dashboard is not None:
            _dashboard(app, parts)
    return app


def _preprocess(app: faust.App, topology: Topology, parts: WorkerParts, raw: dict, to_dead_letter) -> None:
    frames = app.topic(topology.frames.name, **raw)
    tasks = app.topic(topology.tasks.name, **raw)
    pre = parts.preprocessor
    feed = parts.model_feed
    models_ready = asyncio.Event()
    dead = app.topic(topology.dead_letter.name, **raw)

    async def adopt(rec) -> None:
        """A record of the model topic: switch to it if newer; a bad one is dead-lettered."""
        try:
            version = pre.adopt(rec.value, rec.headers)
        except Exception as exc:
            reason = _reason(exc)
            log.warning(
                "dead-letter stage=preprocess topic=%s offset=%s reason=%s", rec.topic, rec.offset, reason
            )
            value, headers = dead_letter(
                rec.value,
                rec.headers,
                reason=reason,
                stage="preprocess",
                source_topic=rec.topic,
                source_partition=rec.partition,
                source_offset=rec.offset,
                max_bytes=topology.max_message_bytes,
            )
            await dead.send(key=rec.key, value=value, headers=headers)
            return
        if version is not None:
            log.info("preprocess switched to RPP model version %d", version)

    if feed is None:
        models_ready.set()
    else:

        @app.service
        class ModelUpdates(mode.Service):
            """Newest published model before the first frame, then every newer one live."""

            async def on_start(self) -> None:
                for rec in await feed.catch_up():
                    await adopt(rec)
                log.info("preprocess starts with RPP model version %s", pre.rpp.model_version)
                models_ready.set()

            @mode.Service.task
            async def _follow(self) -> None:
                async for rec in feed.follow():
                    await adopt(rec)

            async def on_stop(self) -> None:
                await feed.stop()

    @app.agent(frames, name="preprocess")
    async def preprocess(stream):
        await models_ready.wait()
        # Micro-batches: one LSTM call per batch; acks stay manual (each record once its
        # task or its dead letter is sent).
        async for events in stream.noack_take(parts.batch_size, within=parts.batch_s):
            records = [
                (e.message.value, e.message.headers, f"{e.message.partition}/{e.message.offset}")
                for e in events
            ]
            try:
                outcomes = pre.handle_batch(records)
            except Exception as exc:  # our bug, not the records': none is lost, each says why
                outcomes = [exc] * len(events)
            for event, out in zip(events, outcomes, strict=True):
                if isinstance(out, Exception):
                    await to_dead_letter(event, _reason(out))
                else:
                    value, headers = encode_task(out, topology.max_frame_bytes)
                    await tasks.send(key=out.frame.meta.stream_id.encode(), value=value, headers=headers)
                await stream.ack(event)


def _scheduler(app: faust.App, topology: Topology, parts: WorkerParts, raw: dict, to_dead_letter) -> None:
    tasks = app.topic(topology.tasks.name, **raw)
    results = app.topic(topology.results.name, **raw)
    assign = {sid: app.topic(topology.assignment_topic(sid).name, **raw) for sid in topology.server_ids}

    def assign_topic(sid: str):
        if sid not in assign:  # a server that joined while running
            assign[sid] = app.topic(sched.topology.assignment_topic(sid).name, **raw)
        return assign[sid]

    assignment_topics = [topology.assignment_topic(sid).name for sid in topology.server_ids]
    # Where this scheduler's outcomes go: assignments, and the expired results of tasks it
    # sheds (--shed late). A restore reads both back from where the snapshot saw them end.
    output_topics = [*assignment_topics, topology.results.name]
    sched = parts.scheduler
    store = parts.state_store
    state_key = "scheduler"
    restored = asyncio.Event()

    async def note_output_ends() -> None:
        # Taken before the state is captured: every assignment decided after the capture
        # lies beyond these offsets, where a restore looks for it.
        sched.output_ends = await store.end_offsets(output_topics)

    checkpoint = Checkpoint(
        capture=sched.snapshot,
        save=lambda data: store.save(state_key, data),
        flush=app.producer.flush,
        before_capture=note_output_ends,
    )

    @app.service
    class SchedulerState(mode.Service):
        """Restores the learned state before the first slot; saves it last on shutdown."""

        async def on_start(self) -> None:
            await store.start()
            snapshot = await store.load(state_key)
            if snapshot is not None:
                sched.restore(snapshot)
            # What was assigned after the snapshot (or ever, if a scheduler died before
            # saving its first one) becomes pending again instead of being decided twice.
            records = await store.read(
                output_topics, starts=sched.output_ends, max_bytes=topology.max_message_bytes
            )
            sent = []
            for rec in records:
                try:
                    if rec.topic == topology.results.name:
                        sent.append(decode_result(rec.value))  # recover() keeps only its own expired ones
                    else:
                        sent.append(decode_assignment(rec.value, rec.headers, topology.max_frame_bytes))
                except MessageError:
                    continue  # not an assignment or result this scheduler can read
            n = sched.recover(sent)
            for ann in await directory.catch_up():  # servers as they last announced themselves
                apply_announcement(ann)
            if snapshot is not None:
                log.info("scheduler state restored %s; %d later assignments recovered", sched.stats(), n)
            else:
                log.info(
                    "scheduler starts with a fresh %s policy; %d earlier assignments recovered",
                    sched.policy.name,
                    n,
                )
            restored.set()

        @mode.Service.task
        async def _follow_servers(self) -> None:
            """Servers announced after the start: new ones join, heartbeats keep them available."""
            await restored.wait()
            async for ann in directory.follow():
                apply_announcement(ann)

        async def on_stop(self) -> None:
            if restored.is_set():
                try:
                    await checkpoint.save()
                except Exception:  # the last saved snapshot and the uncommitted offsets still agree
                    log.exception("scheduler state could not be saved on shutdown")
            await directory.stop()
            await store.stop()

    directory = parts.servers

    def apply_announcement(ann: ServerAnnouncement) -> None:
        try:
            if sched.on_announcement(ann):
                log.info(
                    "server %s joined (%s, model %s, device %s)",
                    ann.server_id,
                    ann.tier,
                    ann.model,
                    ann.device,
                )
        except Exception as exc:  # a bad announcement costs only itself
            log.warning("scheduler skips announcement of %s: %s", ann.server_id, _reason(exc))

    @app.timer(interval=1.0)
    async def watch_silent() -> None:
        """Log once when a server goes silent past the timeout and when it is heard again."""
        now = sched.clock()
        for sid in sched.policy.server_ids:
            up = sched.available(sid, now)
            if up != watch_silent_up.get(sid, True):
                log.info("server %s is %s", sid, "available again" if up else "silent: unavailable")
            watch_silent_up[sid] = up

    watch_silent_up: dict[str, bool] = {}

    @app.timer(interval=parts.snapshot_every_s)
    async def periodic_save() -> None:
        if restored.is_set() and await checkpoint.save():
            log.info("scheduler state saved %s", sched.stats())

    @app.agent(tasks, name="schedule")
    async def schedule(stream):
        await restored.wait()
        async for events in stream.noack_take(parts.slot_size, within=parts.slot_s):
            async with checkpoint.lock:  # a snapshot sees a slot whole or not at all
                slot, slot_events = [], []
                for event in events:
                    msg = event.message
                    if sched.positions.included(msg.topic, msg.partition, msg.offset):
                        continue  # already in the restored state
                    try:
                        slot.append(sched.decode_task(msg.value, msg.headers))
                        slot_events.append(event)
                    except Exception as exc:
                        await to_dead_letter(event, _reason(exc))
                outcome = sched.decide_slot(slot)
                for i, exc in outcome.failed:  # only the tasks that are bad, each alone
                    await to_dead_letter(slot_events[i], _reason(exc))
                for a in outcome.assignments:
                    value, headers = encode_assignment(a, topology.max_frame_bytes)
                    await assign_topic(a.server_id).send(
                        key=a.task.frame.meta.stream_id.encode(), value=value, headers=headers
                    )
                for r in outcome.expired:  # shed as late (--shed late): the task's one outcome
                    await results.send(key=r.stream_id.encode(), value=encode_result(r))
                for event in events:
                    msg = event.message
                    sched.positions.advance(msg.topic, msg.partition, msg.offset)
                    checkpoint.applied(stream, event)

    async def apply_each(stream, apply, on_error) -> None:
        """Feed each record not yet in the snapshot to ``apply`` under the checkpoint lock,
        then mark its position: the snapshot-and-ack discipline of the results and the dead
        letters alike. A record ``apply`` rejects goes to ``on_error(event, exc)``."""
        await restored.wait()
        stream = stream.noack()
        async for event in stream.events():
            msg = event.message
            async with checkpoint.lock:
                if not sched.positions.included(msg.topic, msg.partition, msg.offset):
                    try:
                        apply(msg)
                    except Exception as exc:
                        await on_error(event, exc)
                    sched.positions.advance(msg.topic, msg.partition, msg.offset)
                checkpoint.applied(stream, event)

    async def result_rejected(event, exc) -> None:
        await to_dead_letter(event, _reason(exc))

    async def dead_letter_skipped(event, exc) -> None:  # never a dead letter of a dead letter
        log.warning("scheduler skips dead letter offset=%s: %s", event.message.offset, _reason(exc))

    @app.agent(results, name="rewards")
    async def rewards(stream):
        await apply_each(stream, lambda msg: sched.on_result(msg.value), result_rejected)

    # A task dead-lettered at its server gets no result: its dead letter ends it here, in
    # the same snapshot-and-ack discipline as the results (see SchedulerStage.on_dead_letter).
    dead_letters = app.topic(topology.dead_letter.name, **raw)

    @app.agent(dead_letters, name="failures")
    async def failures(stream):
        await apply_each(stream, lambda msg: sched.on_dead_letter(msg.headers), dead_letter_skipped)


def _publish_policy_view(app: faust.App, topology: Topology, parts: WorkerParts, raw: dict) -> None:
    """Now and then the policy's running estimates, for the live dashboard; only when it
    learned something since the last one (the topic keeps the latest per key)."""
    views = app.topic(topology.policy_view.name, **raw)
    sched = parts.scheduler
    last = {"feedbacks": -1}

    @app.timer(interval=parts.policy_view_every_s)
    async def publish_policy_view() -> None:
        if sched.feedbacks == last["feedbacks"]:
            return
        view = sched.policy_view()
        if view is None:
            return
        last["feedbacks"] = view.feedbacks
        await views.send(key=b"policy", value=encode_policy_view(view))


def _inference(app: faust.App, topology: Topology, parts: WorkerParts, raw: dict, to_dead_letter) -> None:
    stage = parts.inference
    source = app.topic(topology.assignment_topic(stage.server.id).name, **raw)
    results = app.topic(topology.results.name, **raw)

    shadows = {sid: app.topic(topology.assignment_topic(sid).name, **raw) for sid in topology.server_ids}
    registry = app.topic(topology.server_registry.name, **raw)
    server = stage.server
    load = {"latency_s": None, "in_flight": 0}  # what the heartbeat reports

    async def announce() -> None:
        ann = ServerAnnouncement(
            server.id,
            server.tier,
            server.model,
            server.device,
            load["latency_s"],
            load["in_flight"],
            time.time(),
        )
        await registry.send(key=server.id.encode(), value=encode_announcement(ann))

    @app.timer(interval=parts.heartbeat_s)
    async def heartbeat() -> None:
        """This server is there: the scheduler routes to it while heartbeats keep coming."""
        await announce()

    def measured(outcomes: list) -> None:
        for out in outcomes:
            if not isinstance(out, Exception):
                t, old = out.timings.inference, load["latency_s"]
                load["latency_s"] = t if old is None else 0.8 * old + 0.2 * t

    async def handle(stream, events: list) -> None:
        """Decode, shed the late (--shed late), then one detector call for the rest; the
        records are acked once each one's result, forwarded shadow copy or dead letter is
        sent, all together and in offset order (see _ack_in_order)."""
        loop = asyncio.get_running_loop()
        load["in_flight"] = len(events)
        todo = []  # (event, assignment, as sent, transfer)
        for event in events:
            try:
                assignment = stage.decode(event.value, event.message.headers)
                # Re-encoding at DAO's quality (when asked) blocks: keep the event loop free.
                sent, transfer = await loop.run_in_executor(
                    None, partial(stage.uplink, assignment, commit=False)
                )
                expired = stage.expire_if_late(sent, transfer.transmission_s)
            except Exception as exc:
                await to_dead_letter(event, _reason(exc))
                continue
            if expired is not None:  # nothing sent or inferred: its one outcome, a delay failure
                await results.send(key=expired.stream_id.encode(), value=encode_result(expired))
                continue
            stage.commit(transfer)  # the link carries it: later frames queue behind it
            todo.append((event, assignment, sent, transfer))
        if todo:
            # the emulated uplink, one frame after another
            await asyncio.sleep(sum(tr.transmission_s for _, _, _, tr in todo))
            try:
                # Inference blocks for tens of ms: keep the event loop (heartbeats, commits) free.
                outcomes = await loop.run_in_executor(
                    None, stage.infer_batch, [(a, tr) for _, _, a, tr in todo]
                )
            except Exception as exc:  # the detector call failed: none is lost, each says why
                outcomes = [exc] * len(todo)
            measured(outcomes)
            for (event, assignment, _, _), out in zip(todo, outcomes, strict=True):
                try:
                    if isinstance(out, Exception):
                        raise out
                    shadow = None
                    if assignment.shadow_server is not None and assignment.served is None:
                        shadow = stage.forward(assignment, out)  # reference-sampled: judged there
                        value, headers = encode_assignment(shadow, topology.max_frame_bytes)
                except Exception as exc:
                    await to_dead_letter(event, _reason(exc))
                    continue
                if shadow is not None:
                    await shadows[shadow.server_id].send(key=event.message.key, value=value, headers=headers)
                else:
                    await results.send(key=out.stream_id.encode(), value=encode_result(out))
        await _ack_in_order(stream, events)
        load["in_flight"] = 0

    @app.agent(source, name="infer")
    async def infer(stream):
        if parts.inference_batch <= 1:
            stream = stream.noack()  # ack only once the result or the dead letter is sent
            async for event in stream.events():
                await handle(stream, [event])
        else:
            # Dynamic batches: up to inference_batch assignments, or what came within inference_batch_s.
            async for events in stream.noack_take(parts.inference_batch, within=parts.inference_batch_s):
                await handle(stream, events)


async def _ack_in_order(stream: Any, events: list) -> None:
    """Ack a batch's records only once all of them are done, lowest offset first.

    Faust commits the run of acked offsets that starts at the committed one, but a single
    unacked offset at its head does not stop it (faust/transport/consumer.py
    ``Consumer._new_offset`` in faust-streaming 0.15.3: it returns None only when
    ``min(acked) - committed > 1``; faust-streaming#606, fix proposed in #707). A record
    still in flight while a later one of its partition was acked could be committed past
    and lost on a kill -9.
    """
    for event in sorted(events, key=lambda e: (e.message.partition, e.message.offset)):
        await stream.ack(event)


def _trainer(app: faust.App, topology: Topology, parts: WorkerParts, raw: dict, to_dead_letter) -> None:
    results = app.topic(topology.results.name, **raw)
    models = app.topic(topology.rpp_models.name, **raw)
    stage = parts.trainer
    feed = parts.model_feed
    resumed = asyncio.Event()

    @app.service
    class LatestModel(mode.Service):
        """Continue from the newest published model (a restarted trainer), if there is one."""

        async def on_start(self) -> None:
            if feed is not None:
                try:
                    for rec in await feed.catch_up():
                        try:
                            stage.adopt(rec.value, rec.headers)
                        except Exception as exc:  # preprocess dead-letters it; here it is only skipped
                            log.warning("trainer skips model record offset=%s: %s", rec.offset, _reason(exc))
                finally:
                    await feed.stop()
            log.info("trainer starts from RPP model version %d", stage.trainer.current.version)
            resumed.set()

    @app.agent(results, name="trainer")
    async def train(stream):
        await resumed.wait()
        loop = asyncio.get_running_loop()
        async for event in stream.events():
            try:
                stage.on_result(event.value)
            except Exception as exc:
                await to_dead_letter(event, _reason(exc))
                continue
            if not stage.due():
                continue
            # Seconds of CPU in a thread; no result is fed meanwhile (see pipeline.trainer).
            try:
                outcome, model = await loop.run_in_executor(None, stage.retrain)
            except Exception:  # a failed retrain keeps the current model; labels keep coming
                log.exception(
                    "trainer retrain failed; keeping RPP model version %d", stage.trainer.current.version
                )
                continue
            log.info("trainer retrain: %s %s", outcome.card["why"], stage.stats())
            if model is not None:
                value, headers = encode_rpp_model(model)
                await models.send(key=RPP_MODEL_KEY, value=value, headers=headers)
                log.info("trainer published RPP model version %d", model.version)


def _sink(app: faust.App, topology: Topology, parts: WorkerParts, raw: dict, to_dead_letter) -> None:
    results = app.topic(topology.results.name, **raw)
    metrics = parts.metrics
    directory = parts.servers
    store = parts.state_store
    state_key = "sink"
    restored = asyncio.Event()
    checkpoint = Checkpoint(
        capture=metrics.snapshot,
        save=lambda data: store.save(state_key, data),
        flush=app.producer.flush,  # dead letters the snapshot implies are on the broker
    )

    @app.service
    class SinkState(mode.Service):
        """Restores the totals before the first result; saves them last on shutdown."""

        async def on_start(self) -> None:
            await store.start()
            snapshot = await store.load(state_key)
            if snapshot is not None:
                metrics.restore(snapshot)
                log.info("sink metrics restored: %s", metrics.log_line())
            for ann in await directory.catch_up():  # servers that joined: their results count
                metrics.add_server(ann.server_id)
            restored.set()

        @mode.Service.task
        async def _follow_servers(self) -> None:
            await restored.wait()
            async for ann in directory.follow():
                metrics.add_server(ann.server_id)

        async def on_stop(self) -> None:
            if restored.is_set():
                try:
                    await checkpoint.save()
                except Exception:
                    log.exception("sink metrics could not be saved on shutdown")
            await directory.stop()
            await store.stop()

    @app.timer(interval=parts.snapshot_every_s)
    async def periodic_save() -> None:
        if restored.is_set():
            await checkpoint.save()

    @app.agent(results, name="sink")
    async def sink(stream):
        await restored.wait()
        last_log = time.monotonic()
        stream = stream.noack()
        async for event in stream.events():
            msg = event.message
            async with checkpoint.lock:
                if not metrics.positions.included(msg.topic, msg.partition, msg.offset):
                    counted = metrics.count
                    try:
                        result = decode_result(msg.value)
                        if not metrics.accepts(result.server_id):
                            # A server that just joined: its announcement may still be on its way.
                            if await directory.wait_for(result.server_id, ANNOUNCEMENT_WAIT_S):
                                metrics.add_server(result.server_id)
                        metrics.add(result)
                    except Exception as exc:
                        await to_dead_letter(event, _reason(exc))
                    else:
                        if parts.dashboard is not None and metrics.count > counted:  # not a duplicate
                            parts.dashboard.on_result(result)
                    metrics.positions.advance(msg.topic, msg.partition, msg.offset)
                checkpoint.applied(stream, event)
            if metrics.count % parts.log_every == 0 or time.monotonic() - last_log > 10:
                last_log = time.monotonic()
                log.info("metrics %s", metrics.log_line())


def _dashboard(app: faust.App, parts: WorkerParts) -> None:
    """The sink's live page: it serves the page and follows its side topics (frames, dead
    letters, policy views) outside the sink's consumer group, so it commits nothing."""
    dash = parts.dashboard

    @app.service
    class DashboardService(mode.Service):
        async def on_start(self) -> None:
            await dash.start()

        async def on_stop(self) -> None:
            await dash.stop()

    @app.timer(interval=dash.lag_every_s)
    async def refresh_lag() -> None:
        await dash.refresh_lag()
