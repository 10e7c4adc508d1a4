"""``extract_bi_imap`` end to end with ``dag.test()``: the shipped configuration, a real Dovecot
and the local PostgreSQL playing the warehouse. Run again, re-processed, then fed a broken file."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import pytest

from devtools.mail import XLSX_TYPE, Attachment, call_centre_xlsx, franchise_sales_csv, report_email
from tests.support.dags import load_dag as load_dag_file
from tests.support.dags import run_dag
from tests.support.dovecot import dovecot  # noqa: F401 - the session-wide server fixture

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[4]
UTC = dt.UTC
# dag.test(logical_date=12:20) runs the interval ending then: [11:20, 12:20), plus 2 days of overlap.
RUN_1 = dt.datetime(2026, 11, 20, 12, 20, tzinfo=UTC)
SALES_AT = dt.datetime(2026, 11, 20, 11, 5, tzinfo=UTC)  # 06:05 in Toronto
CALLS_AT = dt.datetime(2026, 11, 19, 2, 0, tzinfo=UTC)


def load_dag():
    return load_dag_file("extract_bi_imap")


@pytest.fixture
def setup(airflow_db, dovecot, pg_db, airflow_conn):  # noqa: F811 - the imported fixture
    login, _password = dovecot.new_user()
    airflow_conn("bi_imap", dovecot.imap_conn_json(login, tls=True, verify=False))
    airflow_conn("redshift_dw", pg_db)  # PostgreSQL standing in for Redshift
    sales = franchise_sales_csv(
        "2026-11-19",
        [
            ["101", "Québec—Centre", "12 345,67", "11 000,50", "412", "2026-11-19 21:30", "oui"],
            ["102", "Lévis", "8 100,00", "7 900,00", "301", "2026-11-19 21:05", "non"],
        ],
        bom=True,
    )
    dovecot.append(
        login,
        "INBOX",
        report_email(
            sender="reports@pos-vendor.example",
            subject="Daily franchise sales 2026-11-19",
            attachments=[Attachment("Ventes_Québec_2026-11-19.csv", sales)],
            sent=SALES_AT,
        ),
        received=SALES_AT,
        flags=(b"\\Seen",),  # somebody already read this one
    )
    workbook = call_centre_xlsx(
        [
            [dt.datetime(2026, 11, 9), 101, 540, 512, 183.4, 0.93, dt.datetime(2026, 11, 15, 17, 59)],
            [dt.datetime(2026, 11, 9), 102, 210, 199, 201.0, 0.88, dt.datetime(2026, 11, 15, 16, 2)],
        ]
    )
    dovecot.append(
        login,
        "Reports/Call Centre",
        report_email(
            sender="noreply@callcentre.example",
            subject="Weekly Call-Center Report, week 46",
            attachments=[Attachment("call_centre_week_46.xlsx", workbook, content_type=XLSX_TYPE)],
            sent=CALLS_AT,
        ),
        received=CALLS_AT,
    )
    return {"dovecot": dovecot, "login": login, "warehouse": pg_db}


def run(dag, expected_state: str = "success", **kwargs) -> dict[str, str]:
    return run_dag(dag, expected_state, **kwargs)[1]


def snapshot(db) -> dict[str, list[tuple]]:
    return {
        table: db.query(f"SELECT * FROM raw_reports.{table} ORDER BY franchise_id")
        for table in ("franchise_daily_sales", "call_centre_weekly")
    }


def test_extract_bi_imap_end_to_end(setup):
    wh, server, login = setup["warehouse"], setup["dovecot"], setup["login"]
    states = run(load_dag(), logical_date=RUN_1)
    assert states == {
        "prepare_ledger": "success",
        "extract_franchise_daily_sales": "success",
        "extract_call_centre_weekly": "success",
        "summarize": "success",
    }
    assert wh.query(
        "SELECT business_date, franchise_id, franchise_name, gross_sales, closed_at, is_corporate, _file_name "
        "FROM raw_reports.franchise_daily_sales ORDER BY franchise_id"
    ) == [
        (
            dt.date(2026, 11, 19),
            101,
            "Québec—Centre",
            decimal.Decimal("12345.67"),
            dt.datetime(2026, 11, 20, 2, 30, tzinfo=UTC),
            True,
            "Ventes_Québec_2026-11-19.csv",
        ),
        (
            dt.date(2026, 11, 19),
            102,
            "Lévis",
            decimal.Decimal("8100.00"),
            dt.datetime(2026, 11, 20, 2, 5, tzinfo=UTC),
            False,
            "Ventes_Québec_2026-11-19.csv",
        ),
    ]
    assert wh.query("SELECT count(*), sum(calls_answered) FROM raw_reports.call_centre_weekly") == [(2, 711)]
    ledger_sql = (
        "SELECT report, file_name, status, row_count FROM raw_reports.imap_report_ledger ORDER BY report"
    )
    assert wh.query(ledger_sql) == [
        ("call_centre_weekly", "call_centre_week_46.xlsx", "loaded", 2),
        ("franchise_daily_sales", "Ventes_Québec_2026-11-19.csv", "loaded", 2),
    ]
    first = snapshot(wh)

    # The next hour's run sees the same messages through the overlap: nothing changes.
    run(load_dag(), logical_date=RUN_1 + dt.timedelta(hours=1))
    assert snapshot(wh) == first
    assert wh.query(ledger_sql) == [
        ("call_centre_weekly", "call_centre_week_46.xlsx", "loaded", 2),
        ("franchise_daily_sales", "Ventes_Québec_2026-11-19.csv", "loaded", 2),
    ]

    # A manual run (no logical date) over an explicit window with reprocess: replaced, not doubled.
    conf = {
        "window_start": "2026-11-19T00:00:00+00:00",
        "window_end": "2026-11-21T00:00:00+00:00",
        "reprocess": True,
    }
    run(load_dag(), logical_date=None, run_conf=conf)
    assert snapshot(wh) == first  # identical: no row value comes from the clock
    assert wh.query(
        "SELECT count(*), count(DISTINCT (_attachment_sha256, _row_number)) FROM raw_reports.franchise_daily_sales"
    ) == [(2, 2)]

    # A broken file from the POS vendor: rejected and recorded; the report's task fails (its config
    # says fail_on_rejected) while the other report's task is unaffected; the run is failed.
    ragged = franchise_sales_csv("2026-11-20", [["101", "Québec"]])
    server.append(
        login,
        "INBOX",
        report_email(
            sender="reports@pos-vendor.example",
            subject="Daily franchise sales 2026-11-20",
            attachments=[Attachment("Ventes_Québec_2026-11-20.csv", ragged)],
        ),
        received=RUN_1 + dt.timedelta(hours=2, minutes=5),
    )
    states = run(load_dag(), "failed", logical_date=RUN_1 + dt.timedelta(hours=3))
    assert states["extract_franchise_daily_sales"] == "failed"
    assert states["extract_call_centre_weekly"] == "success"
    assert states["summarize"] == "failed"
    assert wh.query(
        "SELECT status, reason FROM raw_reports.imap_report_ledger WHERE file_name = 'Ventes_Québec_2026-11-20.csv'"
    ) == [("rejected", "1 problem(s): line 2 has 3 fields, the header has 8")]
    assert wh.query("SELECT count(*) FROM raw_reports.franchise_daily_sales") == [(2,)]

    # Through all of it, nobody's read/unread state changed: read stays read, unread stays unread.
    assert server.flags(login, "INBOX") == {1: (b"\\Seen",), 2: ()}
    assert server.flags(login, "Reports/Call Centre") == {1: ()}


def test_a_run_limited_to_some_reports_leaves_the_others_alone(setup):
    wh = setup["warehouse"]
    conf = {
        "window_start": "2026-11-19T00:00:00+00:00",
        "window_end": "2026-11-21T00:00:00+00:00",
        "reports": ["call_centre_weekly"],
    }
    states = run(load_dag(), logical_date=None, run_conf=conf)
    assert set(states.values()) == {"success"}, states
    assert wh.query("SELECT report, status FROM raw_reports.imap_report_ledger") == [
        ("call_centre_weekly", "loaded")
    ]
    assert wh.query("SELECT count(*) FROM raw_reports.call_centre_weekly") == [(2,)]
