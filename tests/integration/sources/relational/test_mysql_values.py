"""MySQL values that land as the source holds them: floats, NUL in text, wide BIT, year 0, spatial.

Each test runs both staging paths: COPY text into PostgreSQL, and the typed batches a Redshift
target stages (run here against PostgreSQL, the table created by a first PostgreSQL run).
"""

from __future__ import annotations

import datetime as dt
import struct

import pytest

from bi_pipelines.sources.relational.pipeline import extract_table
from tests.integration.sources.relational.conftest import hour_window, write_flow

pytestmark = pytest.mark.integration
UTC = dt.UTC
WINDOW = hour_window(20, 18)
VALUES = "vals:\n  mode: full_refresh\n  primary_key: [id]\n"


def float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def run_both_paths(flow, wh, airflow_conn, dialect):
    """Extract ``vals`` through the staging path of ``dialect``; return the summary."""
    if dialect == "redshift":
        extract_table(flow, flow.table("vals"), WINDOW)
        wh.execute("TRUNCATE raw_test.vals")
        airflow_conn("test_warehouse", wh, warehouse_dialect="redshift")
    return extract_table(flow, flow.table("vals"), WINDOW)


@pytest.fixture
def obe_vals(mysql_db, airflow_conn, warehouse_db, tmp_path):
    airflow_conn("test_obe", mysql_db)

    def make(ddl: str, *inserts: str):
        conn = mysql_db.connect()
        cur = conn.cursor()
        cur.execute("SET SESSION sql_mode = ''")  # zero dates allowed, as on the OBE server
        cur.execute(ddl)
        for statement in inserts:
            cur.execute(statement)
        conn.commit()
        conn.close()
        return write_flow(tmp_path, "obe", {"conn_id": "test_obe", "dialect": "mysql"}, VALUES)

    return make


def target_type(wh, column: str) -> str:
    return wh.query(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'raw_test.vals'::regclass AND attname = %s",
        (column,),
    )[0][0]


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_float_lands_with_its_full_float32_value(obe_vals, warehouse_db, airflow_conn, dialect):
    values = [123456.789, 3.4028235e38, -1.17549435e-38, 0.1, 16777217.0]
    flow = obe_vals(
        "CREATE TABLE vals (id INT PRIMARY KEY, v FLOAT)",
        "INSERT INTO vals VALUES " + ", ".join(f"({i}, {v!r})" for i, v in enumerate(values)) + ", (9, NULL)",
    )
    run_both_paths(flow, warehouse_db, airflow_conn, dialect)
    assert target_type(warehouse_db, "v") == "real"
    got = warehouse_db.query("SELECT id, v::float8 FROM raw_test.vals ORDER BY id")
    assert got == [(i, float32(v)) for i, v in enumerate(values)] + [(9, None)]


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_nul_in_text_is_stripped_and_counted(obe_vals, warehouse_db, airflow_conn, log_text, dialect):
    flow = obe_vals(
        "CREATE TABLE vals (id INT PRIMARY KEY, note TEXT, code VARCHAR(10))",
        "INSERT INTO vals VALUES (1, 'before', 'a'), (2, CONCAT('nul', CHAR(0), 'inside', CHAR(0)), "
        "CONCAT(CHAR(0), 'x')), (3, 'tab\\there\\\\', NULL), (4, 'after', 'b')",
    )
    summary = run_both_paths(flow, warehouse_db, airflow_conn, dialect)
    assert summary.rows_inserted == 4
    assert summary.nul_values_stripped == 2
    assert "2 text value(s) held NUL characters" in log_text()
    assert warehouse_db.query("SELECT id, note, code FROM raw_test.vals ORDER BY id") == [
        (1, "before", "a"),
        (2, "nulinside", "x"),
        (3, "tab\there\\", None),
        (4, "after", "b"),
    ]


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_wide_bit_year_zero_and_geometry(obe_vals, warehouse_db, airflow_conn, log_text, dialect):
    flow = obe_vals(
        "CREATE TABLE vals (id INT PRIMARY KEY, flags BIT(64), flag BIT(1), d DATE, ts DATETIME, "
        "place POINT, shape GEOMETRY)",
        "INSERT INTO vals VALUES "
        "(1, b'1111111111111111111111111111111111111111111111111111111111111111', b'1', '0000-01-01', "
        "'0000-01-01 10:00:00', POINT(1.5, -2), ST_GeomFromText('LINESTRING(0 0, 1 1)')), "
        "(2, b'1000000000000000000000000000000000000000000000000000000000000000', b'0', '2026-11-20', "
        "'2026-11-20 09:00:00', NULL, NULL), "
        "(3, b'101', NULL, '0000-00-00', NULL, NULL, NULL)",
    )
    summary = run_both_paths(flow, warehouse_db, airflow_conn, dialect)
    assert summary.rows_inserted == 3
    # Year 0 cannot be held by a warehouse date: NULL and counted, like zero dates.
    assert summary.zero_dates_nulled == 3
    assert "3 zero date value(s)" in log_text()
    types = {c: target_type(warehouse_db, c) for c in ("flags", "flag", "d", "ts", "place", "shape")}
    assert types == {
        "flags": "numeric(20,0)",
        "flag": "bigint",
        "d": "date",
        "ts": "timestamp with time zone",
        "place": "text",
        "shape": "text",
    }
    assert warehouse_db.query("SELECT * FROM raw_test.vals ORDER BY id") == [
        (1, 2**64 - 1, 1, None, None, "POINT(1.5 -2)", "LINESTRING(0 0,1 1)"),
        (2, 2**63, 0, dt.date(2026, 11, 20), dt.datetime(2026, 11, 20, 17, tzinfo=UTC), None, None),
        (3, 5, None, None, None, None, None),
    ]
