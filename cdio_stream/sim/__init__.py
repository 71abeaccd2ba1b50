"""Simulation: synthetic traces, the discrete-event simulator, metrics and regret tracking."""

from cdio_stream.metrics import Metrics, TaskRecord, summarize
from cdio_stream.sim.simulator import SimResult, Simulator
from cdio_stream.sim.synthetic import ALL_MODELS, SyntheticTraceConfig, synthetic_trace
from cdio_stream.sim.workload import WorkloadConfig, build_tasks

__all__ = [
    "ALL_MODELS",
    "Metrics",
    "SimResult",
    "Simulator",
    "SyntheticTraceConfig",
    "TaskRecord",
    "WorkloadConfig",
    "build_tasks",
    "summarize",
    "synthetic_trace",
]
