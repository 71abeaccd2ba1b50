from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from cdio_stream.errors import MessageError
from cdio_stream.messages import (
    Costs,
    Frame,
    FrameMeta,
    Result,
    Task,
    TaskFeatures,
    Timings,
    decode_result,
    encode_assignment,
    encode_result,
    encode_task,
)
from cdio_stream.pipeline.dead_letter import dead_letter
from cdio_stream.pipeline.scheduler import SchedulerStage
from cdio_stream.policy.registry import make_policy
from cdio_stream.topology import load_topology

ROOT = Path(__file__).resolve().parents[3]
JPEG = cv2.imencode(".jpg", np.zeros((16, 16, 3), dtype=np.uint8))[1].tobytes()


@pytest.fixture
def topology():
    return load_topology(ROOT / "topics.yaml")


def stage_factory(topology, policy: str = "cdio", clock=lambda: 100.0) -> SchedulerStage:
    return SchedulerStage(make_policy(policy, list(topology.servers), seed=0), topology, clock=clock)


def task(i: int, preference: float = 0.9, source: str | None = "auto", a_req: float = 60.0) -> Task:
    meta = FrameMeta(stream_id="cam", frame_no=i, capture_time=99.0, a_req=a_req, d_req=0.5, gt_ref=None)
    features = TaskFeatures(complexity=0.5, complexity_scales=(0.1,) * 5, motion=0.0, inter_arrival=0.04)
    source = f"0/{i}" if source == "auto" else source
    return Task(Frame(meta, JPEG), features, preference, preprocess_s=0.001, created_at=99.5, source=source)


def result_for(a, accuracy: float = 70.0, inference: float = 0.05) -> bytes:
    return encode_result(
        Result(
            task_id=a.task.task_id,
            stream_id="cam",
            frame_no=a.task.frame.meta.frame_no,
            server_id=a.server_id,
            tier="cloud" if a.server_id == "cloud" else "edge",
            model="m",
            a_req=60.0,
            d_req=0.5,
            payload_bytes=len(JPEG),
            detections=(),
            accuracy=accuracy,
            timings=Timings(preprocess=0.001, queue=0.01, transmission=0.001, inference=inference),
            costs=Costs(compute=1.0, bandwidth=1e8, energy=0.5),
            completed_at=101.0,
        )
    )


class TestSchedulerStage:
    def test_slot_becomes_one_assignment_per_task(self, topology):
        stage = stage_factory(topology)
        assignments = stage.decide([task(i) for i in range(5)])
        assert [a.task.task_id for a in sorted(assignments, key=lambda a: a.task.frame.meta.frame_no)] == [
            f"cam/{i}" for i in range(5)
        ]
        assert all(a.server_id in topology.server_ids and a.policy == "cdio" for a in assignments)
        assert all(a.assigned_at == 100.0 for a in assignments)
        assert stage.stats() == {
            "decisions": 5,
            "feedbacks": 0,
            "pending": 5,
            "expired": 0,
            "redelivered_tasks": 0,
            "duplicate_results": 0,
            "recovered": 0,
            "shed": 0,
            "lost": 0,
            "dead_lettered": 0,
            "joined": 0,
        }
        state = stage.system_state(100.0)
        assert sum(s.queue_length for s in state.servers) == 5

    def test_first_use_of_a_context_follows_the_preference(self, topology):
        stage = stage_factory(topology)
        (a,) = stage.decide([task(1, preference=1.0)])
        assert a.server_id == "cloud"  # Algorithm 1, step 1: compute preference -> cloud

    def test_results_feed_the_bandit_and_clear_pending(self, topology):
        stage = stage_factory(topology)
        assignments = stage.decide([task(i) for i in range(3)])
        for a in assignments:
            stage.on_result(result_for(a))
        assert stage.stats()["feedbacks"] == 3 and stage.stats()["pending"] == 0
        assert stage.policy.cost.n.sum() == 3
        assert stage.system_state(0).server(assignments[0].server_id).queue_delay_s == 0.0

    def test_unknown_task_or_server_is_bad_input(self, topology):
        stage = stage_factory(topology)
        (a,) = stage.decide([task(1)])
        stage.on_result(result_for(a))
        with pytest.raises(MessageError, match="unknown task 'cam/55'"):
            stage.on_result(result_for(replace(a, task=task(55))))
        (b,) = stage.decide([task(2)])
        forged = result_for(b).replace(f'"server_id":"{b.server_id}"'.encode(), b'"server_id":"edge-9"')
        with pytest.raises(MessageError, match="unknown server 'edge-9'"):
            stage.on_result(forged)
        with pytest.raises(MessageError):
            stage.on_result(b"not json")

    def test_snapshot_restores_learning_and_pending_tasks(self, topology):
        stage = stage_factory(topology)
        done = stage.decide([task(i) for i in range(4)])
        for a in done:
            stage.on_result(result_for(a))
        (open_task,) = stage.decide([task(99)])
        restored = stage_factory(topology)
        snapshot = stage.snapshot()
        assert snapshot.count(b"CDPS") == 1  # the policy state is not a second encoding inside it
        restored.restore(snapshot)
        assert restored.stats() == stage.stats()
        assert restored.policy.state_bytes() == stage.policy.state_bytes()
        restored.on_result(result_for(open_task))  # a result of a task decided before the restart
        stage.on_result(result_for(open_task))
        assert restored.stats()["feedbacks"] == 5
        # Same state, same next decision.
        assert [a.server_id for a in restored.decide([task(7)])] == [
            a.server_id for a in stage.decide([task(7)])
        ]

    def test_snapshot_of_another_policy_is_rejected(self, topology):
        with pytest.raises(MessageError):
            stage_factory(topology, "random").restore(stage_factory(topology).snapshot())


