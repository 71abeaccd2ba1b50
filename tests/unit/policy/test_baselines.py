"""The baselines and ablations on hand-made situations (each module's docstring says what it does)."""

from __future__ import annotations

import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.policy import ServerState, SystemState, make_policy


def where(decisions):
    return [d.server_id for d in decisions]


class TestFixedTiers:
    def test_all_edge_balances_edges_and_never_uses_the_cloud(
        self, servers_factory, task_factory, state_factory
    ):
        servers = servers_factory(n_edge=3)
        state = state_factory(servers, **{"edge-1": {"queue_delay_s": 0.5}})
        got = where(make_policy("all-edge", servers).assign([task_factory() for _ in range(4)], state))
        assert "cloud" not in got and got[0] != "edge-1" and set(got) == {"edge-2", "edge-3"}

    def test_all_cloud(self, servers_factory, task_factory, state_factory):
        servers = servers_factory()
        assert set(where(make_policy("all-cloud", servers).assign([task_factory() for _ in range(3)],
                                                                  state_factory(servers)))) == {"cloud"}  # fmt: skip

    def test_random_is_seeded_and_uses_every_server(self, servers_factory, task_factory, state_factory):
        servers = servers_factory(n_edge=2)
        tasks = [task_factory() for _ in range(60)]
        state = state_factory(servers)
        a, b = make_policy("random", servers, seed=1), make_policy("random", servers, seed=1)
        assert where(a.assign(tasks, state)) == where(b.assign(tasks, state))
        got = where(make_policy("random", servers, seed=2).assign(tasks, state))
        assert got != where(make_policy("random", servers, seed=1).assign(tasks, state))
        assert set(got) == {"edge-1", "edge-2", "cloud"}
        down = state_factory(servers, cloud={"available": False})
        assert "cloud" not in where(make_policy("random", servers, seed=2).assign(tasks, down))


class TestRppOnly:
    def test_preference_decides(self, servers_factory, task_factory, state_factory):
        servers = servers_factory()
        policy = make_policy("rpp-only", servers)
        tasks = [task_factory(preference=0.8), task_factory(preference=0.3), task_factory(preference=None)]
        got = where(policy.assign(tasks, state_factory(servers)))
        assert got[0] == "cloud" and got[1].startswith("edge") and got[2].startswith("edge")

    def test_threshold_and_unknown_tier(self, servers_factory, task_factory, state_factory):
        servers = servers_factory()
        policy = make_policy("rpp-only", servers, threshold=0.9, unknown_tier="cloud")
        got = where(
            policy.assign(
                [task_factory(preference=0.8), task_factory(preference=None)], state_factory(servers)
            )
        )
        assert got[0].startswith("edge") and got[1] == "cloud"
        with pytest.raises(ConfigError):
            make_policy("rpp-only", servers, unknown_tier="moon")


class TestJavp:
    def test_complexity_threshold(self, servers_factory, task_factory, state_factory):
        servers = servers_factory()
        policy = make_policy("javp", servers, threshold=0.6)
        got = where(
            policy.assign(
                [task_factory(complexity=0.7), task_factory(complexity=0.5)], state_factory(servers)
            )
        )
        assert got[0] == "cloud" and got[1].startswith("edge")

    def test_switches_tier_when_the_chosen_one_would_miss_the_deadline(self, servers_factory, task_factory,
                                                                       state_factory):  # fmt: skip
        servers = servers_factory()
        jammed = state_factory(servers, cloud={"queue_delay_s": 2.0})
        complex_task = task_factory(complexity=0.9, d_req=0.3)
        assert where(make_policy("javp", servers).assign([complex_task], jammed)) != ["cloud"]
        assert where(make_policy("javp", servers, delay_aware=False).assign([complex_task], jammed)) == [
            "cloud"
        ]


