"""PostgreSQL source types that exist only in the source database land as warehouse types."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bi_pipelines.sources.relational.pipeline import extract_table
from tests.integration.sources.relational.conftest import hour_window, write_flow

pytestmark = pytest.mark.integration
UTC = dt.UTC

SOURCE_DDL = """
CREATE SCHEMA src;
CREATE DOMAIN src.money_amount AS numeric(12,2) CHECK (VALUE >= 0);
CREATE DOMAIN src.short_code AS varchar(8);
CREATE DOMAIN src.local_time AS timestamp;
CREATE DOMAIN src.strict_amount AS src.money_amount;
CREATE TYPE src.my_enum AS ENUM ('a', 'b c', 'd"e');
CREATE TYPE src.pair AS (x integer, label text);
CREATE TABLE src.things (
  id integer PRIMARY KEY,
  amount src.money_amount,
  code src.short_code,
  seen_at src.local_time,
  strict src.strict_amount,
  mood src.my_enum,
  moods src.my_enum[],
  pairs src.pair[],
  pair src.pair,
  codes src.short_code[],
  span int4range
);
INSERT INTO src.things VALUES
  (1, 12.5, 'AB-1', '2026-11-20 09:00:00', 3, 'b c', ARRAY['a', 'd"e']::src.my_enum[],
   ARRAY[ROW(1, 'one')::src.pair], ROW(2, 'two, "quoted"'), ARRAY['x', 'y']::src.short_code[], '[1,5)'),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""
THINGS = "things:\n  source_schema: src\n  mode: full_refresh\n  primary_key: [id]\n"


@pytest.mark.parametrize("path", ["copy", "batches"])
def test_domains_enums_composites_and_their_arrays_land_as_warehouse_types(
    pg_db2, airflow_conn, warehouse_db, tmp_path, monkeypatch, path
):
    airflow_conn("test_portal", pg_db2)
    pg_db2.execute(SOURCE_DDL)
    if path == "batches":  # a source driver without COPY TO STDOUT fetches typed rows
        monkeypatch.setattr(
            "bi_pipelines.sources.relational.postgres.PostgresSource.supports_copy_out", False
        )
    flow = write_flow(tmp_path, "portal", {"conn_id": "test_portal", "dialect": "postgres"}, THINGS)
    summary = extract_table(flow, flow.table("things"), hour_window(20, 18))
    assert summary.rows_inserted == 2

    types = dict(
        warehouse_db.query(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'raw_test.things'::regclass AND attnum > 0"
        )
    )
    assert types == {
        "id": "integer",
        "amount": "numeric(12,2)",
        "code": "character varying(8)",
        "seen_at": "timestamp with time zone",
        "strict": "numeric(12,2)",
        "mood": "text",
        "moods": "text[]",
        "pairs": "text[]",
        "pair": "text",
        "codes": "character varying(8)[]",
        "span": "text",
    }
    rows = warehouse_db.query("SELECT * FROM raw_test.things ORDER BY id")
    assert rows[0] == (
        1,
        Decimal("12.50"),
        "AB-1",
        dt.datetime(2026, 11, 20, 17, tzinfo=UTC),  # the domain's naive time read in Vancouver
        Decimal("3.00"),
        "b c",
        ["a", 'd"e'],
        ["(1,one)"],
        '(2,"two, ""quoted""")',
        ["x", "y"],
        "[1,5)",
    )
    assert rows[1] == (2,) + (None,) * 10
