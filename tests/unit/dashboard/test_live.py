"""LiveDashboard's record handlers: frames and dead letters as the sink's agents hand them over."""

from __future__ import annotations

import asyncio

from cdio_stream.dashboard.live import LiveDashboard
from cdio_stream.dashboard.server import DashboardServer
from cdio_stream.messages import Frame, FrameMeta, encode_frame
from cdio_stream.pipeline.dead_letter import dead_letter


def make(view):
    return LiveDashboard(view, DashboardServer(view, "127.0.0.1", 0), None, max_frame_bytes=1_000_000)


def test_frames_are_kept_and_bad_ones_ignored(view_factory, jpeg_factory):
    view, _, _ = view_factory()
    dash = make(view)
    jpeg = jpeg_factory()
    value, headers = encode_frame(Frame(FrameMeta("cam-2", 5, 0.0, 60.0, 0.4), jpeg))
    dash.on_frame(value, headers)
    dash.on_frame(b"not a jpeg", headers)
    dash.on_frame(value, [])
    assert view.frame_jpeg("cam-2", "cam-2/5") == jpeg
    assert dash.ignored_frames == 2


def test_dead_letters_are_counted_by_stage_and_reason(view_factory):
    view, _, _ = view_factory()
    dash = make(view)
    _, headers = dead_letter(b"x", [], reason="frame: not a JPEG", stage="preprocess", source_topic="frames")
    dash.on_dead_letter(headers)
    dash.on_dead_letter([("dlq-source-partition", b"not a number")])
    assert view.snapshot()["dead_letters"] == [
        {"stage": "preprocess", "reason": "frame: not a JPEG", "count": 1},
        {"stage": "unknown", "reason": "dead letter with unreadable dlq-* headers", "count": 1},
    ]


def test_without_a_lag_monitor_refresh_does_nothing(view_factory):
    view, _, _ = view_factory()
    asyncio.run(make(view).refresh_lag())
    assert view.snapshot()["lag"] == [] and view.snapshot()["lag_error"] is None


def test_policy_views_reach_the_snapshot_and_bad_ones_are_ignored(view_factory):
    from cdio_stream.messages import EstimateRow, PolicyView, encode_policy_view

    view, _, _ = view_factory()
    dash = make(view)
    rows = (EstimateRow("compute/c3/a1", (None, 0.75), (0, 4)),)
    dash.on_policy_view(encode_policy_view(PolicyView("cdio", ("edge-1", "cloud"), "P(ok)", rows, 4, 1.0)))
    dash.on_policy_view(b"{}")  # ignored: the last good view stays
    assert view.snapshot()["policy"] == {
        "policy": "cdio", "servers": ["edge-1", "cloud"], "what": "P(ok)", "feedbacks": 4, "published_at": 1.0,
        "rows": [{"context": "compute/c3/a1", "values": [None, 0.75], "counts": [0, 4]}],
    }  # fmt: skip
