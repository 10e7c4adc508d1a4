"""Learned thresholds on the real results table: the one learning query, and a learned run's rows."""

from __future__ import annotations

import datetime as dt

import pytest

from bi_pipelines.freshness.learning import history_from_updates, learn
from bi_pipelines.freshness.monitor import run_checks
from bi_pipelines.freshness.spec import load_config
from bi_pipelines.freshness.writer import ensure_objects, latest_rows
from bi_pipelines.load.warehouse import Warehouse

from .test_monitor import write_config

pytestmark = pytest.mark.integration

MONDAY = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)
NOW = MONDAY + dt.timedelta(weeks=8, days=1, hours=12)  # a Tuesday, 12h UTC


def business_updates(zone_offset_hours: int = 0) -> list[dt.datetime]:
    out = []
    for day in range(8 * 7 + 1):
        date = MONDAY + dt.timedelta(days=day)
        if date.weekday() < 5:
            out += [date + dt.timedelta(hours=h + zone_offset_hours, minutes=3) for h in range(8, 19)]
    return [u for u in out if u < NOW]


def seed_history(mon, key: str, updates: list[dt.datetime], timezone: str = "UTC") -> None:
    """One row per 15-minute check, each seeing the newest update before it."""
    rows, i = [], 0
    at = updates[0].replace(minute=15)
    while at < NOW:
        while i + 1 < len(updates) and updates[i + 1] <= at:
            i += 1
        rows.append(("seed", key, at, at, updates[i], "pass", timezone))
        at += dt.timedelta(minutes=15)
    conn = mon.connect()
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO monitoring.source_table_freshness (run_id, table_key, checked_at, queried_at, "
            "last_update, status, source_timezone) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    conn.commit()
    conn.close()


@pytest.fixture
def learned(pg_db, pg_db2, airflow_conn, tmp_path):
    pg_db.execute(
        "CREATE TABLE biz (ts timestamptz)",
        "CREATE TABLE young (ts timestamptz)",
        "INSERT INTO biz VALUES (%s)",
        params=(NOW - dt.timedelta(hours=3, minutes=57),),  # the 08h update; 09h to 12h missing
    )
    pg_db.execute("INSERT INTO young VALUES (%s)", params=(NOW - dt.timedelta(minutes=30),))
    airflow_conn("src", pg_db)
    airflow_conn("mon", pg_db2)
    config = write_config(
        tmp_path,
        """\
        biz: {conn_id: src, schema: public, column: ts, warn_after: auto, error_after: auto}
        van: {conn_id: src, schema: public, table: biz, column: ts, filter: "true", timezone: America/Vancouver, mode: learned}
        young: {conn_id: src, schema: public, column: ts, mode: learned}
        fixed: {conn_id: src, schema: public, table: young, column: ts, filter: "ts IS NOT NULL"}
        """,
        extra="learning: {min_updates: 20}\n",
    )
    path = config.path  # the 90 days of history the rhythm is learnt from
    path.write_text(path.read_text().replace("retention: 30d", "retention: 90d"), encoding="utf-8")
    config = load_config(path)
    with Warehouse.connect("mon") as wh:
        ensure_objects(wh, config.monitoring)
    keys = {c.table if not c.filter else c.key: c.key for c in config.checks}
    seed_history(pg_db2, keys["biz"], business_updates())
    # The same rhythm in Vancouver wall time (UTC-7 in September): buckets are local hours.
    van = next(c.key for c in config.checks if c.timezone == "America/Vancouver")
    seed_history(pg_db2, van, business_updates(7), "America/Vancouver")
    return config, pg_db2, keys["biz"], van


def test_one_query_learns_what_the_python_reference_computes(learned):
    config, _, biz, van = learned
    with Warehouse.connect("mon") as wh:
        histories = learn(
            wh, config.monitoring, config.learning, [biz, van], before=NOW, since=NOW - dt.timedelta(days=90)
        )
    for key, zone, offset in ((biz, "UTC", 0), (van, "America/Vancouver", 7)):
        expected = history_from_updates(business_updates(offset), zone, 0.95)
        got = histories[key]
        assert (got.samples, got.span) == (expected.samples, expected.span)
        assert got.buckets.keys() == expected.buckets.keys()
        for bucket, stats in expected.buckets.items():
            assert got.buckets[bucket].samples == stats.samples
            assert got.buckets[bucket].quantile_seconds == pytest.approx(stats.quantile_seconds)
            assert got.buckets[bucket].median_seconds == pytest.approx(stats.median_seconds)
        assert got.overall.quantile_seconds == pytest.approx(expected.overall.quantile_seconds)
    # Vancouver's Friday 18h (local) holds the weekend gaps, whatever the UTC hour.
    assert histories[van].buckets[5 * 24 + 18].quantile_seconds == 62 * 3600


def test_a_run_learns_once_and_records_the_expectation(learned, monkeypatch):
    config, _, biz, van = learned
    statements = []
    original = Warehouse.query

    def counting(self, sql, params=None):
        statements.append(sql)
        return original(self, sql, params)

    monkeypatch.setattr(Warehouse, "query", counting)
    summary, _ = run_checks(config, run_id="r1", checked_at=NOW, clock=lambda: NOW)
    assert sum("percentile_cont" in s for s in statements) == 1  # one query for every learned table
    with Warehouse.connect("mon") as wh:
        rows = {r["table_key"]: r for r in latest_rows(wh, config.monitoring)}
    assert summary.tables_checked == 4
    assert summary.rows_deleted == 0
    row = rows[biz]
    # Tuesday 08h03 was the last update: gaps starting Tue 08h last an hour, so 4 h is an error.
    assert (row["status"], row["threshold_mode"]) == ("error", "learned")
    assert row["expected_next_update"] == NOW - dt.timedelta(hours=2, minutes=57)
    assert (float(row["learned_gap_seconds"]), row["learned_quantile"]) == (3600.0, 0.95)
    assert row["learned_samples"] == 8
    assert row["warn_after_seconds"] == 5400
    assert "the learned error_after 3h 0m (p95 of 8 gaps starting Tue 08h)" in row["error_message"]
    # Vancouver: 08h03 UTC is 01h03 local, an hour no gap ever started at; the thin bucket falls
    # back to all hours, whose p95 is a night: still pass.
    assert (rows[van]["status"], rows[van]["threshold_mode"]) == ("pass", "learned")
    young = next(k for k in rows if k.endswith("public.young"))
    fixed = next(k for k in rows if k.endswith("#fixed"))
    assert (rows[young]["threshold_mode"], rows[young]["learned_samples"]) == ("learning", 0)
    assert rows[young]["warn_after_seconds"] == 3600
    assert rows[young]["expected_next_update"] is None
    assert (rows[fixed]["threshold_mode"], rows[fixed]["learned_samples"]) == ("fixed", None)
