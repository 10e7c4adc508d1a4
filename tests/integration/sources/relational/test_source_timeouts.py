"""Source sessions wait a bounded time for a lock and for a statement, then say what to change."""

from __future__ import annotations

import time

import pytest

from bi_pipelines.core.errors import ExtractionError
from bi_pipelines.sources.relational.pipeline import extract_table
from tests.integration.sources.relational.conftest import hour_window, write_flow

pytestmark = pytest.mark.integration
WINDOW = hour_window(20, 18)
LOCKED = "locked:\n  mode: full_refresh\n  primary_key: [id]\n"
SLOW = "slow:\n  mode: full_refresh\n  primary_key: [id]\n"


def extract_fails(flow, table: str) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(ExtractionError) as excinfo:
        extract_table(flow, flow.table(table), WINDOW)
    return str(excinfo.value), time.monotonic() - started


@pytest.mark.usefixtures("warehouse_db")
def test_mysql_table_locked_by_another_session_fails_fast(mysql_db, airflow_conn, tmp_path):
    mysql_db.execute("CREATE TABLE locked (id INT PRIMARY KEY)", "INSERT INTO locked VALUES (1)")
    airflow_conn("test_obe", mysql_db, lock_timeout=1)
    flow = write_flow(tmp_path, "obe", {"conn_id": "test_obe", "dialect": "mysql"}, LOCKED)
    holder = mysql_db.connect()
    try:
        holder.cursor().execute("LOCK TABLES locked WRITE")
        message, seconds = extract_fails(flow, "locked")
    finally:
        holder.close()
    assert seconds < 15
    assert "waiting for a lock on the source table" in message
    assert "'lock_timeout' (seconds) of connection 'test_obe'" in message


@pytest.mark.usefixtures("warehouse_db")
def test_mysql_statement_running_too_long_is_stopped(mysql_db, airflow_conn, tmp_path):
    mysql_db.execute("CREATE VIEW slow AS SELECT 1 AS id, SLEEP(5) AS waited")
    airflow_conn("test_obe", mysql_db, statement_timeout=1)
    flow = write_flow(tmp_path, "obe", {"conn_id": "test_obe", "dialect": "mysql"}, SLOW)
    message, seconds = extract_fails(flow, "slow")
    assert seconds < 4.5
    assert "stopped after running 1 s" in message
    assert "'statement_timeout' (seconds) of connection 'test_obe'" in message


@pytest.mark.usefixtures("warehouse_db")
def test_postgres_table_locked_by_another_session_fails_fast(pg_db2, airflow_conn, tmp_path):
    pg_db2.execute("CREATE TABLE locked (id integer PRIMARY KEY)", "INSERT INTO locked VALUES (1)")
    airflow_conn("test_portal", pg_db2, lock_timeout=1)
    flow = write_flow(tmp_path, "portal", {"conn_id": "test_portal", "dialect": "postgres"}, LOCKED)
    holder = pg_db2.connect()
    try:
        holder.cursor().execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")  # held until rollback
        message, seconds = extract_fails(flow, "locked")
    finally:
        holder.rollback()
        holder.close()
    assert seconds < 15
    assert "waiting for a lock on the source table" in message
    assert "'lock_timeout' (seconds) of connection 'test_portal'" in message


@pytest.mark.usefixtures("warehouse_db")
def test_postgres_statement_running_too_long_is_stopped(pg_db2, airflow_conn, tmp_path):
    pg_db2.execute("CREATE VIEW slow AS SELECT 1 AS id FROM pg_sleep(5)")
    airflow_conn("test_portal", pg_db2, statement_timeout=1)
    flow = write_flow(tmp_path, "portal", {"conn_id": "test_portal", "dialect": "postgres"}, SLOW)
    message, seconds = extract_fails(flow, "slow")
    assert seconds < 4.5
    assert "stopped after running 1 s" in message
    assert "'statement_timeout' (seconds) of connection 'test_portal'" in message
