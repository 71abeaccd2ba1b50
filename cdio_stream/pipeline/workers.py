"""Build the stage objects a worker of each role runs (the Faust app only wires them).

One function per role takes the settings, the topology and that role's options and
returns :class:`agents.app.WorkerParts`-ready objects. Heavy imports (torch,
ultralytics) happen only in the role that needs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cdio_stream.errors import ConfigError
from cdio_stream.rpp.shipped import checkpoint_or_shipped
from cdio_stream.settings import Settings
from cdio_stream.topology import Topology

if TYPE_CHECKING:
    from cdio_stream.calibration import Calibration

__all__ = [
    "InferenceOptions",
    "TrainerOptions",
    "build_preprocessor",
    "build_model_feed",
    "build_trainer",
    "build_scheduler",
    "build_inference",
    "build_metrics",
    "build_dashboard",
]

log = logging.getLogger(__name__)


def build_preprocessor(settings: Settings, topology: Topology, checkpoint: Path | None):
    from cdio_stream.pipeline.preprocess import Preprocessor, load_rpp

    checkpoint = checkpoint_or_shipped(checkpoint)
    if checkpoint is not None:
        _torch_threads(settings)
    log.info(
        "preprocess uses %s", f"the LSTM in {checkpoint}" if checkpoint else "the fallback preference rule"
    )
    return Preprocessor(load_rpp(checkpoint), topology.max_frame_bytes)


def build_model_feed(settings: Settings, topology: Topology):
    """Reader of the model topic (preprocess and trainer: newest published RPP version)."""
    from cdio_stream.kafka.follow import TopicFollower

    return TopicFollower(
        settings.bootstrap or "", topology.rpp_models.name, max_bytes=topology.max_message_bytes
    )


@dataclass(frozen=True)
class TrainerOptions:
    checkpoint: Path | None = None  # model to start from while the model topic is empty
    retrain_every: int = 200
    retrain_interval_s: float | None = None
    min_labels: int = 100
    window: int = 2000
    holdout_fraction: float = 0.25
    min_improvement: float = 0.0
    epochs: int = 10
    seed: int = 0


def build_trainer(settings: Settings, topology: Topology, opts: TrainerOptions):
    from cdio_stream.pipeline.trainer import TrainerStage
    from cdio_stream.rpp.online import OnlineConfig, OnlineTrainer
    from cdio_stream.rpp.predictor import PreferencePredictor

    checkpoint = checkpoint_or_shipped(opts.checkpoint)
    if checkpoint is None:
        raise ConfigError(
            "the trainer fine-tunes an LSTM: pass --rpp-checkpoint (no shipped checkpoint found)"
        )
    _torch_threads(settings)
    config = OnlineConfig(
        retrain_every=opts.retrain_every,
        retrain_interval_s=opts.retrain_interval_s,
        min_labels=opts.min_labels,
        window=opts.window,
        holdout_fraction=opts.holdout_fraction,
        min_improvement=opts.min_improvement,
        epochs=opts.epochs,
        seed=opts.seed,
    )
    log.info("trainer starts from %s unless the model topic has a newer version", checkpoint)
    return TrainerStage(OnlineTrainer(PreferencePredictor.load(checkpoint), config))


def build_scheduler(
    settings: Settings,
    topology: Topology,
    policy_name: str,
    seed: int = 0,
    *,
    reference_rate: float = 0.05,
    reference_server: str | None = None,
    models_file: Path | None = None,
    shed: str = "never",
    calibration: Calibration | None = None,
):
    """The scheduler stage and its state store; the policy takes what it needs from
    ``calibration`` (default: the one shipped with the package, :func:`default_calibration`)."""
    from cdio_stream.calibration import default_calibration, deployed_reference_judge, reference_server_of
    from cdio_stream.feedback import ReferencePlan, ReferenceSampler
    from cdio_stream.kafka.state_store import KafkaStateStore
    from cdio_stream.pipeline.scheduler import SchedulerStage
    from cdio_stream.policy.registry import make_policy

    calibration = calibration if calibration is not None else default_calibration()
    policy = make_policy(policy_name, list(topology.servers), calibration=calibration, seed=seed)
    store = KafkaStateStore(settings.bootstrap or "", topology.scheduler_state.name)
    reference = None
    if reference_rate > 0:
        judge = deployed_reference_judge(topology, reference_server, models_file)
        sampler = ReferenceSampler(reference_rate, seed=seed)
        reference = ReferencePlan(
            topology.servers, judge, sampler, reference_server_of(topology, reference_server)
        )
        log.info("reference feedback: rate %.3f, reference %s (%s)", reference_rate, reference.reference.id,
                 judge.reference_model)  # fmt: skip
    return SchedulerStage(policy, topology, reference=reference, shed=shed), store


@dataclass(frozen=True)
class InferenceOptions:
    server_id: str
    dataset: Path | None = None  # UA-DETRAC-layout directory for ground truth (accuracy)
    bandwidth: str = "stable"  # "stable" or "fluctuating" (paper 4.1.1)
    link_seed: int = 0
    device: str = "cpu"
    models_file: Path | None = None  # extra model registry YAML
    reference_server: str | None = None  # whose model is the reference (default: the first cloud server)
    shed: str = "never"  # "late": expire tasks that cannot meet D^q (cdio_stream.pipeline.shedding)


def build_inference(settings: Settings, topology: Topology, opts: InferenceOptions):
    from cdio_stream.calibration import deployed_reference_judge
    from cdio_stream.inference.registry import default_registry, load_registry
    from cdio_stream.inference.runner import Detector
    from cdio_stream.pipeline.inference import InferenceStage
    from cdio_stream.system.network import make_links
    from cdio_stream.system.profiles import default_profiles

    server = topology.server(opts.server_id)
    registry = load_registry(opts.models_file) if opts.models_file else default_registry()
    detector = Detector(registry.spec(server.model), settings=settings, device=opts.device)
    device = default_profiles().device(server.device)
    link = make_links(topology.servers, opts.bandwidth, seed=opts.link_seed)[server.id]
    ground_truth = None
    if opts.dataset is not None:
        from cdio_stream.data.detrac import DetracDataset

        ground_truth = DetracDataset(opts.dataset)
    try:
        judge = deployed_reference_judge(topology, opts.reference_server, opts.models_file)
    except ConfigError as exc:  # this server can still serve; shadow runs sent here get dead-lettered
        log.warning("no reference judge, shadow runs cannot be judged here: %s", exc)
        judge = None
    return InferenceStage(
        server,
        detector,
        device,
        link,
        ground_truth=ground_truth,
        judge=judge,
        max_frame_bytes=topology.max_frame_bytes,
        shed=opts.shed,
    )


def build_metrics(settings: Settings, topology: Topology, metrics_port: int | None, host: str = "127.0.0.1"):
    """The sink's metrics (results of the topology's servers only) and their state store."""
    from cdio_stream.kafka.state_store import KafkaStateStore
    from cdio_stream.pipeline.metrics import LiveMetrics, PrometheusCollector

    metrics = LiveMetrics(servers=topology.server_ids)
    store = KafkaStateStore(settings.bootstrap or "", topology.sink_state.name)
    if metrics_port:
        from prometheus_client import start_http_server
        from prometheus_client.core import REGISTRY

        REGISTRY.register(PrometheusCollector(metrics))
        start_http_server(metrics_port, addr=host)
        log.info("metrics at http://%s:%d/metrics", host, metrics_port)
    return metrics, store


def build_dashboard(settings: Settings, topology: Topology, metrics, port: int, host: str = "127.0.0.1"):
    """The sink's live page on ``host:port`` (0: a free port), fed from ``metrics``."""
    from cdio_stream.dashboard.live import LiveDashboard
    from cdio_stream.dashboard.server import DashboardServer
    from cdio_stream.dashboard.view import DashboardView
    from cdio_stream.kafka.follower import TopicFollower
    from cdio_stream.kafka.lag import LagMonitor, pipeline_consumers, server_queues

    bootstrap = settings.bootstrap or ""
    view = DashboardView(topology.servers, metrics, queue_lag=server_queues(topology))
    lag = LagMonitor(bootstrap, pipeline_consumers(topology))
    dash = LiveDashboard(
        view, DashboardServer(view, host, port), lag, max_frame_bytes=topology.max_frame_bytes
    )
    topics = dash.follow(topology.frames.name, topology.dead_letter.name, topology.policy_view.name)
    dash.follower = TopicFollower(bootstrap, topics, max_fetch_bytes=topology.max_message_bytes)
    return dash


def _torch_threads(settings: Settings) -> None:
    import torch

    torch.set_num_threads(settings.torch_threads)
