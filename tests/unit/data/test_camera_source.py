"""Capture side of the camera gateway, without a broker: the one-slot holder and the reader."""

import asyncio
import threading
import time

import cv2
import numpy as np
import pytest

from cdio_stream.data.camera import CameraConfig, encode_jpeg
from cdio_stream.data.camera_source import (
    LatestSlot,
    SourceReader,
    check_source,
    default_stream_id,
    source_kind,
)
from cdio_stream.data.synth import SynthConfig, write_video
from cdio_stream.errors import ConfigError

VIDEO = SynthConfig(sequences=1, frames=12, width=160, height=96, seed=2)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "street.avi", VIDEO)


async def _drain(slot):
    items = []
    while (item := await slot.get()) is not None:
        items.append(item)
    return items


class TestLatestSlot:
    def test_keeps_only_the_newest_and_counts_drops(self):
        async def go():
            slot = LatestSlot(asyncio.get_running_loop())
            assert slot.put(1) is False
            assert slot.put(2) is True and slot.put(3) is True
            assert await slot.get() == 3
            slot.put(4)
            slot.close()
            assert await slot.get() == 4  # the last item survives a plain close
            assert await slot.get() is None
            assert slot.put(5) is False  # closed: ignored
            return slot.dropped

        assert asyncio.run(go()) == 2

    def test_close_with_discard_drops_the_pending_item(self):
        async def go():
            slot = LatestSlot(asyncio.get_running_loop())
            slot.put("a")
            slot.close(discard=True)
            return await slot.get(), slot.dropped

        assert asyncio.run(go()) == (None, 1)

    def test_get_waits_for_a_put_from_another_thread(self):
        async def go():
            slot = LatestSlot(asyncio.get_running_loop())
            t = threading.Timer(0.05, slot.put, args=("late",))
            t.start()
            got = await asyncio.wait_for(slot.get(), timeout=5)
            t.join()
            return got

        assert asyncio.run(go()) == "late"


class TestSourceNames:
    @pytest.mark.parametrize(
        ("source", "kind", "sid"),
        [
            (0, "device", "cam0"),
            ("2", "device", "cam2"),
            ("rtsp://10.0.0.5:554/stream1", "url", "10.0.0.5-554-stream1"),
            ("http://cam.local/video.mjpg", "url", "cam.local-video.mjpg"),
            ("/data/videos/north gate.mp4", "file", "north-gate"),
        ],
    )
    def test_kind_and_default_stream_id(self, source, kind, sid):
        assert source_kind(source) == kind
        assert default_stream_id(source) == sid


class TestSourceReader:
    def test_reads_a_file_to_its_end_then_closes_the_slot(self, video):
        async def go():
            slot = LatestSlot(asyncio.get_running_loop())
            reader = SourceReader(str(video), slot, realtime=False)
            reader.start()
            items = await asyncio.wait_for(_drain(slot), timeout=20)
            reader.join(5)
            return reader, items, slot.dropped

        reader, items, dropped = asyncio.run(go())
        assert reader.captured == 12 and reader.reconnects == 0
        assert len(items) + dropped == 12
        assert items[-1].num == 12 and items[-1].image.shape == (96, 160, 3)
        assert [i.num for i in items] == sorted(i.num for i in items)

    def test_loops_a_file_and_stops_at_max_frames(self, video):
        async def go():
            slot = LatestSlot(asyncio.get_running_loop())
            reader = SourceReader(str(video), slot, loop_file=True, realtime=False, max_frames=30)
            reader.start()
            items = await asyncio.wait_for(_drain(slot), timeout=20)
            reader.join(5)
            return reader, items

        reader, items = asyncio.run(go())
        assert reader.captured == 30 and items[-1].num == 30

    def test_a_missing_file_is_not_retried(self, tmp_path):
        async def go():
            slot = LatestSlot(asyncio.get_running_loop())
            reader = SourceReader(str(tmp_path / "gone.avi"), slot, realtime=False, backoff_s=(0.01, 0.02))
            reader.start()
            assert await asyncio.wait_for(slot.get(), timeout=10) is None  # the capture ended
            reader.join(5)
            return reader

        reader = asyncio.run(go())
        assert reader.reconnects == 0 and reader.captured == 0 and not reader.is_alive()

    def test_unreachable_url_retries_and_stops_on_request(self):
        async def go():
            slot = LatestSlot(asyncio.get_running_loop())
            reader = SourceReader("http://127.0.0.1:9/none.mjpg", slot, backoff_s=(0.01, 0.02))
            reader.start()
            deadline = time.monotonic() + 20
            while reader.reconnects < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            reader.stop()
            assert await asyncio.wait_for(slot.get(), timeout=10) is None
            reader.join(5)
            return reader

        reader = asyncio.run(go())
        assert reader.reconnects >= 2 and reader.captured == 0 and not reader.is_alive()


class TestEncoding:
    def test_resize_and_quality(self):
        img = np.random.default_rng(0).integers(0, 255, (96, 160, 3), dtype=np.uint8)
        small = cv2.imdecode(np.frombuffer(encode_jpeg(img, 90, (80, 48)), np.uint8), cv2.IMREAD_COLOR)
        assert small.shape == (48, 80, 3)
        assert len(encode_jpeg(img, 20)) < len(encode_jpeg(img, 95))

    @pytest.mark.parametrize("kwargs", [{"jpeg_quality": 0}, {"size": (8, 8)}, {"max_in_flight": 0}])
    def test_invalid_config(self, kwargs):
        with pytest.raises(ConfigError):
            CameraConfig(source=0, **kwargs)


class TestCheckSource:
    def test_a_video_file_a_url_and_a_device_pass(self, video):
        check_source(str(video))
        check_source("rtsp://127.0.0.1:9/none")  # not checked: a network stream may come up later
        check_source(0)

    @pytest.mark.parametrize(
        ("make", "message"),
        [
            (lambda d: d / "missing.mp4", "file not found"),
            (lambda d: d, "is a directory, not a video file"),
            (lambda d: _write(d / "notes.mp4", b"not a video at all"), "OpenCV cannot open it as video"),
        ],
    )
    def test_unusable_files_are_refused_in_one_line(self, tmp_path, make, message):
        path = make(tmp_path)
        with pytest.raises(ConfigError) as info:
            check_source(str(path))
        assert str(info.value) == f"camera source {path}: {message}"

    def test_a_still_image_needs_the_flag(self, tmp_path):
        image = tmp_path / "still.jpg"
        cv2.imwrite(str(image), np.full((48, 64, 3), 127, np.uint8))
        with pytest.raises(ConfigError, match="still image.*--still-image"):
            check_source(str(image))
        check_source(str(image), allow_still_image=True)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
