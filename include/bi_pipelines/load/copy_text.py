r"""Encoding Python rows as PostgreSQL ``COPY ... FROM STDIN`` text, and a file object over chunks.

NUL characters: PostgreSQL text, varchar and jsonb cannot hold ``\x00`` (COPY rejects the
value, and with it the whole load, on every run). Text values -- and strings inside JSON values
-- lose their NUL characters here, and :class:`NulCounter` counts the values changed so that the
load reports them (``LoadResult.nul_stripped``). Bytes keep every byte (``bytea``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class NulCounter:
    """Strips NUL characters from text and JSON values and counts the values it changed."""

    def __init__(self) -> None:
        self.values = 0

    def text(self, value: str) -> str:
        """``value`` without NUL characters, counted if it had any."""
        if "\x00" in value:
            self.values += 1
            return value.replace("\x00", "")
        return value

    def json(self, value: Any) -> Any:
        """``value`` (a dict or list) with NUL stripped from every string in it, keys included."""
        changed = [False]

        def clean(item: Any) -> Any:
            if isinstance(item, str):
                if "\x00" in item:
                    changed[0] = True
                    return item.replace("\x00", "")
                return item
            if isinstance(item, dict):
                return {clean(k) if isinstance(k, str) else k: clean(v) for k, v in item.items()}
            if isinstance(item, list | tuple):
                return [clean(v) for v in item]
            return item

        cleaned = clean(value)
        if changed[0]:
            self.values += 1
        return cleaned

    def copy_text(self, chunk: bytes) -> bytes:
        r"""A chunk of finished COPY text with raw NUL bytes removed.

        COPY text escapes binary values (``\\x...``), so a raw NUL byte is always inside a
        text value. The count is per tab-separated field of the chunk (a source's chunks are
        whole lines).
        """
        if b"\x00" not in chunk:
            return chunk
        for line in chunk.split(b"\n"):
            if b"\x00" in line:
                self.values += sum(1 for field in line.split(b"\t") if b"\x00" in field)
        return chunk.replace(b"\x00", b"")


def encode_value(value: object, nul: NulCounter | None = None) -> str:
    r"""One value in COPY text format (``\N`` for NULL, backslash escapes for text).

    Args:
        value: The Python value.
        nul: Counts the text values that lost NUL characters (a throw-away counter when None).
    """
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
    nul = nul if nul is not None else NulCounter()
    if isinstance(value, dict | list):
        return json.dumps(nul.json(value), ensure_ascii=False, default=str).translate(_ESCAPES)
    return nul.text(str(value)).translate(_ESCAPES)


def encode_rows(
    batches: Iterable[Sequence[Sequence[object]]], nul: NulCounter | None = None
) -> Iterator[bytes]:
    """Yield one UTF-8 chunk of COPY text per batch of rows (NUL stripped and counted in ``nul``)."""
    nul = nul if nul is not None else NulCounter()
    for batch in batches:
        if batch:
            lines = ["\t".join([encode_value(v, nul) for v in row]) for row in batch]
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
        """Always True: the reader is a readable stream."""
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the current chunk (its whole rest when ``size`` is None or negative).

        Never reads across chunks, so a short read is not the end: that is ``b""``, once every chunk
        is read.
        """
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
        """Read into the buffer ``target``; return how many bytes were read."""
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)


__all__ = ["ChunkReader", "NulCounter", "encode_rows", "encode_value"]
