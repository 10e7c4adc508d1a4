"""Fixtures for relational extraction: a source database, a warehouse database, flows from YAML."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from bi_pipelines.core.windows import Window
from bi_pipelines.sources.relational.spec import FlowSpec, load_flow

UTC = dt.UTC


def hour_window(day: int, hour: int, hours: int = 1) -> Window:
    start = dt.datetime(2026, 11, day, hour, tzinfo=UTC)
    return Window(start, start + dt.timedelta(hours=hours), "test")


def write_flow(
    tmp_path: Path, name: str, source: dict, tables_yaml: str, target_schema: str = "raw_test"
) -> FlowSpec:
    """Write an ``extract_<name>.yaml`` into ``tmp_path`` and load it through the real loader."""
    text = textwrap.dedent(
        f"""
        dag:
          dag_id: extract_{name}
          schedule: "0 * * * *"
          start_date: "2026-11-01T00:00:00"
          catchup: false
          tags: [test]
        source:
          conn_id: {source["conn_id"]}
          dialect: {source["dialect"]}
        target:
          conn_id: test_warehouse
          schema: {target_schema}
        defaults:
          timezone: America/Vancouver
        tables:
        """
    ) + textwrap.indent(textwrap.dedent(tables_yaml), "  ")
    path = tmp_path / f"extract_{name}.yaml"
    path.write_text(text)
    return load_flow(path)


def dump(db, relation: str, order_by: str) -> list[tuple]:
    return db.query(f"SELECT * FROM {relation} ORDER BY {order_by}")


@pytest.fixture
def warehouse_db(pg_db, airflow_conn):
    """The local PostgreSQL playing the warehouse, as connection ``test_warehouse``."""
    airflow_conn("test_warehouse", pg_db)
    return pg_db