class TestSniper:
    def test_picks_the_earliest_predicted_completion(self, servers_factory, task_factory, state_factory):
        servers = servers_factory(n_edge=1)
        policy = make_policy("sniper", servers)
        idle = state_factory(servers)
        assert where(policy.assign([task_factory()], idle)) == ["cloud"]  # A100 + WAN beats Jetson
        busy_cloud = state_factory(servers, cloud={"queue_delay_s": 0.5})
        assert where(policy.assign([task_factory()], busy_cloud)) == ["edge-1"]

    def test_spreads_a_slot_as_queues_build(self, servers_factory, task_factory, state_factory):
        servers = servers_factory(n_edge=2)
        got = where(
            make_policy("sniper", servers).assign([task_factory() for _ in range(12)], state_factory(servers))
        )
        assert {"edge-1", "edge-2", "cloud"} == set(got)

    def test_needs_profiles_or_explicit_service_times(self, task_factory, state_factory):
        from cdio_stream.policy import ServerSpec

        servers = [
            ServerSpec("e", "edge", "mystery", "jetson-xavier-nx"),
            ServerSpec("c", "cloud", "x", "a100-40gb"),
        ]
        with pytest.raises(ConfigError, match="inference_s"):
            make_policy("sniper", servers)
        policy = make_policy("sniper", servers, inference_s={"e": 0.001, "c": 0.5})
        assert where(policy.assign([task_factory()], state_factory(servers))) == ["e"]


class TestDao:
    def test_most_accurate_server_at_full_bitrate_when_bandwidth_allows(self, servers_factory, task_factory,
                                                                         state_factory):  # fmt: skip
        servers = servers_factory()
        d = make_policy("dao", servers).assign([task_factory()], state_factory(servers))[0]
        assert (d.server_id, d.quality) == ("cloud", 1.0)

    def test_lowers_bitrate_when_bandwidth_drops(self, servers_factory, task_factory, state_factory):
        servers = servers_factory()
        slow = state_factory(servers, cloud={"bandwidth_bps": 4e6})  # 100 kB: 0.2 s at full bitrate
        d = make_policy("dao", servers).assign([task_factory(d_req=0.2)], slow)[0]
        assert d.server_id == "cloud" and d.quality < 1.0
        hopeless = state_factory(servers, cloud={"bandwidth_bps": 0.5e6})
        d = make_policy("dao", servers).assign([task_factory(d_req=0.2)], hopeless)[0]
        assert d.server_id.startswith("edge") and d.quality == 1.0

    def test_bad_qualities(self, servers_factory):
        with pytest.raises(ConfigError):
            make_policy("dao", servers_factory(), qualities=(1.0, 0.0))


class TestHindsightOracle:
    def test_cheapest_server_that_meets_the_requirements(
        self, servers_factory, task_factory, state_factory, truth
    ):
        servers = servers_factory()
        oracle = make_policy("oracle", servers, truth=truth)
        easy = task_factory(complexity=0.1, a_req=70.0)  # edge accuracy 81 >= 70
        hard = task_factory(complexity=0.8, a_req=70.0)  # edge 53, cloud 72
        hopeless = task_factory(complexity=0.9, a_req=79.0)  # nobody reaches 79: cheapest
        got = where(oracle.assign([easy, hard, hopeless], state_factory(servers)))
        assert got[0].startswith("edge") and got[1] == "cloud" and got[2].startswith("edge")

    def test_respects_deadlines_of_queued_positions(
        self, servers_factory, task_factory, state_factory, truth
    ):
        servers = servers_factory(n_edge=1)
        oracle = make_policy("oracle", servers, truth=truth)
        tasks = [task_factory(complexity=0.1, a_req=50.0, d_req=0.1, arrival_time=0.04) for _ in range(4)]
        got = where(oracle.assign(tasks, state_factory(servers)))
        assert 1 <= got.count("edge-1") <= 2  # 35 ms each: only the first positions fit 0.1 s

    def test_needs_truth(self, servers_factory, task_factory, state_factory):
        servers = servers_factory()
        with pytest.raises(ConfigError, match="truth"):
            make_policy("oracle", servers).assign([task_factory()], state_factory(servers))


class TestLoadAwareness:
    @pytest.mark.parametrize("name", ["all-edge", "rpp-only", "javp"])
    def test_unknown_queue_delay_falls_back_to_queue_length(self, name, servers_factory, task_factory):
        servers = servers_factory(n_edge=2)
        state = SystemState(
            0.0, tuple(ServerState(s.id, queue_length=5 if s.id == "edge-1" else 0) for s in servers)
        )
        got = where(make_policy(name, servers).assign([task_factory(preference=0.1, complexity=0.1)], state))
        assert got == ["edge-2"]
