"""Warehouse transactions, one-statement queries and loads against the local PostgreSQL."""

from __future__ import annotations

import pytest

from bi_pipelines.db.pgcompat import copy_out
from bi_pipelines.db.rows import RowStream
from bi_pipelines.load.publish import Merge, ReplaceAll
from bi_pipelines.load.tables import Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse
from bi_pipelines.sources.relational.postgres import PostgresSource

TARGET = TargetTable("raw_wh", "items", (Column("id", "integer"), Column("note", "text")), ("id",))


@pytest.fixture
def wh(pg_db):
    warehouse = Warehouse(pg_db.connect())
    warehouse.ensure_table(TARGET)
    yield warehouse
    warehouse.close()


def test_a_transaction_commits_when_its_block_ends(wh, pg_db):
    with wh.transaction() as cur:
        cur.execute("INSERT INTO raw_wh.items VALUES (1, 'a')")
        cur.execute("INSERT INTO raw_wh.items VALUES (2, 'b')")
    assert pg_db.query("SELECT id, note FROM raw_wh.items ORDER BY id") == [(1, "a"), (2, "b")]


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_transaction_rolls_back_on_any_exception(wh, pg_db, failure):
    def insert_then_fail():
        with wh.transaction() as cur:
            cur.execute("INSERT INTO raw_wh.items VALUES (1, 'a')")
            raise failure

    with pytest.raises(type(failure)):
        insert_then_fail()
    assert pg_db.query("SELECT count(*) FROM raw_wh.items") == [(0,)]
    # The connection is idle again, not stuck in an aborted transaction.
    assert wh.query("SELECT count(*) FROM raw_wh.items") == [(0,)]


def test_a_failed_statement_leaves_the_warehouse_usable(wh):
    with pytest.raises(Exception, match="no_such_table"):
        wh.query("SELECT * FROM raw_wh.no_such_table")
    assert wh.query("SELECT 1") == [(1,)]


def test_query_and_execute_are_one_committed_statement_each(wh, pg_db):
    assert wh.execute("INSERT INTO raw_wh.items VALUES (%s, %s), (%s, %s)", (1, "a", 2, "b")) == 2
    assert wh.query("SELECT id, note FROM raw_wh.items WHERE id > %s ORDER BY id", (0,)) == [
        (1, "a"),
        (2, "b"),
    ]
    assert wh.execute("DELETE FROM raw_wh.items WHERE id = %s", (1,)) == 1
    assert pg_db.query("SELECT id FROM raw_wh.items") == [(2,)]


def test_before_publish_runs_with_the_load_cursor_in_its_transaction(wh, pg_db):
    wh.execute("INSERT INTO raw_wh.items VALUES (9, 'stale')")

    def delete_stale(cur):
        cur.execute("DELETE FROM raw_wh.items WHERE id = 9")

    stream = RowStream(("id", "note"), batches=lambda: iter([[(1, "a")]]))
    wh.load(TARGET, stream, Merge(("id",)), before_publish=delete_stale)
    assert pg_db.query("SELECT id FROM raw_wh.items ORDER BY id") == [(1,)]

    def explode(cur):
        cur.execute("DELETE FROM raw_wh.items")
        raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        wh.load(TARGET, RowStream(("id", "note"), batches=lambda: iter([[(2, "b")]])), ReplaceAll(), explode)
    assert pg_db.query("SELECT id FROM raw_wh.items ORDER BY id") == [(1,)]


def test_redshift_without_s3_stages_in_multi_row_inserts(pg_db):
    wh = Warehouse(pg_db.connect(), "redshift", insert_batch_rows=2)
    wh.ensure_table(TARGET)
    rows = [(i, f"n{i}") for i in range(5)]
    stream = RowStream(("id", "note"), batches=lambda: iter([rows[:3], [], rows[3:]]))
    result = wh.load(TARGET, stream, Merge(("id",)))
    wh.close()
    assert (result.rows_staged, result.rows_inserted) == (5, 5)
    assert pg_db.query("SELECT id, note FROM raw_wh.items ORDER BY id") == rows


def test_copy_out_needs_psycopg3_and_a_psycopg2_source_fetches_rows(pg_db):
    conn = pg_db.connect()  # psycopg2
    try:
        with pytest.raises(TypeError, match="psycopg 3"):
            next(copy_out(conn, "COPY (SELECT 1) TO STDOUT"))
        assert PostgresSource(conn, "test").supports_copy_out is False
    finally:
        conn.close()
