"""PostgreSQL to PostgreSQL by binary COPY when the types agree, text COPY otherwise."""

from __future__ import annotations

import datetime as dt

import pytest

from bi_pipelines.core.windows import Window
from bi_pipelines.db.pgcompat import BinaryCopyStream
from bi_pipelines.db.rows import RowStream
from bi_pipelines.load.publish import Merge
from bi_pipelines.load.staging import binary_fits
from bi_pipelines.load.tables import Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse
from bi_pipelines.sources.relational.pipeline import open_source
from bi_pipelines.sources.relational.spec import TableSpec

pytestmark = pytest.mark.integration

# Values COPY text must escape or format, all in types that land unchanged.
AWKWARD_DDL = r"""
CREATE SCHEMA portal;
CREATE TABLE portal.awkward (
  id integer PRIMARY KEY, body text, name character varying(40), amount numeric(18,4), big numeric,
  score double precision, ratio real, flag boolean, day date, at timestamptz NOT NULL,
  tags text[], doc jsonb, raw bytea, guid uuid, span interval
);
INSERT INTO portal.awkward VALUES
  (1, E'tab\there\nnew line\\back\rslash', 'Zoë O''Brien', 1234.5678, 1e30, 'NaN', 'Infinity', true,
   '2026-11-20', '2026-11-20 17:00:00.123456+00', '{"a b","c,d","\"q\"",NULL}', '{"k": "v\n\u00e9"}',
   '\x00ff5c0a', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 day 02:03:04.5'),
  (2, '', NULL, -0.0001, -0.5, '-Infinity', -0, false, '0001-01-01', '2026-11-01 09:30:00+00', '{}', '[]',
   '', NULL, '-1 year'),
  (3, NULL, 'N', NULL, NULL, NULL, NULL, NULL, NULL, '2026-11-02 00:00:00+00', NULL, 'null', NULL, NULL, NULL),
  (4, E'\\N', '\N', 0, 0, 1.5e-300, 1.25, true, '9999-12-31', '2026-11-03 23:59:59.999999+00', '{"\\N"}',
   '{"nested": [1, 2.5, {"x": null}]}', '\x5c4e', NULL, '0');
"""
COLUMNS = (
    ("id", "integer"),
    ("body", "text"),
    ("name", "character varying(40)"),
    ("amount", "numeric(18,4)"),
    ("big", "numeric"),
    ("score", "double precision"),
    ("ratio", "real"),
    ("flag", "boolean"),
    ("day", "date"),
    ("at", "timestamp with time zone"),
    ("tags", "text[]"),
    ("doc", "jsonb"),
    ("raw", "bytea"),
    ("guid", "uuid"),
    ("span", "interval"),
)
TABLE = TableSpec.model_validate(
    {"name": "awkward", "source_schema": "portal", "primary_key": ["id"], "cursor_column": "at"}
)
WINDOW = Window(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC), "t")


@pytest.fixture
def portal(pg_db2, airflow_conn):
    airflow_conn("test_portal", pg_db2)
    pg_db2.execute(AWKWARD_DDL)
    source = open_source("postgres", "test_portal")
    yield source
    source.close()


def target(table: str) -> TargetTable:
    return TargetTable("raw_bin", table, tuple(Column(n, t) for n, t in COLUMNS), ("id",))


def rendered(pg_db, table: str) -> list[tuple]:
    return pg_db.query(f"SELECT t::text FROM raw_bin.{table} t ORDER BY id")


def test_binary_and_text_copy_land_identical_rows(portal, pg_db):
    columns = portal.describe(TABLE)
    stream = portal.row_stream(TABLE, columns, WINDOW)
    assert isinstance(stream, BinaryCopyStream)
    text_only = RowStream(stream.columns, batches=stream.batches, copy_chunks=stream.copy_chunks)
    with Warehouse(pg_db.connect()) as wh:
        for name in ("by_binary", "by_text"):
            wh.ensure_table(target(name))
        assert binary_fits(stream, wh.existing_column_types("raw_bin", "by_binary"))
        assert not binary_fits(text_only, wh.existing_column_types("raw_bin", "by_text"))
        for _ in range(2):  # the same window twice: identical
            binary = wh.load(target("by_binary"), stream, Merge(("id",)))
            text = wh.load(target("by_text"), text_only, Merge(("id",)))
            assert binary.rows_staged == text.rows_staged == 4
            assert rendered(pg_db, "by_binary") == rendered(pg_db, "by_text")
    assert len(rendered(pg_db, "by_binary")) == 4
    # Binary output is in the source's types: byte for byte what the source holds.
    assert rendered(pg_db, "by_binary") == pg_db_source_rows(portal)


def pg_db_source_rows(source) -> list[tuple]:
    with source.conn.cursor() as cur:
        cur.execute("SELECT t::text FROM portal.awkward t ORDER BY id")
        rows = [tuple(r) for r in cur.fetchall()]
    source.conn.commit()
    return rows


def test_a_target_column_of_another_type_takes_text_copy(portal, pg_db):
    columns = portal.describe(TABLE)
    stream = portal.row_stream(TABLE, columns, WINDOW)
    wider = TargetTable(
        "raw_bin",
        "wider",
        tuple(Column(n, "text" if n == "name" else t) for n, t in COLUMNS),
        ("id",),
    )
    with Warehouse(pg_db.connect()) as wh:
        wh.ensure_table(wider)
        assert not binary_fits(stream, wh.existing_column_types("raw_bin", "wider"))
        assert wh.load(wider, stream, Merge(("id",))).rows_staged == 4
    rows = pg_db.query("SELECT name FROM raw_bin.wider ORDER BY id")
    assert rows == [("Zoë O'Brien",), (None,), ("N",), ("\\N",)]


def test_naive_timestamps_are_converted_and_so_never_binary(pg_db2, airflow_conn):
    airflow_conn("test_portal", pg_db2)
    pg_db2.execute("CREATE TABLE public.naive (id integer PRIMARY KEY, at timestamp NOT NULL)")
    source = open_source("postgres", "test_portal")
    try:
        table = TableSpec.model_validate({"name": "naive", "primary_key": ["id"], "cursor_column": "at"})
        stream = source.row_stream(table, source.describe(table), WINDOW)
    finally:
        source.close()
    assert not isinstance(stream, BinaryCopyStream)
