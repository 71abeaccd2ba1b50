"""topics.yaml: the one loader and validator of topic names, partitions and servers.

Every topic name is ``prefix + name``; assignment topics come from a pattern with a
``{server}`` placeholder, one per server. ``Topology.with_prefix`` gives tests and
side-by-side deployments their own topic names without editing the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from cdio_stream.errors import ConfigError

__all__ = ["TopicSpec", "ServerSpec", "Topology", "load_topology", "parse_topology", "TIERS"]

TIERS = ("edge", "cloud")
CORE_TOPICS = (
    "frames",
    "tasks",
    "results",
    "dead_letter",
    "scheduler_state",
    "sink_state",
    "rpp_models",
    "policy_view",
    "calibration",
    "server_registry",
)
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")  # Kafka's legal topic characters
_SERVER_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
HEADER_ROOM = 64 * 1024  # bytes allowed on top of the frame for headers and envelope


@dataclass(frozen=True)
class TopicSpec:
    name: str  # full name, prefix included
    partitions: int
    retention_ms: int | None = None
    compacted: bool = False  # keep the latest record per key instead of deleting by age

    def config(self, max_message_bytes: int | None = None) -> dict[str, str]:
        cfg: dict[str, str] = {"cleanup.policy": "compact"} if self.compacted else {}
        if self.retention_ms is not None:
            cfg["retention.ms"] = str(self.retention_ms)
        if max_message_bytes is not None:
            cfg["max.message.bytes"] = str(max_message_bytes)
        return cfg


@dataclass(frozen=True)
class ServerSpec:
    id: str
    tier: str  # "edge" or "cloud"
    model: str  # model registry name
    device: str  # device profile name


@dataclass(frozen=True)
class Topology:
    prefix: str
    frames: TopicSpec
    tasks: TopicSpec
    results: TopicSpec
    dead_letter: TopicSpec
    scheduler_state: TopicSpec
    sink_state: TopicSpec
    rpp_models: TopicSpec
    policy_view: TopicSpec
    calibration: TopicSpec
    server_registry: TopicSpec  # inference workers' announcements (latest per server id)
    assignment_pattern: str  # without prefix, contains "{server}"
    assignment_partitions: int
    assignment_retention_ms: int | None
    max_frame_bytes: int
    servers: tuple[ServerSpec, ...]
    replication_factor: int = 1

    def server(self, server_id: str) -> ServerSpec:
        for s in self.servers:
            if s.id == server_id:
                return s
        raise ConfigError(f"unknown server id {server_id!r}; known: {', '.join(self.server_ids)}")

    @property
    def server_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.servers)

    def assignment_topic(self, server_id: str) -> TopicSpec:
        self.server(server_id)  # validates the id
        return TopicSpec(
            name=self.assignment_name(server_id),
            partitions=self.assignment_partitions,
            retention_ms=self.assignment_retention_ms,
        )

    def assignment_name(self, server_id: str) -> str:
        """The assignment topic's name of any server id, also one that joined after this
        topology was loaded (see :meth:`with_server`)."""
        return self.prefix + self.assignment_pattern.format(server=server_id)

    @property
    def max_message_bytes(self) -> int:
        """Broker-side limit for topics that carry frames."""
        return self.max_frame_bytes + HEADER_ROOM

    def worker_group(self, role: str, server_id: str | None = None) -> str:
        """Consumer group (= Faust app id) of a worker role; one per inference server."""
        if role == "inference":
            return f"{self.prefix}inference-{self.server(server_id or '').id}"
        return f"{self.prefix}{role}"

    def all_topics(self) -> list[TopicSpec]:
        core = [
            self.frames,
            self.tasks,
            self.results,
            self.dead_letter,
            self.scheduler_state,
            self.sink_state,
            self.rpp_models,
            self.policy_view,
            self.calibration,
            self.server_registry,
        ]
        return core + [self.assignment_topic(s.id) for s in self.servers]

    def with_prefix(self, prefix: str) -> Topology:
        """The same topology with another prefix (e.g. a unique one per test)."""
        _check_name(prefix, "prefix", allow_empty=True)

        def swap(t: TopicSpec) -> TopicSpec:
            return replace(t, name=prefix + t.name[len(self.prefix) :])

        return replace(
            self,
            prefix=prefix,
            frames=swap(self.frames),
            tasks=swap(self.tasks),
            results=swap(self.results),
            dead_letter=swap(self.dead_letter),
            scheduler_state=swap(self.scheduler_state),
            sink_state=swap(self.sink_state),
            rpp_models=swap(self.rpp_models),
            policy_view=swap(self.policy_view),
            calibration=swap(self.calibration),
            server_registry=swap(self.server_registry),
        )

    def with_server(self, server: ServerSpec) -> Topology:
        """The same topology with one more server (one that announced itself while running)."""
        if server.id in self.server_ids:
            raise ConfigError(f"server {server.id!r} is already in the topology")
        checked = _server(vars(server), f"server {server.id!r}")
        return replace(self, servers=(*self.servers, checked))


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topics.yaml; errors name the file and the bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_topology(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_topology(raw: Any) -> Topology:
    root = _mapping(raw, "top level")
    _only(
        root,
        {"version", "prefix", "replication_factor", "topics", "assignments", "limits", "servers"},
        "top level",
    )
    if root.get("version", 1) != 1:
        raise ConfigError(f"version: unsupported version {root.get('version')!r} (expected 1)")
    prefix = root.get("prefix", "")
    if not isinstance(prefix, str):
        raise ConfigError("prefix: must be a string")
    _check_name(prefix, "prefix", allow_empty=True)

    topics = _mapping(_required(root, "topics", "top level"), "topics")
    _only(topics, set(CORE_TOPICS), "topics")
    specs = {key: _topic(_required(topics, key, "topics"), f"topics.{key}", prefix) for key in CORE_TOPICS}

    assign = _mapping(_required(root, "assignments", "top level"), "assignments")
    _only(assign, {"name", "partitions", "retention_ms"}, "assignments")
    pattern = _required(assign, "name", "assignments")
    if not isinstance(pattern, str) or "{server}" not in pattern:
        raise ConfigError("assignments.name: must be a string containing '{server}'")
    _check_name(pattern.replace("{server}", "x"), "assignments.name")
    a_parts = _positive_int(assign.get("partitions", 1), "assignments.partitions")
    a_ret = _optional_positive_int(assign.get("retention_ms"), "assignments.retention_ms")

    limits = _mapping(root.get("limits", {}), "limits")
    _only(limits, {"max_frame_bytes"}, "limits")
    max_frame = _positive_int(limits.get("max_frame_bytes", 4_000_000), "limits.max_frame_bytes")

    servers_raw = _required(root, "servers", "top level")
    if not isinstance(servers_raw, list) or not servers_raw:
        raise ConfigError("servers: must be a non-empty list")
    servers = tuple(_server(item, f"servers[{i}]") for i, item in enumerate(servers_raw))
    ids = [s.id for s in servers]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ConfigError(f"servers: duplicate id(s) {', '.join(sorted(dup))}")
    for tier in TIERS:
        if not any(s.tier == tier for s in servers):
            raise ConfigError(f"servers: need at least one {tier} server")

    return Topology(
        prefix=prefix,
        frames=specs["frames"],
        tasks=specs["tasks"],
        results=specs["results"],
        dead_letter=specs["dead_letter"],
        scheduler_state=specs["scheduler_state"],
        sink_state=specs["sink_state"],
        rpp_models=specs["rpp_models"],
        policy_view=specs["policy_view"],
        calibration=specs["calibration"],
        server_registry=specs["server_registry"],
        assignment_pattern=pattern,
        assignment_partitions=a_parts,
        assignment_retention_ms=a_ret,
        max_frame_bytes=max_frame,
        servers=servers,
        replication_factor=_positive_int(root.get("replication_factor", 1), "replication_factor"),
    )


def _topic(raw: Any, where: str, prefix: str) -> TopicSpec:
    m = _mapping(raw, where)
    _only(m, {"name", "partitions", "retention_ms", "compacted"}, where)
    name = _required(m, "name", where)
    compacted = m.get("compacted", False)
    if not isinstance(compacted, bool):
        raise ConfigError(f"{where}.compacted: must be true or false")
    if not isinstance(name, str):
        raise ConfigError(f"{where}.name: must be a string")
    _check_name(name, f"{where}.name")
    return TopicSpec(
        name=prefix + name,
        partitions=_positive_int(m.get("partitions", 1), f"{where}.partitions"),
        retention_ms=_optional_positive_int(m.get("retention_ms"), f"{where}.retention_ms"),
        compacted=compacted,
    )


def _server(raw: Any, where: str) -> ServerSpec:
    m = _mapping(raw, where)
    _only(m, {"id", "tier", "model", "device"}, where)
    values = {}
    for key in ("id", "tier", "model", "device"):
        v = _required(m, key, where)
        if not isinstance(v, str) or not v:
            raise ConfigError(f"{where}.{key}: must be a non-empty string")
        values[key] = v
    if not _SERVER_ID_RE.match(values["id"]):
        raise ConfigError(f"{where}.id: {values['id']!r} may contain only letters, digits, '_' and '-'")
    if values["tier"] not in TIERS:
        raise ConfigError(f"{where}.tier: must be one of {', '.join(TIERS)}, got {values['tier']!r}")
    return ServerSpec(**values)


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a mapping")
    return raw


def _required(m: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in m:
        prefix = "" if where == "top level" else f"{where}."
        raise ConfigError(f"{prefix}{key}: missing")
    return m[key]


def _only(m: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(m) - allowed)
    if unknown:
        prefix = "" if where == "top level" else f"{where}."
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _positive_int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"{where}: must be a positive integer, got {v!r}")
    return v


def _optional_positive_int(v: Any, where: str) -> int | None:
    return None if v is None else _positive_int(v, where)


def _check_name(name: str, where: str, allow_empty: bool = False) -> None:
    if name == "" and allow_empty:
        return
    if not _NAME_RE.match(name) or len(name) > 200:
        raise ConfigError(
            f"{where}: {name!r} is not a legal Kafka topic name (letters, digits, '.', '_', '-')"
        )
