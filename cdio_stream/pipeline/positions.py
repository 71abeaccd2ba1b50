"""Input positions a stage's state already includes: the other half of an atomic snapshot.

A stateful stage (the scheduler's bandit, the sink's metrics) saves its state together
with, per input partition, the offset of the next record it has not yet applied. After
a restart the consumer may resume earlier (offsets are committed only after a snapshot
is saved, and Kafka commits lag); records below the saved position are already in the
state and are skipped, records at or above it are applied. So a crash at any moment
neither applies a record twice nor loses one.
"""

from __future__ import annotations

__all__ = ["InputPositions"]


class InputPositions:
    def __init__(self, next_offsets: dict[str, int] | None = None) -> None:
        self.next_offsets: dict[str, int] = dict(next_offsets or {})  # "topic/partition" -> offset

    @staticmethod
    def key(topic: str, partition: int) -> str:
        return f"{topic}/{partition}"

    def included(self, topic: str, partition: int, offset: int) -> bool:
        """True if the record at ``offset`` is already part of the state."""
        return offset < self.next_offsets.get(self.key(topic, partition), 0)

    def advance(self, topic: str, partition: int, offset: int) -> None:
        """The record at ``offset`` has been applied."""
        k = self.key(topic, partition)
        self.next_offsets[k] = max(self.next_offsets.get(k, 0), offset + 1)

    def to_dict(self) -> dict[str, int]:
        return dict(self.next_offsets)
