from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import orjson
import pytest

from cdio_stream.errors import MessageError
from cdio_stream.messages import (
    META_HEADER,
    Assignment,
    Costs,
    Detection,
    Frame,
    FrameMeta,
    ReferenceOutcome,
    Result,
    RppModel,
    Task,
    TaskFeatures,
    Timings,
    decode_assignment,
    decode_frame,
    decode_result,
    decode_rpp_model,
    decode_task,
    encode_assignment,
    encode_frame,
    encode_result,
    encode_rpp_model,
    encode_task,
)


def make_jpeg(h: int = 27, w: int = 48) -> bytes:
    img = np.random.default_rng(0).integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


@pytest.fixture
def frame() -> Frame:
    meta = FrameMeta(
        stream_id="MVI_20011", frame_no=7, capture_time=1.7e9, a_req=63.5, d_req=0.4, gt_ref="MVI_20011/7"
    )
    return Frame(meta=meta, jpeg=make_jpeg())


@pytest.fixture
def task(frame: Frame) -> Task:
    features = TaskFeatures(
        complexity=0.12, complexity_scales=(0.05, 0.04, 0.03), motion=0.01, inter_arrival=0.04
    )
    return Task(frame=frame, features=features, preference=0.8, preprocess_s=0.001, created_at=1.7e9 + 0.01)


def meta_of(headers) -> dict:
    return orjson.loads(dict(headers)[META_HEADER])


def with_meta(headers, **changes) -> list:
    meta = meta_of(headers)
    for k, v in changes.items():
        if v is KeyError:
            del meta[k]
        else:
            meta[k] = v
    return [(META_HEADER, orjson.dumps(meta))]


