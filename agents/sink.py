"""The sink role: results in, the run's metrics out (log line, Prometheus, live dashboard).

The metrics (the paper's: accuracy, delay, compute, bandwidth, energy, per server) are
saved to the sink state topic every ``snapshot_s`` and on shutdown, and results are acked
only once a snapshot includes them (:mod:`agents.checkpoint`); a restarted sink counts
on from there and drops redelivered results by task id. Results of servers that joined
(announced on the servers topic) count too. With ``dashboard_port`` the sink also serves
the live page (:mod:`cdio_stream.dashboard`): it is part of this role.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents.base import DeadLetters, Role, RoleOptions, raw_topic, reason
from agents.checkpoint import Checkpoint
from cdio_stream.settings import Settings

if TYPE_CHECKING:
    import faust

    from cdio_stream.dashboard.live import LiveDashboard

__all__ = ["SinkOptions", "Sink"]

log = logging.getLogger("cdio.agents")

ANNOUNCEMENT_WAIT_S = 5.0  # how long a result of an unannounced server waits for its announcement


@dataclass(frozen=True)
class SinkOptions(RoleOptions):
    role = "sink"

    metrics_port: int = 0  # Prometheus metrics on this port (0: none)
    dashboard_port: int | None = None  # the live dashboard on this port (0: any free port; None: none)
    http_host: str = "127.0.0.1"  # where the metrics and dashboard servers listen
    snapshot_s: float = 2.0  # how often the metrics are saved (and results acked)


class Sink(Role):
    Options = SinkOptions
    options: SinkOptions
    stateful = True
    log_every = 50  # a metrics log line every N results (and at least every 10 s)

    def _build(self, settings: Settings) -> None:
        from cdio_stream.kafka.follow import TopicFollower
        from cdio_stream.kafka.state_store import KafkaStateStore
        from cdio_stream.pipeline.metrics import LiveMetrics, PrometheusCollector
        from cdio_stream.pipeline.servers import ServerDirectory

        opts, topology = self.options, self.topology
        # Results of the topology's servers only, and of those that announce themselves.
        self.metrics = LiveMetrics(servers=topology.server_ids)
        self.state_store = KafkaStateStore(settings.bootstrap or "", topology.sink_state.name)
        self.directory = ServerDirectory(TopicFollower(settings.bootstrap, topology.server_registry.name))
        if opts.metrics_port:
            from prometheus_client import start_http_server
            from prometheus_client.core import REGISTRY

            REGISTRY.register(PrometheusCollector(self.metrics))
            start_http_server(opts.metrics_port, addr=opts.http_host)
            log.info("metrics at http://%s:%d/metrics", opts.http_host, opts.metrics_port)
        self.dashboard: LiveDashboard | None = None
        if opts.dashboard_port is not None:
            self.dashboard = self._dashboard(settings)

    def _dashboard(self, settings: Settings) -> LiveDashboard:
        """The live page on ``http_host:dashboard_port`` (0: a free port), fed from the metrics."""
        from cdio_stream.dashboard.live import LiveDashboard
        from cdio_stream.dashboard.server import DashboardServer
        from cdio_stream.dashboard.view import DashboardView
        from cdio_stream.kafka.follower import TopicFollower
        from cdio_stream.kafka.lag import LagMonitor, pipeline_consumers, server_queues

        topology, bootstrap = self.topology, settings.bootstrap or ""
        view = DashboardView(topology.servers, self.metrics, queue_lag=server_queues(topology))
        lag = LagMonitor(bootstrap, pipeline_consumers(topology))
        server = DashboardServer(view, self.options.http_host, self.options.dashboard_port)
        dash = LiveDashboard(view, server, lag, max_frame_bytes=topology.max_frame_bytes)
        topics = dash.follow(topology.frames.name, topology.dead_letter.name, topology.policy_view.name)
        dash.follower = TopicFollower(bootstrap, topics, max_fetch_bytes=topology.max_message_bytes)
        return dash

    def _register(self, app: faust.App) -> None:
        self._sink(app)
        if self.dashboard is not None:
            self._serve_dashboard(app)

    def _sink(self, app: faust.App) -> None:
        import mode

        from cdio_stream.messages import decode_result

        topology = self.topology
        dead = DeadLetters(app, topology, self.name)
        dashboard = self.dashboard
        results = raw_topic(app, topology.results.name)
        metrics = self.metrics
        directory = self.directory
        store = self.state_store
        state_key = "sink"
        restored = asyncio.Event()
        checkpoint = Checkpoint(
            capture=metrics.snapshot,
            save=lambda data: store.save(state_key, data),
            flush=app.producer.flush,  # dead letters the snapshot implies are on the broker
        )

        @app.service
        class SinkState(mode.Service):
            """Restores the totals before the first result; saves them last on shutdown."""

            async def on_start(self) -> None:
                await store.start()
                snapshot = await store.load(state_key)
                if snapshot is not None:
                    metrics.restore(snapshot)
                    log.info("sink metrics restored: %s", metrics.log_line())
                for ann in await directory.catch_up():  # servers that joined: their results count
                    metrics.add_server(ann.server_id)
                restored.set()

            @mode.Service.task
            async def _follow_servers(self) -> None:
                await restored.wait()
                async for ann in directory.follow():
                    metrics.add_server(ann.server_id)

            async def on_stop(self) -> None:
                if restored.is_set():
                    try:
                        await checkpoint.save()
                    except Exception:
                        log.exception("sink metrics could not be saved on shutdown")
                await directory.stop()
                await store.stop()

        @app.timer(interval=self.options.snapshot_s)
        async def periodic_save() -> None:
            if restored.is_set():
                await checkpoint.save()

        @app.agent(results, name="sink")
        async def sink(stream):
            await restored.wait()
            last_log = time.monotonic()
            stream = stream.noack()
            async for event in stream.events():
                msg = event.message
                async with checkpoint.lock:
                    if not metrics.positions.included(msg.topic, msg.partition, msg.offset):
                        counted = metrics.count
                        try:
                            result = decode_result(msg.value)
                            if not metrics.accepts(result.server_id):
                                # A server that just joined: its announcement may still be on its way.
                                if await directory.wait_for(result.server_id, ANNOUNCEMENT_WAIT_S):
                                    metrics.add_server(result.server_id)
                            metrics.add(result)
                        except Exception as exc:
                            await dead.send(event, reason(exc))
                        else:
                            if dashboard is not None and metrics.count > counted:  # not a duplicate
                                dashboard.on_result(result)
                        metrics.positions.advance(msg.topic, msg.partition, msg.offset)
                    checkpoint.applied(stream, event)
                if metrics.count % self.log_every == 0 or time.monotonic() - last_log > 10:
                    last_log = time.monotonic()
                    log.info("metrics %s", metrics.log_line())

    def _serve_dashboard(self, app: faust.App) -> None:
        """The sink's live page: it serves the page and follows its side topics (frames, dead
        letters, policy views) outside the sink's consumer group, so it commits nothing."""
        import mode

        dash = self.dashboard

        @app.service
        class DashboardService(mode.Service):
            async def on_start(self) -> None:
                await dash.start()

            async def on_stop(self) -> None:
                await dash.stop()

        @app.timer(interval=dash.lag_every_s)
        async def refresh_lag() -> None:
            await dash.refresh_lag()
