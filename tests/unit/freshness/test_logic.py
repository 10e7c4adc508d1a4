"""Pure logic of the freshness monitor: SQL text, time zones, statuses, due tables, summaries, alerts."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.settings import FreshnessThresholds
from bi_pipelines.freshness import alerts
from bi_pipelines.freshness.monitor import checked_at_of, is_due, select_due, summarize
from bi_pipelines.freshness.queries import UnusableValue, dialect_for, freshness_query, to_utc
from bi_pipelines.freshness.spec import (
    ERROR,
    NO_DATA,
    PASS,
    RUNTIME_ERROR,
    WARN,
    Acknowledgement,
    AlertSettings,
    FreshnessCheck,
    FreshnessConfig,
)
from bi_pipelines.freshness.sweep import FreshnessResult, evaluate
from bi_pipelines.freshness.writer import COLUMN_NAMES, PreviousCheck, result_row

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def check(
    key="dw:s.t", *, table="t", schema="s", column="ts", interval=15, active=True, **kw
) -> FreshnessCheck:
    return FreshnessCheck(
        key=key,
        conn_id=key.split(":")[0],
        dialect=kw.get("dialect"),
        schema=schema,
        table=table,
        column=None if kw.get("expression") else column,
        expression=kw.get("expression"),
        filter=kw.get("filter"),
        timezone=kw.get("tz", "UTC"),
        thresholds=FreshnessThresholds(
            kw.get("warn", dt.timedelta(hours=1)),
            kw.get("error", dt.timedelta(hours=3)),
            dt.timedelta(minutes=interval),
            active,
        ),
        origin="freshness.yaml: tables.t",
    )


# -- SQL -----------------------------------------------------------------------------------------
def test_mysql_and_redshift_queries_quote_identifiers():
    c = check(schema="obe`v8", table="book`ings", column="updated`at")
    assert freshness_query(c, "mysql") == "SELECT MAX(`updated``at`) FROM `obe``v8`.`book``ings`"
    c = check(schema='ma"rt', table="daily", column="refreshed_at")
    assert freshness_query(c, "redshift") == 'SELECT MAX("refreshed_at") FROM "ma""rt"."daily"'
    c = check(schema=None, expression="max(received_at)", filter="report = 'x'")
    assert freshness_query(c, "mysql") == "SELECT max(received_at) FROM `t` WHERE (report = 'x')"


def test_dialect_comes_from_config_or_connection_type():
    assert dialect_for("postgres", "redshift") == "redshift"
    assert [dialect_for(t, None) for t in ("mysql", "redshift", "postgres")] == [
        "mysql",
        "redshift",
        "postgres",
    ]


# -- time zones ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("naive", "expected_utc"),
    [
        (dt.datetime(2026, 3, 8, 1, 30), dt.datetime(2026, 3, 8, 9, 30)),  # PST, before spring forward
        (dt.datetime(2026, 3, 8, 3, 30), dt.datetime(2026, 3, 8, 10, 30)),  # PDT, after it
        (dt.datetime(2026, 3, 8, 2, 30), dt.datetime(2026, 3, 8, 10, 30)),  # never happened: read as PST
        (dt.datetime(2026, 11, 1, 0, 30), dt.datetime(2026, 11, 1, 7, 30)),  # PDT, before fall back
        (dt.datetime(2026, 11, 1, 1, 30), dt.datetime(2026, 11, 1, 9, 30)),  # twice: read as PST (later)
        (dt.datetime(2026, 11, 1, 2, 30), dt.datetime(2026, 11, 1, 10, 30)),  # PST
    ],
)
def test_naive_vancouver_times_across_dst(naive, expected_utc):
    for dialect in ("postgres", "mysql", "redshift"):
        assert to_utc(naive, "America/Vancouver", dialect=dialect, type_code=12) == expected_utc.replace(
            tzinfo=UTC
        )


def test_other_value_types():
    aware = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert to_utc(aware, "America/Vancouver", dialect="postgres") == dt.datetime(2026, 1, 1, 10, tzinfo=UTC)
    naive = dt.datetime(2026, 1, 1, 12)
    assert to_utc(naive, "UTC", dialect="postgres") == dt.datetime(2026, 1, 1, 12, tzinfo=UTC)
    # A MySQL TIMESTAMP (type 7) comes back in the session's UTC whatever zone DATETIMEs are in.
    assert to_utc(naive, "America/Vancouver", dialect="mysql", type_code=7) == dt.datetime(
        2026, 1, 1, 12, tzinfo=UTC
    )
    assert to_utc(naive, "America/Vancouver", dialect="mysql", type_code=12) == dt.datetime(
        2026, 1, 1, 20, tzinfo=UTC
    )
    assert to_utc(dt.date(2026, 1, 1), "UTC", dialect="postgres") == dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert to_utc(1767268800, "UTC", dialect="mysql") == dt.datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert to_utc(decimal.Decimal("1767268800.5"), "UTC", dialect="postgres").microsecond == 500000
    assert to_utc("2026-01-01T12:00:00Z", "UTC", dialect="postgres") == dt.datetime(
        2026, 1, 1, 12, tzinfo=UTC
    )
    assert to_utc(None, "UTC", dialect="postgres") is None
    for bad in ("yesterday", True, [1]):
        with pytest.raises(UnusableValue):
            to_utc(bad, "UTC", dialect="postgres")


# -- statuses ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("age", "status"),
    [
        (dt.timedelta(minutes=10), PASS),
        (dt.timedelta(hours=1), PASS),
        (dt.timedelta(hours=1, seconds=1), WARN),
        (dt.timedelta(hours=3, seconds=1), ERROR),
    ],
)
def test_thresholds(age, status):
    got, lag, message = evaluate(check(), NOW - age, NOW)
    assert (got, lag) == (status, age.total_seconds())
    assert (message is None) == (status == PASS)


def test_no_data_disabled_levels_and_the_future():
    assert evaluate(check(filter="report = 'x'"), None, NOW)[0] == NO_DATA
    assert "report = 'x'" in evaluate(check(filter="report = 'x'"), None, NOW)[2]
    assert evaluate(check(warn=None, error=None), NOW - dt.timedelta(days=300), NOW)[0] == PASS
    status, lag, message = evaluate(check(tz="UTC"), NOW + dt.timedelta(hours=7), NOW)
    assert status == PASS
    assert lag == -7 * 3600
    assert "in the future" in message
    assert "UTC" in message


# -- due tables ----------------------------------------------------------------------------------
def test_due_follows_the_check_interval():
    hourly = check(interval=60)
    last = PreviousCheck(PASS, NOW, NOW)
    assert is_due(hourly, None, NOW)
    assert not is_due(hourly, last, NOW + dt.timedelta(minutes=45))
    assert is_due(hourly, last, NOW + dt.timedelta(minutes=60))
    assert is_due(hourly, last, NOW + dt.timedelta(minutes=59, seconds=30))  # a manual run's drift


def test_select_due_force_only_and_inactive():
    a, b, off = check("dw:s.a", interval=60), check("dw:s.b"), check("dw:s.off", active=False)
    previous = {"dw:s.a": PreviousCheck(PASS, NOW, NOW), "dw:s.b": PreviousCheck(PASS, NOW, NOW)}
    later = NOW + dt.timedelta(minutes=15)
    assert [c.key for c in select_due([a, b, off], previous, later)[0]] == ["dw:s.b"]
    assert [c.key for c in select_due([a, b, off], previous, later, force=True)[0]] == ["dw:s.a", "dw:s.b"]
    assert [c.key for c in select_due([a, b, off], previous, later, only=["dw:s.a"])[0]] == ["dw:s.a"]
    with pytest.raises(ConfigError, match=r"dw:s.off"):
        select_due([a, b, off], previous, later, only=["dw:s.off"])


def test_checked_at_prefers_the_data_interval_then_run_after():
    class Run:
        run_after = dt.datetime(2026, 11, 2, 9, 7, tzinfo=UTC)

    assert checked_at_of({"data_interval_end": NOW, "dag_run": Run()}) == NOW
    # Triggered from the UI without a logical date: no data interval in the context.
    assert checked_at_of({"dag_run": Run()}) == Run.run_after


# -- summary and rows ----------------------------------------------------------------------------
def result(c: FreshnessCheck, status: str, lag: float | None = 60.0, message=None) -> FreshnessResult:
    return FreshnessResult(c, status, NOW, NOW, lag, message, "db.local", "postgres", 0.001)


def config_with(*checks, acks=(), fail_on=(ERROR,)) -> FreshnessConfig:
    from bi_pipelines.freshness.spec import load_dag_settings

    return FreshnessConfig(
        dag=load_dag_settings(),
        checks=tuple(checks),
        alerts=AlertSettings(fail_on=fail_on),
        acknowledgements=tuple(acks),
    )


def test_summary_changes_failing_and_acknowledged():
    a, b, c, d, e = (check(f"dw:s.{n}") for n in "abcde")
    ack = Acknowledgement("dw:s.d", NOW + dt.timedelta(days=1), "migration")
    config = config_with(a, b, c, d, e, acks=[ack])
    previous = {
        "dw:s.a": PreviousCheck(PASS, NOW, NOW),
        "dw:s.b": PreviousCheck(ERROR, NOW, NOW),
        "dw:s.d": PreviousCheck(PASS, NOW, NOW),
        "dw:s.e": PreviousCheck(ERROR, NOW, NOW, "stale since Monday"),
    }
    results = [result(a, ERROR), result(b, PASS), result(c, RUNTIME_ERROR, None, "boom"), result(d, ERROR)]
    summary = summarize(
        config, run_id="r", checked_at=NOW, results=results, not_due=[e], previous=previous, now=NOW
    ).to_dict()
    assert [(x["table_key"], x["previous_status"], x["status"]) for x in summary["changes"]] == [
        ("dw:s.a", PASS, ERROR),
        ("dw:s.b", ERROR, PASS),
        ("dw:s.c", None, RUNTIME_ERROR),
        ("dw:s.d", PASS, ERROR),
    ]
    # e was not due this run, but its latest row is still an error: the run stays red.
    assert [x["table_key"] for x in summary["failing"]] == ["dw:s.a", "dw:s.e"]
    assert [x["table_key"] for x in summary["acknowledged"]] == ["dw:s.d"]
    assert summary["counts"] == {PASS: 1, WARN: 0, ERROR: 2, RUNTIME_ERROR: 1, NO_DATA: 0}
    assert json.loads(json.dumps(summary)) == summary  # XCom-safe

    strict = config_with(a, b, c, d, e, acks=[ack], fail_on=(ERROR, RUNTIME_ERROR))
    summary = summarize(
        strict, run_id="r", checked_at=NOW, results=results, not_due=[e], previous=previous, now=NOW
    )
    assert [x["table_key"] for x in summary.failing] == ["dw:s.a", "dw:s.c", "dw:s.e"]


def test_result_row_matches_the_columns():
    c = check()
    ack = Acknowledgement(c.key, NOW, "known")
    row = result_row(
        result(c, WARN, 4000.12345),
        run_id="r1",
        checked_at=NOW,
        previous=PreviousCheck(PASS, NOW, NOW),
        acknowledgement=ack,
    )
    values = dict(zip(COLUMN_NAMES, row, strict=True))
    assert values["table_key"] == "dw:s.t"
    assert values["qualified_table"] == "s.t"
    assert (values["status"], values["previous_status"], values["status_changed"]) == (WARN, PASS, True)
    assert (
        values["warn_after_seconds"],
        values["error_after_seconds"],
        values["check_interval_seconds"],
    ) == (
        3600,
        10800,
        900,
    )
    assert values["acknowledgement"] == "known"
    assert values["lag_seconds"] == 4000.123


# -- alerts --------------------------------------------------------------------------------------
SUMMARY = {
    "run_id": "r",
    "checked_at": NOW.isoformat(),
    "tables_monitored": 3,
    "tables_checked": 2,
    "tables_not_due": 1,
    "servers": 1,
    "counts": {PASS: 1, WARN: 0, ERROR: 1, RUNTIME_ERROR: 0, NO_DATA: 0},
    "changes": [
        {
            "table_key": "obe_mysql:bookings",
            "status": ERROR,
            "previous_status": WARN,
            "message": "last update 4h ago, more than error_after 3h <b>",
            "lag_seconds": 14400.0,
            "acknowledged_until": None,
            "acknowledgement": None,
        }
    ],
    "failing": [
        {"table_key": "obe_mysql:bookings", "status": ERROR, "message": "old", "lag_seconds": 14400.0}
    ],
    "acknowledged": [],
    "rows_written": 2,
    "rows_deleted": 0,
    "sweep_seconds": 0.01,
    "fail_on": [ERROR],
}


def test_log_summary_names_changes_and_failures():
    text = alerts.format_summary(SUMMARY)
    assert "checked 2 of 3 table(s) on 1 server(s)" in text
    assert "obe_mysql:bookings: warn -> error (lag 4.0 h)" in text
    assert "Failing (fail the run) (1)" in text


def test_no_smtp_connection_means_no_email_but_a_red_run(monkeypatch):
    sent = []
    monkeypatch.setattr(
        "airflow.providers.smtp.notifications.smtp.SmtpNotifier.notify", lambda self, ctx: sent.append(self)
    )
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_TEST", raising=False)
    with pytest.raises(alerts.FreshnessFailure, match="1 table"):
        alerts.alert(SUMMARY, {}, email_to=["bi@example.com"], smtp_conn_id="smtp_test")
    assert sent == []


def test_smtp_connection_present_means_email(monkeypatch):
    sent = []
    monkeypatch.setattr(
        "airflow.providers.smtp.notifications.smtp.SmtpNotifier.notify", lambda self, ctx: sent.append(self)
    )
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_TEST", json.dumps({"conn_type": "smtp", "host": "localhost"}))
    assert alerts.send_email({}, "s", "b", email_to=["bi@example.com"], smtp_conn_id="smtp_test")
    subject, body = alerts.change_email(SUMMARY, "monitor_source_freshness")
    assert subject == "[monitor_source_freshness] 1 table(s) turned error"
    assert "&lt;b&gt;" in body  # messages are escaped
    with pytest.raises(alerts.FreshnessFailure):
        alerts.alert(SUMMARY, {}, email_to=["bi@example.com"], smtp_conn_id="smtp_test")
    assert [n.to for n in sent] == [["bi@example.com"], ["bi@example.com"]]


def test_failure_callback_skips_freshness_failures(monkeypatch):
    calls = []
    monkeypatch.setattr(alerts, "send_email", lambda *a, **k: calls.append((a, k)))
    alerts.notify_failure({"exception": alerts.FreshnessFailure("tables in error")})
    assert calls == []
    alerts.notify_failure({"exception": RuntimeError("warehouse down"), "run_id": "r"})
    [(args, _)] = calls
    assert "warehouse down" in args[2]


def test_lag_gauges_go_to_airflow_stats(monkeypatch):
    from airflow.sdk.observability.stats import Stats

    gauges = []
    monkeypatch.setattr(
        Stats, "gauge", lambda name, value, **kw: gauges.append((name, value, kw.get("tags")))
    )
    results = [
        result(check("obe_mysql:bookings", schema=None, table="bookings"), PASS, 120.0),
        result(check("dw:raw.ledger#imap daily"), NO_DATA, None),
    ]
    assert alerts.emit_metrics(results) == 1
    assert gauges[:5] == [
        ("source_freshness.checked.pass", 1, None),
        ("source_freshness.checked.warn", 0, None),
        ("source_freshness.checked.error", 0, None),
        ("source_freshness.checked.runtime_error", 0, None),
        ("source_freshness.checked.no_data", 1, None),
    ]
    assert gauges[5:] == [
        (
            "source_freshness.lag_seconds.obe_mysql.bookings",
            120.0,
            {"conn_id": "obe_mysql", "table": "bookings", "status": PASS},
        )
    ]


class FakeCursor:
    def __init__(self, log, version):
        self.log, self.version = log, version

    def execute(self, sql, params=None):
        self.log.append((sql, params))

    def fetchone(self):
        return (self.version,)

    def close(self):
        pass


class FakeMySQL:
    """Just enough of a mysqlclient connection to record the session setup."""

    def __init__(self, version):
        self.version, self.log, self.autocommit_set = version, [], None

    def autocommit(self, value):
        self.autocommit_set = value

    def cursor(self):
        return FakeCursor(self.log, self.version)


def test_session_timeout_statement_depends_on_mysql_or_mariadb():
    from bi_pipelines.freshness.queries import prepare_session

    mysql = FakeMySQL("8.0.36")
    assert prepare_session(mysql, "mysql", dt.timedelta(seconds=30)).flavour == "mysql"
    assert ("SET SESSION max_execution_time = %s", (30000,)) in mysql.log  # MySQL: milliseconds
    mariadb = FakeMySQL("10.11.19-MariaDB-0+deb12u1")
    assert prepare_session(mariadb, "mysql", dt.timedelta(seconds=30)).flavour == "mariadb"
    assert ("SET SESSION max_statement_time = %s", (30.0,)) in mariadb.log  # MariaDB: seconds
    assert mysql.autocommit_set is True
    assert ("SET time_zone = '+00:00'", None) in mysql.log


def test_the_task_log_is_a_readable_table_with_a_count_line():
    results = [
        FreshnessResult(check("dw:s.fresh"), PASS, NOW, NOW, 600.0, None, "h", "postgres"),
        FreshnessResult(
            check("dw:s.stale"), ERROR, NOW, NOW, 5 * 3600.0, "last update 5h 0m ago", "h", "postgres"
        ),
        FreshnessResult(
            check("dw:s.gone"), RUNTIME_ERROR, None, NOW, None, "query failed: no table", "h", "pg"
        ),
    ]
    text = alerts.format_table(results, not_due=4)
    lines = text.splitlines()
    assert lines[0].split() == ["table", "status", "lag", "thresholds", "reason"]
    assert lines[1].startswith("dw:s.stale")
    assert "error" in lines[1]
    assert "5.0 h" in lines[1]
    assert "warn 60 min / error" in lines[1]
    assert lines[1].endswith("last update 5h 0m ago")
    assert lines[2].startswith("dw:s.gone")
    assert "query failed" in lines[2]
    assert lines[3].startswith("dw:s.fresh")
    assert "10 min" in lines[3]
    assert lines[-1] == "3 table(s) checked: 1 pass, 0 warn, 1 error, 1 runtime_error, 0 no_data; 4 not due."
    status_at = {
        line.index(s) for line, s in zip(lines[:4], ("status", "error", "runtime_error", "pass"), strict=True)
    }
    assert len(status_at) == 1  # the columns are aligned