class TestExactlyOnce:
    def test_redelivered_task_is_skipped_duplicate_frame_is_rejected_alone(self, topology):
        stage = stage_factory(topology)
        first = stage.decide_slot([task(1), task(2)])
        assert len(first.assignments) == 2 and not first.failed
        again = stage.decide_slot([task(1), task(3), task(2, source="0/77"), task(4), task(4)])
        assert again.redelivered == [0, 4]  # cam/1 re-read; cam/4 twice from one record
        assert [i for i, _ in again.failed] == [2]
        assert "duplicate task 'cam/2'" in str(again.failed[0][1])
        assert sorted(a.task.task_id for a in again.assignments) == ["cam/3", "cam/4"]
        assert stage.stats()["decisions"] == 4

    def test_invalid_task_fails_alone_the_rest_of_its_slot_goes_on(self, topology):
        stage = stage_factory(topology)
        outcome = stage.decide_slot([task(1), task(2, a_req=1e308), task(3)])
        assert [i for i, _ in outcome.failed] == [1]
        assert sorted(a.task.task_id for a in outcome.assignments) == ["cam/1", "cam/3"]

    def test_result_redelivery_is_counted_once(self, topology):
        stage = stage_factory(topology)
        (a,) = stage.decide([task(1)])
        assert stage.on_result(result_for(a)) is not None
        assert stage.on_result(result_for(a)) is None
        assert stage.stats()["feedbacks"] == 1 and stage.stats()["duplicate_results"] == 1
        assert stage.policy.cost.n.sum() == 1
        other = "cloud" if a.server_id != "cloud" else "edge-1"
        with pytest.raises(MessageError, match="has been answered"):
            stage.on_result(result_for(replace(a, server_id=other)))

    def test_assignments_sent_after_the_snapshot_are_recovered(self, topology):
        stage = stage_factory(topology)
        (a,) = stage.decide([task(1)])
        stage.positions.advance("tasks", 0, 10)
        snap = stage.snapshot()
        (b,) = stage.decide([task(2)])  # decided and sent, then the worker died
        restored = stage_factory(topology)
        restored.restore(snap)
        assert restored.positions.included("tasks", 0, 10) and not restored.positions.included("tasks", 0, 11)
        assert restored.recover([a, b]) == 1  # a was already pending in the snapshot
        restored.on_result(result_for(b))  # not "unknown task"
        assert restored.stats()["feedbacks"] == 1
        again = restored.decide_slot([task(2)])  # the re-read task is not decided twice
        assert again.redelivered == [0] and not again.assignments

    def test_snapshot_keeps_answered_tasks_and_positions(self, topology):
        stage = stage_factory(topology)
        (a,) = stage.decide([task(1)])
        stage.on_result(result_for(a))
        stage.positions.advance("results", 3, 41)
        stage.output_ends = {"assign.cloud/0": 7}
        restored = stage_factory(topology)
        restored.restore(stage.snapshot())
        assert restored.on_result(result_for(a)) is None
        assert restored.positions.to_dict() == {"results/3": 42}
        assert restored.output_ends == {"assign.cloud/0": 7}
        assert restored.decide_slot([task(1)]).redelivered == [0]


def dead_letter_of(
    topology, a, stage: str = "inference", max_bytes: int | None = None, on: str | None = None
):
    """The headers of the dead letter the inference stage writes for assignment ``a``
    (read from the assignment topic of server ``on``, by default its own)."""
    value, headers = encode_assignment(a)
    _, dl_headers = dead_letter(
        value,
        headers,
        reason="task cam/1: not a complete JPEG",
        stage=stage,
        source_topic=topology.assignment_topic(on or a.server_id).name,
        max_bytes=max_bytes,
    )
    return dl_headers


