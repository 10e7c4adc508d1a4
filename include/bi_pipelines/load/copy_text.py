"""Encoding Python rows as PostgreSQL ``COPY ... FROM STDIN`` text, and a file object over chunks."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def encode_value(value: object) -> str:
    """One value in COPY text format (``\\N`` for NULL, backslash escapes for text)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float | decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds()} seconds"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\\\x" + bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str).translate(_ESCAPES)
    return str(value).translate(_ESCAPES)


def encode_rows(batches: Iterable[Sequence[Sequence[object]]]) -> Iterator[bytes]:
    """Yield one UTF-8 chunk of COPY text per batch of rows."""
    for batch in batches:
        if batch:
            lines = ["\t".join([encode_value(v) for v in row]) for row in batch]
            yield ("\n".join(lines) + "\n").encode("utf-8")


class ChunkReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks, for ``cursor.copy_expert``.

    Only one chunk is held at a time, so memory stays bounded by the chunk size.
    """

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buffer = b""
        self._pos = 0
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while self._pos >= len(self._buffer):
            try:
                self._buffer, self._pos = next(self._chunks), 0
            except StopIteration:
                return b""
        end = len(self._buffer) if size is None or size < 0 else self._pos + size
        out = self._buffer[self._pos : end]
        self._pos += len(out)
        self.bytes_read += len(out)
        return out

    def readinto(self, target) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)