class TestRoundTrip:
    def test_frame(self, frame):
        value, headers = encode_frame(frame)
        assert value == frame.jpeg  # raw JPEG as the value: no base64
        assert decode_frame(value, headers) == frame

    def test_frame_without_ground_truth(self, frame):
        f = Frame(meta=FrameMeta("cam", 1, 1.0, 50.0, 0.2), jpeg=frame.jpeg)
        assert decode_frame(*encode_frame(f)).meta.gt_ref is None

    def test_task(self, task):
        assert decode_task(*encode_task(task)) == task

    def test_task_carries_the_model_version(self, task):
        from dataclasses import replace

        tagged = replace(task, model_version=3)
        assert meta_of(encode_task(tagged)[1])["model_version"] == 3
        assert decode_task(*encode_task(tagged)).model_version == 3
        assert decode_task(*encode_task(task)).model_version is None  # the rule decided
        value, headers = encode_task(task)
        assert decode_task(value, with_meta(headers, model_version=KeyError)).model_version is None
        with pytest.raises(MessageError, match="model_version"):
            decode_task(value, with_meta(headers, model_version=-1))
        with pytest.raises(MessageError, match="model_version"):
            decode_task(value, with_meta(headers, model_version="v3"))

    def test_rpp_model(self):
        m = RppModel(version=4, checkpoint=b"\x80\x02weights", card={"parent_version": 3}, published_at=5.0)
        value, headers = encode_rpp_model(m)
        assert value == m.checkpoint  # raw checkpoint bytes as the value
        assert meta_of(headers)["kind"] == "rpp-model" and meta_of(headers)["version"] == 4
        assert decode_rpp_model(value, headers) == m

    def test_rpp_model_bad_input(self):
        value, headers = encode_rpp_model(RppModel(1, b"abc", {}, 0.0))
        with pytest.raises(MessageError, match="sha256"):
            decode_rpp_model(b"abd", headers)
        with pytest.raises(MessageError, match="empty value"):
            decode_rpp_model(None, headers)
        with pytest.raises(MessageError, match="'version' must be int"):
            decode_rpp_model(value, with_meta(headers, version=1.5))
        with pytest.raises(MessageError, match="empty checkpoint"):
            encode_rpp_model(RppModel(1, b"", {}, 0.0))

    def test_task_without_preference(self, task):
        t = Task(task.frame, task.features, None, 0.0, 2.0)
        assert decode_task(*encode_task(t)).preference is None

    def test_assignment(self, task):
        a = Assignment(
            task=task,
            server_id="edge-2",
            policy="cdio",
            decision={"arm": [1, 2], "ucb": 0.5},
            assigned_at=3.0,
        )
        assert decode_assignment(*encode_assignment(a)) == a

    def test_result(self):
        r = Result(
            task_id="cam/1",
            stream_id="cam",
            frame_no=1,
            server_id="cloud",
            tier="cloud",
            model="cloud",
            a_req=60.0,
            d_req=0.3,
            payload_bytes=12345,
            detections=(Detection((1.0, 2.0, 30.5, 40.25), 2, 0.9),),
            accuracy=71.2,
            timings=Timings(preprocess=0.001, queue=0.01, transmission=0.002, inference=0.05),
            costs=Costs(compute=1.2, bandwidth=3e7, energy=0.4),
            completed_at=5.0,
            assigned_at=4.9,
        )
        back = decode_result(encode_result(r))
        assert back == r and back.assigned_at == 4.9
        assert decode_result(encode_result(replace(r, assigned_at=None))).assigned_at is None  # older results
        assert back.delay == pytest.approx(0.063)
        assert back.accuracy_met is True and back.delay_met is True
        assert back.accuracy_source == "truth"  # accuracy without a source: from ground truth

    def test_result_without_accuracy_has_source_none(self):
        r = Result("a/1", "a", 1, "edge-1", "edge", "edge", 50, 0.2, 10, (), None, Timings(), Costs(), 0.0)
        assert decode_result(encode_result(r)).accuracy_source == "none"

    def test_reference_sampled_result(self, task):
        ref = ReferenceOutcome(
            server_id="cloud", tier="cloud", model="cloud", reference_model="cloud", score_threshold=0.25,
            agreement=40.0, edge_accuracy=15.1, cloud_accuracy=37.7, edge_delay=0.1, cloud_delay=0.2,
            timings=Timings(transmission=0.01, inference=0.03), costs=Costs(compute=9.0, bandwidth=1e8, energy=2.0),
            payload_bytes=5000,
        )  # fmt: skip
        r = Result(
            "cam/1", "cam", 1, "edge-1", "edge", "edge", 60.0, 0.3, 5000, (Detection((1, 2, 3, 4), 0, 0.5),),
            15.1, Timings(), Costs(), 5.0, accuracy_source="reference", features=task.features,
            preference=0.3, capture_time=1.7e9, reference=ref,
        )  # fmt: skip
        assert decode_result(encode_result(r)) == r

    def test_shadow_assignment_carries_the_served_result(self, task):
        served = Result(
            "a/1", "a", 1, "edge-1", "edge", "edge", 50, 0.2, 10, (), None, Timings(), Costs(), 0.0
        )
        a = Assignment(task=task, server_id="cloud", policy="cdio", shadow_server="cloud", served=served)
        back = decode_assignment(*encode_assignment(a))
        assert back == a and back.served == served

    def test_encoders_write_what_a_deep_asdict_would(self, task):
        # The encoders hand nested dataclasses to orjson instead of dataclasses.asdict (speed);
        # the JSON must stay exactly the same.
        from dataclasses import asdict

        _, headers = encode_task(task)
        rest = {k: v for k, v in asdict(task).items() if k != "frame"}  # features, preference, ...
        expected = {"kind": "task", "v": 2, **asdict(task.frame.meta), **rest}
        assert meta_of(headers) == orjson.loads(orjson.dumps(expected))
        r = Result(
            "cam/1", "cam", 1, "edge-1", "edge", "edge", 60.0, 0.3, 5000, (Detection((1, 2, 3, 4), 0, 0.5),),
            15.1, Timings(queue=0.1), Costs(energy=2.0), 5.0, features=task.features, capture_time=1.7e9,
        )  # fmt: skip
        deep = asdict(r) | {"kind": "result", "v": 2, "detections": [[1, 2, 3, 4, 0, 0.5]]}
        assert orjson.loads(encode_result(r)) == orjson.loads(orjson.dumps(deep))

    def test_result_source_must_match_accuracy(self):
        with pytest.raises(MessageError, match="contradicts"):
            Result("a/1", "a", 1, "e", "edge", "edge", 50, 0.2, 10, (), None, Timings(), Costs(), 0.0,
                   accuracy_source="reference")  # fmt: skip
        with pytest.raises(MessageError, match="accuracy_source must be one of"):
            Result("a/1", "a", 1, "e", "edge", "edge", 50, 0.2, 10, (), 5.0, Timings(), Costs(), 0.0,
                   accuracy_source="guess")  # fmt: skip


