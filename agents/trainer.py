"""The trainer role: results in, new RPP LSTM versions out (learning from the live stream).

Reference-sampled tasks have outcomes on both tiers, so their results label RPP's
training data. The trainer fine-tunes a candidate every ``retrain_every`` new labels (or
``retrain_interval_s``) and publishes it on the model topic when it beats the current
model on the newest held-out labels; preprocess workers switch to it without a restart.
Run one trainer per deployment: it numbers the versions it publishes, and a restarted
one continues from the newest published version.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agents.base import DeadLetters, Role, RoleOptions, model_feed, raw_topic, reason, torch_threads
from cdio_stream.errors import ConfigError
from cdio_stream.settings import Settings

if TYPE_CHECKING:
    import faust

__all__ = ["TrainerOptions", "Trainer"]

log = logging.getLogger("cdio.agents")


@dataclass(frozen=True)
class TrainerOptions(RoleOptions):
    role = "trainer"

    rpp_checkpoint: Path | None = None  # model to start from while the model topic is empty
    retrain_every: int = 200  # new labels between retrains
    retrain_interval_s: float | None = None  # also retrain this often
    min_labels: int = 100  # labels before the first retrain
    window: int = 2000  # newest labels kept
    holdout_fraction: float = 0.25  # newest share of the window held out
    min_improvement: float = 0.0  # held-out log-loss a candidate must gain to be promoted
    epochs: int = 10  # most fine-tuning epochs per retrain
    seed: int = 0


class Trainer(Role):
    Options = TrainerOptions
    options: TrainerOptions
    stateful = True

    def _build(self, settings: Settings) -> None:
        from cdio_stream.pipeline.trainer import TrainerStage
        from cdio_stream.rpp.online import OnlineConfig, OnlineTrainer
        from cdio_stream.rpp.predictor import PreferencePredictor
        from cdio_stream.rpp.shipped import checkpoint_or_shipped

        opts = self.options
        checkpoint = checkpoint_or_shipped(opts.rpp_checkpoint)
        if checkpoint is None:
            raise ConfigError(
                "the trainer fine-tunes an LSTM: pass --rpp-checkpoint (no shipped checkpoint found)"
            )
        torch_threads(settings)
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
        self.stage = TrainerStage(OnlineTrainer(PreferencePredictor.load(checkpoint), config))
        self.model_feed = model_feed(settings, self.topology)

    def _register(self, app: faust.App) -> None:
        import mode

        from cdio_stream.messages import RPP_MODEL_KEY, encode_rpp_model

        topology = self.topology
        dead = DeadLetters(app, topology, self.name)
        results = raw_topic(app, topology.results.name)
        models = raw_topic(app, topology.rpp_models.name)
        stage = self.stage
        feed = self.model_feed
        resumed = asyncio.Event()

        @app.service
        class LatestModel(mode.Service):
            """Continue from the newest published model (a restarted trainer), if there is one."""

            async def on_start(self) -> None:
                try:
                    for rec in await feed.catch_up():
                        try:
                            stage.adopt(rec.value, rec.headers)
                        except Exception as exc:  # preprocess dead-letters it; here it is only skipped
                            log.warning("trainer skips model record offset=%s: %s", rec.offset, reason(exc))
                finally:
                    await feed.stop()
                log.info("trainer starts from RPP model version %d", stage.trainer.current.version)
                resumed.set()

        @app.agent(results, name="trainer")
        async def train(stream):
            await resumed.wait()
            loop = asyncio.get_running_loop()
            async for event in stream.events():
                try:
                    stage.on_result(event.value)
                except Exception as exc:
                    await dead.send(event, reason(exc))
                    continue
                if not stage.due():
                    continue
                # Seconds of CPU in a thread; no result is fed meanwhile (see pipeline.trainer).
                try:
                    outcome, model = await loop.run_in_executor(None, stage.retrain)
                except Exception:  # a failed retrain keeps the current model; labels keep coming
                    log.exception(
                        "trainer retrain failed; keeping RPP model version %d", stage.trainer.current.version
                    )
                    continue
                log.info("trainer retrain: %s %s", outcome.card["why"], stage.stats())
                if model is not None:
                    value, headers = encode_rpp_model(model)
                    await models.send(key=RPP_MODEL_KEY, value=value, headers=headers)
                    log.info("trainer published RPP model version %d", model.version)
