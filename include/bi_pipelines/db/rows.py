"""Rows in motion: the stream a source hands to the warehouse, and the one chunking helper."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
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


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


_DONE = object()


def prefetched(items: Iterable[T], depth: int = 4, name: str = "source-reader") -> Generator[T, None, None]:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead of the consumer.

    Staging reads the source and writes the warehouse; one thread doing both leaves each server
    idle while the other works. Here the source is read (and its chunks prepared) while the
    previous chunks are written. The database drivers release the GIL while they wait on the
    network, so the two overlap. Memory stays bounded: at most ``depth`` chunks wait in the
    queue.

    An exception in ``items`` is raised again in the consumer, unchanged. When the consumer
    stops early (an error while writing, or ``close()``), the thread stops before the next item
    and closes ``items``, and this generator waits for it: the source connection is idle again
    before the caller closes it.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    pending: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failed(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = pending.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


__all__ = ["RowStream", "iter_batches", "prefetched"]
