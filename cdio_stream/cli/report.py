"""``cdio-stream report``: the policies benchmark's JSON as one HTML page of the paper's tables
and figures (PNG plots, matplotlib).

    python benchmarks/policies.py            # writes benchmarks/results/policies.json
    cdio-stream report --input benchmarks/results/policies.json --out report/

The page (``OUT/index.html``, PNGs next to it) has: Table 3 (mean accuracy by method x
V1-V4 x bandwidth), the success rates at both loads, Fig. 5 (delay breakdown), Fig. 6
(delay by method), Fig. 7 (compute), Fig. 8 (bandwidth, the paper's per-task definition and
WAN uplink occupancy), Fig. 9 (energy), Table 4 (ablations), the aims, the regret curve,
the load sweep and, when the benchmark ran it, every policy on the profiled trace (the shipped
detectors on the topology's servers, CDIO with the LSTM as headline, the noisy oracle as its
upper bound). Every number in a table carries ``data-path`` (where it is in the JSON) and
``data-value`` (the value itself), so a test can check the page against the JSON.
"""

from __future__ import annotations

import argparse
import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["register", "run", "write_report"]

DEFAULT_INPUT = Path("benchmarks/results/policies.json")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="the policies benchmark's JSON as an HTML page with the paper's figures",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="benchmarks/policies.py JSON")
    p.add_argument("--out", type=Path, default=Path("report"), help="folder for index.html and the PNGs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    page = write_report(args.input, args.out)
    print(f"wrote {page} ({len(list(args.out.glob('*.png')))} figures)")
    return 0


# ---------------------------------------------------------------------------- page helpers
class _Page:
    def __init__(self, doc: dict[str, Any], out: Path) -> None:
        self.doc, self.out = doc, out
        self.parts: list[str] = []
        self.figures: list[str] = []

    def h(self, level: int, text: str) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def cell(self, path: str, f: str, scale: float = 1.0) -> str:
        value = _at(self.doc, path)
        if value is None:
            return f'<td data-path="{path}" data-value="null">n/a</td>'
        return f'<td data-path="{path}" data-value="{value!r}">{format(value * scale, f)}</td>'

    def table(self, caption: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """``rows``: lists of ready HTML cells (:meth:`cell`, or ``<th>`` labels)."""
        out = [f"<table><caption>{html.escape(caption)}</caption><tr>"]
        out += [f"<th>{html.escape(h)}</th>" for h in head]
        out.append("</tr>")
        for row in rows:
            out.append("<tr>" + "".join(row) + "</tr>")
        out.append("</table>")
        self.parts.append("".join(out))

    def figure(self, name: str, caption: str, draw: Callable[[Any], None], size=(9.0, 4.0)) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=size, dpi=100)
        draw(fig)
        fig.tight_layout()
        fig.savefig(self.out / f"{name}.png")
        plt.close(fig)
        self.figures.append(f"{name}.png")
        self.parts.append(f'<figure><img src="{name}.png" alt="{html.escape(caption)}">'
                          f"<figcaption>{html.escape(caption)}</figcaption></figure>")  # fmt: skip


def _at(doc: Any, path: str) -> Any:
    """The value at a JSON-pointer-like ``path`` ('loads/3/both_success')."""
    node = doc
    for part in path.split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _th(text: str) -> str:
    return f"<th>{html.escape(str(text))}</th>"


def _index(rows: list[dict], **match: Any) -> dict[str, int]:
    """policy -> row index among ``rows`` matching every key=value."""
    return {r["policy"]: i for i, r in enumerate(rows) if all(r.get(k) == v for k, v in match.items())}


def _bars(ax, labels: Sequence[str], series: dict[str, Sequence[float]], ylabel: str) -> None:
    import numpy as np

    x = np.arange(len(labels))
    width = 0.8 / max(len(series), 1)
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)


# ---------------------------------------------------------------------------- profiled trace
PROFILED_COLUMNS = (("acc_success", "acc ok %", ".1f", 100.0), ("delay_success", "delay ok %", ".1f", 100.0),
                    ("both_success", "both ok %", ".1f", 100.0), ("mean_accuracy", "mAP50", ".2f", 1.0),
                    ("mean_delay_s", "delay ms", ".1f", 1000.0), ("compute_tflop", "TFLOP/task", ".3f", 1.0),
                    ("wan_mbps", "WAN Mbps", ".1f", 1.0), ("energy_j_per_task", "J/task", ".3f", 1.0),
                    ("cloud_share", "cloud %", ".1f", 100.0))  # fmt: skip


