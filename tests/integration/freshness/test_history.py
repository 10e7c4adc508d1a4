"""The history table: one row per table per instant under reruns, the migration of older tables,
and every SQL snippet of the READMEs run against a table filled by a real sweep."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from bi_pipelines.freshness.writer import ensure_objects
from bi_pipelines.load.warehouse import Warehouse
from tests.integration.freshness.test_monitor import T0, TABLES, run, servers, write_config

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
__all__ = ["servers"]  # the fixture, imported to be used here


def rows_per_instant(mon) -> list[tuple]:
    return mon.query(
        "SELECT table_key, checked_at, count(*) FROM monitoring.source_table_freshness "
        "GROUP BY table_key, checked_at ORDER BY 1, 2"
    )


def test_a_second_run_at_the_same_instant_replaces_the_first_and_reports_nothing_new(servers, tmp_path):
    src, mon = servers
    config = write_config(tmp_path, TABLES)
    run(config, "scheduled__0", T0 - dt.timedelta(minutes=15))
    first, _ = run(config, "scheduled__1", T0)
    # A manual trigger standing for the same instant as the scheduled run.
    second, _ = run(config, "manual__1", T0)
    assert [r[2] for r in rows_per_instant(mon)] == [1] * 6
    assert second.changes == []
    assert second.tables_checked == first.tables_checked == 3
    rows = mon.query(
        "SELECT table_key, run_id, previous_status, status_changed FROM monitoring.source_table_freshness "
        "WHERE checked_at = %s ORDER BY table_key",
        params=(T0,),
    )
    # previous_status compares with the latest *earlier* check, not with the first attempt.
    assert rows == [
        ("src:public.empty", "manual__1", "no_data", False),
        ("src:public.fresh", "manual__1", "pass", False),
        ("src:public.stale", "manual__1", "warn", False),
    ]
    # A table that changed between the two attempts is reported once, against what was reported.
    src.execute("INSERT INTO empty VALUES (%s)", params=(T0 - dt.timedelta(minutes=1),))
    third, _ = run(config, "manual__2", T0)
    assert [(c["table_key"], c["previous_status"], c["status"]) for c in third.changes] == [
        ("src:public.empty", "no_data", "pass")
    ]
    fourth, _ = run(config, "manual__3", T0)
    assert fourth.changes == []


def test_a_rerun_checks_only_the_tables_due_at_that_instant(servers, tmp_path):
    config = write_config(
        tmp_path,
        """\
        fresh: {conn_id: src, schema: public, column: ts, check_interval: 1h}
        stale: {conn_id: src, schema: public, column: ts}
        """,
    )
    run(config, "r0", T0)
    for attempt in ("r1", "r1-again", "manual"):
        _, results = run(config, attempt, T0 + dt.timedelta(minutes=15))
        assert [r.check.table for r in results] == ["stale"], attempt


LEGACY_DDL = """
CREATE SCHEMA monitoring;
CREATE TABLE monitoring.source_table_freshness (
  run_id text, table_key text, source_conn_id text, server_host text, db_type text,
  qualified_table text, column_or_expression text, filter text, source_timezone text,
  last_update timestamptz, checked_at timestamptz, queried_at timestamptz, lag_seconds double precision,
  status text, previous_status text, status_changed boolean, error_message text,
  warn_after_seconds bigint, error_after_seconds bigint, check_interval_seconds bigint,
  acknowledged_until timestamptz, acknowledgement text, query_seconds double precision,
  PRIMARY KEY (run_id, table_key));
CREATE VIEW monitoring.source_table_freshness_latest AS SELECT * FROM monitoring.source_table_freshness;
"""


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_a_table_of_the_earlier_version_is_migrated_idempotently(pg_db2, airflow_conn, tmp_path, dialect):
    for statement in LEGACY_DDL.strip().split(";\n"):
        pg_db2.execute(statement)
    insert = (
        "INSERT INTO monitoring.source_table_freshness (run_id, table_key, checked_at, queried_at, "
        "lag_seconds, status) VALUES (%s, %s, %s, %s, %s, %s)"
    )
    for run_id, seconds, status in (("scheduled", 0, "warn"), ("manual", 5, "pass")):
        pg_db2.execute(insert, params=(run_id, "a:t", T0, T0 + dt.timedelta(seconds=seconds), 3600.5, status))
    pg_db2.execute(insert, params=("scheduled", "b:t", T0, T0, 7200.0, "pass"))
    airflow_conn("mon", pg_db2, warehouse_dialect=dialect)
    config = write_config(tmp_path, TABLES)
    for _ in range(2):
        with Warehouse.connect("mon") as wh:
            ensure_objects(wh, config.monitoring)
    assert pg_db2.query(
        "SELECT table_key, run_id, status, lag_seconds FROM monitoring.source_table_freshness ORDER BY 1"
    ) == [("a:t", "manual", "pass", 3600.5), ("b:t", "scheduled", "pass", 7200.0)]
    assert pg_db2.query(
        "SELECT kcu.column_name FROM information_schema.key_column_usage kcu "
        "WHERE kcu.table_schema = 'monitoring' AND kcu.table_name = 'source_table_freshness' "
        "ORDER BY kcu.ordinal_position"
    ) == [("table_key",), ("checked_at",)]
    assert pg_db2.query(
        "SELECT round(lag_seconds / 3600, 1), threshold_mode FROM monitoring.source_table_freshness_latest "
        "ORDER BY table_key"
    ) == [(1.0, None), (2.0, None)]


def sql_snippets() -> list[tuple[str, str]]:
    found = []
    for md in (REPO / "README.md", REPO / "include/bi_pipelines/freshness/README.md"):
        for block in re.findall(r"```sql\n(.*?)```", md.read_text(encoding="utf-8"), re.S):
            for statement in block.split(";"):
                code = "\n".join(ln for ln in statement.splitlines() if not ln.strip().startswith("--"))
                if code.strip():
                    found.append((md.relative_to(REPO).as_posix(), code.strip()))
    return found


def test_every_sql_snippet_of_the_readmes_runs_on_the_real_table(servers, tmp_path):
    _, mon = servers
    config = write_config(tmp_path, TABLES)
    run(config, "r1", T0)
    run(config, "r2", T0 + dt.timedelta(hours=2))
    snippets = sql_snippets()
    assert len(snippets) >= 3
    for where, statement in snippets:
        # The snippets name real table keys; the rows here belong to conn_id src.
        statement = statement.replace("'obe_mysql:bookings'", "'src:public.stale'")
        try:
            mon.query(statement)
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{where}: {statement!r} fails: {exc}")
