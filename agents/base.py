"""What every role shares: the options and role bases, and the wiring their agents use.

A role is one module of this package (``preprocess``, ``scheduler``, ``inference``,
``sink``, ``trainer``) with two classes:

- a frozen :class:`RoleOptions` dataclass: one field per ``cdio-stream worker`` flag of
  the role, with the role's defaults (``cdio_stream/cli/worker.py`` maps flags to fields
  and back; nothing else knows a flag);
- a :class:`Role` made from those options: :meth:`Role.build` makes its stage objects
  (models, state stores, servers; heavy imports only there), :meth:`Role.register` adds
  its agents, services and timers to the Faust app that :func:`agents.app.create_app`
  made. The role object holds what ``build`` made for ``register``.

The helpers below are what several roles' agents need: raw topics, dead letters and the
reason a record failed. This module and the role modules import no Faust, Kafka client or
torch at import time, so the command line reads every role's options cheaply.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from cdio_stream.errors import CdioError, ConfigError
from cdio_stream.pipeline.dead_letter import dead_letter, send_with_retries
from cdio_stream.settings import Settings
from cdio_stream.topology import Topology

if TYPE_CHECKING:
    import faust

    from cdio_stream.kafka.follow import TopicFollower

__all__ = [
    "RoleOptions",
    "Role",
    "DeadLetters",
    "OutTopic",
    "raw_topic",
    "out_topic",
    "reason",
    "model_feed",
    "torch_threads",
    "check_batching",
]

log = logging.getLogger("cdio.agents")


@dataclass(frozen=True)
class RoleOptions:
    """How one worker of a role is started (subclasses add one field per flag)."""

    role: ClassVar[str]

    @property
    def worker_name(self) -> str:
        """The worker's name (its log file, the launcher's key): the role's, unless one
        worker of the role runs per server."""
        return self.role


def check_batching(batch_size: int, batch_ms: float) -> None:
    """The micro-batch settings a role can run with (preprocess and inference share them).

    A batch above 1 needs a wait above 0: with none, Faust's ``take`` has no timeout and
    waits until the batch is full, so a quiet stream would never be served.
    """
    if batch_size < 1 or batch_ms < 0:
        raise ConfigError(f"--batch-size must be >= 1 and --batch-ms >= 0, got {batch_size}, {batch_ms}")
    if batch_size > 1 and batch_ms <= 0:
        raise ConfigError("--batch-ms must be > 0 with --batch-size above 1 (the wait that closes a batch)")


class Role(ABC):
    """One worker role: built from its options, then registered on a Faust app."""

    Options: ClassVar[type[RoleOptions]]
    # Acks wait for a snapshot that includes the record (agents/checkpoint.py), so the app
    # must not wait for acks before a rebalance or shutdown (see create_app).
    stateful: ClassVar[bool] = False

    def __init__(self, options: RoleOptions) -> None:
        if not isinstance(options, self.Options):
            raise TypeError(
                f"{type(self).__name__} takes {self.Options.__name__}, not {type(options).__name__}"
            )
        self.options = options
        self.topology: Topology | None = None  # what the worker runs with, once built

    @property
    def name(self) -> str:
        return self.Options.role

    @property
    def server_id(self) -> str | None:
        """The server this worker serves (one consumer group per server), if any."""
        return None

    def build(self, settings: Settings, topology: Topology) -> None:
        """Make the role's stage objects (load models, open ports, ...)."""
        self.topology = topology
        self._build(settings)

    def register(self, app: faust.App) -> None:
        """Add the role's agents, services and timers to ``app``; :meth:`build` first."""
        if self.topology is None:
            raise CdioError(f"the {self.name} role must be built before it is registered")
        self._register(app)

    @abstractmethod
    def _build(self, settings: Settings) -> None: ...

    @abstractmethod
    def _register(self, app: faust.App) -> None: ...


