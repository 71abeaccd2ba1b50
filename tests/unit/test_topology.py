from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from cdio_stream.errors import ConfigError
from cdio_stream.topology import ServerSpec, load_topology, parse_topology

REPO_TOPICS = Path(__file__).resolve().parents[2] / "topics.yaml"


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(REPO_TOPICS.read_text())


class TestShippedFile:
    def test_loads_with_paper_servers(self):
        t = load_topology(REPO_TOPICS)
        assert [s.tier for s in t.servers].count("edge") == 4
        assert [s.tier for s in t.servers].count("cloud") == 1
        assert t.frames.name == "cdio.frames"
        assert t.assignment_topic("edge-1").name == "cdio.assign.edge-1"
        names = [x.name for x in t.all_topics()]
        assert len(names) == len(set(names)) == 10 + 5
        assert t.scheduler_state.config() == {"cleanup.policy": "compact"}
        assert t.sink_state.config() == {"cleanup.policy": "compact"}
        assert t.rpp_models.name == "cdio.rpp-models" and t.rpp_models.config() == {
            "cleanup.policy": "compact"
        }
        assert t.policy_view.config() == {"cleanup.policy": "compact"}
        assert t.calibration.name == "cdio.calibration" and t.calibration.config() == {
            "cleanup.policy": "compact"
        }
        assert t.server_registry.name == "cdio.servers" and t.server_registry.config() == {
            "cleanup.policy": "compact"
        }

    def test_with_prefix_renames_every_topic(self):
        t = load_topology(REPO_TOPICS).with_prefix("test-1.")
        assert all(x.name.startswith("test-1.") for x in t.all_topics())
        assert t.dead_letter.name == "test-1.dead-letter" and t.rpp_models.name == "test-1.rpp-models"
        assert t.calibration.name == "test-1.calibration"
        assert t.assignment_topic("cloud").name == "test-1.assign.cloud"


class TestValidation:
    @pytest.mark.parametrize(
        ("mutate", "message"),
        [
            (lambda r: r["topics"].pop("results"), "topics.results: missing"),
            (
                lambda r: r["topics"]["frames"].update(partitions=0),
                "topics.frames.partitions: must be a positive integer",
            ),
            (lambda r: r["topics"]["tasks"].update(name="bad name!"), "topics.tasks.name"),
            (lambda r: r["topics"]["frames"].update(colour="red"), "topics.frames.colour: unknown key"),
            (lambda r: r["servers"][0].update(tier="fog"), r"servers\[0\].tier: must be one of edge, cloud"),
            (lambda r: r["servers"][1].update(id="edge-1"), "duplicate id"),
            (lambda r: r["servers"][2].pop("device"), r"servers\[2\].device: missing"),
            (
                lambda r: r.update(servers=[s for s in r["servers"] if s["tier"] == "edge"]),
                "at least one cloud",
            ),
            (lambda r: r["assignments"].update(name="assign"), "assignments.name"),
            (lambda r: r["limits"].update(max_frame_bytes="big"), "limits.max_frame_bytes"),
            (lambda r: r.update(versoin=1), "versoin: unknown key"),
        ],
    )
    def test_bad_key_is_named(self, raw, mutate, message):
        bad = copy.deepcopy(raw)
        mutate(bad)
        with pytest.raises(ConfigError, match=message):
            parse_topology(bad)

    def test_file_errors_name_the_file(self, tmp_path):
        p = tmp_path / "topics.yaml"
        p.write_text("topics: [")
        with pytest.raises(ConfigError, match="topics.yaml: not valid YAML"):
            load_topology(p)
        with pytest.raises(ConfigError, match="cannot read"):
            load_topology(tmp_path / "missing.yaml")

    def test_unknown_server(self):
        with pytest.raises(ConfigError, match="unknown server id 'edge-9'"):
            load_topology(REPO_TOPICS).assignment_topic("edge-9")

    def test_the_assignment_name_of_a_server_that_joined_later(self):
        # An inference worker forwards shadow runs to servers the scheduler names, also ones
        # that joined after the worker loaded its topology (agents/inference.py).
        t = load_topology(REPO_TOPICS)
        assert (
            t.assignment_name("edge-9")
            == t.with_server(ServerSpec("edge-9", "edge", "edge", "jetson-xavier-nx"))
            .assignment_topic("edge-9")
            .name
        )
        assert t.assignment_name("edge-1") == t.assignment_topic("edge-1").name
