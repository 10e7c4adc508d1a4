"""``extract_report`` against a real Dovecot (started by the tests) and the local PostgreSQL.

Messages are real MIME appended over IMAP; the warehouse is PostgreSQL through the shared load
path. Each test gets its own mailbox user and its own database.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json

import pytest

from bi_pipelines.core.errors import AuthenticationError, ExtractionError, PermanentError
from bi_pipelines.core.windows import Window
from bi_pipelines.sources.imap.mailbox import ImapSettings, connect_imap
from bi_pipelines.sources.imap.pipeline import extract_report
from bi_pipelines.sources.imap.spec import load_imap_reports
from devtools.mail import (
    XLSX_TYPE,
    Attachment,
    call_centre_xlsx,
    csv_bytes,
    franchise_sales_csv,
    report_email,
    write_reports_config,
)
from tests.support.dovecot import dovecot  # noqa: F401 - the session-wide server fixture

pytestmark = pytest.mark.integration
UTC = dt.UTC
D = decimal.Decimal
DAY = Window(dt.datetime(2026, 11, 20, tzinfo=UTC), dt.datetime(2026, 11, 21, tzinfo=UTC), "test")
AT = dt.datetime(2026, 11, 20, 11, 5, tzinfo=UTC)
POS = "reports@pos-vendor.example"
CALLS_FILE = "Centre d'appels \u2013 semaine 47.xlsx"  # an en dash: non-Latin-1 too
SALES_COLUMNS = """
  columns:
    - {name: business_date, header: Date, type: date, required: true}
    - {name: franchise_id, header: Franchise, type: int, required: true}
    - {name: franchise_name, header: Nom, type: text}
    - {name: gross_sales, header: Ventes brutes, type: numeric}
    - {name: net_sales, header: Ventes nettes, type: numeric}
    - {name: transactions, header: Transactions, type: int}
    - {name: closed_at, header: Fermeture, type: timestamptz, format: "%Y-%m-%d %H:%M"}
    - {name: is_corporate, header: Corporatif, type: boolean}
"""
REPORTS = (
    """
sales:
  folder: INBOX
  sender: reports@pos-vendor.example
  subject: 'daily franchise sales'
  attachment: '^Ventes_.+\\.csv$'
  csv: {delimiter: ";", decimal_separator: ",", thousands_separator: " "}
  max_size: 4KB
  fail_on_rejected: true
"""
    + SALES_COLUMNS
    + """
legacy:
  folder: Legacy
  sender: "@legacy.example"
  attachment: '\\.csv$'
  csv: {delimiter: ",", encoding: latin-1}
  columns: [{name: city, header: Ville}, {name: amount, header: Montant, type: numeric}]
calls:
  folder: Reports/Call Centre
  sender: "@callcentre.example"
  attachment: '\\.xlsx$'
  format: xlsx
  xlsx: {sheet: Summary, header_row: 3}
  timezone: America/Vancouver
  columns:
    - {name: week_start, header: Week Starting, type: date}
    - {name: franchise_id, header: Franchise ID, type: int}
    - {name: calls_offered, header: Calls Offered, type: int}
    - {name: calls_answered, header: Calls Answered, type: int}
    - {name: avg_handle_seconds, header: AHT (s), type: numeric}
    - {name: service_level, header: Service Level, type: numeric}
    - {name: last_call_at, header: Last Call, type: timestamptz}
