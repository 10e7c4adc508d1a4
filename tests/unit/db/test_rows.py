"""prefetched(): a source read in a thread, in order, bounded, errors and early stops handled."""

from __future__ import annotations

import threading
import time

import pytest

from bi_pipelines.db.rows import prefetched


def threads_named(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_items_arrive_in_order_and_the_thread_ends():
    assert list(prefetched(iter(range(1000)), depth=3, name="t-order")) == list(range(1000))
    assert threads_named("t-order") == []


def test_the_reader_runs_at_most_depth_items_ahead():
    produced = []

    def source():
        for i in range(100):
            produced.append(i)
            yield i

    reader = prefetched(source(), depth=2, name="t-depth")
    assert next(reader) == 0
    time.sleep(0.3)  # give the thread every chance to run ahead
    # 0 consumed, 2 queued, and one more held by the thread waiting for room.
    assert len(produced) <= 1 + 2 + 1
    reader.close()
    assert threads_named("t-depth") == []


def test_an_error_in_the_source_is_raised_in_the_consumer_unchanged():
    class SourceBroke(RuntimeError):
        pass

    error = SourceBroke("connection lost")

    def source():
        yield b"a"
        raise error

    reader = prefetched(source(), name="t-error")
    assert next(reader) == b"a"
    with pytest.raises(SourceBroke) as info:
        next(reader)
    assert info.value is error
    assert threads_named("t-error") == []


def test_closing_early_stops_the_thread_and_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            yield from range(10_000)
        finally:
            closed.set()

    reader = prefetched(source(), depth=2, name="t-close")
    assert next(reader) == 0
    reader.close()
    assert closed.is_set()
    assert threads_named("t-close") == []


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        list(prefetched(iter([1]), depth=0))
