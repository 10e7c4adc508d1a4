"""Each Airflow connection is looked up once per connect, not again by the provider hook.

In a task every lookup asks the credentials backend, which asks the API server whether Airflow
defines the connection itself: a second lookup per connection is a second round trip per table.
"""

from __future__ import annotations

import pytest

from bi_pipelines.db.connections import open_dbapi
from bi_pipelines.sources.relational.pipeline import extract_table
from tests.integration.sources.relational.conftest import hour_window, write_flow
from tests.integration.sources.relational.test_mysql_to_warehouse import BOOKINGS, seed_bookings

pytestmark = pytest.mark.integration


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """The connection ids ``BaseHook.get_connection`` is asked for (by the project and the hooks)."""
    from airflow.sdk import BaseHook

    seen: list[str] = []
    real = BaseHook.get_connection.__func__  # type: ignore[attr-defined]

    def counting(cls, conn_id: str):
        seen.append(conn_id)
        return real(cls, conn_id)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(counting))
    return seen


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_open_dbapi_looks_the_connection_up_once(kind, pg_db, mysql_db, airflow_conn, lookups):
    airflow_conn("the_db", pg_db if kind == "postgres" else mysql_db)

    conn, conn_type, _ = open_dbapi("the_db")
    conn.close()

    assert conn_type == kind
    assert lookups == ["the_db"]


def test_a_table_looks_up_its_source_and_its_warehouse_once_each(
    mysql_db, airflow_conn, warehouse_db, tmp_path, lookups
):
    airflow_conn("test_obe", mysql_db)
    seed_bookings(mysql_db)
    flow = write_flow(tmp_path, "obe", {"conn_id": "test_obe", "dialect": "mysql"}, BOOKINGS)

    summary = extract_table(flow, flow.table("bookings"), hour_window(20, 18, hours=2))

    assert summary.rows_staged == 5
    assert sorted(lookups) == ["test_obe", "test_warehouse"]