def _profiled(page: _Page, prof: dict[str, Any]) -> None:
    """Every policy on the profiled trace (benchmarks/policies.py, issue #12 item 4)."""
    rows = prof["rows"]
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    loads = list(dict.fromkeys(r["fps"] for r in rows))
    page.h(2, "Profiled trace: the shipped detectors on the topology's servers")
    page.p(f"Trace: {prof['trace']} ({prof['streams']} cameras). The servers of topics.yaml run the shipped "
           "detectors at their measured latencies, one frame at a time; A^q is drawn from the auto range of the "
           "detectors' model cards; stable bandwidth. The same frames at each rate per camera. CDIO's headline row "
           f"({prof['headline']}) takes RPP's preference from the shipped LSTM; {prof['upper_bound']} is CDIO with the "
           "noisy-oracle preference (10 % wrong), the upper bound a better RPP could reach; oracle is the hindsight "
           "oracle.")  # fmt: skip
    page.table(
        "the trace and the deployment",
        ["what", "value"],
        [[_th("frames"), page.cell("profiled/frames", ".0f")],
         [_th("A^q from, mAP50 %"), page.cell("profiled/accuracy_range/0", ".1f")],
         [_th("A^q to, mAP50 %"), page.cell("profiled/accuracy_range/1", ".1f")]]
        + [[_th(f"{m}: mean mAP50 % on the trace"), page.cell(f"profiled/models/{m}/mean_map50", ".2f")]
           for m in prof["models"]]
        + [[_th(f"{m}: median latency, ms"), page.cell(f"profiled/models/{m}/median_latency_s", ".1f", 1000.0)]
           for m in prof["models"]],
    )  # fmt: skip
    for fps in loads:
        idx = _index(rows, fps=fps)
        table = []
        for p in policies:
            label = p + (" (headline)" if p == prof["headline"] else " (upper bound)" if p == prof["upper_bound"]
                         else "")  # fmt: skip
            table.append([_th(label)] + [page.cell(f"profiled/rows/{idx[p]}/{k}", f, sc)
                                         for k, _, f, sc in PROFILED_COLUMNS])  # fmt: skip
        page.table(f"{prof['streams']} cameras x {fps:g} fps = {prof['streams'] * fps:g} frames/s",
                   ["policy", *(c for _, c, _, _ in PROFILED_COLUMNS)], table)  # fmt: skip

    def success(fig):
        for k, fps in enumerate(loads):
            ax = fig.add_subplot(1, len(loads), k + 1)
            idx = _index(rows, fps=fps)
            _bars(ax, policies, {label: [100 * rows[idx[p]][key] for p in policies]
                                 for key, label, _, _ in PROFILED_COLUMNS[:3]}, "% of tasks")  # fmt: skip
            ax.set_title(f"{prof['streams']} cameras x {fps:g} fps", fontsize=9)

    page.figure("profiled_success", "Success rates per policy on the profiled trace", success, (11, 4))