class TestBadInput:
    def test_non_jpeg_bytes(self, frame):
        _, headers = encode_frame(frame)
        with pytest.raises(MessageError, match="not a JPEG"):
            decode_frame(b"\x89PNG\r\n\x1a\n" + b"0" * 100, headers)

    def test_truncated_jpeg(self, frame):
        value, headers = encode_frame(frame)
        with pytest.raises(MessageError, match="truncated"):
            decode_frame(value[: len(value) // 2], headers)

    def test_empty_value(self, frame):
        _, headers = encode_frame(frame)
        with pytest.raises(MessageError, match="empty"):
            decode_frame(None, headers)

    def test_oversize(self, frame):
        value, headers = encode_frame(frame)
        with pytest.raises(MessageError, match="exceeds the limit"):
            decode_frame(value, headers, max_frame_bytes=len(value) - 1)
        with pytest.raises(MessageError, match="exceeds the limit"):
            encode_frame(frame, max_frame_bytes=100)

    def test_missing_header(self, frame):
        with pytest.raises(MessageError, match="missing 'cdio' header"):
            decode_frame(frame.jpeg, [("other", b"x")])

    def test_header_not_json(self, frame):
        with pytest.raises(MessageError, match="not valid JSON"):
            decode_frame(frame.jpeg, [(META_HEADER, b"{nope")])

    def test_missing_field(self, frame):
        value, headers = encode_frame(frame)
        with pytest.raises(MessageError, match="missing field 'a_req'"):
            decode_frame(value, with_meta(headers, a_req=KeyError))

    def test_wrong_types(self, frame):
        value, headers = encode_frame(frame)
        with pytest.raises(MessageError, match="'frame_no' must be int"):
            decode_frame(value, with_meta(headers, frame_no="7"))
        with pytest.raises(MessageError, match="'frame_no' must be int"):
            decode_frame(value, with_meta(headers, frame_no=True))
        with pytest.raises(MessageError, match="'d_req' must be a number"):
            decode_frame(value, with_meta(headers, d_req=[1]))

    @pytest.mark.parametrize(
        "field, value",
        [("a_req", 1e308), ("a_req", -1.0), ("d_req", 0.0), ("d_req", 1e308), ("frame_no", -3)],
    )
    def test_impossible_values(self, frame, field, value):
        encoded, headers = encode_frame(frame)
        with pytest.raises(MessageError, match=f"field '{field}' must be"):
            decode_frame(encoded, with_meta(headers, **{field: value}))

    def test_task_keeps_its_source_record(self, task):
        sourced = Task(**{**task.__dict__, "source": "3/1742"})
        assert decode_task(*encode_task(sourced)).source == "3/1742"
        assert decode_task(*encode_task(task)).source is None

    def test_wrong_kind_and_version(self, frame, task):
        value, headers = encode_frame(frame)
        with pytest.raises(MessageError, match="expected a task message"):
            decode_task(value, headers)
        with pytest.raises(MessageError, match="unsupported format version"):
            decode_frame(value, with_meta(headers, v=99))

    def test_bad_task_features(self, task):
        value, headers = encode_task(task)
        meta = meta_of(headers)
        meta["features"]["complexity_scales"] = ["a"]
        with pytest.raises(MessageError, match="complexity_scales"):
            decode_task(value, [(META_HEADER, orjson.dumps(meta))])

    def test_bad_result(self):
        with pytest.raises(MessageError, match="empty"):
            decode_result(b"")
        with pytest.raises(MessageError, match="not valid JSON"):
            decode_result(b"\xff\xfe")
        with pytest.raises(MessageError, match="JSON object"):
            decode_result(b"[1,2]")
        good = orjson.loads(
            encode_result(
                Result(
                    "a/1", "a", 1, "edge-1", "edge", "edge", 50, 0.2, 10, (), None, Timings(), Costs(), 0.0
                )
            )
        )
        good["detections"] = [[1, 2, 3]]
        with pytest.raises(MessageError, match=r"detections\[0\]"):
            decode_result(orjson.dumps(good))


class TestPolicyView:
    def view(self):
        from cdio_stream.messages import EstimateRow, PolicyView

        rows = (EstimateRow("bandwidth/c0/a0", (0.5, None), (2, 0)),)
        return PolicyView("cdio", ("edge-1", "cloud"), "estimated P(mAP50 >= A^q)", rows, 2, 10.0)

    def test_roundtrip(self):
        from cdio_stream.messages import decode_policy_view, encode_policy_view

        assert decode_policy_view(encode_policy_view(self.view())) == self.view()

    @pytest.mark.parametrize(
        ("edit", "message"),
        [
            (lambda d: d.update(rows=[["c", [0.5], [1, 0]]]), r"rows\[0\] must be"),
            (lambda d: d.update(rows=[["c", ["x", None], [1, 0]]]), r"rows\[0\] must be"),
            (lambda d: d.update(servers=[1, 2]), "servers must be a list"),
            (lambda d: d.update(kind="result"), "expected a policy-view"),
            (lambda d: d.pop("feedbacks"), "missing field 'feedbacks'"),
        ],
    )
    def test_bad_views_say_what_is_wrong(self, edit, message):
        import orjson

        from cdio_stream.messages import decode_policy_view, encode_policy_view

        data = orjson.loads(encode_policy_view(self.view()))
        edit(data)
        with pytest.raises(MessageError, match=message):
            decode_policy_view(orjson.dumps(data))


def test_a_task_id_splits_back_into_stream_and_frame():
    from cdio_stream.messages import make_task_id, split_task_id

    assert split_task_id(make_task_id("cam/north", 12)) == ("cam/north", 12)  # a stream id may hold "/"
    for bad in ("cam", "cam/", "/3", "cam/x"):
        with pytest.raises(MessageError, match="is not <stream>/<frame number>"):
            split_task_id(bad)
