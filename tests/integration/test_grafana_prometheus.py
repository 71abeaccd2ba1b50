"""Every query of the provisioned Grafana dashboard, evaluated by a real Prometheus that
scrapes the sink's metrics exporter: a PromQL mistake or a name the sink does not export
gives an error or an empty answer here (tests/unit/test_grafana_dashboard.py checks the
names without a server). Needs the ``prometheus`` binary (Debian package ``prometheus``).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import start_http_server

from cdio_stream.messages import Costs, Result, Timings
from cdio_stream.pipeline.metrics import LiveMetrics, PrometheusCollector
from tests.integration.external import find_binary

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "cdio-stream.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port: int, expr: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:  # 400 + JSON reason for a bad query; 503 text while starting
        body = exc.read().decode(errors="replace")
        try:
            return json.loads(body)
        except ValueError:
            return {"status": "error", "error": f"HTTP {exc.code}: {body[:200]}"}


def test_every_dashboard_query_evaluates_on_scraped_sink_metrics(tmp_path):
    prometheus = find_binary(
        ("prometheus",), "CDIO_PROMETHEUS", "install it with `apt-get install -y prometheus` (Debian)"
    )
    metrics = LiveMetrics()
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(metrics))
    metrics_port, prom_port = free_port(), free_port()
    server, thread = start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: sink, static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]}}]\n"
    )
    proc = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{prom_port}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
    )  # fmt: skip
    try:
        # Results arrive while Prometheus scrapes, so rates see the counters grow.
        deadline, i = time.monotonic() + 60, 0
        while True:
            for sid, tier in (("edge-1", "edge"), ("cloud", "cloud")):
                i += 1
                metrics.add(Result(
                    f"s/{i}", "s", i, sid, tier, tier, 60.0, 0.4, 1000, (), 50.0 + i % 30,
                    Timings(inference=0.1 + (i % 5) / 10), Costs(1.0, 1e6, 2.0), time.time(),
                ))  # fmt: skip
            time.sleep(0.25)
            try:
                up = query(prom_port, "count_over_time(cdio_tasks[1m])")
            except OSError:
                up = None  # Prometheus still starting
            ready = up is not None and up["status"] == "success" and up["data"]["result"]
            if ready and float(up["data"]["result"][0]["value"][1]) >= 4:
                break
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "Prometheus never scraped the sink 4 times"

        panels = json.loads(DASHBOARD.read_text())["panels"]
        checked = 0
        for panel in panels:
            for target in panel["targets"]:
                answer = query(prom_port, target["expr"])
                assert answer["status"] == "success", (panel["title"], target["expr"], answer.get("error"))
                assert answer["data"]["result"], f"{panel['title']}: {target['expr']!r} returned no series"
                checked += 1
        assert checked >= len(panels)
        per_server = query(prom_port, "cdio_server_tasks")["data"]["result"]
        assert {r["metric"]["server"] for r in per_server} == {"edge-1", "cloud"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        server.shutdown()
