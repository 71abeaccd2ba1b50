"""The Faust commit behaviour the stateless workers' acks are written around.

faust-streaming 0.15.3 commits the run of acked offsets after the committed one, but a
single unacked offset at the head of that run does not stop it (faust-streaming#606; fix
proposed in #707). So a worker must never ack a record while an earlier record of the
same partition is still in flight: the inference worker acks a batch only when all of it
is done (agents/inference.py, ``ack_in_order``). If this test starts failing, Faust changed
the rule and that note should be revisited.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

TP0 = TP("assign.edge-1", 0)


def new_offset(committed: int | None, acked: list[int]) -> int | None:
    """Consumer._new_offset on a consumer whose only state is these offsets."""
    fake = SimpleNamespace(
        _acked=defaultdict(list, {TP0: list(acked)}),
        _acked_index=defaultdict(set, {TP0: set(acked)}),
        _gap=defaultdict(IntervalTree),
        _committed_offset=defaultdict(lambda: None, {TP0: committed}),
    )
    return Consumer._new_offset(fake, TP0)


def test_a_contiguous_run_is_committed_up_to_its_end():
    assert new_offset(5, [5, 6, 7]) == 8
    assert new_offset(5, [5, 6, 9]) == 7  # stops at the first hole


def test_one_in_flight_record_at_the_head_is_committed_past():
    # Offset 5 is still being processed, 6 and 7 were acked: Faust commits 8, so after a
    # kill -9 the consumer resumes past 5. Two or more missing offsets stop the commit.
    assert new_offset(5, [6, 7]) == 8
    assert new_offset(5, [7, 8]) is None
    # Nothing committed yet (or committed 0): no head check at all.
    assert new_offset(None, [3, 4]) == 5
