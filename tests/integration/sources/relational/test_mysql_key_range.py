"""MySQL windows read in the primary-key range of their rows, in one snapshot with the range."""

from __future__ import annotations

import pytest

from bi_pipelines.sources.relational.mysql import MySqlSource
from bi_pipelines.sources.relational.pipeline import extract_table
from tests.integration.sources.relational.conftest import dump, hour_window, write_flow

pytestmark = pytest.mark.integration

# Window: 2026-11-20 10:00-11:00 Vancouver (18:00-19:00 UTC).
IN_WINDOW = "2026-11-20 10:30:00"
OLDER = "2026-11-10 10:30:00"
WINDOW = hour_window(20, 18)


def table_yaml(name: str, policy: str = "load") -> str:
    return f"""
{name}:
  primary_key: [event_id]
  cursor_column: updated_at
  lookback: 0m
  on_null_cursor: {policy}
"""


@pytest.fixture
def events(mysql_db, airflow_conn, warehouse_db):
    """``events``: ids 1-40 older, 41-50 in the window, 7 with a NULL cursor; cursor indexed."""
    rows = [(i, f"old {i}", OLDER) for i in range(1, 41)] + [
        (i, f"new {i}", IN_WINDOW) for i in range(41, 51)
    ]
    rows[6] = (7, "no cursor", None)
    values = ", ".join(f"({i}, '{label}', {repr(at) if at else 'NULL'})" for i, label, at in rows)
    mysql_db.execute(
        "CREATE TABLE events (event_id INT PRIMARY KEY, label VARCHAR(20), updated_at DATETIME NULL, "
        "KEY events_updated_at (updated_at))",
        f"INSERT INTO events VALUES {values}",
        # The same rows without an index on the cursor, and keyed on two columns.
        "CREATE TABLE plain_events (event_id INT PRIMARY KEY, label VARCHAR(20), updated_at DATETIME NULL)",
        "INSERT INTO plain_events SELECT * FROM events",
        "CREATE TABLE pair_events (event_id INT, part INT, label VARCHAR(20), updated_at DATETIME NULL, "
        "PRIMARY KEY (event_id, part), KEY pair_updated_at (updated_at))",
        "INSERT INTO pair_events SELECT event_id, 1, label, updated_at FROM events",
    )
    airflow_conn("test_src", mysql_db)
    return mysql_db


def open_events(mysql_db, isolation: str | None = None) -> MySqlSource:
    conn = mysql_db.connect()
    if isolation:  # as a server whose default isolation level is another one would start it
        conn.cursor().execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {isolation}")
    return MySqlSource(conn, "test_src", {})


@pytest.mark.parametrize(
    ("table", "policy", "expected"),
    [
        ("events", "load", ("event_id", 7, 50)),  # the NULL cursor's row is read too
        ("events", "skip", ("event_id", 41, 50)),
        ("plain_events", "load", None),  # no index to ask cheaply: read without a range
        ("pair_events", "load", None),  # a two-column key: no single range
    ],
)
def test_the_window_is_read_in_the_key_range_of_its_rows(events, tmp_path, table, policy, expected):
    flow = write_flow(
        tmp_path, "keys", {"conn_id": "test_src", "dialect": "mysql"}, table_yaml(table, policy)
    )
    source = open_events(events)
    try:
        spec = flow.table(table)
        columns = source.describe(spec)
        assert source.key_range(spec, columns, WINDOW) == expected
        sql, params = source.copy_select(spec, columns, WINDOW, expected)
        assert ("BETWEEN" in sql) == (expected is not None)
        assert params[-2:] == ([expected[1], expected[2]] if expected else params[-2:])
    finally:
        source.close()


@pytest.mark.parametrize("table", ["events", "plain_events", "pair_events"])
def test_every_row_of_the_window_lands_with_or_without_a_key_range(events, warehouse_db, tmp_path, table):
    flow = write_flow(tmp_path, "keys", {"conn_id": "test_src", "dialect": "mysql"}, table_yaml(table))
    summary = extract_table(flow, flow.table(table), WINDOW)
    assert summary.rows_staged == 11
    landed = dump(warehouse_db, f"raw_test.{table}", "event_id")
    assert [(r[0], r[-2]) for r in landed] == [(7, "no cursor")] + [(i, f"new {i}") for i in range(41, 51)]


def test_a_window_without_rows_reads_nothing_after_the_range(events, tmp_path, monkeypatch):
    flow = write_flow(
        tmp_path, "keys", {"conn_id": "test_src", "dialect": "mysql"}, table_yaml("events", "skip")
    )
    source = open_events(events)
    try:
        spec = flow.table("events")
        columns = source.describe(spec)
        reads: list[str] = []
        monkeypatch.setattr(source, "_unbuffered", lambda sql, params: reads.append(sql) or iter(()))
        assert list(source.row_stream(spec, columns, hour_window(25, 18)).copy_chunks()) == []
        assert reads == []
    finally:
        source.close()


@pytest.mark.parametrize("isolation", [None, "READ COMMITTED"])
def test_the_range_and_the_rows_come_from_one_snapshot(events, tmp_path, monkeypatch, isolation):
    """A change committed between the range query and the read is not half seen.

    Otherwise a row committed in between, inside the window but above the range, would be
    missed; here the read must still see the rows as the range query saw them.
    """
    flow = write_flow(
        tmp_path, "keys", {"conn_id": "test_src", "dialect": "mysql"}, table_yaml("events", "skip")
    )
    source = open_events(events, isolation)
    real_range = source.key_range

    def range_then_commit_elsewhere(*args):
        found = real_range(*args)
        events.execute(
            "UPDATE events SET label = 'changed' WHERE event_id = 45",
            f"INSERT INTO events VALUES (60, 'late', '{IN_WINDOW}')",
        )
        return found

    monkeypatch.setattr(source, "key_range", range_then_commit_elsewhere)
    try:
        spec = flow.table("events")
        columns = source.describe(spec)
        text = b"".join(source.row_stream(spec, columns, WINDOW).copy_chunks()).decode()
    finally:
        source.close()
    labels = sorted(line.split("\t")[-1] for line in text.splitlines())  # text columns come last
    assert labels == sorted(f"new {i}" for i in range(41, 51))
