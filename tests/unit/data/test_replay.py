"""Replay logic that needs no broker: stream planning, configuration, the summary."""

import pytest

from cdio_stream.data.detrac import DetracDataset
from cdio_stream.data.replay import ReplayConfig, ReplayStats, StreamStats, plan_streams
from cdio_stream.data.synth import SynthConfig, generate_dataset
from cdio_stream.errors import ConfigError, DatasetError


@pytest.fixture(scope="module")
def two_sequences(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    generate_dataset(root, SynthConfig(sequences=2, frames=3, width=128, height=96, seed=0))
    return DetracDataset(root)


class TestPlanStreams:
    def test_all_sequences_by_default(self, two_sequences):
        plans = plan_streams(two_sequences)
        assert [(p.stream_id, p.sequence, len(p.frames)) for p in plans] == [
            ("MVI_90001", "MVI_90001", 3),
            ("MVI_90002", "MVI_90002", 3),
        ]
        assert all(p.has_ground_truth for p in plans)

    def test_count_reuses_sequences_round_robin(self, two_sequences):
        ids = [p.stream_id for p in plan_streams(two_sequences, 5)]
        assert ids == ["MVI_90001", "MVI_90002", "MVI_90001.2", "MVI_90002.2", "MVI_90001.3"]

    def test_named_sequences(self, two_sequences):
        assert [p.stream_id for p in plan_streams(two_sequences, ["MVI_90002"])] == ["MVI_90002"]
        with pytest.raises(DatasetError, match="MVI_1"):
            plan_streams(two_sequences, ["MVI_1"])
        with pytest.raises(ConfigError):
            plan_streams(two_sequences, 0)

    def test_only_frames_with_images_are_planned(self, detrac_sample):
        plan = plan_streams(DetracDataset(detrac_sample))[0]
        assert [f.num for f in plan.frames] == list(range(1, 10))  # the XML lists 664 frames


class TestReplayConfig:
    @pytest.mark.parametrize("kwargs", [{"fps": -1.0}, {"loops": 0}, {"max_frames": 0}])
    def test_invalid(self, kwargs):
        with pytest.raises(ConfigError):
            ReplayConfig(**kwargs)


class TestReplayStats:
    def test_summary_totals(self):
        stats = ReplayStats(
            streams={
                "a": StreamStats(sent=3, delivered=3, bytes=3_000_000),
                "b": StreamStats(sent=2, delivered=1),
            },
            started=0.0,
            finished=2.0,
        )
        assert stats.total("sent") == 5 and stats.rate_fps == 2.0
        text = stats.summary()
        assert "done: 4 frames in 2.00 s = 2.0 frames/s, 12.0 Mbit/s" in text
        assert text.splitlines()[-2].split()[:3] == ["total", "5", "4"]
