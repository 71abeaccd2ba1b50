"""Build the Faust app of one worker: ``create_app(settings, topology, options)``.

``options`` is one role's options (:mod:`agents.preprocess`, :mod:`agents.scheduler`,
:mod:`agents.inference`, :mod:`agents.sink`, :mod:`agents.trainer`); :data:`ROLES`, the
one table from role name to role class, picks the role. The role builds its stage
objects, which hold all state, and registers its agents on a new ``faust.App``. No
module-level app, no autodiscovery: each worker process builds exactly one app.

Consumer groups: the app id is ``<topic prefix><role>`` (``...inference-<server>`` for
inference), so starting more workers of a role on more nodes splits that role's
partitions between them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.base import Role, RoleOptions
from agents.inference import Inference
from agents.preprocess import Preprocess
from agents.scheduler import Scheduler
from agents.sink import Sink
from agents.trainer import Trainer
from cdio_stream.errors import CdioError
from cdio_stream.settings import Settings
from cdio_stream.topology import Topology

if TYPE_CHECKING:
    import faust

__all__ = ["ROLES", "create_app", "role_for"]

log = logging.getLogger("cdio.agents")

# Every role, by the name `cdio-stream worker ROLE` takes: the one place a role is chosen.
ROLES: dict[str, type[Role]] = {r.Options.role: r for r in (Preprocess, Scheduler, Inference, Sink, Trainer)}
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 1.0


def role_for(options: RoleOptions) -> Role:
    """The (not yet built) role that ``options`` configure."""
    role = ROLES.get(options.role)
    if role is None or not isinstance(options, role.Options):
        raise CdioError(f"unknown worker role {options.role!r}; one of {', '.join(ROLES)}")
    return role(options)


def create_app(settings: Settings, topology: Topology, options: RoleOptions) -> faust.App:
    """Build the role of ``options`` on ``topology``, then a Faust app with its agents."""
    import faust
    import mode

    role = role_for(options)
    role.build(settings, topology)
    if not settings.bootstrap:
        raise CdioError("a worker needs a Kafka broker: pass --bootstrap or set CDIO_KAFKA_BOOTSTRAP")
    topology = role.topology  # an inference worker of a new server has added it
    app_id = topology.worker_group(role.name, role.server_id)
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
        stream_wait_empty=not role.stateful,
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

    role.register(app)
    return app