"""
)


@pytest.fixture
def config(tmp_path):
    return load_imap_reports(write_reports_config(tmp_path, REPORTS, schema="raw_reports"))


@pytest.fixture
def mailbox(dovecot, airflow_conn):  # noqa: F811 - the imported fixture
    """A fresh mailbox as connection ``bi_imap`` (IMAPS, self-signed: verification off)."""
    login, _password = dovecot.new_user()
    airflow_conn("bi_imap", dovecot.imap_conn_json(login, tls=True, verify=False))

    class Mailbox:
        server = dovecot
        user = login

        def append(self, message: bytes, *, folder="INBOX", received=AT, flags=()) -> int:
            return dovecot.append(login, folder, message, received=received, flags=flags)

        def flags(self, folder="INBOX"):
            return dovecot.flags(login, folder)

    return Mailbox()


@pytest.fixture
def warehouse(pg_db, airflow_conn):
    airflow_conn("redshift_dw", pg_db)  # PostgreSQL standing in for Redshift
    return pg_db


def ledger(db, report: str) -> list[dict]:
    rows = db.query(
        "SELECT row_to_json(l) FROM raw_reports.imap_report_ledger l WHERE report = %s ORDER BY received_at, uid, part",
        (report,),
    )
    return [r[0] for r in rows]


def sales_email(file_name="Ventes_Québec_2026-11-20.csv", data=None, **kwargs) -> bytes:
    data = (
        data
        if data is not None
        else franchise_sales_csv(
            "2026-11-20", [["101", "Québec", "1 234,50", "1 000", "40", "2026-11-20 21:30", "oui"]]
        )
    )
    attachment = Attachment(file_name, data, **kwargs.pop("attachment", {}))
    kwargs.setdefault("sent", AT)
    return report_email(
        sender=POS, subject="Daily franchise sales 2026-11-20", attachments=[attachment], **kwargs
    )


def test_decodes_what_real_mail_contains(config, mailbox, warehouse):
    quebec = franchise_sales_csv(
        "2026-11-20",
        [["101", "Québec—Centre", "12 345,67", "11 000,50", "412", "2026-11-20 21:30", "oui"]],
        bom=True,
    )
    montreal = franchise_sales_csv("2026-11-20", [["102", "Montréal", "900", "850", "30", "", "non"]])
    trois = franchise_sales_csv("2026-11-20", [["103", "Trois-Rivières", "1", "1", "1", "", "non"]])
    ontario = franchise_sales_csv("2026-11-20", [["201", "Ottawa", "5", "5", "1", "", ""]])
    mailbox.append(sales_email("Ventes_Québec_2026-11-20.csv", quebec), flags=(b"\\Seen",))
    mailbox.append(
        sales_email(
            "Ventes_Montréal_2026-11-20.csv",
            montreal,
            attachment={"transfer": "quoted-printable", "name_style": "rfc2047"},
            layout="nested",
        ),
        received=AT + dt.timedelta(minutes=1),
    )
    forwarded = report_email(
        sender=POS,
        subject="Fwd: Daily franchise sales 2026-11-20",
        attachments=[
            Attachment("Ventes_Trois-Rivières_2026-11-20.csv", trois, name_style="rfc2231-continued")
        ],
        layout="forwarded",
        sent=AT,
    )
    mailbox.append(forwarded, received=AT + dt.timedelta(minutes=2), flags=(b"\\Flagged",))
    single = report_email(
        sender=POS,
        subject="Daily franchise sales (Ontario)",
        attachments=[Attachment("Ventes_Ontario.csv", ontario, transfer="8bit", name_style="plain")],
        layout="single",
        sent=AT,
    )
    mailbox.append(single, received=AT + dt.timedelta(minutes=3))
    # Not the report: another sender, and one received before the window.
    mailbox.append(
        report_email(
            sender="someone@else.example",
            subject="Daily franchise sales",
            attachments=[Attachment("Ventes_X.csv", ontario)],
        )
    )
    mailbox.append(sales_email("Ventes_Old.csv", ontario), received=DAY.start - dt.timedelta(seconds=1))
    legacy = csv_bytes([["Ville", "Montant"], ["Montréal", "12.5"]], delimiter=",", encoding="latin-1")
    mailbox.append(
        report_email(
            sender="export@legacy.example",
            subject="Export",
            attachments=[Attachment("Données_Montréal.csv", legacy, name_style="rfc2047")],
        ),
        folder="Legacy",
    )
    workbook = call_centre_xlsx(
        [[dt.datetime(2026, 11, 16), 101, 540, 512, 183.4, 0.93, dt.datetime(2026, 11, 22, 17, 59)]]
    )
    mailbox.append(
        report_email(
            sender="noreply@callcentre.example",
            subject="Weekly call centre report",
            attachments=[Attachment(CALLS_FILE, workbook, content_type=XLSX_TYPE)],
        ),
        folder="Reports/Call Centre",
    )
    flags_before = {f: mailbox.flags(f) for f in ("INBOX", "Legacy", "Reports/Call Centre")}

    summaries = {r.name: extract_report(config, r, DAY) for r in config.reports}

    sales = summaries["sales"]
    assert (sales.messages_in_window, sales.messages_matched) == (5, 4)
    assert [o.status for o in sales.outcomes] == ["loaded"] * 4, [o.line() for o in sales.outcomes]
    rows = warehouse.query(
        "SELECT _file_name, business_date, franchise_id, franchise_name, gross_sales, net_sales, transactions, "
        "closed_at, is_corporate, _row_number FROM raw_reports.sales ORDER BY franchise_id"
    )
    assert rows == [
        (
            "Ventes_Québec_2026-11-20.csv",
            dt.date(2026, 11, 20),
            101,
            "Québec—Centre",
            D("12345.67"),
            D("11000.50"),
            412,
            dt.datetime(2026, 11, 21, 2, 30, tzinfo=UTC),
            True,
            1,
        ),
        (
            "Ventes_Montréal_2026-11-20.csv",
            dt.date(2026, 11, 20),
            102,
            "Montréal",
            D("900"),
            D("850"),
            30,
            None,
            False,
            1,
        ),
        (
            "Ventes_Trois-Rivières_2026-11-20.csv",
            dt.date(2026, 11, 20),
            103,
            "Trois-Rivières",
            D("1"),
            D("1"),
            1,
            None,
            False,
            1,
        ),
        ("Ventes_Ontario.csv", dt.date(2026, 11, 20), 201, "Ottawa", D("5"), D("5"), 1, None, None, 1),
    ]
    entries = ledger(warehouse, "sales")
    assert [(e["file_name"], e["part"], e["status"]) for e in entries] == [
        ("Ventes_Québec_2026-11-20.csv", "2", "loaded"),
        ("Ventes_Montréal_2026-11-20.csv", "2.2", "loaded"),
        ("Ventes_Trois-Rivières_2026-11-20.csv", "2.2", "loaded"),
        ("Ventes_Ontario.csv", "1", "loaded"),
    ]
    first = entries[0]
    assert first["sha256"] == hashlib.sha256(quebec).hexdigest()
    assert (first["size_bytes"], first["row_count"], first["sender"]) == (len(quebec), 1, POS)
    assert first["uidvalidity"] > 0
    assert first["uid"] == 1
    assert dt.datetime.fromisoformat(first["received_at"]) == AT
    assert first["message_id"].startswith("<")
    assert first["target_table"] == "raw_reports.sales"

    assert warehouse.query("SELECT city, amount, _file_name FROM raw_reports.legacy") == [
        ("Montréal", D("12.5"), "Données_Montréal.csv")
    ]
    assert warehouse.query(
        "SELECT week_start, franchise_id, calls_answered, service_level, last_call_at, _file_name FROM raw_reports.calls"
    ) == [
        (
            dt.date(2026, 11, 16),
            101,
            512,
            D("0.93"),
            dt.datetime(2026, 11, 23, 1, 59, tzinfo=UTC),
            CALLS_FILE,
        )
    ]
    # Nobody's read/unread state changed: \Seen stays where it was, set or not.
    assert {f: mailbox.flags(f) for f in flags_before} == flags_before
    assert any(b"\\Seen" in flags for flags in flags_before["INBOX"].values())


def test_exactly_once_across_reruns_duplicates_and_reprocessing(config, mailbox, warehouse):
    data = franchise_sales_csv(
        "2026-11-20", [[str(100 + i), f"F{i}", "1", "1", "1", "", "oui"] for i in range(5)]
    )
    original = sales_email(data=data, message_id="<report-1@pos-vendor.example>")
    mailbox.append(original)  # A
    mailbox.append(
        sales_email(data=data), received=AT + dt.timedelta(hours=1)
    )  # B: same file, another e-mail
    mailbox.append(original, received=AT + dt.timedelta(hours=2))  # C: the same message filed twice
    sales = config.report("sales")

    def table():
        return warehouse.query("SELECT * FROM raw_reports.sales ORDER BY franchise_id")

    first = extract_report(config, sales, DAY)
    assert [o.status for o in first.outcomes] == ["loaded", "duplicate", "skipped"]
    assert len(table()) == 5
    entries = ledger(warehouse, "sales")
    assert [e["status"] for e in entries] == ["loaded", "duplicate"]
    assert entries[1]["duplicate_of"] == "<report-1@pos-vendor.example> part 2"
    assert "same file as 'Ventes_Québec_2026-11-20.csv'" in entries[1]["reason"]

    rows_before = table()
    second = extract_report(config, sales, DAY)
    assert [o.status for o in second.outcomes] == ["skipped"] * 3
    assert table() == rows_before
    assert [e["processed_at"] for e in ledger(warehouse, "sales")] == [e["processed_at"] for e in entries]

    # "all": loaded files too (the default, True, processes only the rejected ones again).
    third = extract_report(config, sales, DAY, reprocess="all")
    assert [o.status for o in third.outcomes] == ["loaded", "duplicate", "loaded"]
    after = table()
    assert len(after) == 5
    assert [r[:8] for r in after] == [r[:8] for r in rows_before]  # same values, re-loaded
    assert warehouse.query(
        "SELECT count(DISTINCT _message_id), count(DISTINCT _attachment_sha256) FROM raw_reports.sales"
    ) == [(1, 1)]

    # Even without the ledger (lost, or a crash between load and ledger write) nothing doubles.
    warehouse.execute("DELETE FROM raw_reports.imap_report_ledger")
    extract_report(config, sales, DAY)
    assert len(table()) == 5

    # A sender reusing one Message-ID for a different e-mail (another day, another file) is not
    # mistaken for the message already loaded.
    other = franchise_sales_csv("2026-11-21", [["900", "Next day", "1", "1", "1", "", ""]])
    mailbox.append(
        sales_email(data=other, message_id="<report-1@pos-vendor.example>", sent=AT + dt.timedelta(days=1)),
        received=AT + dt.timedelta(hours=3),
    )
    fourth = extract_report(config, sales, DAY)
    assert [o.status for o in fourth.outcomes] == ["skipped", "skipped", "skipped", "loaded"]
    assert len(table()) == 6


def test_malformed_attachments_are_rejected_and_the_rest_still_loads(config, mailbox, warehouse):
    good = franchise_sales_csv("2026-11-20", [["101", "Bon", "1", "1", "1", "", ""]])
    bad_files = {
        "Ventes_ragged.csv": franchise_sales_csv("2026-11-20", [["101", "A", "1"]]),
        "Ventes_columns.csv": csv_bytes([["Store", "Sales"], ["1", "2"]]),
        "Ventes_latin1.csv": franchise_sales_csv(
            "2026-11-20", [["101", "Montréal", "1", "1", "1", "", ""]], encoding="latin-1"
        ),
        "Ventes_empty.csv": b"",
        "Ventes_values.csv": franchise_sales_csv("2026-11-20", [["x", "A", "1", "1", "1", "", ""]]),
        "Ventes_big.csv": franchise_sales_csv("2026-11-20", [["101", "A" * 50, "1", "1", "1", "", ""]] * 200),
    }
    for minute, (name, data) in enumerate(bad_files.items()):
        mailbox.append(sales_email(name, data), received=AT + dt.timedelta(minutes=minute))
    # Quoted-printable: small enough to fetch by its encoded size, too big once decoded.
    big_qp = franchise_sales_csv("2026-11-20", [["101", "B" * 40, "1", "1", "1", "", ""]] * 100)
    mailbox.append(
        sales_email("Ventes_big_qp.csv", big_qp, attachment={"transfer": "quoted-printable"}),
        received=AT + dt.timedelta(minutes=20),
    )
    mailbox.append(sales_email("Ventes_bon.csv", good), received=AT + dt.timedelta(minutes=30))
    no_csv = report_email(
        sender=POS,
        subject="Daily franchise sales",
        sent=AT,
        attachments=[Attachment("rapport.pdf", b"%PDF-1.4", content_type="application/pdf")],
    )
    mailbox.append(no_csv, received=AT + dt.timedelta(minutes=31))

    summary = extract_report(config, config.report("sales"), DAY)

    assert (summary.count("loaded"), summary.count("rejected")) == (1, 8)
    assert summary.should_fail  # the report says fail_on_rejected: true
    reasons = {e["file_name"]: e["reason"] for e in ledger(warehouse, "sales") if e["status"] == "rejected"}
    assert "line 2 has 4 fields, the header has 8" in reasons["Ventes_ragged.csv"]
    assert "missing column(s) 'Date', 'Franchise'" in reasons["Ventes_columns.csv"]
    assert "are not valid utf-8" in reasons["Ventes_latin1.csv"]
    assert reasons["Ventes_empty.csv"] == "the file is empty (0 bytes)"
    assert (
        "column 'franchise_id' (header 'Franchise'): 'x' is not a whole number"
        in reasons["Ventes_values.csv"]
    )
    assert reasons["Ventes_big.csv"].startswith("too big: at least")
    assert "(not downloaded)" in reasons["Ventes_big.csv"]
    assert reasons["Ventes_big_qp.csv"] == f"too big: {len(big_qp):,} bytes, max_size is 4,096"
    assert reasons[None].startswith(
        "no attachment matches '^Ventes_.+\\\\.csv$' (attachments: 'rapport.pdf')"
    )
    assert warehouse.query("SELECT franchise_name FROM raw_reports.sales") == [("Bon",)]
    as_dict = json.loads(json.dumps(summary.as_dict(), default=str))
    assert as_dict["rejected"] == 8
    assert len(as_dict["rejections"]) == 8

    # Rejections are recorded once; a later run does not re-report them unless asked to.
    again = extract_report(config, config.report("sales"), DAY)
    assert again.count("rejected") == 0
    assert not again.should_fail
    assert extract_report(config, config.report("sales"), DAY, reprocess=True).count("rejected") == 8


def test_the_window_is_exact_to_the_second(config, mailbox, warehouse):
    window = Window(
        dt.datetime(2026, 11, 20, 10, tzinfo=UTC), dt.datetime(2026, 11, 20, 11, tzinfo=UTC), "test"
    )
    for i, received in enumerate(
        [
            window.start - dt.timedelta(seconds=1),
            window.start,
            window.end - dt.timedelta(seconds=1),
            window.end,
        ]
    ):
        data = franchise_sales_csv("2026-11-20", [[str(i), "x", "1", "1", "1", "", ""]])
        mailbox.append(sales_email(f"Ventes_{i}.csv", data), received=received)
    summary = extract_report(config, config.report("sales"), window)
    assert summary.messages_in_window == 2
    assert sorted(r[0] for r in warehouse.query("SELECT franchise_id FROM raw_reports.sales")) == [1, 2]


def test_certificate_verification_is_on_by_default(dovecot, airflow_conn):  # noqa: F811
    login, password = dovecot.new_user()
    conn = json.loads(dovecot.imap_conn_json(login, tls=True))
    conn["extra"] = {"use_ssl": True, "folder": "INBOX"}  # verify_certificate not given: on
    airflow_conn("bi_imap", json.dumps(conn))
    with pytest.raises(ExtractionError, match="certificate is not trusted") as info:
        connect_imap(ImapSettings.from_connection("bi_imap"), attempts=1)
    assert password not in str(info.value)
    assert isinstance(info.value, PermanentError)  # configuration: the task fails without retries

    conn["extra"]["ca_file"] = str(dovecot.cert_path)  # trusted explicitly: verified and accepted
    airflow_conn("bi_imap", json.dumps(conn))
    client = connect_imap(ImapSettings.from_connection("bi_imap"), attempts=1)
    assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 0
    client.logout()


def test_plain_imap_wrong_password_and_missing_folder(config, dovecot, airflow_conn, warehouse):  # noqa: F811
    login, password = dovecot.new_user()
    airflow_conn("bi_imap", dovecot.imap_conn_json(login, tls=False))
    settings = ImapSettings.from_connection("bi_imap")
    assert (settings.use_ssl, settings.port) == (False, dovecot.imap_port)
    connect_imap(settings, attempts=1).logout()

    with pytest.raises(ExtractionError, match=r"cannot open folder 'Legacy'.*the mailbox has: 'INBOX'"):
        extract_report(config, config.report("legacy"), DAY)

    conn = json.loads(dovecot.imap_conn_json(login, tls=False))
    conn["password"] = "wrong-secret-value"
    airflow_conn("bi_imap", json.dumps(conn))
    with pytest.raises(ExtractionError, match="login refused") as info:
        connect_imap(ImapSettings.from_connection("bi_imap"), attempts=1)
    assert "wrong-secret-value" not in str(info.value)
    assert password not in str(info.value)
    assert isinstance(info.value, AuthenticationError)  # permanent: retrying could lock the account


def sales_rows(warehouse) -> list[tuple]:
    return warehouse.query(
        "SELECT franchise_id, franchise_name, _file_name FROM raw_reports.sales ORDER BY franchise_id"
    )


def test_two_emails_with_the_same_headers_but_different_files_are_both_loaded(config, mailbox, warehouse):
    # A scanner splitting one job into two e-mails: same Message-ID, Date, From and Subject.
    first = franchise_sales_csv("2026-11-20", [["101", "Premier", "1", "1", "1", "", ""]])
    second = franchise_sales_csv("2026-11-20", [["102", "Second", "1", "1", "1", "", ""]])
    for minute, data in enumerate((first, second)):
        mailbox.append(
            sales_email(data=data, message_id="<job-7@scanner.example>"),
            received=AT + dt.timedelta(minutes=minute),
        )
    sales = config.report("sales")

    summary = extract_report(config, sales, DAY)
    assert [o.status for o in summary.outcomes] == ["loaded", "loaded"], [o.line() for o in summary.outcomes]
    assert [r[0] for r in sales_rows(warehouse)] == [101, 102]
    again = extract_report(config, sales, DAY)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]

    extract_report(config, sales, DAY, reprocess="all")
    entries = ledger(warehouse, "sales")
    assert sorted((e["sha256"], e["status"]) for e in entries) == sorted(
        (hashlib.sha256(d).hexdigest(), "loaded") for d in (first, second)
    )
    assert [r[0] for r in sales_rows(warehouse)] == [101, 102]


def test_reprocessing_touches_only_rejected_files_unless_asked(tmp_path, config, mailbox, warehouse):
    utf8 = franchise_sales_csv("2026-11-20", [["101", "Orléans", "1", "1", "1", "", ""]])
    cp1252 = franchise_sales_csv(
        "2026-11-20", [["102", "Trois-Rivières", "1", "1", "1", "", ""]], encoding="cp1252"
    )
    mailbox.append(sales_email("Ventes_utf8.csv", utf8))
    mailbox.append(sales_email("Ventes_cp1252.csv", cp1252), received=AT + dt.timedelta(minutes=1))
    first = extract_report(config, config.report("sales"), DAY)
    assert [o.status for o in first.outcomes] == ["loaded", "rejected"]

    # The documented fix: the vendor's encoding in the configuration, then reprocess: true.
    fixed = load_imap_reports(
        write_reports_config(
            tmp_path / "fixed",
            REPORTS.replace('thousands_separator: " "}', 'thousands_separator: " ", encoding: cp1252}'),
            schema="raw_reports",
        )
    )
    assert fixed.report("sales").csv.encoding == "cp1252"
    second = extract_report(fixed, fixed.report("sales"), DAY, reprocess=True)
    assert [o.status for o in second.outcomes] == ["skipped", "loaded"], [o.line() for o in second.outcomes]
    assert sales_rows(warehouse) == [
        (101, "Orléans", "Ventes_utf8.csv"),
        (102, "Trois-Rivières", "Ventes_cp1252.csv"),
    ]
    assert [e["status"] for e in ledger(warehouse, "sales")] == ["loaded", "loaded"]

    # One file by its SHA-256, or one message's part: nothing else is touched.
    by_sha = extract_report(fixed, fixed.report("sales"), DAY, reprocess=hashlib.sha256(cp1252).hexdigest())
    assert [o.status for o in by_sha.outcomes] == ["skipped", "loaded"]
    from bi_pipelines.sources.imap.pipeline import ReprocessSelection

    message_id = ledger(warehouse, "sales")[0]["message_id"]
    by_message = extract_report(
        config, config.report("sales"), DAY, reprocess=ReprocessSelection(message_id=message_id, part="2")
    )
    assert [o.status for o in by_message.outcomes] == ["loaded", "skipped"]
    assert sales_rows(warehouse)[0] == (101, "Orléans", "Ventes_utf8.csv")


def test_a_loaded_file_rejected_on_reprocessing_leaves_the_table(tmp_path, config, mailbox, warehouse):
    keep = franchise_sales_csv("2026-11-20", [["101", "Reste", "1", "1", "1", "", ""]])
    mailbox.append(sales_email("Ventes_a.csv", keep))
    extract_report(config, config.report("sales"), DAY)
    assert len(sales_rows(warehouse)) == 1

    # The configuration now requires a column the file does not have: reprocessing everything
    # rejects it, and the ledger and the table agree (its rows are gone with the same commit).
    stricter = load_imap_reports(
        write_reports_config(
            tmp_path / "strict",
            REPORTS.replace(
                "    - {name: is_corporate, header: Corporatif, type: boolean}\n",
                "    - {name: is_corporate, header: Corporatif, type: boolean}\n"
                "    - {name: region, header: Région, type: text}\n",
                1,
            ),
            schema="raw_reports",
        )
    )
    summary = extract_report(stricter, stricter.report("sales"), DAY, reprocess="all")
    assert [o.status for o in summary.outcomes] == ["rejected"]
    assert [e["status"] for e in ledger(warehouse, "sales")] == ["rejected"]
    assert sales_rows(warehouse) == []


def test_nul_in_a_file_name_or_subject_does_not_block_the_next_email(config, mailbox, warehouse):
    data = franchise_sales_csv("2026-11-20", [["101", "Nul", "1", "1", "1", "", ""]])
    good = franchise_sales_csv("2026-11-20", [["102", "Bon", "1", "1", "1", "", ""]])
    # RFC 2231 %00 in the name, RFC 2047 =00 in the subject.
    nul = report_email(
        sender=POS,
        subject="=?utf-8?q?Daily_franchise_sales_=00_2026-11-20?=",
        attachments=[Attachment("Ventes_\x00Nul.csv", data)],
        sent=AT,
    )
    mailbox.append(nul)
    mailbox.append(sales_email("Ventes_bon.csv", good), received=AT + dt.timedelta(minutes=1))

    summary = extract_report(config, config.report("sales"), DAY)
    assert [o.status for o in summary.outcomes] == ["loaded", "loaded"], [o.line() for o in summary.outcomes]
    assert sales_rows(warehouse) == [(101, "Nul", "Ventes_Nul.csv"), (102, "Bon", "Ventes_bon.csv")]
    entries = ledger(warehouse, "sales")
    assert entries[0]["file_name"] == "Ventes_Nul.csv"
    assert entries[0]["subject"] == "Daily franchise sales  2026-11-20"


def test_an_existing_ledger_gets_the_new_key_without_losing_rows(config, warehouse, airflow_conn):
    from bi_pipelines.load.warehouse import Warehouse
    from bi_pipelines.sources.imap.ledger import Ledger

    # The ledger as it was: keyed by (report, message_key, part), no attachment_key column.
    warehouse.execute("CREATE SCHEMA IF NOT EXISTS raw_reports")
    warehouse.execute(
        "CREATE TABLE raw_reports.imap_report_ledger (report text, message_key text, part text, "
        "message_id text, folder text, uidvalidity bigint, uid bigint, received_at timestamptz, "
        "sent_at timestamptz, sender text, subject text, file_name text, size_bytes bigint, "
        "sha256 text, row_count bigint, status text, reason text, duplicate_of text, target_table text, "
        "processed_at timestamptz, PRIMARY KEY (report, message_key, part))"
    )
    warehouse.execute(
        "INSERT INTO raw_reports.imap_report_ledger (report, message_key, part, folder, sha256, row_count, "
        "status, target_table, processed_at) VALUES "
        "('sales', 'k1', '2', 'INBOX', 'abc', 3, 'loaded', 'raw_reports.sales', now()), "
        "('sales', 'k2', '', 'INBOX', NULL, 0, 'rejected', 'raw_reports.sales', now())"
    )
    with Warehouse.connect("redshift_dw") as wh:
        Ledger(wh, "raw_reports", "imap_report_ledger").ensure()
        Ledger(wh, "raw_reports", "imap_report_ledger").ensure()  # idempotent
    assert warehouse.query(
        "SELECT message_key, part, attachment_key, status FROM raw_reports.imap_report_ledger ORDER BY 1"
    ) == [("k1", "2", "abc", "loaded"), ("k2", "", "", "rejected")]
    key = warehouse.query(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'raw_reports.imap_report_ledger'::regclass "
        "AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)"
    )
    assert [k[0] for k in key] == ["report", "message_key", "part", "attachment_key"]
