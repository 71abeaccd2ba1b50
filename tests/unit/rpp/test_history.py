"""History file format, label rule and building histories from traces."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cdio_stream.errors import ConfigError, DatasetError
from cdio_stream.rpp.history import (
    HISTORY_VERSION,
    HistoryRecord,
    LinkDelay,
    history_from_trace,
    preference_label,
    read_history,
    write_history,
)


def _record(**kw) -> HistoryRecord:
    base = dict(
        stream="s1",
        frame=1,
        capture_time=0.0,
        complexity=0.008,
        complexity_scales=(0.002, 0.002, 0.002, 0.001, 0.001),
        motion=0.001,
        inter_arrival=0.04,
        a_req=65.0,
        d_req=0.4,
        edge_accuracy=70.0,
        edge_delay=0.05,
        cloud_accuracy=80.0,
        cloud_delay=0.1,
    )
    base.update(kw)
    return HistoryRecord(**base)


class TestLabelRule:
    @pytest.mark.parametrize(
        ("outcomes", "label"),
        [
            ({"edge_accuracy": 60.0}, 1),  # edge misses accuracy, cloud serves -> compute
            ({"edge_accuracy": 70.0}, 0),  # both serve -> bandwidth
            ({"edge_accuracy": 65.0}, 0),  # tie on accuracy counts as met
            ({"edge_delay": 0.5}, 1),  # edge too slow, cloud serves -> compute
            ({"edge_accuracy": 60.0, "cloud_accuracy": 62.0}, 0),  # both fail -> bandwidth
            ({"edge_accuracy": 60.0, "cloud_delay": 0.45}, 0),  # cloud accurate but late -> both fail
            ({"edge_accuracy": 60.0, "cloud_delay": 0.4}, 1),  # tie on delay counts as met
            ({"edge_accuracy": 70.0, "cloud_accuracy": 10.0}, 0),  # edge serves, cloud irrelevant
        ],
    )
    def test_cases(self, outcomes, label):
        assert preference_label(_record(**outcomes)) == label

    def test_both_fail_can_be_flipped(self):
        rec = _record(edge_accuracy=60.0, cloud_accuracy=62.0)
        assert preference_label(rec, both_fail=1) == 1
        assert rec.label(both_fail=1) == 1
        assert preference_label(_record(edge_accuracy=70.0), both_fail=1) == 0

    def test_bad_both_fail(self):
        with pytest.raises(ConfigError):
            preference_label(_record(), both_fail=2)


class TestFile:
    def test_roundtrip(self, tmp_path):
        recs = [_record(frame=i, capture_time=i * 0.04) for i in range(1, 4)]
        path = tmp_path / "h.jsonl"
        assert write_history(path, recs) == 3
        assert read_history(path) == recs

    def test_version_is_written(self):
        assert _record().to_json().startswith(b'{"v":%d' % HISTORY_VERSION)

    def test_features_view(self):
        f = _record(a_req=71.0).features()
        assert f.a_req == 71.0 and f.complexity_scales == (0.002, 0.002, 0.002, 0.001, 0.001)

    @pytest.mark.parametrize(
        "line",
        [b"not json", b"[1, 2]", b'{"v": 99, "stream": "s"}', b'{"v": 1, "stream": "s"}'],
    )
    def test_bad_lines_name_file_and_line(self, tmp_path, line):
        path = tmp_path / "h.jsonl"
        path.write_bytes(_record().to_json() + b"\n\n" + line + b"\n")
        with pytest.raises(DatasetError, match=r"h\.jsonl:3"):
            read_history(path)

    def test_missing_file(self, tmp_path):
        with pytest.raises(DatasetError, match="cannot open history"):
            read_history(tmp_path / "nope.jsonl")


class TestFromTrace:
    def test_fields_requirements_and_delays(self, trace_frame_factory):
        frames = [
            trace_frame_factory(stream="b", frame=2, capture_time=0.08),
            trace_frame_factory(stream="a", frame=1, capture_time=0.0),
            trace_frame_factory(stream="b", frame=1, capture_time=0.0),
            trace_frame_factory(stream="a", frame=2, capture_time=0.05),
        ]
        recs = history_from_trace(frames, "edge", "cloud", seed=3)
        assert [(r.stream, r.frame) for r in recs] == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
        assert [r.inter_arrival for r in recs] == pytest.approx([0.0, 0.05, 0.0, 0.08])
        for r in recs:
            assert 50 <= r.a_req <= 80 and 0.2 <= r.d_req <= 0.6
            assert (r.edge_accuracy, r.cloud_accuracy) == (60.0, 75.0)
            assert r.edge_delay == pytest.approx(0.05)
            assert r.cloud_delay == pytest.approx(0.02 + 75_000 * 8 / 300e6)
            assert r.complexity == 0.008 and r.motion == 0.001

    def test_draws_replay_each_stream_with_fresh_requirements(self, trace_frame_factory):
        from cdio_stream.rpp.history import scene_of

        frames = [trace_frame_factory(stream="a", frame=i, capture_time=0.04 * i) for i in range(1, 6)]
        recs = history_from_trace(frames, "edge", "cloud", seed=3, draws=3)
        assert [r.stream for r in recs] == ["a#1"] * 5 + ["a#2"] * 5 + ["a#3"] * 5
        assert {scene_of(r.stream) for r in recs} == {"a"} and scene_of("MVI_20011") == "MVI_20011"
        assert [r.a_req for r in recs[:5]] == [
            r.a_req for r in history_from_trace(frames, "edge", "cloud", seed=3)
        ]
        assert len({tuple(r.a_req for r in recs[k * 5 : k * 5 + 5]) for k in range(3)}) == 3
        assert [r.inter_arrival for r in recs[5:10]] == pytest.approx([0.0] + [0.04] * 4)
        with pytest.raises(ConfigError, match="draws"):
            history_from_trace(frames, "edge", "cloud", seed=3, draws=0)

    def test_first_draw_numbers_on_so_histories_concatenate(self, trace_frame_factory):
        frames = [trace_frame_factory(stream="a", frame=i, capture_time=0.04 * i) for i in range(1, 4)]
        low = history_from_trace(frames, "edge", "cloud", seed=3, a_range=(10, 20), draws=2)
        high = history_from_trace(frames, "edge", "cloud", seed=3, a_range=(50, 80), draws=1, first_draw=3)
        assert [r.stream for r in low + high] == ["a#1"] * 3 + ["a#2"] * 3 + ["a#3"] * 3
        assert all(50 <= r.a_req <= 80 for r in high)
        # draw 3 is seeded like the third draw of one call
        same = history_from_trace(frames, "edge", "cloud", seed=3, a_range=(50, 80), draws=3)[6:]
        assert [r.a_req for r in high] == [r.a_req for r in same]
        with pytest.raises(ConfigError, match="first_draw"):
            history_from_trace(frames, "edge", "cloud", seed=3, first_draw=0)

    def test_seeded(self, trace_frame_factory):
        frames = [trace_frame_factory(frame=i) for i in range(1, 20)]
        a = history_from_trace(frames, "edge", "cloud", seed=1)
        b = history_from_trace(frames, "edge", "cloud", seed=1)
        c = history_from_trace(frames, "edge", "cloud", seed=2)
        assert a == b and a != c

    def test_custom_ranges_and_delay_fn(self, trace_frame_factory):
        frames = [trace_frame_factory(frame=i) for i in range(1, 6)]
        recs = history_from_trace(
            frames,
            "edge",
            "cloud",
            seed=0,
            a_range=(70.0, 70.0),
            d_range=(0.3, 0.3),
            delay_fn=lambda f, model, tier: 0.5 if tier == "edge" else 0.1,
        )
        assert all(r.a_req == 70.0 and r.d_req == 0.3 for r in recs)
        # edge accuracy 60 < 70: compute when the cloud (75, 0.1 s) serves
        assert all(r.label() == 1 for r in recs)

    def test_missing_model_names_frame_and_model(self, trace_frame_factory):
        frames = [trace_frame_factory(stream="cam", frame=7)]
        with pytest.raises(DatasetError, match=r"cam/7 .*'yolov5x'"):
            history_from_trace(frames, "edge", "yolov5x", seed=0)

    def test_bad_range(self, trace_frame_factory):
        with pytest.raises(ConfigError, match="a_range"):
            history_from_trace([trace_frame_factory()], "edge", "cloud", seed=0, a_range=(80.0, 50.0))


class TestLinkDelay:
    def test_edge_link_optional(self, trace_frame_factory):
        frame = trace_frame_factory(jpeg_bytes=1_000_000)
        assert LinkDelay()(frame, "edge", "edge") == pytest.approx(0.05)
        assert LinkDelay(edge_bandwidth_bps=80e6)(frame, "edge", "edge") == pytest.approx(0.15)
        assert LinkDelay(cloud_bandwidth_bps=100e6)(frame, "cloud", "cloud") == pytest.approx(0.1)

    def test_record_is_frozen(self):
        with pytest.raises(AttributeError):
            _record().a_req = 1.0  # type: ignore[misc]
        assert replace(_record(), a_req=1.0).a_req == 1.0
