"""Link models: how long a task's bytes take to reach a server (paper 4.1.1).

Each server has its own link from the camera gateway: the edge nodes sit on the LAN
(1 ms one-way latency by default), the cloud behind the WAN (20 ms). Every link has the
paper's nominal 300 Mbps; a *fluctuating* link redraws its rate every ``period_s``
seconds uniformly within +-20 % of nominal from its own seeded generator, so all policies
see the same bandwidth sequence. A link serialises one transmission at a time (the
simulator keeps its FIFO); the rate in force when a transmission starts holds for all of it.

Transmission time, as the paper times it (4.2.4: from the start of the transfer until the
last packet is received) = bytes * 8 / rate + latency.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.topology import ServerSpec

__all__ = [
    "NOMINAL_BPS",
    "Link",
    "StableLink",
    "FluctuatingLink",
    "ScheduledLink",
    "make_links",
    "BANDWIDTH_MODES",
]

NOMINAL_BPS = 300e6
BANDWIDTH_MODES = ("stable", "fluctuating")


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
    nominal_bps: float = NOMINAL_BPS,
    fluctuation: float = 0.2,
    period_s: float = 1.0,
    edge_latency_s: float = 0.001,
    cloud_latency_s: float = 0.02,
    seed: int = 0,
) -> dict[str, Link]:
    """One link per server; fluctuating links get independent seeded sequences per server."""
    if mode not in BANDWIDTH_MODES:
        raise ConfigError(f"bandwidth mode must be one of {BANDWIDTH_MODES}, got {mode!r}")
    links: dict[str, Link] = {}
    for index, server in enumerate(servers):
        latency = cloud_latency_s if server.tier == "cloud" else edge_latency_s
        if mode == "stable":
            links[server.id] = StableLink(nominal_bps, latency)
        else:
            links[server.id] = FluctuatingLink(
                nominal_bps, latency, fluctuation=fluctuation, period_s=period_s, seed=(seed, index)
            )
    return links
