"""``imap_reports.yaml``: the shipped example, validation errors, and the freshness hook."""

from __future__ import annotations

import datetime as dt

import pytest

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.sources.imap.spec import (
    CONFIG_PATH_ENV,
    load_imap_reports,
    parse_size,
    report_freshness_specs,
)
from devtools.mail import write_reports_config

MINIMAL = """
r:
  sender: reports@vendor.example
  attachment: '\\.csv$'
  columns: [{name: a}]
"""


def test_the_shipped_configuration():
    config = load_imap_reports()
    assert config.dag.dag_id == "extract_bi_imap"
    assert config.dag.schedule == "20 * * * *"
    assert config.dag.start_date.tzinfo is not None
    assert (config.imap_conn_id, config.target_conn_id, config.target_schema) == (
        "bi_imap",
        "redshift_dw",
        "raw_reports",
    )
    assert config.overlap == dt.timedelta(days=2)
    assert [r.name for r in config.reports] == ["franchise_daily_sales", "call_centre_weekly"]
    sales, calls = config.reports
    assert (sales.format, sales.csv.delimiter, sales.csv.decimal_separator, sales.fail_on_rejected) == (
        "csv",
        ";",
        ",",
        True,
    )
    assert sales.attachment_matches("Ventes_Québec_2026-11-20.csv")
    assert sales.attachment_matches("VENTES_ONTARIO.CSV")
    assert not sales.attachment_matches("Sales.csv")
    assert sales.subject_matches("Fwd: Daily Franchise Sales 2026-11-20")
    assert (calls.format, calls.xlsx.sheet, calls.xlsx.header_row, calls.folder) == (
        "xlsx",
        "Summary",
        3,
        "Reports/Call Centre",
    )
    assert calls.max_size_bytes == 25 * 1024 * 1024  # from defaults


def test_sender_matches_full_addresses_and_domains():
    sales = load_imap_reports().report("franchise_daily_sales")
    assert sales.sender_matches("Reports@POS-Vendor.example")
    assert sales.sender_matches("bot@noreply.pos-vendor.example")
    assert not sales.sender_matches("reports@pos-vendor.example.evil")
    assert not sales.sender_matches("someone@else.example")
    assert not sales.sender_matches(None)


def test_the_config_path_can_come_from_the_environment(tmp_path, monkeypatch):
    path = write_reports_config(tmp_path, MINIMAL, schema="raw_elsewhere")
    monkeypatch.setenv(CONFIG_PATH_ENV, str(path))
    assert load_imap_reports().target_schema == "raw_elsewhere"


def test_defaults_apply(tmp_path):
    config = load_imap_reports(write_reports_config(tmp_path, MINIMAL))
    report = config.report("r")
    assert (report.format, report.target_table, report.timezone, report.folder) == (
        "csv",
        "r",
        "America/Toronto",
        None,
    )
    assert (report.csv.delimiter, report.csv.encoding, report.columns[0].type) == (",", "utf-8", "text")
    assert config.ledger_table == "imap_report_ledger"


@pytest.mark.parametrize(
    ("reports", "message"),
    [
        (
            "r: {sender: a@b.c, attachment: x, columns: [{name: a}], colour: red}",
            r"reports\.r: unknown key\(s\) colour",
        ),
        ("r: {attachment: x, columns: [{name: a}]}", "give a sender or a subject pattern"),
        ("r: {sender: a@b.c, columns: [{name: a}]}", r"reports\.r\.attachment: required key is missing"),
        ("r: {sender: a@b.c, attachment: '(', columns: [{name: a}]}", "not a valid regular expression"),
        ("r: {sender: a@b.c, attachment: x, columns: []}", "list at least one column"),
        (
            "r: {sender: a@b.c, attachment: x, columns: [{name: a, type: money}]}",
            r"columns\[0\]\.type: unknown type",
        ),
        ("r: {sender: a@b.c, attachment: x, columns: [{name: _a}]}", "reserved for load metadata"),
        (
            "r: {sender: a@b.c, attachment: x, columns: [{name: a}, {name: b, header: A}]}",
            "header.s. used twice: a",
        ),
        (
            "r: {sender: a@b.c, attachment: x, columns: [{name: a, format: '%Y'}]}",
            "only date and timestamptz",
        ),
        ("r: {sender: a@b.c, attachment: x, format: pdf, columns: [{name: a}]}", "must be one of csv, xlsx"),
        (
            "r: {sender: a@b.c, attachment: x, format: xlsx, csv: {}, columns: [{name: a}]}",
            "an xlsx report has no csv",
        ),
        (
            "r: {sender: a@b.c, attachment: x, csv: {encoding: klingon}, columns: [{name: a}]}",
            "unknown encoding",
        ),
        (
            "r: {sender: a@b.c, attachment: x, csv: {delimiter: ';;'}, columns: [{name: a}]}",
            "expected one character",
        ),
        ("r: {sender: a@b.c, attachment: x, max_size: lots, columns: [{name: a}]}", "expected a size like"),
        ("r: {sender: a@b.c, attachment: x, timezone: Mars/Base, columns: [{name: a}]}", "unknown time zone"),
        (
            "r: {sender: a@b.c, attachment: x, target_table: 'bad name', columns: [{name: a}]}",
            "not a valid identifier",
        ),
        (
            "r: {sender: a@b.c, attachment: x, target_table: imap_report_ledger, columns: [{name: a}]}",
            "target table.s. used twice: imap_report_ledger",
        ),
    ],
)
def test_invalid_reports_name_the_key(tmp_path, reports, message):
    with pytest.raises(ConfigError, match=message):
        load_imap_reports(write_reports_config(tmp_path, reports))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the IMAP reports configuration"):
        load_imap_reports(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1024, 1024), ("500KB", 500 * 1024), ("25 mb", 25 * 1024**2), ("1.5GB", 1536 * 1024**2)],
)
def test_parse_size(value, expected):
    assert parse_size(value, "x") == expected


def test_report_freshness_specs_point_at_the_ledger():
    specs = report_freshness_specs()
    assert [s.name for s in specs] == ["imap_franchise_daily_sales", "imap_call_centre_weekly"]
    sales = specs[0]
    assert (sales.conn_id, sales.schema, sales.table, sales.column) == (
        "redshift_dw",
        "raw_reports",
        "imap_report_ledger",
        "received_at",
    )
    assert sales.filter == "report = 'franchise_daily_sales' AND status = 'loaded'"
    assert sales.thresholds.warn_after == dt.timedelta(hours=26)


def test_the_environment_variable_follows_the_file_name():
    assert CONFIG_PATH_ENV == "BI_IMAP_REPORTS_CONFIG"


def test_report_objects_are_frozen():
    report = load_imap_reports().report("franchise_daily_sales")
    with pytest.raises(ValueError, match="frozen"):
        report.format = "xlsx"
    assert isinstance(report.senders, tuple)
    assert isinstance(report.columns, tuple)
