"""Rows in motion: the stream a source hands to the warehouse, and the one chunking helper."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RowStream:
    """Rows to stage, in the order of ``columns``.

    ``batches`` yields lists of Python tuples; ``copy_chunks``, when a source can produce it
    directly (``COPY TO STDOUT``, server-side formatting), yields PostgreSQL COPY text and lets a
    PostgreSQL target skip per-row Python work.
    """

    columns: tuple[str, ...]
    batches: Callable[[], Iterator[Sequence[Sequence[Any]]]]
    copy_chunks: Callable[[], Iterator[bytes]] | None = None


def iter_batches(items: Iterable[T], size: int = 10_000) -> Iterator[list[T]]:
    """Group an iterable (rows, keys, ids) into lists of at most ``size`` items.

    ``itertools.batched`` does the same from Python 3.12 on; the project runs on 3.11.
    """
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = ["RowStream", "iter_batches"]
