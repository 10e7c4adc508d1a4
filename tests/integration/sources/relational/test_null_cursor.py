"""Rows whose cursor is NULL (or a MySQL zero date): loaded, skipped with a count, or failed."""

from __future__ import annotations

import datetime as dt

import pytest

from bi_pipelines.core.errors import PermanentError
from bi_pipelines.core.windows import Window
from bi_pipelines.sources.relational.pipeline import extract_table, open_source
from bi_pipelines.sources.relational.reader import NullCursorError
from tests.integration.sources.relational.conftest import dump, hour_window, write_flow

pytestmark = pytest.mark.integration
UTC = dt.UTC

# 2026-11-20 10:30 Vancouver = 18:30 UTC, inside the window; 2026-11-10 is outside it.
MYSQL_DDL = """
CREATE TABLE events (
  event_id INT PRIMARY KEY,
  label VARCHAR(20),
  updated_at DATETIME NULL
)
"""
MYSQL_ROWS = [
    (1, "in window", "2026-11-20 10:30:00"),
    (2, "null cursor", None),
    (3, "zero date", "0000-00-00 00:00:00"),
    (4, "older", "2026-11-10 10:30:00"),
]
PG_DDL = """
CREATE TABLE public.events (event_id integer PRIMARY KEY, label text, updated_at timestamp);
INSERT INTO public.events VALUES
  (1, 'in window', '2026-11-20 10:30:00'),
  (2, 'null cursor', NULL),
  (3, 'null too', NULL),
  (4, 'older', '2026-11-10 10:30:00');
"""
WINDOW = hour_window(20, 18)


def table_yaml(policy: str) -> str:
    return f"""
events:
  primary_key: [event_id]
  cursor_column: updated_at
  lookback: 1h
  on_null_cursor: {policy}
"""


@pytest.fixture
def mysql_source(mysql_db, airflow_conn):
    conn = mysql_db.connect()
    cur = conn.cursor()
    cur.execute("SET SESSION sql_mode = ''")  # allow zero dates, as the OBE server does
    cur.execute(MYSQL_DDL)
    cur.executemany("INSERT INTO events VALUES (%s, %s, %s)", MYSQL_ROWS)
    conn.commit()
    conn.close()
    airflow_conn("test_src", mysql_db)
    return {"conn_id": "test_src", "dialect": "mysql"}


@pytest.fixture
def postgres_source(pg_db2, airflow_conn):
    pg_db2.execute(PG_DDL)
    airflow_conn("test_src", pg_db2)
    return {"conn_id": "test_src", "dialect": "postgres"}


@pytest.fixture(params=["mysql", "postgres"])
def source(request):
    return request.getfixturevalue(f"{request.param}_source")


def run(flow, wh, airflow_conn, target_dialect):
    table = flow.table("events")
    if target_dialect == "redshift":
        # The Redshift staging path (typed batches) against PostgreSQL: the table is created by a
        # PostgreSQL run first, then emptied, as PostgreSQL cannot run Redshift DDL.
        extract_table(flow, table, WINDOW)
        wh.execute("TRUNCATE raw_test.events")
        airflow_conn("test_warehouse", wh, warehouse_dialect="redshift")
    return extract_table(flow, table, WINDOW)


@pytest.mark.parametrize("target_dialect", ["postgres", "redshift"])
def test_load_reads_null_cursor_rows_in_every_window_idempotently(
    source, warehouse_db, airflow_conn, tmp_path, log_text, target_dialect
):
    flow = write_flow(tmp_path, "nulls", source, table_yaml("load"))
    summary = run(flow, warehouse_db, airflow_conn, target_dialect)
    assert summary.null_cursor_rows == 2
    assert summary.null_cursor_policy == "load"
    assert summary.rows_staged == 3
    assert "2 row(s) with a NULL cursor loaded" in log_text()
    first = dump(warehouse_db, "raw_test.events", "event_id")
    assert [r[0] for r in first] == [1, 2, 3]
    # a MySQL zero date lands as NULL
    assert first[1][2] is None
    assert first[2][2] is None
    # A rerun, and the next window, merge the same rows again: nothing is duplicated.
    extract_table(flow, flow.table("events"), WINDOW)
    extract_table(flow, flow.table("events"), hour_window(20, 19))
    assert dump(warehouse_db, "raw_test.events", "event_id") == first


