"""The sweep against real PostgreSQL and MariaDB: time zones, column types, failures, timeouts."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from bi_pipelines.core.settings import FreshnessThresholds
from bi_pipelines.db.connections import open_dbapi
from bi_pipelines.freshness.queries import prepare_session
from bi_pipelines.freshness.spec import (
    ERROR,
    NO_DATA,
    PASS,
    RUNTIME_ERROR,
    WARN,
    FreshnessCheck,
    SweepSettings,
)
from bi_pipelines.freshness.sweep import sweep_all, sweep_connection
from devtools.processes import free_port

pytestmark = pytest.mark.integration

UTC = dt.UTC
FAST = SweepSettings(connect_attempts=1, connect_backoff_seconds=0, statement_timeout=dt.timedelta(seconds=5))


def make_check(conn_id, table, column="ts", *, schema=None, dialect=None, tz="UTC", **kw) -> FreshnessCheck:
    thresholds = kw.pop("thresholds", FreshnessThresholds(dt.timedelta(hours=1), dt.timedelta(hours=6)))
    return FreshnessCheck(
        key=f"{conn_id}:{schema + '.' if schema else ''}{table}{kw.get('suffix', '')}",
        conn_id=conn_id,
        dialect=dialect,
        schema=schema,
        table=table,
        column=None if kw.get("expression") else column,
        expression=kw.get("expression"),
        filter=kw.get("filter"),
        timezone=tz,
        thresholds=thresholds,
        origin="test",
    )


def at(clock_value: dt.datetime):
    return lambda: clock_value


def by_table(results):
    return {r.check.key.split(":", 1)[1]: r for r in results}


def test_postgres_time_zones_and_types(pg_db, airflow_conn):
    pg_db.execute(
        "CREATE SCHEMA src",
        # Naive local times in Vancouver, the newest just after the spring-forward change
        # (2026-03-08 02:00 PST -> 03:00 PDT): 03:30 PDT is 10:30 UTC.
        "CREATE TABLE src.vancouver (id int, ts timestamp)",
        "INSERT INTO src.vancouver VALUES (1, '2026-03-08 01:30'), (2, '2026-03-08 03:30')",
        # The newest just before the change: 01:30 PST is 09:30 UTC.
        "CREATE TABLE src.vancouver_winter (id int, ts timestamp)",
        "INSERT INTO src.vancouver_winter VALUES (1, '2026-03-07 23:00'), (2, '2026-03-08 01:30')",
        "CREATE TABLE src.naive_utc (id int, ts timestamp)",
        "INSERT INTO src.naive_utc VALUES (1, '2026-03-08 10:00')",
        "CREATE TABLE src.aware (id int, ts timestamptz)",
        "INSERT INTO src.aware VALUES (1, '2026-03-08 12:00:00+02')",
        "CREATE TABLE src.empty (id int, ts timestamptz)",
        "CREATE TABLE src.no_column (id int, other timestamptz)",
        'CREATE TABLE src."Mixed Case" (id int, "Updated At" timestamptz)',
        "INSERT INTO src.\"Mixed Case\" VALUES (1, '2026-03-08 11:00+00')",
        "CREATE TABLE src.ledger (report text, received_at timestamptz)",
        "INSERT INTO src.ledger VALUES ('daily', '2026-03-08 08:00+00'), ('weekly', '2026-03-01 08:00+00')",
    )
    airflow_conn("src_pg", pg_db)
    now = dt.datetime(2026, 3, 8, 11, 0, tzinfo=UTC)
    checks = [
        make_check("src_pg", "vancouver", schema="src", tz="America/Vancouver"),
        make_check("src_pg", "vancouver_winter", schema="src", tz="America/Vancouver"),
        make_check("src_pg", "naive_utc", schema="src"),
        make_check("src_pg", "aware", schema="src", tz="America/Vancouver"),
        make_check("src_pg", "empty", schema="src"),
        make_check("src_pg", "no_column", schema="src"),
        make_check("src_pg", "Mixed Case", "Updated At", schema="src"),
        make_check(
            "src_pg", "ledger", schema="src", expression="max(received_at)", filter="report = 'weekly'"
        ),
    ]
    results = by_table(sweep_connection("src_pg", checks, FAST, clock=at(now)))

    assert results["src.vancouver"].last_update == dt.datetime(2026, 3, 8, 10, 30, tzinfo=UTC)
    assert results["src.vancouver_winter"].last_update == dt.datetime(2026, 3, 8, 9, 30, tzinfo=UTC)
    assert results["src.naive_utc"].last_update == dt.datetime(2026, 3, 8, 10, 0, tzinfo=UTC)
    # timestamptz is an instant: the configured zone of naive values does not apply.
    assert results["src.aware"].last_update == dt.datetime(2026, 3, 8, 10, 0, tzinfo=UTC)
    assert results["src.vancouver"].lag_seconds == 30 * 60
    assert {k: r.status for k, r in results.items()} == {
        "src.vancouver": PASS,
        "src.vancouver_winter": WARN,
        # Exactly warn_after old is still fresh: only an age above the limit warns (as in dbt).
        "src.naive_utc": PASS,
        "src.aware": PASS,
        "src.empty": NO_DATA,
        "src.no_column": RUNTIME_ERROR,
        "src.Mixed Case": PASS,
        "src.ledger": ERROR,
    }
    assert "ts" in results["src.no_column"].message
    assert "does not exist" in results["src.no_column"].message
    # The failed query did not break the connection for the tables after it.
    assert results["src.Mixed Case"].last_update == dt.datetime(2026, 3, 8, 11, 0, tzinfo=UTC)
    assert results["src.ledger"].last_update == dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert all(r.db_type == "postgres" and r.server_host == "127.0.0.1" for r in results.values())


def test_redshift_dialect_against_postgres(pg_db, airflow_conn):
    """The 'redshift' dialect builds plain double-quoted SQL; PostgreSQL stands in for Redshift."""
    pg_db.execute(
        "CREATE SCHEMA mart",
        "CREATE TABLE mart.daily (refreshed_at timestamp)",
        "INSERT INTO mart.daily VALUES ('2026-11-01 06:00')",
    )
    airflow_conn("dw", pg_db)
    now = dt.datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    check = make_check("dw", "daily", "refreshed_at", schema="mart", dialect="redshift")
    [result] = sweep_connection("dw", [check], FAST, clock=at(now))
    assert (result.status, result.last_update) == (PASS, dt.datetime(2026, 11, 1, 6, 0, tzinfo=UTC))


def test_mariadb_datetime_and_timestamp(mysql_db, airflow_conn):
    mysql_db.execute(
        "SET time_zone = '+00:00'",
        "CREATE TABLE bookings (id int, updated_at DATETIME)",
        # Autumn in Vancouver (2026-11-01 02:00 PDT -> 01:00 PST); 23:30 local the day before is PDT.
        "INSERT INTO bookings VALUES (1, '2026-10-31 20:00:00'), (2, '2026-10-31 23:30:00')",
        "CREATE TABLE payments (id int, paid_at TIMESTAMP NULL)",
        "INSERT INTO payments VALUES (1, '2026-11-01 05:00:00')",
        "CREATE TABLE empty_t (id int, updated_at DATETIME)",
        "CREATE TABLE `weird``name` (id int, updated_at DATETIME(6))",
        "INSERT INTO `weird``name` VALUES (1, '2026-11-01 06:59:59.5')",
    )
    airflow_conn("obe", mysql_db)
    now = dt.datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    checks = [
        make_check("obe", "bookings", "updated_at", tz="America/Vancouver"),
        # TIMESTAMP values are UTC instants whatever zone is configured for DATETIME columns.
        make_check("obe", "payments", "paid_at", tz="America/Vancouver"),
        make_check("obe", "empty_t", "updated_at"),
        make_check("obe", "bookings", "no_such_column", suffix="#missing"),
        make_check("obe", "weird`name", "updated_at", schema=mysql_db.name),
    ]
    results = sweep_connection("obe", checks, FAST, clock=at(now))
    bookings, payments, empty, missing, weird = results
    assert bookings.last_update == dt.datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert bookings.status == PASS
    assert bookings.db_type == "mariadb"
    assert payments.last_update == dt.datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
    assert payments.status == WARN
    assert empty.status == NO_DATA
    assert missing.status == RUNTIME_ERROR
    assert "no_such_column" in missing.message
    assert weird.last_update == dt.datetime(2026, 11, 1, 6, 59, 59, 500000, tzinfo=UTC)


def test_mariadb_session_gets_statement_timeout(mysql_db, airflow_conn):
    airflow_conn("obe", mysql_db)
    conn, _, _ = open_dbapi("obe", attempts=1)
    try:
        session = prepare_session(conn, "mysql", dt.timedelta(seconds=7))
        cur = conn.cursor()
        cur.execute("SELECT @@SESSION.max_statement_time, @@SESSION.time_zone, @@autocommit")
        timeout, zone, autocommit = cur.fetchone()
    finally:
        conn.close()
    assert session.flavour == "mariadb"
    assert (float(timeout), zone, autocommit) == (7.0, "+00:00", 1)


def test_slow_queries_hit_the_statement_timeout(pg_db, mysql_db, airflow_conn):
    pg_db.execute("CREATE TABLE t (ts timestamptz)", "INSERT INTO t VALUES (now())")
    mysql_db.execute("CREATE TABLE t (ts DATETIME)", "INSERT INTO t VALUES (NOW())")
    airflow_conn("pg", pg_db)
    airflow_conn("my", mysql_db)
    settings = SweepSettings(connect_attempts=1, statement_timeout=dt.timedelta(seconds=1))
    checks = [
        make_check("pg", "t", filter="pg_sleep(3) IS NOT NULL", suffix="#slow"),
        make_check("pg", "t"),
        make_check("my", "t", filter="SLEEP(3) = 0", suffix="#slow"),
        make_check("my", "t"),
    ]
    started = time.monotonic()
    slow_pg, fast_pg, slow_my, fast_my = sweep_all(checks, settings)
    assert time.monotonic() - started < 2.8
    assert slow_pg.status == RUNTIME_ERROR
    assert "statement timeout" in slow_pg.message
    assert slow_my.status == RUNTIME_ERROR
    assert "max_statement_time" in slow_my.message
    assert fast_pg.status == PASS
    assert fast_my.status == PASS


def test_refused_server_gives_rows_and_spares_the_others(pg_db, mysql_db, airflow_conn):
    pg_db.execute("CREATE TABLE t (ts timestamptz)", "INSERT INTO t VALUES (now())")
    mysql_db.execute("CREATE TABLE t (ts DATETIME)", "INSERT INTO t VALUES (UTC_TIMESTAMP())")
    airflow_conn("pg", pg_db)
    airflow_conn("my", mysql_db)
    dead = json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": free_port(), "login": "x"})
    airflow_conn("dead_pg", dead)
    checks = [
        make_check("dead_pg", "a", schema="s"),
        make_check("pg", "t"),
        make_check("dead_pg", "b", schema="s"),
        make_check("my", "t"),
        make_check("undefined_conn", "c"),
    ]
    results = sweep_all(checks, FAST)
    dead_a, pg, dead_b, my, undefined = results
    for r in (dead_a, dead_b):
        assert r.status == RUNTIME_ERROR
        assert "cannot connect" in r.message
        assert "dead_pg" in r.message
        assert r.server_host == "127.0.0.1"
    assert undefined.status == RUNTIME_ERROR
    assert "AIRFLOW_CONN_UNDEFINED_CONN" in undefined.message
    assert pg.status == PASS
    assert my.status == PASS


def test_one_connection_per_server(pg_db, mysql_db, airflow_conn):
    for i in range(20):
        pg_db.execute(f"CREATE TABLE t{i} (ts timestamptz)")
        mysql_db.execute(f"CREATE TABLE t{i} (ts DATETIME)")
    airflow_conn("pg", pg_db)
    airflow_conn("my", mysql_db)
    opened = []

    def counting_open(conn_id, **kwargs):
        opened.append(conn_id)
        return open_dbapi(conn_id, **kwargs)

    checks = [make_check(c, f"t{i}") for i in range(20) for c in ("pg", "my")]
    results = sweep_all(checks, FAST, opener=counting_open)
    assert sorted(opened) == ["my", "pg"]
    assert [r.status for r in results] == [NO_DATA] * 40


def test_connection_budget_marks_the_rest(pg_db, airflow_conn):
    pg_db.execute("CREATE TABLE t (ts timestamptz)")
    airflow_conn("pg", pg_db)
    settings = SweepSettings(connect_attempts=1, connection_budget=dt.timedelta(seconds=0))
    results = sweep_connection("pg", [make_check("pg", "t"), make_check("pg", "t", suffix="#2")], settings)
    assert [r.status for r in results] == [RUNTIME_ERROR, RUNTIME_ERROR]
    assert "budget" in results[0].message


def test_an_unresponsive_server_is_given_up_without_holding_the_others(pg_db, airflow_conn, monkeypatch):
    """A connect that never returns (a black-holed address) costs its own tables only."""
    import threading

    from bi_pipelines.freshness import sweep

    pg_db.execute("CREATE TABLE t (ts timestamptz)", "INSERT INTO t VALUES (now())")
    airflow_conn("pg", pg_db)
    monkeypatch.setattr(sweep, "ABANDON_GRACE_SECONDS", 0)
    release = threading.Event()

    def opener(conn_id, **kwargs):
        if conn_id == "hung":
            release.wait(30)
        return open_dbapi(conn_id, **kwargs)

    settings = SweepSettings(connect_attempts=1, connection_budget=dt.timedelta(seconds=2))
    checks = [make_check("hung", "a"), make_check("pg", "t"), make_check("hung", "b")]
    started = time.monotonic()
    hung_a, pg, hung_b = sweep_all(checks, settings, opener=opener)
    release.set()
    assert 2 <= time.monotonic() - started < 4
    assert pg.status == PASS
    assert hung_a.status == hung_b.status == RUNTIME_ERROR
    assert hung_a.message == "no answer from hung within 2 s; given up"

    # With a single worker stuck on that server, the servers queued behind it are reported too.
    release.clear()
    one_worker = SweepSettings(
        connect_attempts=1, connection_budget=dt.timedelta(seconds=1), max_parallel_connections=1
    )
    hung_a, pg, hung_b = sweep_all(checks, one_worker, opener=opener)
    release.set()
    assert pg.status == RUNTIME_ERROR
    assert "every worker was stuck" in pg.message


def test_identifiers_are_quoted_by_the_driver(pg_db, airflow_conn):
    """A name that would break out of naive quoting is measured as the table it names, no more."""
    pg_db.execute(
        'CREATE TABLE "t""; DROP TABLE keep; --" (ts timestamptz)',
        "CREATE TABLE keep (id int)",
        'INSERT INTO "t""; DROP TABLE keep; --" VALUES (\'2026-01-01 00:00+00\')',
    )
    airflow_conn("pg", pg_db)
    [result] = sweep_connection("pg", [make_check("pg", 't"; DROP TABLE keep; --')], FAST)
    assert result.last_update == dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert pg_db.query("SELECT count(*) FROM keep") == [(0,)]
