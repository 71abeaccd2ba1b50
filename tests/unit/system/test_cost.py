"""Computing / bandwidth consumption, energy and the bitrate model (paper 4.2.3-4.2.5)."""

from __future__ import annotations

import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.system.cost import (
    bandwidth_consumption,
    compute_consumption,
    scaled_accuracy,
    scaled_payload,
    task_energy,
)
from cdio_stream.system.profiles import default_profiles


class TestConsumption:
    def test_compute_is_tflops_times_inference_time(self):
        a100 = default_profiles().device("a100-40gb")
        assert compute_consumption(a100, 0.01) == pytest.approx(3.12)

    def test_bandwidth_is_bits_over_transmission_time(self):
        assert bandwidth_consumption(125_000, 0.01) == pytest.approx(100e6)
        assert bandwidth_consumption(10, 0.0) == 0.0

    def test_energy_parts(self):
        nx = default_profiles().device("jetson-xavier-nx")
        e = task_energy(nx, inference_s=0.04, idle_s=1.0, sending_s=0.002)
        assert e.working_j == pytest.approx(15.0 * 0.04)
        assert e.idle_j == pytest.approx(3.0)
        assert e.transmission_j == pytest.approx(0.5 * 0.002)
        assert e.total_j == pytest.approx(e.working_j + e.idle_j + e.transmission_j)
        assert task_energy(nx, 0.04, -1.0, 0.0).idle_j == 0.0


class TestQuality:
    def test_payload_and_accuracy_shrink_with_quality(self):
        assert scaled_payload(100_000, 0.5) == 50_000
        assert scaled_accuracy(70.0, 1.0) == 70.0
        assert 60.0 < scaled_accuracy(70.0, 0.5) < 70.0

    def test_quality_bounds(self):
        with pytest.raises(ConfigError):
            scaled_payload(100, 0.0)
        with pytest.raises(ConfigError):
            scaled_accuracy(50.0, 1.2)


class TestObjectiveCost:
    def test_only_wan_traffic_costs_bandwidth(self):
        from cdio_stream.system.cost import objective_cost, wan_megabits

        assert wan_megabits("edge", 125_000) == 0.0  # edge nodes are on the LAN
        assert wan_megabits("cloud", 125_000) == pytest.approx(1.0)
        assert objective_cost(2.0, 1.0, phi=0.5) == pytest.approx(2.5)

    def test_regret_env_prices_servers_with_the_policies_cost(self):
        from cdio_stream.policy import ContextSpace
        from cdio_stream.sim import SyntheticTraceConfig, synthetic_trace
        from cdio_stream.sim.regret import StationaryEnv
        from cdio_stream.system import default_profiles, make_servers
        from cdio_stream.system.cost import compute_consumption, objective_cost, wan_megabits

        servers = make_servers("V1", n_edge=1)
        trace = synthetic_trace(SyntheticTraceConfig(streams=1, frames=20, seed=0))
        env = StationaryEnv(
            trace, servers, ContextSpace((0.5,), (65.0,), True), payload_bytes=50_000, phi=2.0
        )
        prof = default_profiles()
        for j, s in enumerate(servers):
            u = compute_consumption(prof.device(s.device), prof.inference_time(s.model, s.device))
            assert env.cost[j] == pytest.approx(objective_cost(u, wan_megabits(s.tier, 50_000), 2.0))
