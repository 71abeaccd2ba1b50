"""The preprocess role: frames in, tasks out (complexity, temporal feature, RPP preference).

Frames are taken in micro-batches (one LSTM call per batch); a frame that does not decode
gets its own dead letter. With an LSTM the worker also follows the model topic: it starts
with the newest published RPP version and switches to each newer one without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.base import (
    DeadLetters,
    Role,
    RoleOptions,
    check_batching,
    model_feed,
    out_topic,
    raw_topic,
    reason,
    torch_threads,
)
from cdio_stream.settings import Settings

if TYPE_CHECKING:
    import faust

__all__ = ["PreprocessOptions", "Preprocess"]

log = logging.getLogger("cdio.agents")


@dataclass(frozen=True)
class PreprocessOptions(RoleOptions):
    role = "preprocess"

    rpp_checkpoint: Path | None = None  # LSTM to start from (None: the shipped one, else the rule)
    batch_size: int = 16  # most frames per LSTM call
    batch_ms: float = 20.0  # longest wait to fill a batch

    def __post_init__(self) -> None:
        check_batching(self.batch_size, self.batch_ms)


class Preprocess(Role):
    Options = PreprocessOptions
    options: PreprocessOptions

    def _build(self, settings: Settings) -> None:
        from cdio_stream.pipeline.preprocess import Preprocessor, load_rpp
        from cdio_stream.rpp.shipped import checkpoint_or_shipped

        checkpoint = checkpoint_or_shipped(self.options.rpp_checkpoint)
        if checkpoint is not None:
            torch_threads(settings)
        log.info(
            "preprocess uses %s",
            f"the LSTM in {checkpoint}" if checkpoint else "the fallback preference rule",
        )
        self.preprocessor = Preprocessor(load_rpp(checkpoint), self.topology.max_frame_bytes)
        # The fallback rule takes no model updates.
        self.model_feed = (
            model_feed(settings, self.topology) if self.preprocessor.rpp.predictor is not None else None
        )

    def _register(self, app: faust.App) -> None:
        import mode

        from cdio_stream.messages import encode_task

        topology = self.topology
        frames = raw_topic(app, topology.frames.name)
        tasks = out_topic(app, topology.tasks.name)
        dead = DeadLetters(app, topology, self.name)
        pre = self.preprocessor
        feed = self.model_feed
        batch_size, batch_s = self.options.batch_size, self.options.batch_ms / 1000.0
        models_ready = asyncio.Event()

        async def adopt(rec: Any) -> None:
            """A record of the model topic: switch to it if newer; a bad one is dead-lettered."""
            try:
                version = pre.adopt(rec.value, rec.headers)
            except Exception as exc:
                value, headers = dead.letter(rec, reason(exc))
                await dead.topic.send(key=rec.key, value=value, headers=headers)
                return
            if version is not None:
                log.info("preprocess switched to RPP model version %d", version)

        if feed is None:
            models_ready.set()
        else:

            @app.service
            class ModelUpdates(mode.Service):
                """Newest published model before the first frame, then every newer one live."""

                async def on_start(self) -> None:
                    for rec in await feed.catch_up():
                        await adopt(rec)
                    log.info("preprocess starts with RPP model version %s", pre.rpp.model_version)
                    models_ready.set()

                @mode.Service.task
                async def _follow(self) -> None:
                    async for rec in feed.follow():
                        await adopt(rec)

                async def on_stop(self) -> None:
                    await feed.stop()

        @app.agent(frames, name="preprocess")
        async def preprocess(stream):
            await models_ready.wait()
            # Micro-batches: one LSTM call per batch; acks stay manual (each record once its
            # task or its dead letter is sent).
            async for events in stream.noack_take(batch_size, within=batch_s):
                records = [
                    (e.message.value, e.message.headers, f"{e.message.partition}/{e.message.offset}")
                    for e in events
                ]
                try:
                    outcomes = pre.handle_batch(records)
                except Exception as exc:  # our bug, not the records': none is lost, each says why
                    outcomes = [exc] * len(events)
                for event, out in zip(events, outcomes, strict=True):
                    if isinstance(out, Exception):
                        await dead.send(event, reason(out))
                    else:
                        value, headers = encode_task(out, topology.max_frame_bytes)
                        await tasks.send(key=out.frame.meta.stream_id.encode(), value=value, headers=headers)
                    await stream.ack(event)
