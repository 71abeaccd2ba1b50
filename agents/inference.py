"""The inference role: one server's assignments in, results out (YOLO on the emulated link).

One worker serves one server id (its own consumer group: start more with the same
``server_id`` to split its partitions). It announces itself on the servers topic every
heartbeat; a server not in topics.yaml joins the running pipeline that way (its tier,
model and device profile given, else those of its tier's first server). A
reference-sampled task is forwarded, with its result, to its shadow server, which
judges it and publishes the task's one result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.base import (
    DeadLetters,
    OutTopic,
    Role,
    RoleOptions,
    check_batching,
    out_topic,
    raw_topic,
    reason,
)
from cdio_stream.errors import ConfigError
from cdio_stream.pipeline.servers import HEARTBEAT_S
from cdio_stream.pipeline.shedding import DEFAULT_SHED
from cdio_stream.settings import Settings
from cdio_stream.topology import Topology

if TYPE_CHECKING:
    import faust

__all__ = ["InferenceOptions", "Inference"]

log = logging.getLogger("cdio.agents")

# A detector call measured shorter than this (the no-op detector's) runs on the event loop:
# handing it to an executor thread and back would cost more than the call.
INLINE_CALL_S = 0.002


@dataclass(frozen=True)
class InferenceOptions(RoleOptions):
    role = "inference"

    server_id: str
    tier: str | None = None  # of a server not in topics.yaml ("edge" or "cloud")
    model: str | None = None  # of a server not in topics.yaml (default: its tier's first server's)
    profile: str | None = None  # device profile of a server not in topics.yaml (likewise)
    dataset: Path | None = None  # UA-DETRAC-layout directory for ground truth (accuracy)
    bandwidth: str = "stable"  # "stable" or "fluctuating" (paper 4.1.1)
    seed: int = 0  # the link's
    device: str = "cpu"  # cpu, cuda or cuda:N
    models_file: Path | None = None  # extra model registry YAML
    reference_server: str | None = None  # whose model is the reference (None: the first cloud server)
    shed: str = DEFAULT_SHED  # "late": expire tasks that cannot meet D^q (cdio_stream.pipeline.shedding)
    batch_size: int = 1  # most assignments per detector call (1: one at a time, no waiting)
    batch_ms: float = 10.0  # longest wait to fill a batch (when batch_size > 1)

    def __post_init__(self) -> None:
        check_batching(self.batch_size, self.batch_ms)

    @property
    def worker_name(self) -> str:
        return f"{self.role}-{self.server_id}"


class Inference(Role):
    Options = InferenceOptions
    options: InferenceOptions
    heartbeat_s = HEARTBEAT_S  # how often it announces itself on the servers topic

    @property
    def server_id(self) -> str:
        return self.options.server_id

    def build(self, settings: Settings, topology: Topology) -> None:
        super().build(settings, self._joined(settings, topology))

    def _joined(self, settings: Settings, topology: Topology) -> Topology:
        """The topology with the server this worker serves; one not in topics.yaml is added
        (from tier/model/profile) and its assignment topic created if it is missing."""
        from cdio_stream.kafka.admin import create_topics
        from cdio_stream.topology import ServerSpec

        opts = self.options
        if opts.server_id in topology.server_ids:
            if opts.tier or opts.model or opts.profile:
                raise ConfigError(
                    f"--tier/--model/--profile are for new servers; {opts.server_id!r} is in topics.yaml"
                )
            return topology
        if not opts.tier:
            raise ConfigError(
                f"server {opts.server_id!r} is not in topics.yaml: give its --tier (edge or cloud)"
            )
        like = next(s for s in topology.servers if s.tier == opts.tier)
        spec = ServerSpec(opts.server_id, opts.tier, opts.model or like.model, opts.profile or like.device)
        topology = topology.with_server(spec)
        if settings.bootstrap:
            asyncio.run(create_topics(settings.bootstrap, topology))  # existing topics are left alone
        return topology

    def _build(self, settings: Settings) -> None:
        from cdio_stream.calibration import deployed_reference_judge, reference_server_of
        from cdio_stream.inference.registry import default_registry, load_registry
        from cdio_stream.inference.runner import Detector
        from cdio_stream.pipeline.inference import InferenceStage
        from cdio_stream.system.network import make_links
        from cdio_stream.system.profiles import default_profiles

        opts, topology = self.options, self.topology
        server = topology.server(opts.server_id)
        registry = load_registry(opts.models_file) if opts.models_file else default_registry()
        detector = Detector(registry.spec(server.model), settings=settings, device=opts.device)
        device = default_profiles().device(server.device)
        link = make_links(topology.servers, opts.bandwidth, seed=opts.seed)[server.id]
        ground_truth = None
        if opts.dataset is not None:
            from cdio_stream.data.detrac import DetracDataset

            ground_truth = DetracDataset(opts.dataset)
        judge = None
        try:
            reference = topology.server(reference_server_of(topology, opts.reference_server))
            if registry.spec(reference.model).is_null:  # the no-op detector is nobody's reference
                log.info("no reference judge: the reference server %s runs the null detector", reference.id)
            else:
                judge = deployed_reference_judge(topology, opts.reference_server, opts.models_file)
        except ConfigError as exc:  # this server can still serve; shadow runs sent here get dead-lettered
            log.warning("no reference judge, shadow runs cannot be judged here: %s", exc)
        self.stage = InferenceStage(
            server,
            detector,
            device,
            link,
            ground_truth=ground_truth,
            judge=judge,
            max_frame_bytes=topology.max_frame_bytes,
            shed=opts.shed,
        )

    def _register(self, app: faust.App) -> None:
        from cdio_stream.messages import (
            ServerAnnouncement,
            encode_announcement,
            encode_assignment,
            encode_result,
        )

        topology = self.topology
        dead = DeadLetters(app, topology, self.name)
        batch_size, batch_s = self.options.batch_size, self.options.batch_ms / 1000.0
        stage = self.stage
        source = raw_topic(app, topology.assignment_topic(stage.server.id).name)
        results = out_topic(app, topology.results.name)

        shadows: dict[str, OutTopic] = {}

        def shadow_topic(server_id: str) -> OutTopic:
            """Where a reference-sampled task's second run goes: any server the scheduler
            names, also one that joined after this worker started."""
            if server_id not in shadows:
                shadows[server_id] = out_topic(app, topology.assignment_name(server_id))
            return shadows[server_id]

        registry = raw_topic(app, topology.server_registry.name)
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

        @app.timer(interval=self.heartbeat_s)
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
            sent, all together and in offset order (see ack_in_order)."""
            loop = asyncio.get_running_loop()
            load["in_flight"] = len(events)
            todo = []  # (event, assignment, as sent, transfer)
            for event in events:
                try:
                    assignment = stage.decode(event.value, event.message.headers)
                    if stage.reencodes(assignment):  # DAO's quality: a JPEG re-encode blocks
                        sent, transfer = await loop.run_in_executor(
                            None, partial(stage.uplink, assignment, commit=False)
                        )
                    else:  # the link model's arithmetic only
                        sent, transfer = stage.uplink(assignment, commit=False)
                    expired = stage.expire_if_late(sent, transfer.transmission_s)
                except Exception as exc:
                    await dead.send(event, reason(exc))
                    continue
                if expired is not None:  # nothing sent or inferred: its one outcome, a delay failure
                    await results.send(key=expired.stream_id.encode(), value=encode_result(expired))
                    continue
                stage.commit(transfer)  # the link carries it: later frames queue behind it
                todo.append((event, assignment, sent, transfer))
            if todo:
                # the emulated uplink, one frame after another
                await asyncio.sleep(sum(tr.transmission_s for _, _, _, tr in todo))
                items = [(a, tr) for _, _, a, tr in todo]
                try:
                    if stage.blocking_s is not None and stage.blocking_s < INLINE_CALL_S:
                        outcomes = stage.infer_batch(items)  # shorter than a hand-over to a thread
                    else:  # tens of ms: keep the event loop (heartbeats, commits) free
                        outcomes = await loop.run_in_executor(None, stage.infer_batch, items)
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
                        await dead.send(event, reason(exc))
                        continue
                    if shadow is not None:
                        await shadow_topic(shadow.server_id).send(
                            key=event.message.key, value=value, headers=headers
                        )
                    else:
                        await results.send(key=out.stream_id.encode(), value=encode_result(out))
            await ack_in_order(stream, events)
            load["in_flight"] = 0

        @app.agent(source, name="infer")
        async def infer(stream):
            if batch_size <= 1:
                stream = stream.noack()  # ack only once the result or the dead letter is sent
                async for event in stream.events():
                    await handle(stream, [event])
            else:
                # Dynamic batches: up to batch_size assignments, or what came within batch_s.
                async for events in stream.noack_take(batch_size, within=batch_s):
                    await handle(stream, events)


async def ack_in_order(stream: Any, events: list) -> None:
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
