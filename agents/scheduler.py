"""The scheduler role: tasks in, assignments out; results and dead letters in as feedback.

One scheduler worker holds the deployment's one bandit (run exactly one). Its state (the
policy, pending tasks, input positions) is saved to the scheduler state topic every
``snapshot_s`` and on shutdown, and records are acked only once a snapshot includes them
(:mod:`agents.checkpoint`); a restart restores it and re-learns what was assigned after
it. Servers that announce themselves on the servers topic join the policy; one silent past
the timeout is unavailable until heard again. Now and then the policy's running estimates
go to the policy-view topic for the dashboard.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agents.base import DeadLetters, Role, RoleOptions, out_topic, raw_topic, reason
from agents.checkpoint import Checkpoint
from cdio_stream.pipeline.servers import LOST_AFTER_S
from cdio_stream.pipeline.shedding import DEFAULT_SHED
from cdio_stream.settings import Settings
from cdio_stream.topology import Topology

if TYPE_CHECKING:
    import faust

    from cdio_stream.calibration import Calibration
    from cdio_stream.messages import ServerAnnouncement
    from cdio_stream.pipeline.scheduler import SchedulerStage

__all__ = ["SchedulerOptions", "Scheduler", "scheduler_stage"]

log = logging.getLogger("cdio.agents")


@dataclass(frozen=True)
class SchedulerOptions(RoleOptions):
    role = "scheduler"

    policy: str = "cdio"
    seed: int = 0  # the policy's and the reference sampler's
    calibration: Path | None = None  # None: the newest on the calibration topic, else the shipped one
    slot_size: int = 16  # most tasks decided together
    slot_ms: float = 50.0  # longest wait to fill a slot
    snapshot_s: float = 2.0  # how often the state is saved (and records acked)
    reference_rate: float = 0.05  # compute budget of reference runs (0: no reference feedback)
    reference_server: str | None = None  # whose model is the reference (None: the first cloud server)
    models_file: Path | None = None  # extra model registry YAML (the reference model's card)
    shed: str = DEFAULT_SHED  # "late": a task that cannot meet D^q ends as an expired result
    lost_after_s: float = LOST_AFTER_S  # a silent server is lost after this: its tasks expire (0: never)


def scheduler_stage(
    topology: Topology, options: SchedulerOptions, calibration: Calibration | None = None
) -> SchedulerStage:
    """The scheduler stage of ``options``; its policy takes what it needs from
    ``calibration`` (default: the one shipped with the package)."""
    from cdio_stream.calibration import default_calibration, deployed_reference_judge, reference_server_of
    from cdio_stream.feedback import ReferencePlan, ReferenceSampler
    from cdio_stream.pipeline.scheduler import SchedulerStage
    from cdio_stream.policy.registry import make_policy

    calibration = calibration if calibration is not None else default_calibration()
    policy = make_policy(options.policy, list(topology.servers), calibration=calibration, seed=options.seed)
    reference = None
    if options.reference_rate > 0:
        judge = deployed_reference_judge(topology, options.reference_server, options.models_file)
        sampler = ReferenceSampler(options.reference_rate, seed=options.seed)
        reference = ReferencePlan(
            topology.servers, judge, sampler, reference_server_of(topology, options.reference_server)
        )
        log.info("reference feedback: rate %.3f, reference %s (%s)", options.reference_rate,
                 reference.reference.id, judge.reference_model)  # fmt: skip
    return SchedulerStage(
        policy, topology, reference=reference, shed=options.shed, lost_after_s=options.lost_after_s
    )


class Scheduler(Role):
    Options = SchedulerOptions
    options: SchedulerOptions
    stateful = True
    policy_view_every_s = 2.0  # how often its estimates may be published

    def _build(self, settings: Settings) -> None:
        from cdio_stream.kafka.calibration_topic import resolve_calibration
        from cdio_stream.kafka.follow import TopicFollower
        from cdio_stream.kafka.state_store import KafkaStateStore
        from cdio_stream.pipeline.servers import ServerDirectory

        topology = self.topology
        calibration = resolve_calibration(settings, topology, self.options.calibration)
        self.stage = scheduler_stage(topology, self.options, calibration)
        self.state_store = KafkaStateStore(settings.bootstrap or "", topology.scheduler_state.name)
        self.directory = ServerDirectory(TopicFollower(settings.bootstrap, topology.server_registry.name))

    def _register(self, app: faust.App) -> None:
        self._schedule(app)
        self._publish_policy_view(app)

    def _schedule(self, app: faust.App) -> None:
        import mode

        from cdio_stream.errors import MessageError
        from cdio_stream.messages import decode_assignment, decode_result, encode_assignment, encode_result

        topology = self.topology
        dead = DeadLetters(app, topology, self.name)
        tasks = raw_topic(app, topology.tasks.name)
        results = raw_topic(app, topology.results.name)
        expired_out = out_topic(app, topology.results.name)
        assign = {sid: out_topic(app, topology.assignment_topic(sid).name) for sid in topology.server_ids}

        def assign_topic(sid: str):
            if sid not in assign:  # a server that joined while running
                assign[sid] = out_topic(app, sched.topology.assignment_topic(sid).name)
            return assign[sid]

        assignment_topics = [topology.assignment_topic(sid).name for sid in topology.server_ids]
        # Where this scheduler's outcomes go: assignments, and the expired results of tasks it
        # sheds (--shed late). A restore reads both back from where the snapshot saw them end.
        output_topics = [*assignment_topics, topology.results.name]
        sched = self.stage
        store = self.state_store
        directory = self.directory
        slot_size, slot_s = self.options.slot_size, self.options.slot_ms / 1000.0
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
                log.warning("scheduler skips announcement of %s: %s", ann.server_id, reason(exc))

        @app.timer(interval=1.0)
        async def watch_silent() -> None:
            """Log once when a server goes silent past the timeout and when it is heard again;
            end the tasks still waiting on a lost one (SchedulerStage.expire_lost)."""
            now = sched.clock()
            for sid in sched.policy.server_ids:
                up = sched.available(sid, now)
                if up != watch_silent_up.get(sid, True):
                    log.info("server %s is %s", sid, "available again" if up else "silent: unavailable")
                watch_silent_up[sid] = up
            if not restored.is_set():
                return
            async with checkpoint.lock:  # like a slot: a snapshot sees them published or not at all
                lost = sched.expire_lost(now)
                for r in lost:  # each task's one outcome, as a shed task's
                    await expired_out.send(key=r.stream_id.encode(), value=encode_result(r))
            if lost:
                log.warning("%d tasks waited on a lost server (silent > %g s): expired", len(lost),
                            sched.lost_after_s)  # fmt: skip

        watch_silent_up: dict[str, bool] = {}

        @app.timer(interval=self.options.snapshot_s)
        async def periodic_save() -> None:
            if restored.is_set() and await checkpoint.save():
                log.info("scheduler state saved %s", sched.stats())

        @app.agent(tasks, name="schedule")
        async def schedule(stream):
            await restored.wait()
            async for events in stream.noack_take(slot_size, within=slot_s):
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
                            await dead.send(event, reason(exc))
                    outcome = sched.decide_slot(slot)
                    for i, exc in outcome.failed:  # only the tasks that are bad, each alone
                        await dead.send(slot_events[i], reason(exc))
                    for a in outcome.assignments:
                        value, headers = encode_assignment(a, topology.max_frame_bytes)
                        await assign_topic(a.server_id).send(
                            key=a.task.frame.meta.stream_id.encode(), value=value, headers=headers
                        )
                    for r in outcome.expired:  # shed as late (--shed late): the task's one outcome
                        await expired_out.send(key=r.stream_id.encode(), value=encode_result(r))
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
            await dead.send(event, reason(exc))

        async def dead_letter_skipped(event, exc) -> None:  # never a dead letter of a dead letter
            log.warning("scheduler skips dead letter offset=%s: %s", event.message.offset, reason(exc))

        @app.agent(results, name="rewards")
        async def rewards(stream):
            await apply_each(stream, lambda msg: sched.on_result(msg.value), result_rejected)

        # A task dead-lettered at its server gets no result: its dead letter ends it here, in
        # the same snapshot-and-ack discipline as the results (see SchedulerStage.on_dead_letter).
        dead_letters = raw_topic(app, topology.dead_letter.name)

        @app.agent(dead_letters, name="failures")
        async def failures(stream):
            await apply_each(stream, lambda msg: sched.on_dead_letter(msg.headers), dead_letter_skipped)

    def _publish_policy_view(self, app: faust.App) -> None:
        """Now and then the policy's running estimates, for the live dashboard; only when it
        learned something since the last one (the topic keeps the latest per key)."""
        from cdio_stream.messages import encode_policy_view

        views = raw_topic(app, self.topology.policy_view.name)
        sched = self.stage
        last = {"feedbacks": -1}

        @app.timer(interval=self.policy_view_every_s)
        async def publish_policy_view() -> None:
            if sched.feedbacks == last["feedbacks"]:
                return
            view = sched.policy_view()
            if view is None:
                return
            last["feedbacks"] = view.feedbacks
            await views.send(key=b"policy", value=encode_policy_view(view))
