"""Replay into the real throwaway broker: every frame comes back with its headers and requirements."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from cdio_stream.data.detrac import DetracDataset, parse_gt_ref
from cdio_stream.data.replay import ReplayConfig, plan_streams, replay
from cdio_stream.data.requirements import RequirementSampler
from cdio_stream.data.synth import SynthConfig, generate_dataset
from cdio_stream.messages import decode_frame

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]


async def _consume(bootstrap: str, topic: str, n: int, timeout: float = 30.0):
    """Read ``n`` records from the start of ``topic`` (fails the test if fewer arrive in time)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
        fetch_max_bytes=64 << 20, max_partition_fetch_bytes=8 << 20,
    )  # fmt: skip
    await consumer.start()
    records = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                records.extend(recs)
        # anything beyond n would be a duplicate: give it a moment to show up
        extra = await consumer.getmany(timeout_ms=300)
        records.extend(r for recs in extra.values() for r in recs)
    finally:
        await consumer.stop()
    return records


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay-synth")
    generate_dataset(root, SynthConfig(sequences=2, frames=8, width=320, height=180, seed=4))
    return root


class TestReplay:
    def test_every_frame_consumed_back_with_headers_and_requirements(
        self, kafka_bootstrap, topology_factory, synth_dir
    ):
        topology = topology_factory()
        ds = DetracDataset(synth_dir)
        plans = plan_streams(ds)
        stats = asyncio.run(
            replay(
                plans, bootstrap=kafka_bootstrap, topology=topology, config=ReplayConfig(fps=0, linger_ms=2)
            )
        )
        assert stats.total("sent") == stats.total("delivered") == 16
        assert stats.total("failed") == stats.total("skipped") == 0 and not stats.interrupted

        records = asyncio.run(_consume(kafka_bootstrap, topology.frames.name, 16))
        assert len(records) == 16
        by_stream: dict[str, list[int]] = {}
        for rec in records:
            frame = decode_frame(rec.value, rec.headers, topology.max_frame_bytes)
            m = frame.meta
            assert rec.key == m.stream_id.encode()
            by_stream.setdefault(m.stream_id, []).append(m.frame_no)
            seq = ds[m.stream_id]
            assert frame.jpeg == seq.image_path(m.frame_no).read_bytes()
            assert 50.0 <= m.a_req <= 80.0 and 0.2 <= m.d_req <= 0.6
            assert m.gt_ref == f"{m.stream_id}/{m.frame_no}"
            gt = ds.ground_truth(m.gt_ref)
            assert (
                len(gt) == len(seq.frames[m.frame_no].targets) if m.frame_no in seq.frames else len(gt) == 0
            )
            assert abs(m.capture_time - time.time()) < 600
        # one partition per stream key: each stream arrives complete and in order
        assert by_stream == {"MVI_90001": list(range(1, 9)), "MVI_90002": list(range(1, 9))}

    def test_more_streams_than_sequences_loops_and_custom_ranges(
        self, kafka_bootstrap, topology_factory, detrac_sample
    ):
        topology = topology_factory()
        ds = DetracDataset(detrac_sample)
        plans = plan_streams(ds, 2)
        assert [p.stream_id for p in plans] == ["MVI_20011", "MVI_20011.2"]
        config = ReplayConfig(
            fps=100.0,
            loops=2,
            max_frames=12,
            requirements=RequirementSampler(accuracy_range=(60.0, 70.0), delay_range=(0.3, 0.4), seed=7),
            progress_interval_s=0.05,
        )
        progress = []
        stats = asyncio.run(
            replay(
                plans,
                bootstrap=kafka_bootstrap,
                topology=topology,
                config=config,
                on_progress=progress.append,
            )
        )
        assert stats.total("delivered") == 24
        records = asyncio.run(_consume(kafka_bootstrap, topology.frames.name, 24))
        metas = [decode_frame(r.value, r.headers).meta for r in records]
        assert len(metas) == 24
        for sid in ("MVI_20011", "MVI_20011.2"):
            mine = [m for m in metas if m.stream_id == sid]
            assert [m.frame_no for m in mine] == list(range(1, 13))
            # the second loop restarts the sequence: frame 10 is image 1 again
            assert [parse_gt_ref(m.gt_ref) for m in mine[8:]] == [("MVI_20011", k) for k in (9, 1, 2, 3)]
            assert all(60.0 <= m.a_req <= 70.0 and 0.3 <= m.d_req <= 0.4 for m in mine)
        first = next(m for m in metas if m.frame_no == 1)
        assert len(ds.ground_truth(first.gt_ref)) == 7  # frame 1 of MVI_20011 has 7 vehicles
        # each stream draws from its own seeded generator: reproducible whatever the interleaving
        for index, sid in enumerate(("MVI_20011", "MVI_20011.2")):
            expected = RequirementSampler((60.0, 70.0), (0.3, 0.4), seed=7).for_stream(index)
            assert [(m.a_req, m.d_req) for m in metas if m.stream_id == sid] == [
                expected.draw() for _ in range(12)
            ]
        assert progress, "progress callback was never called"


class TestReplayCommand:
    def test_ctrl_c_flushes_and_summarises(self, kafka_bootstrap, topology_factory, tmp_path):
        topology = topology_factory()
        root = tmp_path / "ds"
        generate_dataset(root, SynthConfig(sequences=1, frames=60, width=320, height=180, seed=9))
        env = dict(os.environ, CDIO_KAFKA_BOOTSTRAP=kafka_bootstrap, CDIO_TOPIC_PREFIX=topology.prefix)
        code = "import sys; from cdio_stream.cli import main; sys.exit(main(sys.argv[1:]))"
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "replay", str(root), "--fps", "10", "--progress-interval", "0.5"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().startswith("replaying 1 streams")
            time.sleep(2.0)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, err
        assert "stopping" in out and "interrupted:" in out
        total = next(line for line in out.splitlines() if line.startswith("total"))
        sent, acked = int(total.split()[1]), int(total.split()[2])
        assert 0 < sent == acked < 60
        assert "replay progress" in err
        records = asyncio.run(_consume(kafka_bootstrap, topology.frames.name, acked, timeout=15))
        assert sorted(decode_frame(r.value, r.headers).meta.frame_no for r in records) == list(
            range(1, acked + 1)
        )
