"""The monitor_source_freshness DAG end to end with ``dag.test()`` against the local servers."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from tests.support.dags import load_dag as load_dag_file
from tests.support.dags import run_dag

pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).resolve().parents[3] / "dags" / "monitor_source_freshness.py"


def load_dag(monkeypatch, config_path: Path):
    monkeypatch.setenv("BI_FRESHNESS_CONFIG", str(config_path))
    return load_dag_file("monitor_source_freshness")


def write_config(tmp_path, tables: str) -> Path:
    path = tmp_path / "freshness.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            dag:
              dag_id: monitor_source_freshness
              schedule: "*/15 * * * *"
              start_date: "2026-11-01T00:00:00"
              retries: 2
              retry_delay: 1m
            monitoring: {conn_id: mon}
            sweep: {connect_attempts: 1, connect_backoff_seconds: 0}
            flows: {include: false}
            defaults: {warn_after: 1h, error_after: 3h, check_interval: 15m}
            tables:
            """
        )
        + textwrap.indent(textwrap.dedent(tables), "  "),
        encoding="utf-8",
    )
    return path


def test_dag_run_records_every_table_and_goes_red_on_error(
    airflow_db, pg_db, pg_db2, mysql_db, airflow_conn, monkeypatch, tmp_path
):
    now = dt.datetime.now(dt.UTC)
    pg_db.execute("CREATE TABLE portal_news (published_at timestamptz)")
    pg_db.execute("INSERT INTO portal_news VALUES (%s)", params=(now - dt.timedelta(minutes=5),))
    mysql_db.execute("CREATE TABLE bookings (updated_at DATETIME)")
    mysql_db.execute(
        "INSERT INTO bookings VALUES (%s)", params=((now - dt.timedelta(minutes=20)).replace(tzinfo=None),)
    )
    airflow_conn("portal", pg_db)
    airflow_conn("obe", mysql_db)
    airflow_conn("mon", pg_db2)
    config = write_config(
        tmp_path,
        """\
        portal_news: {conn_id: portal, schema: public, column: published_at}
        bookings: {conn_id: obe, column: updated_at}
        """,
    )
    dag = load_dag(monkeypatch, config)

    # Triggered as the UI's Trigger button does: no logical date, so no data interval at all.
    run, _ = run_dag(dag, "success", logical_date=None)
    assert run.data_interval_start is None
    rows = pg_db2.query(
        "SELECT table_key, status, run_id, checked_at FROM monitoring.source_table_freshness ORDER BY table_key"
    )
    assert [r[:2] for r in rows] == [("obe:bookings", "pass"), ("portal:public.portal_news", "pass")]
    # checked_at is the run's run_after when there is no scheduled time.
    assert all(r[2] == run.run_id and r[3] == run.run_after for r in rows)

    # Stale data: the next run records the error and fails, so the UI shows red.
    mysql_db.execute("DELETE FROM bookings")
    mysql_db.execute(
        "INSERT INTO bookings VALUES (%s)", params=((now - dt.timedelta(hours=5)).replace(tzinfo=None),)
    )
    # Its interval ends on a quarter hour at least 15 minutes after the first check: the tables are due.
    run, states = run_dag(dag, "failed", logical_date=now + dt.timedelta(minutes=30))
    assert states == {"check_tables": "success", "alert_on_changes": "failed"}
    latest = dict(pg_db2.query("SELECT table_key, status FROM monitoring.source_table_freshness_latest"))
    assert latest == {"obe:bookings": "error", "portal:public.portal_news": "pass"}