def raw_topic(app: faust.App, name: str) -> Any:
    """A topic of bytes keys and values: the codecs live in cdio_stream.messages."""
    return app.topic(name, key_serializer="raw", value_serializer="raw")


class OutTopic:
    """A topic a worker writes records to, straight through the app's producer.

    ``await send(...)`` hands the record to the producer's buffer and returns, as Faust's
    ``Topic.send`` does, without Faust's per-record bookkeeping around it (a pending-message
    object, its future and the send sensors: on a one-topic relay, 0.09 ms of CPU per 81 kB
    record and 0.18 ms per 200-byte record; see the README, "What the pipeline itself
    costs"). Delivery is what the exactly-once design relies
    on either way: Faust flushes the producer before it commits an input offset, and a
    checkpoint flushes it before it saves a snapshot. A record the producer gives up on
    (after its retries) is logged, as ``Topic.send`` logs it.
    """

    def __init__(self, app: faust.App, name: str) -> None:
        self.app = app
        self.name = name

    async def send(self, *, key: bytes | None, value: bytes, headers: Any = None) -> None:
        if headers is not None and not isinstance(headers, list):
            headers = list(headers)  # the producer's record builder takes a list
        delivery = await self.app.producer.send(self.name, key, value, None, None, headers)
        delivery.add_done_callback(self._delivered)

    def _delivered(self, delivery: Any) -> None:
        if not delivery.cancelled() and delivery.exception() is not None:
            log.error("record to %s not delivered: %r", self.name, delivery.exception())


def out_topic(app: faust.App, name: str) -> OutTopic:
    """Where a worker only writes (its agents read through :func:`raw_topic`)."""
    return OutTopic(app, name)


def reason(exc: Exception) -> str:
    """Why a record is dead-lettered: bad input says so itself; anything else is our bug,
    logged with its traceback, and still must not stop the stream or lose the record."""
    if isinstance(exc, CdioError):
        return str(exc)
    log.exception("unexpected error while processing a record")
    return f"internal error: {exc!r}"


class DeadLetters:
    """A role's dead letters: the original record, byte for byte, plus why and where from
    (:func:`cdio_stream.pipeline.dead_letter.dead_letter`)."""

    def __init__(self, app: faust.App, topology: Topology, stage: str) -> None:
        self.app = app
        self.stage = stage
        self.max_bytes = topology.max_message_bytes
        self.topic = raw_topic(app, topology.dead_letter.name)

    def letter(self, msg: Any, why: str) -> tuple[bytes, list[tuple[str, bytes]]]:
        """The (value, headers) of ``msg``'s dead letter (a Faust message or a consumer
        record: value, headers, topic, partition, offset), logged."""
        log.warning(
            "dead-letter stage=%s topic=%s offset=%s reason=%s", self.stage, msg.topic, msg.offset, why
        )
        return dead_letter(
            msg.value,
            msg.headers,
            reason=why,
            stage=self.stage,
            source_topic=msg.topic,
            source_partition=msg.partition,
            source_offset=msg.offset,
            max_bytes=self.max_bytes,
        )

    async def send(self, event: Any, why: str) -> None:
        """Write the event's dead letter and wait for the broker's ack, or raise DeadLetterError."""
        msg = event.message
        value, headers = self.letter(msg, why)
        await send_with_retries(
            lambda: self.app.producer.send_and_wait(
                self.topic.get_topic_name(), msg.key, value, None, None, headers
            ),
            what=f"{msg.topic}[{msg.partition}]@{msg.offset}",
        )


def model_feed(settings: Settings, topology: Topology) -> TopicFollower:
    """Reader of the model topic (preprocess and trainer: newest published RPP version)."""
    from cdio_stream.kafka.follow import TopicFollower

    return TopicFollower(
        settings.bootstrap or "", topology.rpp_models.name, max_bytes=topology.max_message_bytes
    )


def torch_threads(settings: Settings) -> None:
    import torch

    torch.set_num_threads(settings.torch_threads)
