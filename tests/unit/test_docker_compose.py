"""docker-compose.yml cannot run here (no Docker engine); check it agrees with topics.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from cdio_stream.topology import load_topology

ROOT = Path(__file__).resolve().parents[2]


class TestDockerCompose:
    def setup_method(self):
        self.compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        self.topology = load_topology(ROOT / "topics.yaml")
        self.services = self.compose["services"]

    def test_one_inference_worker_per_server(self):
        served = []
        for svc in self.services.values():
            cmd = svc.get("command", [])
            if cmd[:3] == ["cdio-stream", "worker", "inference"]:
                served.append(cmd[cmd.index("--server") + 1])
        assert sorted(served) == sorted(self.topology.server_ids)

    def test_every_role_runs_and_topics_come_from_topics_yaml(self):
        roles = {
            svc["command"][2]
            for svc in self.services.values()
            if svc.get("command", [])[:2] == ["cdio-stream", "worker"]
        }
        from agents.app import ROLES

        assert roles == set(ROLES)
        assert self.services["topics"]["command"] == ["cdio-stream", "topics", "create"]
        for name, svc in self.services.items():
            if not svc.get("image", "").startswith("cdio-stream"):
                continue  # the broker, Prometheus, Grafana
            assert "./topics.yaml:/app/topics.yaml:ro" in svc["volumes"], name
            assert svc["environment"]["CDIO_TOPICS"] == "/app/topics.yaml", name
            assert svc["environment"]["CDIO_KAFKA_BOOTSTRAP"] == "kafka:9092", name

    def test_every_worker_command_parses_into_its_role_options(self):
        from dataclasses import fields

        from cdio_stream.cli import build_parser
        from cdio_stream.cli.worker import FLAGS, options

        commands = [
            svc["command"][1:] for svc in self.services.values() if svc.get("command", [])[1:2] == ["worker"]
        ]
        assert len(commands) == len(self.topology.server_ids) + 4  # preprocess, scheduler, sink, trainer
        for command in commands:
            opts = options(build_parser().parse_args(command))
            assert opts.role == command[1]
            own = {FLAGS[f.name] for f in fields(opts)}
            assert {t for t in command if t.startswith("--")} <= own, command  # none is ignored

    def test_no_topic_name_is_hard_coded(self):
        text = (ROOT / "docker-compose.yml").read_text()
        for spec in self.topology.all_topics():
            assert spec.name not in text, spec.name

    def test_broker_is_kraft_apache_kafka(self):
        kafka = self.services["kafka"]
        assert kafka["image"].startswith("apache/kafka:4.")
        assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