# ---------------------------------------------------------------------------- the report
def write_report(input_path: Path, out: Path) -> Path:
    from cdio_stream.errors import ConfigError

    try:
        doc = json.loads(Path(input_path).read_text())
    except OSError as exc:
        raise ConfigError(
            f"cannot read {input_path}: {exc.strerror} (run benchmarks/policies.py first)"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{input_path}: not JSON: {exc}") from None
    missing = [k for k in ("meta", "loads", "grid", "sweep", "regret", "aims") if k not in doc]
    if missing:
        raise ConfigError(f"{input_path}: not a policies benchmark result (missing {', '.join(missing)})")
    out.mkdir(parents=True, exist_ok=True)
    page = _Page(doc, out)
    meta = doc["meta"]
    loads, grid, sweep = doc["loads"], doc["grid"], doc["sweep"]
    policies = list(dict.fromkeys(r["policy"] for r in loads))
    grid_policies = list(dict.fromkeys(r["policy"] for r in grid))
    bandwidths = list(dict.fromkeys(r["bandwidth"] for r in loads))
    deployments = list(dict.fromkeys(r["deployment"] for r in grid))
    load_names = list(meta["loads"])

    page.h(1, "CDIO: policies under load")
    page.p(f"Synthetic trace, {meta['fps']:g} fps per camera for {meta['seconds']:g} s, seed {meta['seed']}, "
           f"RPP preference {meta['preference']}. Loads: "
           + ", ".join(f"{k} = {v} cameras" for k, v in meta["loads"].items())
           + f". The V1-V4 grid is at the {doc['grid_load']} load; the sweep is V1, fluctuating bandwidth. "
           "Bandwidth is shown two ways: the paper's per-task bits / transmission time, and WAN uplink "
           "occupancy (Mbit/s used on the one shared cloud uplink over the run).")  # fmt: skip

    # Table 3 ------------------------------------------------------------------------------
    page.h(2, "Table 3: mean accuracy (mAP50 %) by method, version and bandwidth")
    rows = []
    for bw in bandwidths:
        for dep in deployments:
            idx = _index(grid, bandwidth=bw, deployment=dep)
            rows.append(
                [_th(bw), _th(dep)]
                + [page.cell(f"grid/{idx[p]}/mean_accuracy", ".2f") for p in grid_policies]
            )
    page.table(f"at the {doc['grid_load']} load", ["bandwidth", "version", *grid_policies], rows)

    # success rates ------------------------------------------------------------------------
    page.h(2, "Success rates (V1)")
    metrics = (("acc_success", "acc ok %"), ("delay_success", "delay ok %"), ("both_success", "both ok %"))
    for load in load_names:
        rows = []
        for bw in bandwidths:
            idx = _index(loads, load=load, bandwidth=bw)
            for p in policies:
                rows.append([_th(bw), _th(p)] + [page.cell(f"loads/{idx[p]}/{k}", ".1f", 100) for k, _ in metrics]
                            + [page.cell(f"loads/{idx[p]}/wan_mbps", ".1f"),
                               page.cell(f"loads/{idx[p]}/compute_tflop", ".3f"),
                               page.cell(f"loads/{idx[p]}/energy_j_per_task", ".3f")])  # fmt: skip
        page.table(f"{load} load: {meta['loads'][load]} cameras",
                   ["bandwidth", "policy", *(m for _, m in metrics), "WAN Mbps", "TFLOP/task", "J/task"], rows)  # fmt: skip

    def success(fig):
        for k, load in enumerate(load_names):
            ax = fig.add_subplot(1, len(load_names), k + 1)
            idx = _index(loads, load=load, bandwidth=bandwidths[-1])
            _bars(
                ax,
                policies,
                {m: [100 * loads[idx[p]][key] for p in policies] for key, m in metrics},
                "% of tasks",
            )
            ax.set_title(f"{load} load ({meta['loads'][load]} cameras), {bandwidths[-1]}", fontsize=9)

    page.figure("success", "Success rates per policy at both loads", success, (11, 4))

    # Fig 5 --------------------------------------------------------------------------------
    page.h(2, "Fig. 5: delay breakdown")
    parts = (("mean_preprocess_s", "preprocess"), ("mean_queue_s", "queue"),
             ("mean_transmission_s", "transmission"), ("mean_inference_s", "inference"))  # fmt: skip

    def breakdown(fig):
        import numpy as np

        for k, load in enumerate(load_names):
            ax = fig.add_subplot(1, len(load_names), k + 1)
            idx = _index(loads, load=load, bandwidth=bandwidths[-1])
            bottom = np.zeros(len(policies))
            for key, label in parts:
                vals = np.array([1000 * loads[idx[p]][key] for p in policies])
                ax.bar(policies, vals, bottom=bottom, label=label)
                bottom += vals
            ax.set_yscale("symlog", linthresh=100)
            ax.set_ylabel("mean delay, ms (symlog)")
            ax.set_title(f"{load} load, {bandwidths[-1]}", fontsize=9)
            ax.tick_params(axis="x", rotation=30, labelsize=8)
            ax.legend(fontsize=7)

    page.figure("fig5_delay_breakdown", "Fig. 5: mean delay split into preprocess, queue, transmission, inference",
                breakdown, (11, 4))  # fmt: skip
    rows = []
    for load in load_names:
        idx = _index(loads, load=load, bandwidth=bandwidths[-1])
        for p in policies:
            rows.append([_th(load), _th(p)] + [page.cell(f"loads/{idx[p]}/{k}", ".1f", 1000) for k, _ in parts]
                        + [page.cell(f"loads/{idx[p]}/mean_delay_s", ".1f", 1000)])  # fmt: skip
    page.table(
        f"delay parts, ms ({bandwidths[-1]} bandwidth)",
        ["load", "policy", *(n for _, n in parts), "total"],
        rows,
    )

    # Figs 6, 7, 9 from the grid -----------------------------------------------------------
    for name, key, title, ylabel, f, scale in (
        ("fig6_delay", "mean_delay_s", "Fig. 6: mean delay by method and version", "ms", ".1f", 1000.0),
        ("fig7_compute", "compute_tflop", "Fig. 7: computing consumption by method and version", "TFLOP/task", ".3f",
         1.0),
        ("fig9_energy", "energy_j_per_task", "Fig. 9: energy by method and version", "J/task", ".3f", 1.0),
    ):  # fmt: skip
        page.h(2, title)
        bw = bandwidths[-1]

        def draw(fig, key=key, ylabel=ylabel, scale=scale, bw=bw):
            ax = fig.add_subplot(1, 1, 1)
            series = {}
            for dep in deployments:
                idx = _index(grid, bandwidth=bw, deployment=dep)
                series[dep] = [scale * grid[idx[p]][key] for p in grid_policies]
            _bars(ax, grid_policies, series, ylabel)
            if key == "mean_delay_s":
                ax.set_yscale("log")

        page.figure(name, f"{title} ({bw} bandwidth, {doc['grid_load']} load)", draw)
        rows = []
        for dep in deployments:
            idx = _index(grid, bandwidth=bw, deployment=dep)
            rows.append([_th(dep)] + [page.cell(f"grid/{idx[p]}/{key}", f, scale) for p in grid_policies])
        page.table(f"{ylabel}, {bw} bandwidth", ["version", *grid_policies], rows)

    # Fig 8: bandwidth both ways -----------------------------------------------------------
    page.h(2, "Fig. 8: bandwidth, both definitions")
    page.p("Left: the paper's definition (4.2.4), bits sent / transmission time averaged over tasks: highest on "
           "the fastest link, so an all-edge policy on the 1 Gbps LAN looks like the heaviest user. Right: WAN "
           "uplink occupancy, the Mbit/s the run put on the one shared 300 Mbps cloud uplink; this is what the "
           "bandit's phi*B term weighs.")  # fmt: skip

    def bandwidth(fig):
        for k, (key, label) in enumerate((("bandwidth_mbps", "paper: Mbps per task"),
                                          ("wan_mbps", "WAN uplink occupancy, Mbps"))):  # fmt: skip
            ax = fig.add_subplot(1, 2, k + 1)
            series = {}
            for load in load_names:
                idx = _index(loads, load=load, bandwidth=bandwidths[-1])
                series[f"{load} load"] = [loads[idx[p]][key] for p in policies]
            _bars(ax, policies, series, label)
            ax.set_title(label, fontsize=9)

    page.figure(
        "fig8_bandwidth",
        f"Fig. 8: bandwidth per policy, both definitions ({bandwidths[-1]})",
        bandwidth,
        (11, 4),
    )
    rows = []
    for load in load_names:
        idx = _index(loads, load=load, bandwidth=bandwidths[-1])
        for p in policies:
            rows.append([_th(load), _th(p), page.cell(f"loads/{idx[p]}/bandwidth_mbps", ".1f"),
                         page.cell(f"loads/{idx[p]}/wan_mbps", ".1f"),
                         page.cell(f"loads/{idx[p]}/wan_bytes_per_task", ".1f", 1e-3)])  # fmt: skip
    page.table("bandwidth", ["load", "policy", "paper Mbps/task", "WAN Mbps", "WAN kB/task"], rows)

    # Table 4: ablations -------------------------------------------------------------------
    page.h(2, "Table 4: ablations (RPP alone, CDCO alone, both)")
    ablations = [p for p in (*meta.get("ablations", ("cdio", "rpp-only", "cdco-only")), "cdio[noisy-rpp]")
                 if p in policies]  # fmt: skip
    rows = []
    for load in load_names:
        for bw in bandwidths:
            idx = _index(loads, load=load, bandwidth=bw)
            for p in ablations:
                rows.append([_th(load), _th(bw), _th(p)]
                            + [page.cell(f"loads/{idx[p]}/{k}", ".1f", 100) for k, _ in metrics]
                            + [page.cell(f"loads/{idx[p]}/mean_accuracy", ".2f"),
                               page.cell(f"loads/{idx[p]}/wan_mbps", ".1f")])  # fmt: skip
    page.table("V1", ["load", "bandwidth", "variant", *(m for _, m in metrics), "mAP50", "WAN Mbps"], rows)

    # aims ---------------------------------------------------------------------------------
    page.h(2, "Aims: CDIO against the hindsight oracle and the best baseline")
    rows = []
    for i, a in enumerate(doc["aims"]):
        rows.append([_th(a["load"]), _th(a["bandwidth"]), page.cell(f"aims/{i}/cdio_both", ".1f", 100),
                     page.cell(f"aims/{i}/oracle_both", ".1f", 100), page.cell(f"aims/{i}/cdio_over_oracle", ".1f", 100),
                     _th(a.get("best_baseline", "-")), page.cell(f"aims/{i}/best_baseline_both", ".1f", 100),
                     page.cell(f"aims/{i}/best_baseline_wan_mbps", ".1f"), page.cell(f"aims/{i}/cdio_wan_mbps", ".1f"),
                     page.cell(f"aims/{i}/wan_saving", ".1f", 100)])  # fmt: skip
    page.table("aim: CDIO >= 95 % of the oracle's both-success; >= 20 % less WAN than the best baseline at >= its "
               "success", ["load", "bandwidth", "CDIO both %", "oracle both %", "CDIO / oracle %", "best baseline",
                           "baseline both %", "baseline WAN Mbps", "CDIO WAN Mbps", "WAN saving %"], rows)  # fmt: skip

    if "profiled" in doc:
        _profiled(page, doc["profiled"])

    # regret -------------------------------------------------------------------------------
    page.h(2, "Regret (eq. 10) on the stationary environment")

    def regret(fig):
        ax = fig.add_subplot(1, 1, 1)
        for name, r in doc["regret"].items():
            xs, ys = zip(*r["curve"], strict=True)
            ax.plot(xs, ys, label=name)
        ax.set_xlabel("slot")
        ax.set_ylabel("cumulative regret")
        ax.legend()
        ax.grid(alpha=0.3)

    page.figure("regret", "Cumulative eq. 10 regret per slot", regret, (7, 4))
    rows = [[_th(name), page.cell(f"regret/{name}/slope_first_half", ".4f"),
             page.cell(f"regret/{name}/slope_second_half", ".4f"), page.cell(f"regret/{name}/final_regret", ".2f")]
            for name in doc["regret"]]  # fmt: skip
    page.table("regret per slot", ["policy", "first half", "second half", "total"], rows)

    # load sweep ---------------------------------------------------------------------------
    page.h(2, "Load sweep (V1, fluctuating)")
    cams = sorted({r["cameras"] for r in sweep})
    sweep_policies = list(dict.fromkeys(r["policy"] for r in sweep))

    def load_sweep(fig):
        for k, (key, label, scale) in enumerate((("both_success", "both requirements met, %", 100.0),
                                                 ("wan_mbps", "WAN uplink occupancy, Mbps", 1.0))):  # fmt: skip
            ax = fig.add_subplot(1, 2, k + 1)
            for p in sweep_policies:
                ys = [
                    scale * next(r[key] for r in sweep if r["cameras"] == c and r["policy"] == p)
                    for c in cams
                ]
                ax.plot([c * meta["fps"] for c in cams], ys, marker="o", label=p)
            ax.set_xlabel("load, frames/s (cameras x fps)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)

    page.figure("load_sweep", "Both-success and WAN occupancy against load", load_sweep, (11, 4))
    rows = []
    for c in cams:
        idx = _index(sweep, cameras=c)
        rows.append(
            [_th(c)] + [page.cell(f"sweep/{idx[p]}/both_success", ".1f", 100) for p in sweep_policies]
        )
    page.table("both requirements met, %", ["cameras", *sweep_policies], rows)

    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;margin:1em 0;font-size:12px}"
             "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}caption{font-weight:bold;text-align:left}"
             "figure img{max-width:100%}")  # fmt: skip
    body = "\n".join(page.parts)
    index = out / "index.html"
    index.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>CDIO report</title>"
                     f"<style>{style}</style></head><body>\n{body}\n</body></html>\n")  # fmt: skip
    return index
