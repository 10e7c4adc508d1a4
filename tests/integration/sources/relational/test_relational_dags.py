"""The three relational DAGs run end to end with dag.test() against the local servers,
triggered the way the UI's Trigger button does it: without a logical date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from devtools.sample_sources import seed_info_portal, seed_marts, seed_obe
from tests.support.dags import load_dag, run_dag

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[4]


@pytest.fixture
def sources(airflow_db, mysql_db, pg_db, pg_db2, airflow_conn):
    """OBE in MariaDB, Info Portal in one PostgreSQL database, the warehouse (marts) in another."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    conn = mysql_db.connect()
    seed_obe(conn, now, bookings=300)
    conn.close()
    for db, seed in ((pg_db2, seed_info_portal), (pg_db, seed_marts)):
        conn = db.connect()
        seed(conn, now)
        conn.close()
    airflow_conn("obe_mysql", mysql_db)
    airflow_conn("info_portal_postgres", pg_db2)
    airflow_conn("redshift_dw", pg_db)  # PostgreSQL standing in for Redshift
    return {"obe": mysql_db, "portal": pg_db2, "warehouse": pg_db, "now": now}


def run(dag, **kwargs):
    run.last, states = run_dag(dag, **kwargs)
    return states


def test_obe_dag_triggered_without_logical_date_extracts_latest_hour(sources):
    dag = load_dag("extract_obe_mysql")
    # Both runs are triggered at the same instant (as the UI would at the seeding time), so
    # they cover the same latest complete interval whenever the test happens to run.
    run_after = sources["now"]
    states = run(dag, logical_date=None, run_after=run_after)
    assert set(states) == {
        f"extract_{t}" for t in ("bookings", "customers", "booking_payments", "franchises")
    }
    wh = sources["warehouse"]
    # The latest complete hour plus the 2 h lookback: some, not all, of 48 h of bookings.
    loaded = wh.query("SELECT count(*) FROM raw_obe.bookings")[0][0]
    total = sources["obe"].query("SELECT count(*) FROM bookings")[0][0]
    assert 0 < loaded < total
    assert wh.query("SELECT count(*) FROM raw_obe.franchises") == [(6,)]
    # Running again changes nothing.
    before = wh.query("SELECT * FROM raw_obe.bookings ORDER BY booking_id")
    run(dag, logical_date=None, run_after=run_after)
    assert wh.query("SELECT * FROM raw_obe.bookings ORDER BY booking_id") == before


def test_each_table_task_emits_an_asset_event_with_rows_and_window(sources):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    dag = load_dag("extract_obe_mysql")
    run(dag, logical_date=None)
    with create_session() as session:
        events = dict(
            session.query(AssetModel.uri, AssetEvent.extra)
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetEvent.source_run_id == run.last.run_id)
        )
    assert set(events) == {
        f"x-bi-warehouse://redshift_dw/raw_obe/{t}"
        for t in ("bookings", "customers", "booking_payments", "franchises")
    }
    bookings = events["x-bi-warehouse://redshift_dw/raw_obe/bookings"]
    loaded = sources["warehouse"].query("SELECT count(*) FROM raw_obe.bookings")[0][0]
    assert bookings["rows_inserted"] == loaded
    assert bookings["window_start"] < bookings["window_end"]


def test_obe_dag_with_explicit_window_params_backfills_everything(sources):
    dag = load_dag("extract_obe_mysql")
    now = sources["now"]
    conf = {"window_start": (now - dt.timedelta(days=3)).isoformat(), "window_end": now.isoformat()}
    run(dag, logical_date=None, run_conf=conf)
    counts = sources["warehouse"].query("SELECT count(*), count(DISTINCT booking_id) FROM raw_obe.bookings")
    total = sources["obe"].query("SELECT count(*) FROM bookings")[0][0]
    assert counts == [(total, total)]


def test_info_portal_and_marts_dags(sources):
    now = sources["now"]
    conf = {"window_start": (now - dt.timedelta(days=20)).isoformat(), "window_end": now.isoformat()}
    run(load_dag("extract_info_portal_postgres"), logical_date=None, run_conf=conf)
    wh, portal = sources["warehouse"], sources["portal"]
    assert wh.query("SELECT count(*) FROM raw_info_portal.kpi_targets") == [(18,)]
    assert wh.query("SELECT count(*) FROM raw_info_portal.announcements") == [(2,)]
    run(load_dag("extract_redshift_dw"), logical_date=None, run_conf=conf)
    assert portal.query("SELECT count(*) FROM portal.franchise_scorecard") == [(6,)]
    assert portal.query("SELECT count(*) FROM portal.franchise_daily_revenue") == [(6 * 14,)]


def test_scheduled_run_uses_its_data_interval(sources):
    dag = load_dag("extract_info_portal_postgres")
    logical = sources["now"] - dt.timedelta(hours=12)
    run(dag, logical_date=logical)
    start, end = run.last.data_interval_start, run.last.data_interval_end
    assert end - start == dt.timedelta(hours=6)
    # Exactly the contacts modified in [start - 1 h lookback, end), compared with the source.
    expected = sources["portal"].query(
        "SELECT contact_id FROM portal.franchise_contacts WHERE modified_at >= (%s::timestamptz AT TIME ZONE "
        "'America/Vancouver') AND modified_at < (%s::timestamptz AT TIME ZONE 'America/Vancouver') ORDER BY 1",
        (start - dt.timedelta(hours=1), end),
    )
    got = sources["warehouse"].query("SELECT contact_id FROM raw_info_portal.franchise_contacts ORDER BY 1")
    assert got == expected
    assert got


def test_each_table_task_writes_its_summary_as_one_xcom(sources):
    """One XCom per task, not one more per key of the summary: each is an execution API call."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag = load_dag("extract_obe_mysql")
    run(dag, logical_date=None)
    with create_session() as session:
        rows = session.query(XComModel.task_id, XComModel.key).filter(
            XComModel.dag_id == "extract_obe_mysql", XComModel.run_id == run.last.run_id
        )
        keys: dict[str, list[str]] = {}
        for task_id, key in rows:
            keys.setdefault(task_id, []).append(key)
    assert keys == {
        f"extract_{t}": ["return_value"] for t in ("bookings", "customers", "booking_payments", "franchises")
    }
