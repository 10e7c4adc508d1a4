"""MySQL (OBE) -> warehouse: type mapping, time zones, zero dates, idempotency, drift, failures."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from bi_pipelines.core.errors import ExtractionError
from bi_pipelines.sources.relational.pipeline import extract_table
from tests.integration.sources.relational.conftest import dump, hour_window, write_flow
from tests.integration.sources.relational.fixtures_data import MYSQL_BOOKINGS_DDL, MYSQL_BOOKINGS_ROWS

pytestmark = pytest.mark.integration
UTC = dt.UTC

BOOKINGS = """
bookings:
  primary_key: [booking_id]
  cursor_column: updated_at
  lookback: 2h
"""


def seed_bookings(mysql_db, rows=MYSQL_BOOKINGS_ROWS):
    conn = mysql_db.connect()
    cur = conn.cursor()
    cur.execute("SET SESSION sql_mode = ''")  # allow zero dates, as the OBE server does
    cur.execute(MYSQL_BOOKINGS_DDL)
    cur.execute("SET time_zone = '+00:00'")
    cur.executemany("INSERT INTO bookings VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)
    conn.commit()
    conn.close()


@pytest.fixture
def obe(mysql_db, airflow_conn, warehouse_db, tmp_path):
    airflow_conn("test_obe", mysql_db)
    seed_bookings(mysql_db)
    flow = write_flow(tmp_path, "obe", {"conn_id": "test_obe", "dialect": "mysql"}, BOOKINGS)
    return flow, mysql_db, warehouse_db


# The window [18:00, 20:00) UTC plus the 2 h lookback covers every seeded updated_at
# (09:30..11:50 Vancouver = 17:30..19:50 UTC).
WINDOW = hour_window(20, 18, hours=2)


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_awkward_values_land_faithfully(obe, airflow_conn, log_text, dialect):
    flow, _, wh = obe
    if dialect == "redshift":
        # Runs the Redshift staging path (multi-row INSERT) against PostgreSQL. PostgreSQL cannot
        # run Redshift DDL (VARBYTE, ...), so the table is created by a PostgreSQL run and emptied.
        extract_table(flow, flow.table("bookings"), WINDOW)
        wh.execute("TRUNCATE raw_test.bookings")
        airflow_conn("test_warehouse", wh, warehouse_dialect="redshift")
    summary = extract_table(flow, flow.table("bookings"), WINDOW)

    assert summary.rows_staged == 5
    assert summary.rows_inserted == 5
    assert summary.zero_dates_nulled == 2
    assert "2 zero date value(s)" in log_text()
    rows = {r[0]: r for r in dump(wh, "raw_test.bookings", "booking_id")}
    one = rows[1]
    assert one[2] == "Zoë Ångström"
    assert one[4] == Decimal("123456789012345678901234.123456")
    assert one[5] is True
    assert one[6] == "tab\there\nnewline \\ backslash"
    assert one[7] == {"source": "web", "tags": ["a", "é"]}
    assert bytes(one[8]) == b"\x00\x01\xff"
    assert one[9] == dt.date(2026, 11, 20)
    # DATETIME in Vancouver local time (PST, UTC-8) -> UTC; TIMESTAMP is UTC already.
    assert one[10] == dt.datetime(2026, 11, 20, 17, 15, 0, 250000, tzinfo=UTC)
    assert one[11] == dt.datetime(2026, 11, 20, 17, 15, tzinfo=UTC)
    assert rows[2][1:12] == (10, None, None, None, None, None, None, None, None, None, None)
    three = rows[3]
    assert three[2] == "日本語 👍"
    assert three[6] == ""
    assert three[7] == []
    assert bytes(three[8]) == b""
    # zero dates -> NULL
    assert three[9] is None
    assert three[10] is None
    # 01:30 on 2026-11-01 happens twice in Vancouver; 02:30 on 2026-03-08 never: standard time.
    assert rows[4][10] == dt.datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    assert rows[5][10] == dt.datetime(2026, 3, 8, 10, 30, tzinfo=UTC)


def test_target_types_follow_mysql_types(obe):
    flow, _, wh = obe
    extract_table(flow, flow.table("bookings"), WINDOW)
    types = dict(
        wh.query(
            "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
            "JOIN pg_attribute a ON a.attrelid = 'raw_test.bookings'::regclass AND a.attname = c.column_name "
            "WHERE table_schema = 'raw_test' AND table_name = 'bookings'"
        )
    )
    assert types == {
        "booking_id": "bigint",
        "franchise_id": "integer",
        "customer_name": "text",
        "status": "text",
        "total_amount": "numeric(30,6)",
        "is_online": "boolean",
        "notes": "text",
        "metadata": "jsonb",
        "attachment": "bytea",
        "scheduled_for": "date",
        "booked_at": "timestamp with time zone",
        "created_ts": "timestamp with time zone",
        "updated_at": "timestamp with time zone",
    }
    pk = wh.query(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'raw_test.bookings'::regclass AND i.indisprimary"
    )
    assert pk == [("booking_id",)]


def test_same_interval_twice_leaves_target_identical(obe):
    flow, _, wh = obe
    extract_table(flow, flow.table("bookings"), WINDOW)
    first = dump(wh, "raw_test.bookings", "booking_id")
    second_summary = extract_table(flow, flow.table("bookings"), WINDOW)
    assert second_summary.rows_replaced == 5
    assert dump(wh, "raw_test.bookings", "booking_id") == first


def test_window_bounds_are_half_open(obe):
    flow, _, wh = obe
    # [19:00, 19:10) minus 2 h lookback = [17:00, 19:10): updated 17:30, 18:30, 18:45 UTC.
    window = hour_window(20, 17, hours=2)
    window = type(window)(
        window.start + dt.timedelta(hours=2), window.start + dt.timedelta(hours=2, minutes=10), "t"
    )
    extract_table(flow, flow.table("bookings"), window)
    assert [r[0] for r in wh.query("SELECT booking_id FROM raw_test.bookings ORDER BY 1")] == [1, 2, 3]


def test_late_update_inside_lookback_is_picked_up(obe):
    flow, mysql_db, wh = obe
    extract_table(flow, flow.table("bookings"), WINDOW)
    # Booking 2 is updated at 11:55 local (19:55 UTC), after the previous run read it.
    mysql_db.execute(
        "UPDATE bookings SET customer_name = 'late fix', updated_at = '2026-11-20 11:55:00' WHERE booking_id = 2"
    )
    next_window = hour_window(20, 20)  # [20:00, 21:00) with a 2 h lookback reaches back to 18:00
    summary = extract_table(flow, flow.table("bookings"), next_window)
    assert summary.rows_staged >= 1
    assert wh.query("SELECT customer_name FROM raw_test.bookings WHERE booking_id = 2") == [("late fix",)]
    assert wh.query("SELECT count(*) FROM raw_test.bookings") == [(5,)]


def test_backfill_in_shuffled_order_equals_sequential(mysql_db, airflow_conn, pg_db, pg_db2, tmp_path):
    airflow_conn("test_obe", mysql_db)
    rows = []
    for i in range(1, 201):
        # 00:00 .. 09:57 Vancouver = 08:00 .. 17:57 UTC: inside the ten windows below.
        updated = dt.datetime(2026, 11, 20, 0, 0) + dt.timedelta(minutes=3 * (i - 1))
        rows.append(
            (i, i % 7, f"c{i}", "new", str(i), i % 2, None, None, None, "2026-11-20", None, None, updated)
        )
    seed_bookings(mysql_db, rows)
    flow = write_flow(tmp_path, "obe", {"conn_id": "test_obe", "dialect": "mysql"}, BOOKINGS)
    # Ten hourly windows covering 08:00..18:00 UTC (00:00..10:00 Vancouver).
    windows = [hour_window(20, 8 + h) for h in range(10)]

    airflow_conn("test_warehouse", pg_db)
    for w in windows:
        extract_table(flow, flow.table("bookings"), w)
    sequential = dump(pg_db, "raw_test.bookings", "booking_id")

    airflow_conn("test_warehouse", pg_db2)
    shuffled = windows[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != windows
    for w in shuffled:
        extract_table(flow, flow.table("bookings"), w)
    assert dump(pg_db2, "raw_test.bookings", "booking_id") == sequential
    assert len(sequential) == 200


def test_failure_between_stage_and_publish_leaves_target_unchanged(obe):
    flow, mysql_db, wh = obe
    extract_table(flow, flow.table("bookings"), WINDOW)
    before = dump(wh, "raw_test.bookings", "booking_id")
    mysql_db.execute(
        "UPDATE bookings SET customer_name = 'should not land', updated_at = '2026-11-20 11:00:00'"
    )

    def explode():
        raise RuntimeError("injected failure after staging")

    with pytest.raises(RuntimeError, match="injected failure"):
        extract_table(flow, flow.table("bookings"), WINDOW, before_publish=explode)
    assert dump(wh, "raw_test.bookings", "booking_id") == before
    # No staging table is left behind either.
    assert wh.query("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'stg_%'") == [(0,)]


def test_schema_drift_adds_new_columns_and_keeps_dropped_ones(obe):
    flow, mysql_db, wh = obe
    extract_table(flow, flow.table("bookings"), WINDOW)
    mysql_db.execute(
        "ALTER TABLE bookings ADD COLUMN channel VARCHAR(20)",
        "ALTER TABLE bookings DROP COLUMN notes",
        "UPDATE bookings SET channel = 'phone', updated_at = '2026-11-20 11:00:00' WHERE booking_id = 1",
    )
    summary = extract_table(flow, flow.table("bookings"), WINDOW)
    assert summary.columns_added == ("channel",)
    rows = wh.query("SELECT booking_id, channel, notes FROM raw_test.bookings ORDER BY booking_id")
    assert rows[0] == (1, "phone", None)  # re-extracted: the dropped column is NULL from now on
    assert [r[1] for r in rows[1:]] == [None] * 4


def test_source_refusing_connections_retries_then_names_the_connection(
    airflow_conn, warehouse_db, tmp_path, monkeypatch, log_text
):
    from devtools.processes import free_port

    airflow_conn(
        "dead_obe",
        f'{{"conn_type": "mysql", "host": "127.0.0.1", "port": {free_port()}, "login": "root", '
        '"password": "hunter2-secret", "schema": "obe"}',
    )
    monkeypatch.setattr("bi_pipelines.db.connections.CONNECT_BACKOFF_SECONDS", 0.01)
    flow = write_flow(tmp_path, "dead", {"conn_id": "dead_obe", "dialect": "mysql"}, BOOKINGS)
    with pytest.raises(ExtractionError) as excinfo:
        extract_table(flow, flow.table("bookings"), WINDOW)
    message = str(excinfo.value)
    assert "'dead_obe'" in message
    assert "after 3 attempts" in message
    logged = log_text()
    assert "hunter2-secret" not in message
    assert "hunter2-secret" not in logged
    assert logged.count("connecting to 'dead_obe'") == 3


@pytest.mark.usefixtures("obe")
def test_missing_cursor_column_is_a_clear_error(tmp_path):
    flow = write_flow(
        tmp_path,
        "bad",
        {"conn_id": "test_obe", "dialect": "mysql"},
        "bookings:\n  primary_key: [booking_id]\n  cursor_column: modified_on\n",
    )
    with pytest.raises(ExtractionError, match="cursor column 'modified_on' is not a column of bookings"):
        extract_table(flow, flow.table("bookings"), WINDOW)


def test_full_refresh_replaces_the_whole_table(obe, tmp_path):
    _, mysql_db, wh = obe
    flow = write_flow(
        tmp_path,
        "full",
        {"conn_id": "test_obe", "dialect": "mysql"},
        "bookings:\n  mode: full_refresh\n  primary_key: [booking_id]\n",
    )
    extract_table(flow, flow.table("bookings"), WINDOW)
    mysql_db.execute("DELETE FROM bookings WHERE booking_id > 2")
    summary = extract_table(flow, flow.table("bookings"), WINDOW)
    assert summary.rows_replaced == 5
    assert summary.rows_inserted == 2
    assert wh.query("SELECT booking_id FROM raw_test.bookings ORDER BY 1") == [(1,), (2,)]
