"""JSON Lines files of typed records (profiling traces, RPP histories): one reader, one writer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

from cdio_stream.errors import DatasetError

__all__ = ["iter_jsonl", "write_jsonl"]

T = TypeVar("T")


class _ToJson(Protocol):
    def to_json(self) -> bytes: ...


def iter_jsonl(path: str | Path, parse: Callable[[bytes], T], kind: str) -> Iterator[T]:
    """Yield ``parse(line)`` for each non-empty line; a bad line raises DatasetError naming file and line."""
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DatasetError(f"cannot open {kind} {path}: {exc.strerror}") from None
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield parse(line)
            except (ValueError, TypeError, KeyError) as exc:
                raise DatasetError(f"{path}:{lineno}: bad {kind} record: {exc}") from None


def write_jsonl(path: str | Path, records: Iterable[_ToJson], *, append: bool = False) -> int:
    """Write (or append) one ``record.to_json()`` per line; returns the number written."""
    n = 0
    with Path(path).open("ab" if append else "wb") as fh:
        for rec in records:
            fh.write(rec.to_json() + b"\n")
            n += 1
    return n
