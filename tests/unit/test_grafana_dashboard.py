"""The provisioned Grafana dashboard (deploy/grafana) queries only what the sink exports.

The exported names come from running the sink's PrometheusCollector, not from a list
kept by hand, so renaming a gauge without fixing the dashboard fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cdio_stream.messages import Costs, Result, Timings
from cdio_stream.pipeline.metrics import LiveMetrics, PrometheusCollector

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "cdio-stream.json"

# PromQL words that are not metric names.
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
}


def exported() -> tuple[set[str], set[str]]:
    """(metric names, label names) the sink's collector exposes, read back from its text format."""
    metrics = LiveMetrics()
    metrics.add(
        Result("s/1", "s", 1, "edge-1", "edge", "edge", 60.0, 0.4, 10, (), 70.0, Timings(0.1), Costs(1.0, 1.0, 1.0), 0.0)
    )  # fmt: skip
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(metrics))
    names, labels = set(), set()
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            names.add(sample.name)
            labels |= set(sample.labels)
    return names, labels


def query_words(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) a PromQL expression uses."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors like [1m]
    labels = set()
    for group in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr):
        labels |= {w.strip() for w in group.split(",") if w.strip()}
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"([a-zA-Z_]\w*)\s*[!=]~?", matchers))
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    words = set()
    for m in re.finditer(r"[a-zA-Z_:][\w:]*", expr):
        word = m.group(0)
        if expr[m.end() :].lstrip().startswith("(") or word in KEYWORDS:
            continue  # a function call or an operator
        words.add(word)
    return words, labels


def targets() -> list[tuple[str, dict]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t) for p in dash["panels"] for t in p["targets"]]


def test_query_parser_finds_metrics_and_labels():
    assert query_words('sum by (server) (rate(cdio_server_tasks{server!="x"}[1m]))') == (
        {"cdio_server_tasks"},
        {"server"},
    )
    assert query_words("cdio_a / scalar(sum(cdio_b))") == ({"cdio_a", "cdio_b"}, set())


@pytest.mark.parametrize("title,target", targets(), ids=[f"{t}-{x['refId']}" for t, x in targets()])
def test_every_query_names_exported_metrics_and_labels(title, target):
    names, labels = exported()
    used, used_labels = query_words(target["expr"])
    assert used, f"{title}: {target['expr']!r} names no metric"
    assert used <= names, f"{title}: {sorted(used - names)} are not exported by the sink ({sorted(names)})"
    assert used_labels <= labels, f"{title}: labels {sorted(used_labels - labels)} are not exported"


def test_every_exported_run_gauge_has_a_panel():
    names, _ = exported()
    shown = set().union(*(query_words(t["expr"])[0] for _, t in targets()))
    assert names - shown == set(), f"exported but on no panel: {sorted(names - shown)}"


def test_panels_use_the_provisioned_datasource():
    sources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (ds,) = sources["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == ds["uid"], panel["title"]
        assert all(t["datasource"]["uid"] == ds["uid"] for t in panel["targets"]), panel["title"]


def test_compose_wires_sink_prometheus_and_grafana():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    sink = compose["sink"]["command"]
    port = sink[sink.index("--metrics-port") + 1]
    assert sink[sink.index("--http-host") + 1] == "0.0.0.0"  # reachable from Prometheus' container
    scrape = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == [f"sink:{port}"]
    for name in ("prometheus", "grafana"):
        for volume in compose[name]["volumes"]:
            host = volume.split(":")[0]
            assert (ROOT / host).exists(), f"{name} mounts {host}, which does not exist"
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/cdio-stream.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in compose["grafana"]["volumes"]
