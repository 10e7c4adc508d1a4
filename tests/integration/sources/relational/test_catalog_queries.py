"""Catalog queries per table: one or two on the source, two on the warehouse, however many columns.

Every run of every table pays them before its first row, so they must not grow with the columns.
"""

from __future__ import annotations

import pytest

from bi_pipelines.load import warehouse as warehouse_module
from bi_pipelines.sources.relational import pipeline
from bi_pipelines.sources.relational.pipeline import extract_table
from tests.integration.sources.relational.conftest import hour_window, write_flow

pytestmark = pytest.mark.integration

WIDE_COLUMNS = 40
TABLES = """
narrow:
  primary_key: [id]
  cursor_column: updated_at
wide:
  primary_key: [id]
  cursor_column: updated_at
"""


class RecordingCursor:
    def __init__(self, cursor, statements: list[str]):
        self._cursor, self._statements = cursor, statements

    def execute(self, sql, params=None):
        self._statements.append(sql)
        return self._cursor.execute(sql, params)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._cursor.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class RecordingConnection:
    """A MySQLdb connection whose cursors record every statement."""

    def __init__(self, conn, statements: list[str]):
        self._conn, self._statements = conn, statements

    def cursor(self, *args):
        return RecordingCursor(self._conn.cursor(*args), self._statements)

    def __getattr__(self, name):
        return getattr(self._conn, name)


@pytest.fixture
def catalog(mysql_db, airflow_conn, warehouse_db, tmp_path, monkeypatch):
    """A narrow and a wide MariaDB table (JSON and LONGTEXT among the wide one's columns), the
    source's statements and the warehouse catalog reads of each extraction."""
    wide = ", ".join(
        f"c{i} {('INT', 'VARCHAR(20)', 'JSON', 'LONGTEXT', 'DATETIME')[i % 5]}" for i in range(WIDE_COLUMNS)
    )
    mysql_db.execute(
        "CREATE TABLE narrow (id INT PRIMARY KEY, label VARCHAR(20), updated_at DATETIME NOT NULL)",
        f"CREATE TABLE wide (id INT PRIMARY KEY, {wide}, updated_at DATETIME NOT NULL)",
        "INSERT INTO narrow VALUES (1, 'one', '2026-11-20 10:30:00')",
        "INSERT INTO wide (id, updated_at) VALUES (1, '2026-11-20 10:30:00')",
    )
    airflow_conn("test_src", mysql_db)
    flow = write_flow(tmp_path, "catalog", {"conn_id": "test_src", "dialect": "mysql"}, TABLES)
    source_statements: list[str] = []
    warehouse_reads: list[str] = []
    real_open = pipeline.open_dbapi

    def recording_open(conn_id, **kwargs):
        conn, conn_type, extra = real_open(conn_id, **kwargs)
        return RecordingConnection(conn, source_statements), conn_type, extra

    monkeypatch.setattr(pipeline, "open_dbapi", recording_open)
    for name in ("existing_column_types", "has_unique_key", "droppable_primary_key"):
        real = getattr(warehouse_module, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            warehouse_reads.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(warehouse_module, name, counted)

    def run(table: str) -> tuple[list[str], list[str]]:
        source_statements.clear()
        warehouse_reads.clear()
        summary = extract_table(flow, flow.table(table), hour_window(20, 18))
        assert summary.rows_staged == 1
        source_catalog = [s for s in source_statements if "information_schema" in s.lower()]
        return source_catalog, list(warehouse_reads)

    return run


def test_describe_and_ensure_table_do_not_grow_with_the_columns(catalog):
    for table in ("narrow", "wide"):
        catalog(table)  # the first run creates the warehouse table
    narrow_source, narrow_warehouse = catalog("narrow")
    wide_source, wide_warehouse = catalog("wide")

    # The wide table's JSON and LONGTEXT columns cost MariaDB one query for its check constraints.
    assert len(narrow_source) == 1, narrow_source
    assert len(wide_source) == 2, wide_source
    assert narrow_warehouse == wide_warehouse
    assert len(wide_warehouse) <= 2, wide_warehouse


def test_the_wide_tables_json_columns_are_still_recognised(catalog, warehouse_db):
    catalog("wide")
    types = dict(
        warehouse_db.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw_test' AND table_name = 'wide'"
        )
    )
    assert types["c2"] == "jsonb"
    assert types["c3"] == "text"
    assert len(types) == WIDE_COLUMNS + 2
