"""Link models: how long a task's bytes take to reach a server (paper 4.1.1).

The numbers live in ``network.yaml`` next to this module, each with its source. The cloud
is reached over ONE WAN uplink (the paper's 300 Mbps, +-20 % when fluctuating) that carries
every camera's cloud traffic: :func:`make_links` hands every cloud server the same
:class:`Link` object, and the simulator queues all transmissions on it FIFO. Each edge node
has its own LAN port (1 Gbps, an estimate: the paper does not give the edge network).

A *fluctuating* link redraws its rate every ``period_s`` seconds uniformly within
nominal * [1 - f, 1 + f] from its own seeded generator, so all policies see the same
bandwidth sequence. A link serialises one transmission at a time; the rate in force when a
transmission starts holds for all of it.

Transmission time, as the paper times it (4.2.4: from the start of the transfer until the
last packet is received) = bytes * 8 / rate + latency.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.system.profiles import load_versioned_yaml
from cdio_stream.topology import ServerSpec

__all__ = [
    "NETWORK_FILE",
    "NOMINAL_BPS",
    "LinkProfile",
    "NetworkProfile",
    "default_network",
    "load_network",
    "Link",
    "StableLink",
    "FluctuatingLink",
    "ScheduledLink",
    "make_links",
    "BANDWIDTH_MODES",
]

NETWORK_FILE = Path(__file__).resolve().parent / "network.yaml"
BANDWIDTH_MODES = ("stable", "fluctuating")


@dataclass(frozen=True)
class LinkProfile:
    nominal_bps: float
    fluctuation: float  # applied in the "fluctuating" bandwidth mode
    period_s: float
    latency_s: float


@dataclass(frozen=True)
class NetworkProfile:
    wan: LinkProfile  # the one shared uplink to the cloud
    lan: LinkProfile  # each edge node's port


_LINK_FIELDS = ("nominal_bps", "fluctuation", "period_s", "latency_s")
_LINK_SOURCES = ("nominal_source", "fluctuation_source", "period_source", "latency_source")


def load_network(path: str | Path) -> NetworkProfile:
    """Read a network file (see ``network.yaml``); every number needs its source."""
    path = Path(path)
    doc = load_versioned_yaml(path)
    out = {}
    for key in ("wan", "lan"):
        body = doc.get(key)
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: missing {key!r} section")
        missing = [k for k in _LINK_FIELDS + _LINK_SOURCES if k not in body]
        if missing:
            raise ConfigError(f"{path}: {key}: missing {', '.join(missing)}")
        try:
            nums = {k: float(body[k]) for k in _LINK_FIELDS}
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: {key}: {', '.join(_LINK_FIELDS)} must be numbers") from None
        out[key] = LinkProfile(**nums)
    return NetworkProfile(**out)


@lru_cache(maxsize=1)
def default_network() -> NetworkProfile:
    """The packaged network.yaml (cached; immutable)."""
    return load_network(NETWORK_FILE)


NOMINAL_BPS = default_network().wan.nominal_bps  # what policies assume before measuring a link


class Link(ABC):
    """One server's uplink: a rate that may change over time plus a fixed latency."""

    def __init__(self, nominal_bps: float = NOMINAL_BPS, latency_s: float = 0.0) -> None:
        if nominal_bps <= 0 or latency_s < 0:
            raise ConfigError(
                f"link needs nominal_bps > 0 and latency_s >= 0, got {nominal_bps}, {latency_s}"
            )
        self.nominal_bps = float(nominal_bps)
        self.latency_s = float(latency_s)

    @abstractmethod
    def rate_at(self, t: float) -> float:
        """Bits per second available at virtual time ``t`` (seconds)."""

    def serialisation_time(self, nbytes: float, t: float) -> float:
        """Seconds the link is busy sending ``nbytes`` starting at ``t``."""
        return nbytes * 8.0 / self.rate_at(t)

    def transmission_time(self, nbytes: float, t: float) -> float:
        """Start of transfer to last packet received: serialisation + latency."""
        return self.serialisation_time(nbytes, t) + self.latency_s


class StableLink(Link):
    def rate_at(self, t: float) -> float:
        return self.nominal_bps


class FluctuatingLink(Link):
    """Piecewise-constant rate, redrawn every ``period_s`` uniformly in nominal * [1-f, 1+f]."""

    def __init__(
        self,
        nominal_bps: float = NOMINAL_BPS,
        latency_s: float = 0.0,
        *,
        fluctuation: float = 0.2,
        period_s: float = 1.0,
        seed: int | Sequence[int] = 0,
    ) -> None:
        super().__init__(nominal_bps, latency_s)
        if not 0 <= fluctuation < 1 or period_s <= 0:
            raise ConfigError(
                f"fluctuation must be in [0, 1) and period_s > 0, got {fluctuation}, {period_s}"
            )
        self.fluctuation = float(fluctuation)
        self.period_s = float(period_s)
        self._rng = np.random.default_rng(seed)
        self._rates = np.empty(0)

    def rate_at(self, t: float) -> float:
        k = int(t // self.period_s) if t > 0 else 0
        if k >= len(self._rates):
            # Drawn in order, in chunks: the k-th period's rate does not depend on access order.
            n = max(k + 1 - len(self._rates), 1024)
            f = self._rng.uniform(-self.fluctuation, self.fluctuation, size=n)
            self._rates = np.concatenate([self._rates, self.nominal_bps * (1.0 + f)])
        return float(self._rates[k])


class ScheduledLink(Link):
    """A base link whose rate is multiplied by ``factor`` during given windows (test scenarios)."""

    def __init__(self, base: Link, events: Sequence[tuple[float, float, float]]) -> None:
        super().__init__(base.nominal_bps, base.latency_s)
        for start, end, factor in events:
            if end <= start or factor <= 0:
                raise ConfigError(f"bad link event ({start}, {end}, {factor}): need end > start, factor > 0")
        self.base = base
        self.events = tuple((float(s), float(e), float(f)) for s, e, f in events)

    def rate_at(self, t: float) -> float:
        rate = self.base.rate_at(t)
        for start, end, factor in self.events:
            if start <= t < end:
                rate *= factor
        return rate


def make_links(
    servers: Sequence[ServerSpec],
    mode: str = "stable",
    *,
    network: NetworkProfile | None = None,
    seed: int = 0,
) -> dict[str, Link]:
    """Each server's link: every cloud server gets the one shared WAN :class:`Link` object,
    each edge node its own LAN link; fluctuating links get independent seeded sequences."""
    if mode not in BANDWIDTH_MODES:
        raise ConfigError(f"bandwidth mode must be one of {BANDWIDTH_MODES}, got {mode!r}")
    net = network or default_network()

    def build(profile: LinkProfile, index: int) -> Link:
        if mode == "stable" or profile.fluctuation == 0:
            return StableLink(profile.nominal_bps, profile.latency_s)
        return FluctuatingLink(profile.nominal_bps, profile.latency_s, fluctuation=profile.fluctuation,
                               period_s=profile.period_s, seed=(seed, index))  # fmt: skip

    wan = build(net.wan, 0)
    links: dict[str, Link] = {}
    for index, server in enumerate(servers):
        links[server.id] = wan if server.tier == "cloud" else build(net.lan, index + 1)
    return links
