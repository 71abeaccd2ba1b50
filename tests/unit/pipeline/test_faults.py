"""Accounting of the fault suite: frames matched to their results and dead letters."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import orjson
import pytest

from cdio_stream.messages import META_HEADER
from cdio_stream.pipeline.dead_letter import dead_letter
from cdio_stream.pipeline.faults import fault_row, frame_outcomes, reason_label
from cdio_stream.topology import load_topology

ROOT = Path(__file__).resolve().parents[3]


class Rec(NamedTuple):  # the fields of a consumer record the accounting reads
    partition: int
    offset: int
    value: bytes
    headers: list


@pytest.fixture
def topology():
    return load_topology(ROOT / "topics.yaml")


def frame(offset: int, stream: str, no: int) -> Rec:
    return Rec(0, offset, b"jpeg", [(META_HEADER, orjson.dumps({"stream_id": stream, "frame_no": no}))])


def result(task_id: str, server: str) -> Rec:
    return Rec(0, 0, orjson.dumps({"task_id": task_id, "server_id": server}), [])


def dead(topology, reason: str, stage: str, topic: str, offset: int, headers=None, value=b"") -> Rec:
    _, h = dead_letter(
        value,
        headers,
        reason=reason,
        stage=stage,
        source_topic=topic,
        source_partition=0,
        source_offset=offset,
    )
    return Rec(0, 0, value, h)


class TestFrameOutcomes:
    def test_every_kind_of_outcome(self, topology):
        frames = [
            frame(0, "a", 1),
            frame(1, "a", 2),
            frame(2, "a", 3),
            frame(3, "a", 1),
            frame(4, "b", 1),
            frame(5, "b", 2),
        ]
        task_meta = [(META_HEADER, orjson.dumps({"stream_id": "a", "frame_no": 1, "source": "0/3"}))]
        results = [
            result("a/1", "cloud"),
            result("a/2", "edge-1"),
            result("a/2", "edge-1"),
            result("b/2", "cloud"),
        ]
        dead_letters = [
            # the duplicate frame (offset 3), dead-lettered twice by the scheduler (a redelivery)
            dead(topology, "duplicate task 'a/1': ...", "scheduler", topology.tasks.name, 7, task_meta),
            dead(topology, "duplicate task 'a/1': ...", "scheduler", topology.tasks.name, 9, task_meta),
            dead(topology, "frame: 4050000 bytes exceeds the limit", "preprocess", topology.frames.name, 4),
            # a result of b/2 dead-lettered although b/2 also has a result: two outcomes
            dead(topology, "result for unknown task 'b/2'", "scheduler", topology.results.name, 0,
                 value=orjson.dumps({"task_id": "b/2"})),
        ]  # fmt: skip
        out = frame_outcomes(topology, frames, results, dead_letters)
        kinds = {k[1]: o.kind for k, o in out.items()}
        assert kinds == {
            0: "result",
            1: "result",
            2: "none",
            3: "dead letter",
            4: "dead letter",
            5: "duplicated",
        }
        assert out[(0, 1)].extra_copies == 1 and out[(0, 3)].extra_copies == 1
        row = fault_row("x", list(out.values()))
        assert (row.frames, row.one_result, row.one_dead_letter, row.none, row.duplicated) == (6, 2, 2, 1, 1)
        assert row.extra_copies == 2
        assert row.dead_letters == {"duplicate frame": 1, "oversize frame": 1}

    def test_results_from_two_servers_are_two_outcomes(self, topology):
        out = frame_outcomes(
            topology, [frame(0, "a", 1)], [result("a/1", "cloud"), result("a/1", "edge-1")], []
        )
        assert out[(0, 0)].kind == "duplicated"

    @pytest.mark.parametrize(
        "reason, label",
        [
            ("frame: JPEG does not decode completely (x)", "truncated JPEG"),
            ("field 'a_req' must be an mAP50 in [0, 100] percent, got 1e308", "impossible value"),
            ("something new", "something new"),
        ],
    )
    def test_reason_labels(self, reason, label):
        assert reason_label(reason) == label