class TestDeadLetteredTasks:
    def test_an_inference_dead_letter_ends_its_task_once(self, topology):
        stage = stage_factory(topology)
        a, b = stage.decide([task(1), task(2)])
        assert set(stage.policy.pending) == {"cam/1", "cam/2"}
        letter = dead_letter_of(topology, a, max_bytes=2048)  # value cut short: the header still names it
        assert stage.on_dead_letter(letter) == "cam/1"
        assert list(stage.pending) == ["cam/2"] and list(stage.policy.pending) == ["cam/2"]
        assert stage.policy.cost.n.sum() == 0  # released, nothing learned
        assert stage.system_state(100.0).server(a.server_id).queue_length == (b.server_id == a.server_id)
        assert stage.on_dead_letter(letter) is None  # a redelivered dead letter changes nothing
        assert stage.stats()["dead_lettered"] == 1 and stage.stats()["pending"] == 1
        # The task is over: re-reading it is a redelivery, and a late result from its server
        # (the inference worker retried it) is a duplicate, never a second outcome.
        assert stage.decide_slot([task(1)]).redelivered == [0]
        assert stage.on_result(result_for(a)) is None
        assert stage.stats()["feedbacks"] == 0 and stage.stats()["duplicate_results"] == 1
        stage.on_result(result_for(b))
        assert stage.stats()["pending"] == 0 and stage.stats()["feedbacks"] == 1

    def test_other_stages_dead_letters_change_nothing(self, topology):
        stage = stage_factory(topology)
        (a,) = stage.decide([task(1)])
        # the scheduler's own dead letter of a task, and a sink's (wrong stage or topic)
        value, headers = encode_task(task(1))
        own = dead_letter(value, headers, reason="x", stage="scheduler", source_topic=topology.tasks.name)[1]
        assert stage.on_dead_letter(own) is None
        assert stage.on_dead_letter(dead_letter_of(topology, a, stage="sink")) is None
        assert list(stage.pending) == ["cam/1"] and list(stage.policy.pending) == ["cam/1"]
        other = "cloud" if a.server_id != "cloud" else "edge-1"
        # a stray copy on another server's topic, and a copy addressed to another server
        assert stage.on_dead_letter(dead_letter_of(topology, a, on=other)) is None
        assert stage.on_dead_letter(dead_letter_of(topology, replace(a, server_id=other))) is None
        assert list(stage.pending) == ["cam/1"]
        with pytest.raises(MessageError, match="missing 'cdio' header"):
            stage.on_dead_letter(
                dead_letter(
                    b"",
                    [],
                    reason="x",
                    stage="inference",
                    source_topic=topology.assignment_topic("cloud").name,
                )[1]
            )

    def test_a_forwarded_shadow_copy_dead_lettered_at_its_shadow_ends_the_task(self, topology):
        stage = stage_factory(topology)
        (a,) = stage.decide([task(1)])
        shadow = "cloud" if a.server_id != "cloud" else "edge-1"
        forwarded = replace(a, server_id=shadow, shadow_server=shadow, served=decode_result(result_for(a)))
        assert stage.on_dead_letter(dead_letter_of(topology, forwarded)) == "cam/1"
        assert not stage.pending and not stage.policy.pending

    def test_snapshot_keeps_dead_lettered_tasks_ended(self, topology):
        stage = stage_factory(topology)
        (a,) = stage.decide([task(1)])
        stage.on_dead_letter(dead_letter_of(topology, a))
        restored = stage_factory(topology)
        restored.restore(stage.snapshot())
        assert restored.stats()["dead_lettered"] == 1 and not restored.pending and not restored.policy.pending
        assert restored.recover([a]) == 0  # its assignment, re-read after the snapshot, stays ended


class TestPolicyView:
    def test_the_bandits_estimates_with_the_feedback_count(self, topology):
        stage = stage_factory(topology)
        for a in stage.decide([task(i) for i in range(3)]):
            stage.on_result(result_for(a, accuracy=70.0))
        view = stage.policy_view()
        assert view.policy == "cdio" and view.servers == topology.server_ids
        assert view.feedbacks == 3 and view.published_at == 100.0
        assert sum(sum(r.counts) for r in view.rows) >= 3  # every result updated some arm
        assert all(v is None or v == 1.0 for r in view.rows for v in r.values)  # 70 >= A^q 60 each time

    def test_a_policy_without_estimates_has_none(self, topology):
        assert stage_factory(topology, policy="all-edge").policy_view() is None