@pytest.mark.parametrize("target_dialect", ["postgres", "redshift"])
def test_skip_leaves_null_cursor_rows_out_and_counts_them(
    source, warehouse_db, airflow_conn, tmp_path, log_text, target_dialect
):
    flow = write_flow(tmp_path, "nulls", source, table_yaml("skip"))
    summary = run(flow, warehouse_db, airflow_conn, target_dialect)
    assert summary.null_cursor_rows == 2
    assert summary.null_cursor_policy == "skip"
    assert summary.rows_staged == 1
    assert [r[0] for r in dump(warehouse_db, "raw_test.events", "event_id")] == [1]
    text = log_text()
    assert "2 row(s) of events have a NULL cursor ('updated_at') and were not loaded" in text
    assert "2 row(s) with a NULL cursor skipped" in text


def test_fail_names_the_table_the_column_and_the_count(source, warehouse_db, tmp_path):
    flow = write_flow(tmp_path, "nulls", source, table_yaml("fail"))
    with pytest.raises(NullCursorError) as info:
        extract_table(flow, flow.table("events"), WINDOW)
    assert isinstance(info.value, PermanentError)
    message = str(info.value)
    assert "2 row(s) of events have a NULL cursor ('updated_at'" in message
    assert "extract_nulls.events" in message
    assert "on_null_cursor" in message


def test_a_full_refresh_counts_nothing(source, warehouse_db, tmp_path):
    flow = write_flow(tmp_path, "full", source, "events:\n  mode: full_refresh\n  primary_key: [event_id]\n")
    summary = extract_table(flow, flow.table("events"), WINDOW)
    assert summary.null_cursor_rows == 0
    assert summary.null_cursor_policy is None
    assert summary.rows_staged == 4


# Only a year-0 date sorts below every window; a zero day or month in a real year sorts just
# before the first of that month or year, where the window covering that instant selects it.
ZERO_PART_ROWS = [
    (1, "in window", "2026-11-20 10:30:00"),
    (2, "null cursor", None),
    (3, "year 0", "0000-03-04 10:00:00"),
    (4, "zero day", "2026-11-00 10:30:00"),
]


def test_mysql_zero_day_is_read_by_its_window_and_only_year_0_counts_as_null(
    mysql_db, airflow_conn, warehouse_db, tmp_path
):
    conn = mysql_db.connect()
    cur = conn.cursor()
    cur.execute("SET SESSION sql_mode = ''")
    cur.execute(MYSQL_DDL)
    cur.execute("CREATE INDEX events_updated_at ON events (updated_at)")
    cur.executemany("INSERT INTO events VALUES (%s, %s, %s)", ZERO_PART_ROWS)
    conn.commit()
    airflow_conn("test_src", mysql_db)
    flow = write_flow(tmp_path, "zeros", {"conn_id": "test_src", "dialect": "mysql"}, table_yaml("load"))
    table = flow.table("events")

    summary = extract_table(flow, table, WINDOW)
    assert (summary.null_cursor_rows, summary.rows_staged) == (2, 3)
    assert [r[0] for r in dump(warehouse_db, "raw_test.events", "event_id")] == [1, 2, 3]

    # 2026-11-00 10:30 Vancouver sorts between 2026-10-31 23:59:59 and 2026-11-01 00:00 local
    # (07:00 UTC): the hour before that reads it, and it lands as NULL, counted.
    before_november = Window(
        dt.datetime(2026, 11, 1, 6, tzinfo=UTC), dt.datetime(2026, 11, 1, 7, tzinfo=UTC), "test"
    )
    summary = extract_table(flow, table, before_november)
    assert summary.rows_staged == 3  # row 4, and the two no window selects
    assert summary.zero_dates_nulled == 2  # rows 3 and 4
    rows = dump(warehouse_db, "raw_test.events", "event_id")
    assert [(r[0], r[2]) for r in rows][1:] == [(2, None), (3, None), (4, None)]

    # The NULL-cursor count is an index range, not a scan of the table.
    source = open_source("mysql", "test_src")
    try:
        predicate = source.null_cursor_predicate(table, source.describe(table))
    finally:
        source.close()
    cur.execute(f"EXPLAIN SELECT count(*) FROM events WHERE {predicate}")
    columns = [d[0] for d in cur.description]
    plan = dict(zip(columns, cur.fetchone(), strict=True))
    conn.close()
    assert (plan["key"], plan["type"]) == ("events_updated_at", "range"), plan
