"""A monitor run end to end without the scheduler: sweep, history table, view, reruns, retention, alerts."""

from __future__ import annotations

import datetime as dt
import email
import json
import socketserver
import textwrap
import threading

import pytest

from bi_pipelines.freshness import alerts
from bi_pipelines.freshness.monitor import run_checks
from bi_pipelines.freshness.spec import load_config
from bi_pipelines.freshness.writer import latest_rows
from bi_pipelines.load.warehouse import Warehouse
from devtools.processes import free_port

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


def write_config(tmp_path, tables: str, extra: str = "") -> object:
    path = tmp_path / "freshness.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            dag:
              schedule: "*/15 * * * *"
              start_date: "2026-11-01T00:00:00"
            monitoring:
              conn_id: mon
              retention: 30d
            sweep:
              connect_attempts: 1
              connect_backoff_seconds: 0
            flows:
              include: false
            defaults:
              warn_after: 1h
              error_after: 3h
              check_interval: 15m
            tables:
            """
        )
        + textwrap.indent(textwrap.dedent(tables), "  ")
        + textwrap.dedent(extra),
        encoding="utf-8",
    )
    return load_config(path)


@pytest.fixture
def servers(pg_db, pg_db2, airflow_conn):
    """A source PostgreSQL database with three tables, and a monitoring database."""
    pg_db.execute(
        "CREATE TABLE fresh (ts timestamptz)",
        "CREATE TABLE stale (ts timestamptz)",
        "CREATE TABLE empty (ts timestamptz)",
        "INSERT INTO fresh VALUES (%s)",
        params=(T0 - dt.timedelta(minutes=10),),
    )
    pg_db.execute("INSERT INTO stale VALUES (%s)", params=(T0 - dt.timedelta(hours=2),))
    airflow_conn("src", pg_db)
    airflow_conn("mon", pg_db2)
    return pg_db, pg_db2


TABLES = """\
fresh: {conn_id: src, schema: public, column: ts}
stale: {conn_id: src, schema: public, column: ts}
empty: {conn_id: src, schema: public, column: ts}
"""


def history(mon) -> list[tuple]:
    return mon.query(
        "SELECT run_id, table_key, status, previous_status, status_changed, lag_seconds "
        "FROM monitoring.source_table_freshness ORDER BY checked_at, table_key"
    )


def run(config, run_id, checked_at, **kw):
    return run_checks(config, run_id=run_id, checked_at=checked_at, clock=lambda: checked_at, **kw)


def test_rows_view_rerun_and_status_changes(servers, tmp_path):
    src, mon = servers
    config = write_config(tmp_path, TABLES)

    summary, _ = run(config, "scheduled__1", T0)
    assert summary.counts == {"pass": 1, "warn": 1, "error": 0, "runtime_error": 0, "no_data": 1}
    assert summary.rows_written == 3
    rows = mon.query(
        "SELECT table_key, source_conn_id, server_host, db_type, qualified_table, column_or_expression, "
        "last_update, checked_at, lag_seconds, status, warn_after_seconds, error_after_seconds "
        "FROM monitoring.source_table_freshness ORDER BY table_key"
    )
    assert rows[1] == (
        "src:public.fresh", "src", "127.0.0.1", "postgres", "public.fresh", "ts",
        T0 - dt.timedelta(minutes=10), T0, 600.0, "pass", 3600, 10800,
    )  # fmt: skip
    # First sight of a table: a change only when it is not healthy.
    assert sorted(c["table_key"] for c in summary.changes) == ["src:public.empty", "src:public.stale"]

    # A rerun of the same DAG run replaces its rows.
    src.execute("INSERT INTO empty VALUES (%s)", params=(T0 - dt.timedelta(minutes=5),))
    summary, _ = run(config, "scheduled__1", T0)
    assert len(history(mon)) == 3
    assert (
        dict(mon.query("SELECT table_key, status FROM monitoring.source_table_freshness"))["src:public.empty"]
        == "pass"
    )

    # The next run: the stale table has caught up, the fresh one has gone stale.
    src.execute("INSERT INTO stale VALUES (%s)", params=(T0,))
    summary, _ = run(config, "scheduled__2", T0 + dt.timedelta(hours=2))
    changes = {c["table_key"]: (c["previous_status"], c["status"]) for c in summary.changes}
    assert changes == {"src:public.fresh": ("pass", "warn"), "src:public.empty": ("pass", "warn")}
    assert len(history(mon)) == 6
    with Warehouse.connect("mon") as wh:
        latest = {r["table_key"]: r for r in latest_rows(wh, config.monitoring)}
    assert {k: (r["status"], r["previous_status"], r["status_changed"]) for k, r in latest.items()} == {
        "src:public.fresh": ("warn", "pass", True),
        "src:public.stale": ("warn", "warn", False),
        "src:public.empty": ("warn", "pass", True),
    }
    assert all(r["checked_at"] == T0 + dt.timedelta(hours=2) for r in latest.values())


def test_tables_are_checked_only_when_due(servers, tmp_path):
    _, mon = servers
    config = write_config(
        tmp_path,
        """\
        fresh: {conn_id: src, schema: public, column: ts, check_interval: 1h}
        stale: {conn_id: src, schema: public, column: ts}
        """,
    )
    checked = []
    for i, minutes in enumerate((0, 15, 30, 45, 60)):
        summary, results = run(config, f"r{i}", T0 + dt.timedelta(minutes=minutes))
        checked.append(sorted(r.check.table for r in results))
    assert checked == [["fresh", "stale"], ["stale"], ["stale"], ["stale"], ["fresh", "stale"]]
    assert summary.tables_not_due == 0
    # force and an explicit list override the interval.
    _, results = run(config, "manual", T0 + dt.timedelta(minutes=61), force=True)
    assert len(results) == 2
    _, results = run(config, "manual2", T0 + dt.timedelta(minutes=62), only=["src:public.fresh"])
    assert [r.check.key for r in results] == ["src:public.fresh"]
    assert len(history(mon)) == 2 + 1 + 1 + 1 + 2 + 2 + 1


def test_retention_deletes_old_rows(servers, tmp_path):
    _, mon = servers
    config = write_config(tmp_path, TABLES)
    run(config, "old", T0 - dt.timedelta(days=31))
    run(config, "recent", T0 - dt.timedelta(days=29))
    summary, _ = run(config, "now", T0)
    assert summary.rows_deleted == 3
    assert [
        r[0] for r in mon.query("SELECT DISTINCT run_id FROM monitoring.source_table_freshness ORDER BY 1")
    ] == [
        "now",
        "recent",
    ]


def test_unreachable_server_still_writes_rows(servers, tmp_path, airflow_conn):
    _, mon = servers
    airflow_conn("dead", json.dumps({"conn_type": "mysql", "host": "127.0.0.1", "port": free_port()}))
    config = write_config(
        tmp_path,
        TABLES
        + "bookings: {conn_id: dead, column: updated_at}\ncustomers: {conn_id: dead, column: updated_at}\n",
    )
    summary, _ = run(config, "r1", T0)
    rows = mon.query(
        "SELECT table_key, status, server_host, db_type, error_message FROM monitoring.source_table_freshness "
        "WHERE source_conn_id = 'dead' ORDER BY table_key"
    )
    assert [r[:4] for r in rows] == [
        ("dead:bookings", "runtime_error", "127.0.0.1", "mysql"),
        ("dead:customers", "runtime_error", "127.0.0.1", "mysql"),
    ]
    assert all("cannot connect" in r[4] for r in rows)
    assert summary.counts["pass"] == 1  # the other server was checked as usual


def test_status_change_goes_through_the_alert_path(servers, tmp_path, airflow_conn, monkeypatch):
    src, _ = servers
    config = write_config(tmp_path, TABLES)
    summary, _ = run(config, "r1", T0)
    sent = []
    monkeypatch.setattr(
        "airflow.providers.smtp.notifications.smtp.SmtpNotifier.notify",
        lambda self, context: sent.append((self.to, self.subject, self.html_content)),
    )
    airflow_conn(
        "smtp_default",
        json.dumps({"conn_type": "smtp", "host": "localhost", "extra": {"from_email": "bi@x.io"}}),
    )
    # Four hours later the stale table passes error_after: a change, and a red run.
    summary, _ = run(config, "r2", T0 + dt.timedelta(hours=2))
    data = summary.to_dict()
    assert [(c["table_key"], c["previous_status"], c["status"]) for c in data["changes"]] == [
        ("src:public.fresh", "pass", "warn"),
        ("src:public.stale", "warn", "error"),
    ]
    assert [f["table_key"] for f in data["failing"]] == ["src:public.stale"]
    with pytest.raises(alerts.FreshnessFailure, match=r"src:public.stale"):
        alerts.alert(data, {}, email_to=(), smtp_conn_id="smtp_default")
    [(to, subject, body)] = sent
    assert to == ["bi@x.io"]
    assert "turned" in subject
    assert "src:public.stale: warn -&gt; error" in body

    # Acknowledged: the row still says error, but the run is green and nobody is e-mailed.
    config = write_config(
        tmp_path,
        TABLES,
        """\
        acknowledgements:
          - {table: "src:public.stale", until: 2099-01-01, reason: "source frozen for migration"}
        """,
    )
    src.execute("DELETE FROM stale")
    src.execute("INSERT INTO stale VALUES (%s)", params=(T0 - dt.timedelta(hours=10),))
    summary, _ = run(config, "r3", T0 + dt.timedelta(hours=2, minutes=15))
    data = summary.to_dict()
    assert data["failing"] == []
    assert [a["table_key"] for a in data["acknowledged"]] == ["src:public.stale"]
    sent.clear()
    alerts.alert(data, {}, email_to=(), smtp_conn_id="smtp_default")
    assert sent == []


def test_monitoring_table_on_redshift_dialect(pg_db, pg_db2, airflow_conn, tmp_path):
    """With the Redshift dialect the writer uses no index and multi-row INSERT staging."""
    pg_db.execute("CREATE TABLE fresh (ts timestamptz)", "INSERT INTO fresh VALUES (now())")
    airflow_conn("src", pg_db)
    airflow_conn("mon", pg_db2, warehouse_dialect="redshift")
    config = write_config(tmp_path, "fresh: {conn_id: src, schema: public, column: ts, dialect: redshift}\n")
    now = dt.datetime.now(dt.UTC)
    run(config, "r1", now)
    run(config, "r1", now)
    assert pg_db2.query("SELECT count(*), min(status) FROM monitoring.source_table_freshness_latest") == [
        (1, "pass")
    ]
    assert pg_db2.query("SELECT count(*) FROM pg_indexes WHERE schemaname = 'monitoring'") == [(1,)]  # the PK


class _SmtpSink(socketserver.StreamRequestHandler):
    """The smallest SMTP server that accepts a message: enough for SmtpNotifier to deliver."""

    messages: list[str] = []

    def handle(self):
        self.wfile.write(b"220 sink ready\r\n")
        while line := self.rfile.readline():
            verb = line.strip().upper()
            if verb.startswith((b"EHLO", b"HELO")):
                self.wfile.write(b"250 sink\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                body = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    body.append(data.decode("utf-8", "replace"))
                self.messages.append("".join(body))
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_alert_email_reaches_an_smtp_server(airflow_conn):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpSink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        airflow_conn(
            "smtp_local",
            json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": server.server_address[1],
                    "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@bi.example"},
                }
            ),
        )
        summary = {
            "checked_at": "2026-11-02T12:00:00+00:00",
            "changes": [
                {"table_key": "obe_mysql:bookings", "status": "error", "previous_status": "warn",
                 "message": "{{ not a template }}", "lag_seconds": 14400.0}
            ],
            "failing": [],
        }  # fmt: skip
        subject, body = alerts.change_email(summary, "monitor_source_freshness")
        assert alerts.send_email({}, subject, body, email_to=["bi@bi.example"], smtp_conn_id="smtp_local")
    finally:
        server.shutdown()
        server.server_close()
    [raw] = _SmtpSink.messages
    message = email.message_from_string(raw)
    assert message["Subject"] == "[monitor_source_freshness] 1 table(s) turned error"
    assert message["To"] == "bi@bi.example"
    html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(decode=True)
    assert b"obe_mysql:bookings: warn -&gt; error (lag 4.0 h) - {{ not a template }}" in html
