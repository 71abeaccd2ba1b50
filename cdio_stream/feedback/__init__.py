"""Learning without labels: which tasks get a reference run, and how results are judged.

Broker-free. :mod:`.sampler` decides which tasks run a second time on the other tier;
:mod:`.judge` scores the served detections against the reference model's detections.
"""

from cdio_stream.feedback.judge import (
    REFERENCE_SCORE_THRESHOLD,
    ReferenceJudge,
    simulated_agreement,
)
from cdio_stream.feedback.plan import Judged, ReferencePlan
from cdio_stream.feedback.sampler import ReferenceSampler

__all__ = [
    "REFERENCE_SCORE_THRESHOLD",
    "Judged",
    "ReferenceJudge",
    "ReferencePlan",
    "ReferenceSampler",
    "simulated_agreement",
]
