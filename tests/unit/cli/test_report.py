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

ROOT = Path(__file__).resolve().parents[3]
FIGURES = ("success", "fig5_delay_breakdown", "fig6_delay", "fig7_compute", "fig8_bandwidth", "fig9_energy",
           "regret", "load_sweep")  # fmt: skip


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("bench_policies", ROOT / "benchmarks" / "policies.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path_factory.mktemp("bench") / "policies.json"
    assert bench.main(["--low", "2", "--high", "5", "--seconds", "2", "--sweep", "2,5", "--regret-slots", "60",
                       "--preference", "noisy-oracle", "--policies", "dao,rpp-only,cdco-only,cdio,all-edge,oracle",
                       "--out", str(out)]) == 0  # fmt: skip
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
                  "Success rates", "Aims"):  # fmt: skip
        assert f">{title}" in html, title


def test_numbers_on_the_page_equal_the_json(page, bench_json):
    doc = json.loads(bench_json.read_text())
    html = (page / "index.html").read_text()
    cells = re.findall(r'<td data-path="([^"]+)" data-value="([^"]+)">([^<]+)</td>', html)
    assert len(cells) > 200
    paths = {p for p, _, _ in cells}
    for section in ("grid/", "loads/", "aims/", "regret/", "sweep/"):
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
        scale = 100 if key.endswith(("success", "_both", "over_oracle", "saving")) else 1
        scale = 1000 if key.startswith("mean_") and key.endswith("_s") else scale
        scale = 1e-3 if key == "wan_bytes_per_task" else scale
        assert float(text) == pytest.approx(node * scale, abs=0.5 * 10**-decimals + 1e-12), (path, text, node)


def test_table3_covers_every_version_bandwidth_and_method(page, bench_json):
    doc = json.loads(bench_json.read_text())
    html = (page / "index.html").read_text()
    table3 = html[html.index("Table 3") : html.index("Success rates")]
    for i, r in enumerate(doc["grid"]):
        assert f'data-path="grid/{i}/mean_accuracy"' in table3, r


def test_not_a_benchmark_result_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"results": []}')
    with pytest.raises(ConfigError, match="not a policies benchmark result"):
        write_report(bad, tmp_path / "out")
    with pytest.raises(ConfigError, match="cannot read"):
        write_report(tmp_path / "missing.json", tmp_path / "out")
