"""The whole RPP step for a batch of frames: features, history, preference.

:class:`RppPipeline` is what a preprocess worker holds: a :class:`FeatureExtractor`, a
:class:`StreamHistory` and either a trained :class:`PreferencePredictor` (one batched
LSTM call per :meth:`RppPipeline.process`) or, without one, the fixed
:func:`rule_preference`. It keeps no module-level state; one object per worker.
:meth:`RppPipeline.use` switches to another predictor (a newer version from the online
trainer) between two batches, keeping the streams' feature history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.rpp.features import FeatureConfig, FeatureExtractor, StreamHistory, TaskFeatures
from cdio_stream.rpp.rule import Preference, preference_of, rule_preference

if TYPE_CHECKING:  # torch-backed; imported by the caller that has a checkpoint
    from cdio_stream.rpp.predictor import PreferencePredictor

__all__ = ["FrameTask", "RppDecision", "RppPipeline"]


@dataclass(frozen=True)
class FrameTask:
    stream: str
    capture_time: float
    frame: bytes | np.ndarray  # JPEG bytes or a grey/BGR image
    a_req: float
    d_req: float


@dataclass(frozen=True)
class RppDecision:
    features: TaskFeatures
    preference: Preference
    probability: float | None  # P(compute) from the LSTM; None when the rule decided
    model_version: int | None = None  # the predictor's version; None when the rule decided


class RppPipeline:
    """Frames in, preferences out; per-stream state bounded by ``max_streams``."""

    def __init__(
        self,
        predictor: PreferencePredictor | None = None,
        *,
        config: FeatureConfig | None = None,
        seq_len: int = 8,
        max_streams: int = 1024,
    ) -> None:
        self.config = config = config or FeatureConfig()
        if predictor is not None:
            self._check(predictor)
            seq_len = predictor.seq_len
        self.predictor = predictor
        self.extractor = FeatureExtractor(config, max_streams=max_streams)
        self.history = StreamHistory(seq_len, max_streams=max_streams)

    @property
    def model_version(self) -> int | None:
        return None if self.predictor is None else self.predictor.version

    def use(self, predictor: PreferencePredictor) -> None:
        """Decide later batches with ``predictor``; ConfigError if it reads other features.

        The feature history is kept; if the sequence length differs it restarts (the next
        tasks of each stream are padded like a stream's first ones).
        """
        self._check(predictor)
        if predictor.seq_len != self.history.seq_len:
            self.history = StreamHistory(predictor.seq_len, max_streams=self.history.max_streams)
        self.predictor = predictor

    def _check(self, predictor: PreferencePredictor) -> None:
        config = self.config
        if predictor.feature_config is not None and predictor.feature_config != config:
            raise ConfigError(
                f"feature config {config} differs from the checkpoint's {predictor.feature_config}"
            )
        if predictor.n_features != config.n_features:
            raise ConfigError(
                f"checkpoint expects {predictor.n_features} features, config gives {config.n_features}"
            )

    def process(self, tasks: Sequence[FrameTask]) -> list[RppDecision]:
        """Decide a batch of frames (in capture order within each stream); any bad frame raises."""
        out = self.process_each(tasks)
        for d in out:
            if isinstance(d, Exception):
                raise d
        return out  # type: ignore[return-value]

    def process_each(self, tasks: Sequence[FrameTask]) -> list[RppDecision | Exception]:
        """Like :meth:`process`, but a frame that fails gives its exception in its place.

        Features are extracted frame by frame: a frame that does not decode raises before it
        touches its stream's state, so it spoils neither its batch-mates nor its stream's
        history. The LSTM then runs once over the batch's good frames.
        """
        out: list[RppDecision | Exception | None] = [None] * len(tasks)
        feats: list[TaskFeatures] = []
        seqs: list[np.ndarray] = []
        good: list[int] = []
        for i, t in enumerate(tasks):
            try:
                f = self.extractor.extract(t.stream, t.capture_time, t.frame, t.a_req, t.d_req)
            except Exception as exc:  # noqa: BLE001 - handed back to the caller, per frame
                out[i] = exc
                continue
            feats.append(f)
            seqs.append(self.history.append(t.stream, f))
            good.append(i)
        if self.predictor is None:
            decisions = [RppDecision(f, rule_preference(f), None) for f in feats]
        elif seqs:
            probs = self.predictor.predict_proba(np.stack(seqs))
            thr, version = self.predictor.threshold, self.predictor.version
            decisions = [
                RppDecision(f, preference_of(float(p), thr), float(p), version)
                for f, p in zip(feats, probs, strict=True)
            ]
        else:
            decisions = []
        for i, d in zip(good, decisions, strict=True):
            out[i] = d
        return out  # type: ignore[return-value] - every slot is filled now
