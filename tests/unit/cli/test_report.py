"""``cdio-stream report``: from a fresh (tiny) policies benchmark run it writes the page and
its figures, and every number on the page is the JSON's."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from cdio_stream.cli import main
from cdio_stream.cli.report import write_report
from cdio_stream.errors import ConfigError
from cdio_stream.trace import write_trace

ROOT = Path(__file__).resolve().parents[3]
FIGURES = ("success", "fig5_delay_breakdown", "fig6_delay", "fig7_compute", "fig8_bandwidth", "fig9_energy",
           "regret", "load_sweep", "profiled_success")  # fmt: skip


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("bench_policies", ROOT / "benchmarks" / "policies.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    tmp = tmp_path_factory.mktemp("bench")
    out, trace = tmp / "policies.json", tmp / "profiled.jsonl"
    # A small stand-in for the profiled trace (the real one takes minutes to profile): registry
    # model names, per-frame latencies and accuracies, as `cdio-stream profile` writes them.
    from tests.unit.sim.test_live_pipeline import live_trace

    write_trace(trace, live_trace(streams=2, frames=50, fps=25.0))
    assert bench.main(["--low", "2", "--high", "5", "--seconds", "2", "--sweep", "2,5", "--regret-slots", "60",
                       "--preference", "lstm", "--policies", "dao,rpp-only,cdco-only,cdio,all-edge,oracle",
                       "--profiled-trace", str(trace), "--out", str(out)]) == 0  # fmt: skip
    return out


@pytest.fixture(scope="module")
def page(bench_json, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", "--input", str(bench_json), "--out", str(out)]) == 0
    return out


def test_page_and_every_figure_exist(page):
    html = (page / "index.html").read_text()
    for name in FIGURES:
        png = page / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000, name
        assert f'src="{name}.png"' in html
    for title in ("Table 3", "Fig. 5", "Fig. 6", "Fig. 7", "Fig. 8", "Fig. 9", "Table 4", "Regret", "Load sweep",
                  "Success rates", "Aims", "Profiled trace"):  # fmt: skip
        assert f">{title}" in html, title


def test_numbers_on_the_page_equal_the_json(page, bench_json):
    doc = json.loads(bench_json.read_text())
    html = (page / "index.html").read_text()
    cells = re.findall(r'<td data-path="([^"]+)" data-value="([^"]+)">([^<]+)</td>', html)
    assert len(cells) > 200
    paths = {p for p, _, _ in cells}
    for section in ("grid/", "loads/", "aims/", "regret/", "sweep/", "profiled/rows/", "profiled/models/"):
        assert any(p.startswith(section) for p in paths), section
    for path, raw, text in cells:
        node = doc
        for part in path.split("/"):
            node = node[int(part)] if isinstance(node, list) else node[part]
        if node is None:
            assert text == "n/a"
            continue
        assert float(raw) == node, path
        decimals = len(text.split(".")[1]) if "." in text else 0
        key = path.rsplit("/", 1)[-1]
        scale = (
            100 if key.endswith(("success", "_both", "over_oracle", "saving")) or key == "cloud_share" else 1
        )
        scale = 1000 if key.startswith(("mean_", "median_")) and key.endswith("_s") else scale
        scale = 1e-3 if key == "wan_bytes_per_task" else scale
        assert float(text) == pytest.approx(node * scale, abs=0.5 * 10**-decimals + 1e-12), (path, text, node)


def test_table3_covers_every_version_bandwidth_and_method(page, bench_json):
    doc = json.loads(bench_json.read_text())
    html = (page / "index.html").read_text()
    table3 = html[html.index("Table 3") : html.index("Success rates")]
    for i, r in enumerate(doc["grid"]):
        assert f'data-path="grid/{i}/mean_accuracy"' in table3, r


def test_profiled_trace_covers_every_policy_and_load(page, bench_json):
    doc = json.loads(bench_json.read_text())
    html = (page / "index.html").read_text()
    section = html[html.index("Profiled trace") : html.index("Regret")]
    for i, r in enumerate(doc["profiled"]["rows"]):
        for key in ("acc_success", "delay_success", "both_success", "compute_tflop", "wan_mbps"):
            assert f'data-path="profiled/rows/{i}/{key}"' in section, (r["policy"], r["fps"], key)
    assert {r["fps"] for r in doc["profiled"]["rows"]} == {5.0, 25.0}
    assert {r["policy"] for r in doc["profiled"]["rows"]} >= {"cdio", "cdio[noisy-rpp]", "oracle"}
    assert "cdio (headline)" in section and "cdio[noisy-rpp] (upper bound)" in section


def test_not_a_benchmark_result_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"results": []}')
    with pytest.raises(ConfigError, match="not a policies benchmark result"):
        write_report(bad, tmp_path / "out")
    with pytest.raises(ConfigError, match="cannot read"):
        write_report(tmp_path / "missing.json", tmp_path / "out")
