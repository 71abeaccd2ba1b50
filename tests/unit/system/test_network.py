"""Link models: stable and fluctuating rates, scheduled events, transmission times."""

from __future__ import annotations

import numpy as np
import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.system.network import (
    FluctuatingLink,
    ScheduledLink,
    StableLink,
    default_network,
    load_network,
    make_links,
)
from cdio_stream.system.profiles import make_servers


class TestLinks:
    def test_stable_transmission_time(self):
        link = StableLink(300e6, latency_s=0.02)
        assert link.serialisation_time(375_000, 5.0) == pytest.approx(0.01)
        assert link.transmission_time(375_000, 5.0) == pytest.approx(0.03)

    def test_fluctuating_stays_within_20_percent_and_varies(self):
        link = FluctuatingLink(300e6, fluctuation=0.2, period_s=1.0, seed=3)
        rates = np.array([link.rate_at(t + 0.5) for t in range(2000)])
        assert rates.min() >= 240e6 and rates.max() <= 360e6
        assert rates.std() > 20e6  # uniform on +-60 Mbps has sd ~35 Mbps

    def test_fluctuating_is_piecewise_constant_and_order_independent(self):
        a = FluctuatingLink(seed=1)
        b = FluctuatingLink(seed=1)
        late_first = b.rate_at(5000.2)
        assert a.rate_at(3.1) == a.rate_at(3.9)
        assert [a.rate_at(t) for t in (0.0, 10.0, 5000.7)] == [b.rate_at(t) for t in (0.0, 10.0, 5000.7)]
        assert late_first == a.rate_at(5000.2)

    def test_scheduled_collapse(self):
        link = ScheduledLink(StableLink(300e6), [(10.0, 20.0, 0.1)])
        assert link.rate_at(9.99) == 300e6
        assert link.rate_at(10.0) == pytest.approx(30e6)
        assert link.rate_at(20.0) == 300e6

    def test_bad_parameters(self):
        with pytest.raises(ConfigError):
            StableLink(0.0)
        with pytest.raises(ConfigError):
            FluctuatingLink(fluctuation=1.5)
        with pytest.raises(ConfigError):
            ScheduledLink(StableLink(), [(5.0, 1.0, 0.5)])


class TestMakeLinks:
    def test_one_link_per_server_with_tier_latency(self):
        servers = make_servers("V1")
        links = make_links(servers, "stable")
        assert set(links) == {s.id for s in servers}
        assert links["cloud"].latency_s > links["edge-1"].latency_s

    def test_one_shared_fluctuating_wan_and_stable_lan_ports_from_the_data_file(self):
        servers = make_servers("V1")
        net = default_network()
        a, b = make_links(servers, "fluctuating", seed=4), make_links(servers, "fluctuating", seed=4)
        wan = [a["cloud"].rate_at(t) for t in range(50)]
        assert wan == [b["cloud"].rate_at(t) for t in range(50)]  # seeded
        assert len(set(wan)) > 40 and all(0.8 * 300e6 <= r <= 1.2 * 300e6 for r in wan)
        assert net.wan.nominal_bps == 300e6 and net.wan.fluctuation == 0.2  # paper 4.1.1
        assert {a[s].rate_at(7.0) for s in ("edge-1", "edge-2")} == {net.lan.nominal_bps}
        assert a["edge-1"] is not a["edge-2"]
        assert make_links(servers, "fluctuating", seed=5)["cloud"].rate_at(3.0) != a["cloud"].rate_at(3.0)

    def test_network_file_needs_sources(self, tmp_path):
        bad = tmp_path / "net.yaml"
        bad.write_text(
            "version: 1\nwan: {nominal_bps: 1, fluctuation: 0, period_s: 1, latency_s: 0}\nlan: {}\n"
        )
        with pytest.raises(ConfigError, match="wan: missing nominal_source"):
            load_network(bad)

    def test_unknown_mode(self):
        with pytest.raises(ConfigError, match="bandwidth mode"):
            make_links(make_servers("V1"), "wobbly")
