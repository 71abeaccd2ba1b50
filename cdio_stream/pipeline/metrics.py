"""Live metrics of a run, from the results topic: the paper's figures as results arrive.

Accuracy is mAP50 in percent over results whose frame had ground truth; a task meets its
accuracy requirement when accuracy >= A^q and its delay requirement when the end-to-end
delay (preprocess + queue + transmission + inference) <= D^q. Compute (TFLOP), bandwidth
(bits/s while sending) and energy (J) are per-task means, as in paper 4.2.3-4.2.5.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np

from cdio_stream.formatting import fmt
from cdio_stream.messages import Result, decode_result

__all__ = ["LiveMetrics", "STAGES", "PrometheusCollector"]

STAGES = ("preprocess", "queue", "transmission", "inference", "total")


class LiveMetrics:
    def __init__(self) -> None:
        self.count = 0
        self.per_server: Counter[str] = Counter()
        self.per_tier: Counter[str] = Counter()
        self._acc: list[float] = []
        self._acc_ok = 0
        self._delay_ok = 0
        self._stage: dict[str, list[float]] = {s: [] for s in STAGES}
        self._compute = 0.0
        self._bandwidth = 0.0
        self._energy = 0.0
        self.task_ids: set[str] = set()
        self.duplicates = 0

    def add_encoded(self, value: bytes | None) -> Result:
        result = decode_result(value)
        self.add(result)
        return result

    def add(self, r: Result) -> None:
        if r.task_id in self.task_ids:
            self.duplicates += 1  # at-least-once delivery: count it once
            return
        self.task_ids.add(r.task_id)
        self.count += 1
        self.per_server[r.server_id] += 1
        self.per_tier[r.tier] += 1
        if r.accuracy is not None:
            self._acc.append(r.accuracy)
            self._acc_ok += r.accuracy >= r.a_req
        self._delay_ok += r.delay <= r.d_req
        t = r.timings
        for stage, value in zip(
            STAGES, (t.preprocess, t.queue, t.transmission, t.inference, t.total), strict=True
        ):
            self._stage[stage].append(value)
        self._compute += r.costs.compute
        self._bandwidth += r.costs.bandwidth
        self._energy += r.costs.energy

    def summary(self) -> dict[str, float]:
        n = max(self.count, 1)
        n_acc = len(self._acc)
        out = {
            "tasks": float(self.count),
            "mean_accuracy": float(np.mean(self._acc)) if n_acc else float("nan"),
            "accuracy_success_rate": self._acc_ok / n_acc if n_acc else float("nan"),
            "delay_success_rate": self._delay_ok / n,
            "mean_delay_s": float(np.mean(self._stage["total"])) if self.count else float("nan"),
            "mean_compute_tflop": self._compute / n,
            "mean_bandwidth_mbps": self._bandwidth / n / 1e6,
            "mean_energy_j": self._energy / n,
            "edge_share": self.per_tier["edge"] / n,
        }
        return out

    def stage_percentiles(self) -> dict[str, tuple[float, float]]:
        """(p50, p95) seconds of each delay part and of the total."""
        return {
            s: (float(np.percentile(v, 50)), float(np.percentile(v, 95)))
            if v
            else (float("nan"), float("nan"))
            for s, v in self._stage.items()
        }

    def log_line(self) -> str:
        s = self.summary()
        return (
            f"tasks={self.count} acc={fmt(s['mean_accuracy'], '.1f')} "
            f"acc_ok={fmt(s['accuracy_success_rate'], '.2f')} "
            f"delay_ok={fmt(s['delay_success_rate'], '.2f')} delay={fmt(s['mean_delay_s'], '.0f', 1000)}ms "
            f"compute={fmt(s['mean_compute_tflop'], '.3f')}TFLOP bw={fmt(s['mean_bandwidth_mbps'], '.0f')}Mbps "
            f"energy={fmt(s['mean_energy_j'], '.2f')}J servers={dict(sorted(self.per_server.items()))}"
        )

    def table(self) -> str:
        """The run's metrics as a plain-text table (what the demo prints at the end)."""
        s = self.summary()
        rows = [
            ("tasks", f"{self.count}"),
            ("mean accuracy (mAP50, %)", fmt(s["mean_accuracy"], ".2f")),
            ("accuracy success rate", fmt(s["accuracy_success_rate"], ".1%")),
            ("delay success rate", fmt(s["delay_success_rate"], ".1%")),
            ("mean delay (ms)", fmt(s["mean_delay_s"], ".1f", 1000)),
            ("computing consumption (TFLOP/task)", fmt(s["mean_compute_tflop"], ".4f")),
            ("bandwidth consumption (Mbps)", fmt(s["mean_bandwidth_mbps"], ".1f")),
            ("energy (J/task)", fmt(s["mean_energy_j"], ".3f")),
            ("tasks on edge", fmt(s["edge_share"], ".1%")),
        ]
        rows += [(f"  on {sid}", str(n)) for sid, n in sorted(self.per_server.items())]
        rows += [
            (f"{stage} delay p50 / p95 (ms)", f"{fmt(p50, '.1f', 1000)} / {fmt(p95, '.1f', 1000)}")
            for stage, (p50, p95) in self.stage_percentiles().items()
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


class PrometheusCollector:
    """Exposes a LiveMetrics summary as Prometheus gauges (``cdio_<name>``)."""

    def __init__(self, metrics: LiveMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator:
        from prometheus_client.core import GaugeMetricFamily

        for name, value in self.metrics.summary().items():
            yield GaugeMetricFamily(f"cdio_{name}", f"cdio-stream run metric {name}", value=value)
        per_server = GaugeMetricFamily("cdio_server_tasks", "results per server", labels=["server"])
        for sid, n in sorted(self.metrics.per_server.items()):
            per_server.add_metric([sid], n)
        yield per_server
