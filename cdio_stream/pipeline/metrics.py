"""Live metrics of a run, from the results topic: the paper's figures as results arrive.

Accuracy is mAP50 in percent over results whose frame had ground truth; a task meets its
accuracy requirement when accuracy >= A^q and its delay requirement when the end-to-end
delay (preprocess + queue + transmission + inference) <= D^q. Compute (TFLOP), bandwidth
(bits/s while sending) and energy (J) are per-task means, as in paper 4.2.3-4.2.5.

Every result says where its accuracy came from (``truth``, ``reference`` or ``none``); the
metrics give the share of each, and the accuracy figures are over results with any
accuracy. The shadow runs of reference-sampled tasks are *overhead*: their compute, uplink
bytes and energy are summed apart (``reference_*``), not into the tasks' own consumption.

Each task counts once (results are delivered at least once: a restarted inference worker
may publish a task's result again), results naming a server outside the topology are
rejected, and the sink worker snapshots its metrics with the input positions they include
(:meth:`LiveMetrics.snapshot`), so totals survive a restart. The seen-set of task ids and
the delay samples behind the percentiles are bounded: the newest ``max_seen`` ids and
``max_samples`` delays per stage.

Expired results (load shedding, ``Result.expired``) are tasks too: they count in
``tasks`` and as delay failures in ``delay_success``, and their (zero) compute and energy
are in the per-task means, which are what the run cost per frame. ``served_delay_success``
is the delay success of the frames actually served, ``expired_share`` the share shed.
Accuracy, mean delay, the delay parts and bandwidth are over served results only (an
expired task has no accuracy, and its delay is only how long it waited before it was shed).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator

import numpy as np

from cdio_stream.errors import MessageError
from cdio_stream.formatting import fmt
from cdio_stream.messages import ACCURACY_SOURCES, Result, decode_result
from cdio_stream.metrics import wan_occupancy_mbps
from cdio_stream.pipeline.positions import InputPositions
from cdio_stream.policy.codec import decode_state, encode_state
from cdio_stream.system.cost import wan_megabits

__all__ = ["LiveMetrics", "STAGES", "PrometheusCollector"]

STAGES = ("preprocess", "queue", "transmission", "inference", "total")


SNAPSHOT_VERSION = 1


class LiveMetrics:
    def __init__(
        self, servers: Iterable[str] | None = None, *, max_seen: int = 100_000, max_samples: int = 50_000
    ) -> None:
        self.servers = None if servers is None else frozenset(servers)  # None: accept any server
        self.max_seen = max_seen
        self.max_samples = max_samples
        self.count = 0
        self.per_server: Counter[str] = Counter()
        self.per_tier: Counter[str] = Counter()
        self.expired = 0  # tasks shed as late (their results say ``expired``)
        self.per_server_expired: Counter[str] = Counter()
        self._acc_sum = 0.0
        self._acc_n = 0
        self._acc_ok = 0
        self._delay_ok = 0
        self._stage: dict[str, deque[float]] = {s: deque(maxlen=max_samples) for s in STAGES}
        self._delay_sum = 0.0
        self._compute = 0.0
        self._bandwidth = 0.0
        self._energy = 0.0
        self.task_ids: set[str] = set()
        self._seen_order: deque[str] = deque()  # task_ids, oldest first, for the bound
        self.duplicates = 0
        self.sources: Counter[str] = Counter()  # accuracy_source -> results
        self._ref_compute = 0.0
        self._ref_bytes = 0
        self._ref_energy = 0.0
        self._wan_bytes = 0  # bytes results and reference runs put on the WAN uplink
        self._t_first: float | None = None  # earliest capture, latest completion: the occupancy horizon
        self._t_last: float | None = None
        self.positions = InputPositions()  # results records these metrics include

    def accepts(self, server_id: str) -> bool:
        return self.servers is None or server_id in self.servers

    def add_server(self, server_id: str) -> None:
        """Accept results of a server that joined while running (it announced itself)."""
        if self.servers is not None:
            self.servers = self.servers | {server_id}

    def add_encoded(self, value: bytes | None) -> Result:
        result = decode_result(value)
        self.add(result)
        return result

    def add(self, r: Result) -> bool:
        """Count ``r``; False if its task was counted already. Unknown servers raise MessageError."""
        if self.servers is not None and r.server_id not in self.servers:
            raise MessageError(f"result for task {r.task_id!r} names unknown server {r.server_id!r}")
        if r.task_id in self.task_ids:
            self.duplicates += 1  # at-least-once delivery: count it once
            return False
        self.task_ids.add(r.task_id)
        self._seen_order.append(r.task_id)
        while len(self._seen_order) > self.max_seen:
            self.task_ids.discard(self._seen_order.popleft())
        self.count += 1
        self.per_server[r.server_id] += 1
        self.per_tier[r.tier] += 1
        self.sources[r.accuracy_source] += 1
        if r.capture_time is not None:
            self._t_first = r.capture_time if self._t_first is None else min(self._t_first, r.capture_time)
        self._t_last = r.completed_at if self._t_last is None else max(self._t_last, r.completed_at)
        if r.expired is not None:  # a delay failure that was never inferred or sent
            self.expired += 1
            self.per_server_expired[r.server_id] += 1
            return True
        if r.accuracy is not None:
            self._acc_sum += r.accuracy
            self._acc_n += 1
            self._acc_ok += r.accuracy >= r.a_req
        self._delay_ok += r.delay_met
        t = r.timings
        for stage, value in zip(
            STAGES, (t.preprocess, t.queue, t.transmission, t.inference, t.total), strict=True
        ):
            self._stage[stage].append(value)
        self._delay_sum += t.total
        self._compute += r.costs.compute
        self._bandwidth += r.costs.bandwidth
        self._energy += r.costs.energy
        self._wan_bytes += round(wan_megabits(r.tier, r.payload_bytes) * 1e6 / 8)
        if r.reference is not None:
            self._ref_compute += r.reference.costs.compute
            self._ref_bytes += r.reference.payload_bytes
            self._ref_energy += r.reference.costs.energy
            self._wan_bytes += round(wan_megabits(r.reference.tier, r.reference.payload_bytes) * 1e6 / 8)
        return True

    _SCALARS = ("count", "_acc_sum", "_acc_n", "_acc_ok", "_delay_ok", "_delay_sum", "_compute",
                "_bandwidth", "_energy", "duplicates", "expired", "_ref_compute", "_ref_bytes", "_ref_energy",
                "_wan_bytes", "_t_first", "_t_last")  # fmt: skip

    def snapshot(self) -> bytes:
        """Everything counted so far and the input positions it includes."""
        header = {
            "v": SNAPSHOT_VERSION,
            **{k: getattr(self, k) for k in self._SCALARS},
            "per_server": dict(self.per_server),
            "per_tier": dict(self.per_tier),
            "per_server_expired": dict(self.per_server_expired),
            "sources": dict(self.sources),
            "seen": list(self._seen_order),
            "positions": self.positions.to_dict(),
        }
        arrays = {f"stage_{s}": np.asarray(self._stage[s], dtype=np.float64) for s in STAGES}
        return encode_state(header, arrays)

    def restore(self, data: bytes) -> None:
        header, arrays = decode_state(data)
        if header.get("v") != SNAPSHOT_VERSION:
            raise MessageError(f"sink snapshot version {header.get('v')!r} is not {SNAPSHOT_VERSION}")
        for k in self._SCALARS:
            setattr(self, k, header.get(k, None if k.startswith("_t_") else 0))  # absent from older snapshots
        self.sources = Counter(header.get("sources", {}))
        self.per_server = Counter(header["per_server"])
        self.per_tier = Counter(header["per_tier"])
        self.per_server_expired = Counter(header.get("per_server_expired", {}))
        self._seen_order = deque(header["seen"])
        self.task_ids = set(self._seen_order)
        self.positions = InputPositions(header["positions"])
        for s in STAGES:
            self._stage[s] = deque(arrays[f"stage_{s}"].tolist(), maxlen=self.max_samples)

    def summary(self) -> dict[str, float]:
        n = max(self.count, 1)
        served = self.count - self.expired
        n_acc = self._acc_n
        out = {
            "tasks": float(self.count),
            "mean_accuracy": self._acc_sum / n_acc if n_acc else float("nan"),
            "acc_success": self._acc_ok / n_acc if n_acc else float("nan"),
            "delay_success": self._delay_ok / n,
            "served_delay_success": self._delay_ok / served if served else float("nan"),
            "expired_share": self.expired / n,
            "mean_delay_s": self._delay_sum / served if served else float("nan"),
            "compute_tflop": self._compute / n,
            "bandwidth_mbps": self._bandwidth / max(served, 1) / 1e6,
            "energy_j_per_task": self._energy / n,
            "cloud_share": self.per_tier["cloud"] / n,
            **{f"feedback_{src}": self.sources[src] / n for src in ACCURACY_SOURCES},
            "reference_compute_tflop": self._ref_compute / n,
            "reference_compute_overhead": self._ref_compute / self._compute if self._compute else 0.0,
            "reference_uplink_bytes": self._ref_bytes / n,
            "reference_energy_j_per_task": self._ref_energy / n,
            "wan_mbps": wan_occupancy_mbps(self._wan_bytes, self._horizon_s()),
            "wan_bytes_per_task": self._wan_bytes / n,
        }
        return out

    def _horizon_s(self) -> float:
        if self._t_first is None or self._t_last is None:
            return 0.0
        return self._t_last - self._t_first

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
            f"acc_ok={fmt(s['acc_success'], '.2f')} "
            f"delay_ok={fmt(s['delay_success'], '.2f')} expired={self.expired} "
            f"delay={fmt(s['mean_delay_s'], '.0f', 1000)}ms "
            f"compute={fmt(s['compute_tflop'], '.3f')}TFLOP bw={fmt(s['bandwidth_mbps'], '.0f')}Mbps(paper) wan={fmt(s['wan_mbps'], '.0f')}Mbps "
            f"energy={fmt(s['energy_j_per_task'], '.2f')}J servers={dict(sorted(self.per_server.items()))}"
        )

    def table(self) -> str:
        """The run's metrics as a plain-text table (what the demo prints at the end)."""
        s = self.summary()
        rows = [
            ("tasks", f"{self.count}"),
            ("mean accuracy (mAP50, %)", fmt(s["mean_accuracy"], ".2f")),
            ("accuracy success rate", fmt(s["acc_success"], ".1%")),
            ("delay success rate", fmt(s["delay_success"], ".1%")),
            ("expired (shed as late)", f"{self.expired} ({fmt(s['expired_share'], '.1%')})"),
            ("delay success of served frames", fmt(s["served_delay_success"], ".1%")),
            ("mean delay (ms)", fmt(s["mean_delay_s"], ".1f", 1000)),
            ("computing consumption (TFLOP/task)", fmt(s["compute_tflop"], ".4f")),
            ("bandwidth consumption, paper's per-task (Mbps)", fmt(s["bandwidth_mbps"], ".1f")),
            ("WAN uplink occupancy (Mbps)", fmt(s["wan_mbps"], ".1f")),
            ("WAN bytes per task (kB)", fmt(s["wan_bytes_per_task"] / 1e3, ".1f")),
            ("energy (J/task)", fmt(s["energy_j_per_task"], ".3f")),
            ("tasks on cloud", fmt(s["cloud_share"], ".1%")),
            (
                "accuracy from truth / reference / none",
                " / ".join(fmt(s[f"feedback_{src}"], ".1%") for src in ACCURACY_SOURCES),
            ),
            (
                "reference overhead (per task)",
                f"+{fmt(s['reference_compute_tflop'], '.4f')} TFLOP "
                f"(+{fmt(s['reference_compute_overhead'], '.1%')} compute), "
                f"+{fmt(s['reference_uplink_bytes'], '.1f', 1e-3)} kB sent, +{fmt(s['reference_energy_j_per_task'], '.3f')} J",
            ),
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
