"""Staging without a database: multi-row INSERT batching and the chunking helper."""

from __future__ import annotations

import pytest

from bi_pipelines.db.rows import RowStream, iter_batches
from bi_pipelines.load.staging import stage_insert


class RecordingCursor:
    def __init__(self):
        self.statements = []

    def execute(self, sql, params=None):
        self.statements.append((sql, params))


def test_stage_insert_batches_rows_across_source_batches():
    cur = RecordingCursor()
    stream = RowStream(("a", "b"), batches=lambda: iter([[(1, {"k": 1})], [], [(2, None), (3, "x")]]))
    assert stage_insert(cur, "stg", stream, lambda c: f'"{c}"', batch_rows=2) == 3
    assert cur.statements == [
        ('INSERT INTO stg ("a", "b") VALUES (%s, %s), (%s, %s)', [1, '{"k": 1}', 2, None]),
        ('INSERT INTO stg ("a", "b") VALUES (%s, %s)', [3, "x"]),
    ]


def test_stage_insert_of_nothing_issues_nothing():
    cur = RecordingCursor()
    assert stage_insert(cur, "stg", RowStream(("a",), batches=lambda: iter([])), str, batch_rows=10) == 0
    assert cur.statements == []


def test_iter_batches_takes_any_iterable_and_rejects_a_zero_size():
    assert list(iter_batches(iter(range(5)), 2)) == [[0, 1], [2, 3], [4]]
    assert list(iter_batches([], 3)) == []
    with pytest.raises(ValueError, match="at least 1"):
        list(iter_batches([1], 0))
