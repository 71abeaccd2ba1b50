"""Per-task records and the paper's summary metrics (4.1.3, 4.2.1-4.2.5).

Bandwidth is reported two ways (see :mod:`cdio_stream.system.cost`):

* ``bandwidth_mbps`` - **the paper's** per-task definition (4.2.4): bits sent / transmission
  time, averaged over tasks. It is highest on the fastest link (an edge task on the 1 Gbps
  LAN scores more than a cloud task on the 300 Mbps WAN), so it does not say what a policy
  costs the network;
* ``wan_mbps`` - **WAN uplink occupancy**: megabits put on the shared cloud uplink over the
  run / the run's horizon (Mbit/s used), and ``wan_bytes_per_task``, bytes per task sent
  over it (reference runs included: they use the same link). This is what the bandit's
  phi * B term weighs (:func:`~cdio_stream.system.cost.objective_cost`).

One metrics vocabulary for simulated and live runs: :class:`Metrics` is what the simulator
summarises, and the live sink's :meth:`cdio_stream.pipeline.metrics.LiveMetrics.summary`
reports the same quantities under the same names (a subset of these fields), so a
simulated and a live run of the same frames compare key by key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["TaskRecord", "Metrics", "summarize", "wan_occupancy_mbps"]


@dataclass(slots=True)
class TaskRecord:
    task_id: str
    stream_id: str
    server_id: str
    tier: str
    model: str
    quality: float
    complexity: float
    preference: float | None
    a_req: float
    d_req: float
    arrival_s: float
    decided_s: float
    finished_s: float
    payload_bytes: int  # bytes actually sent
    accuracy: float
    preprocess_s: float
    queue_s: float
    transmission_s: float
    inference_s: float
    total_s: float
    compute_tflop: float
    bandwidth_bps: float
    energy_j: float
    acc_ok: bool
    delay_ok: bool
    info: Mapping[str, Any] = field(default_factory=dict)
    accuracy_source: str = "truth"  # where the policy's feedback accuracy came from
    # The reference run of a sampled task (0 when none): overhead, not the task's own cost.
    ref_compute_tflop: float = 0.0
    ref_payload_bytes: int = 0
    ref_energy_j: float = 0.0
    wan_bytes: int = 0  # bytes this task's served run put on the WAN uplink (0 on the LAN)
    ref_wan_bytes: int = 0  # ... and its reference run
    link_start_s: float = 0.0  # when its transfer started (after waiting for the link)
    batch_size: int = 1  # size of the inference batch it ran in (the cloud batches dynamically)


@dataclass(frozen=True)
class Metrics:
    tasks: int
    mean_accuracy: float  # mAP50 percent (Table 3)
    acc_success: float  # share of tasks with accuracy >= A^q (4.2.1)
    delay_success: float  # share with delay <= D^q (4.2.2)
    both_success: float
    mean_delay_s: float  # Figure 6
    p95_delay_s: float
    mean_preprocess_s: float  # Figure 5's delay breakdown
    mean_queue_s: float
    mean_transmission_s: float
    mean_inference_s: float
    compute_tflop: float  # mean per task: FP16 TFLOPS x inference time (Figure 7)
    bandwidth_mbps: float  # the paper's: mean per task of bits / transmission time (Figure 8)
    energy_j_per_task: float  # run energy (working + idle + transmission) / tasks (Figure 9)
    energy_kj: float
    cloud_share: float
    horizon_s: float
    # Where feedback accuracy came from (shares of tasks) and what reference runs cost on
    # top of the figures above (which are the served runs' own): mean per task, and the
    # reference compute as a share of the served compute.
    feedback_truth: float = 0.0
    feedback_reference: float = 0.0
    feedback_none: float = 0.0
    reference_compute_tflop: float = 0.0
    reference_compute_overhead: float = 0.0
    reference_uplink_bytes: float = 0.0
    reference_energy_j_per_task: float = 0.0
    # WAN uplink occupancy (module docstring): Mbit/s used over the horizon, bytes per task.
    wan_mbps: float = 0.0
    wan_bytes_per_task: float = 0.0
    mean_batch_size: float = 1.0  # mean size of the inference batch a task ran in
    # Load shedding (live --shed late): the share of tasks expired unserved, and the delay
    # success of the served ones. The simulator serves every task: 0 and delay_success.
    expired_share: float = 0.0
    served_delay_success: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def summarize(records: Sequence[TaskRecord], *, idle_tail_j: float = 0.0, horizon_s: float = 0.0) -> Metrics:
    """Summary of a run; ``idle_tail_j`` is the idle energy after each server's last task."""
    n = len(records)
    if n == 0:
        nan = float("nan")
        return Metrics(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, idle_tail_j / 1e3, nan,
                       horizon_s)  # fmt: skip

    def col(name: str) -> np.ndarray:
        return np.fromiter((getattr(r, name) for r in records), dtype=float, count=n)

    acc_ok, delay_ok = col("acc_ok").astype(bool), col("delay_ok").astype(bool)
    total = col("total_s")
    energy = float(col("energy_j").sum()) + idle_tail_j
    source = [r.accuracy_source for r in records]
    compute, ref_compute = col("compute_tflop"), col("ref_compute_tflop")
    wan_bytes = float(col("wan_bytes").sum() + col("ref_wan_bytes").sum())
    return Metrics(
        tasks=n,
        mean_accuracy=float(col("accuracy").mean()),
        acc_success=float(acc_ok.mean()),
        delay_success=float(delay_ok.mean()),
        both_success=float((acc_ok & delay_ok).mean()),
        mean_delay_s=float(total.mean()),
        p95_delay_s=float(np.percentile(total, 95)),
        mean_preprocess_s=float(col("preprocess_s").mean()),
        mean_queue_s=float(col("queue_s").mean()),
        mean_transmission_s=float(col("transmission_s").mean()),
        mean_inference_s=float(col("inference_s").mean()),
        compute_tflop=float(compute.mean()),
        bandwidth_mbps=float(col("bandwidth_bps").mean() / 1e6),
        energy_j_per_task=energy / n,
        energy_kj=energy / 1e3,
        cloud_share=float(np.mean([r.tier == "cloud" for r in records])),
        horizon_s=horizon_s,
        feedback_truth=source.count("truth") / n,
        feedback_reference=source.count("reference") / n,
        feedback_none=source.count("none") / n,
        reference_compute_tflop=float(ref_compute.mean()),
        reference_compute_overhead=float(ref_compute.sum() / compute.sum()) if compute.sum() > 0 else 0.0,
        reference_uplink_bytes=float(col("ref_payload_bytes").mean()),
        reference_energy_j_per_task=float(col("ref_energy_j").mean()),
        wan_mbps=wan_occupancy_mbps(wan_bytes, horizon_s),
        wan_bytes_per_task=wan_bytes / n,
        mean_batch_size=float(col("batch_size").mean()),
        served_delay_success=float(delay_ok.mean()),
    )


def wan_occupancy_mbps(wan_bytes: float, horizon_s: float) -> float:
    """Mbit/s used on the WAN uplink: ``wan_bytes`` sent over ``horizon_s`` (0 for no time)."""
    return wan_bytes * 8.0 / horizon_s / 1e6 if horizon_s > 0 else 0.0
