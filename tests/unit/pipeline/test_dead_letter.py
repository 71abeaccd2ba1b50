from __future__ import annotations

import asyncio
import hashlib

import pytest

from cdio_stream.pipeline.dead_letter import (
    RECORD_OVERHEAD,
    DeadLetterError,
    dead_letter,
    read_dead_letter,
    send_with_retries,
)


class TestDeadLetter:
    def test_keeps_value_and_headers_and_adds_reason(self):
        value, headers = dead_letter(
            b"\x00original",
            (("cdio", b"{}"), ("trace", b"1")),
            reason="not a JPEG",
            stage="preprocess",
            source_topic="cdio.frames",
            source_partition=2,
            source_offset=41,
        )
        assert value == b"\x00original"
        assert headers[:2] == [("cdio", b"{}"), ("trace", b"1")]
        dl = read_dead_letter(headers)
        assert (dl.reason, dl.stage, dl.source_topic, dl.source_partition, dl.source_offset) == (
            "not a JPEG",
            "preprocess",
            "cdio.frames",
            2,
            41,
        )
        assert dl.failed_at > 0

    def test_requeued_record_does_not_stack_reasons(self):
        _, first = dead_letter(b"x", None, reason="one", stage="sink", source_topic="a")
        _, second = dead_letter(b"x", first, reason="two", stage="sink", source_topic="b")
        assert [k for k, _ in second].count("dlq-reason") == 1
        assert read_dead_letter(second).reason == "two"

    def test_empty_value_becomes_empty_bytes(self):
        value, _ = dead_letter(None, None, reason="r", stage="s", source_topic="t")
        assert value == b""


class TestDeadLettersFit:
    def test_small_record_is_kept_whole_with_size_and_digest(self):
        value, headers = dead_letter(b"abc", None, reason="r", stage="s", source_topic="t", max_bytes=10_000)
        dl = read_dead_letter(headers)
        assert value == b"abc" and not dl.truncated
        assert dl.original_size == 3 and dl.sha256 == hashlib.sha256(b"abc").hexdigest()

    def test_oversize_record_is_cut_to_fit_and_still_identified(self):
        original = bytes(range(256)) * 16_000  # 4,096,000 bytes, over a 4,001,024-byte limit
        limit = 4_001_024
        headers_in = [("cdio", b"x" * 500)]
        value, headers = dead_letter(
            original,
            headers_in,
            reason="frame: too big",
            stage="preprocess",
            source_topic="t",
            max_bytes=limit,
        )
        size = len(value) + sum(len(k) + len(v) for k, v in headers) + RECORD_OVERHEAD
        assert size <= limit
        assert original.startswith(value) and len(value) > limit - 10_000
        dl = read_dead_letter(headers)
        assert dl.truncated and dl.original_size == len(original)
        assert dl.sha256 == hashlib.sha256(original).hexdigest()
        assert ("cdio", b"x" * 500) in headers

    def test_huge_original_headers_are_dropped_not_sent(self):
        value, headers = dead_letter(
            b"v",
            [("big", b"x" * 600_000), ("small", b"y")],
            reason="r",
            stage="s",
            source_topic="t",
            max_bytes=100_000,
        )
        names = [k for k, _ in headers]
        assert "big" not in names and "small" in names
        assert dict(headers)["dlq-dropped-headers"] == b"1"
        assert value == b"v"


class TestSendWithRetries:
    def test_retries_then_succeeds(self):
        calls = []

        async def flaky():
            calls.append(1)
            if len(calls) < 3:
                raise OSError("broker away")

        asyncio.run(send_with_retries(flaky, what="x", attempts=5, backoff_s=0.001))
        assert len(calls) == 3

    def test_gives_up_with_a_clear_error(self):
        async def broken():
            raise OSError("broker away")

        with pytest.raises(DeadLetterError, match="after 3 attempts.*without acking"):
            asyncio.run(send_with_retries(broken, what="frames[0]@7", attempts=3, backoff_s=0.001))
