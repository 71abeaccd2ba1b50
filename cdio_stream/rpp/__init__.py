"""Resource preference prediction (RPP, paper 3.2): does a task prefer compute or bandwidth?

Torch-free parts are re-exported here: complexity (eqs. 1-2), task features (eq. 3),
history files and labels, the fallback rule and the pipeline facade. The LSTM parts
(eqs. 4-7) import torch and live in their modules: ``cdio_stream.rpp.model``,
``cdio_stream.rpp.predictor`` (:class:`PreferencePredictor`),
``cdio_stream.rpp.train`` (:func:`train_predictor`) and ``cdio_stream.rpp.crossval``
(by-scene k-fold cross-validation against baselines).
"""

from cdio_stream.rpp.complexity import (
    Complexity,
    complexity_from_jpeg,
    decode_gray,
    multiscale_complexity,
    pyramid_complexity,
    reduce_gray,
    to_unit_gray,
)
from cdio_stream.rpp.features import (
    FeatureConfig,
    FeatureExtractor,
    StreamHistory,
    TaskFeatures,
    feature_names,
    pad_sequence,
)
from cdio_stream.rpp.history import (
    HISTORY_VERSION,
    HistoryRecord,
    LinkDelay,
    history_from_trace,
    iter_history,
    preference_label,
    read_history,
    write_history,
)
from cdio_stream.rpp.pipeline import FrameTask, RppDecision, RppPipeline
from cdio_stream.rpp.rule import BANDWIDTH, COMPUTE, Preference, preference_of, rule_preference, rule_score

__all__ = [
    "BANDWIDTH",
    "COMPUTE",
    "HISTORY_VERSION",
    "Complexity",
    "FeatureConfig",
    "FeatureExtractor",
    "FrameTask",
    "HistoryRecord",
    "LinkDelay",
    "Preference",
    "RppDecision",
    "RppPipeline",
    "StreamHistory",
    "TaskFeatures",
    "complexity_from_jpeg",
    "decode_gray",
    "feature_names",
    "history_from_trace",
    "iter_history",
    "multiscale_complexity",
    "pad_sequence",
    "preference_label",
    "preference_of",
    "pyramid_complexity",
    "read_history",
    "reduce_gray",
    "rule_preference",
    "rule_score",
    "to_unit_gray",
    "write_history",
]
