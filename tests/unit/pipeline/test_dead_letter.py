from __future__ import annotations

from cdio_stream.pipeline.dead_letter import dead_letter, read_dead_letter


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
