"""Reading CSV and XLSX attachments into typed rows, and rejecting malformed ones with a reason."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from bi_pipelines.sources.imap.parsing import RejectedAttachment, parse_attachment
from bi_pipelines.sources.imap.spec import load_imap_reports
from devtools.mail import (
    CALL_CENTRE_HEADER,
    FRANCHISE_HEADER,
    call_centre_xlsx,
    csv_bytes,
    franchise_sales_csv,
    write_reports_config,
    xlsx_bytes,
)

D = decimal.Decimal
UTC = dt.UTC


@pytest.fixture(scope="module")
def shipped():
    """The committed configuration: its two example reports are what these tests read."""
    return load_imap_reports()


@pytest.fixture
def sales(shipped):
    return shipped.report("franchise_daily_sales")


@pytest.fixture
def calls(shipped):
    return shipped.report("call_centre_weekly")


def test_franchise_csv_with_bom_decimal_comma_and_space_thousands(sales):
    data = franchise_sales_csv(
        "2026-11-20",
        [
            ["101", "Québec—Centre", "12 345,67", "11\u00a0000,50", "412", "2026-11-20 21:30", "oui"],
            ["102", "Lévis", "-5,00", "0", "3", "", "non"],
        ],
        bom=True,
    )
    rows = parse_attachment(data, sales)
    assert rows == [
        (
            1,
            (
                dt.date(2026, 11, 20),
                101,
                "Québec—Centre",
                D("12345.67"),
                D("11000.50"),
                412,
                dt.datetime(2026, 11, 21, 2, 30, tzinfo=UTC),  # 21:30 EST
                True,
            ),
        ),
        (2, (dt.date(2026, 11, 20), 102, "Lévis", D("-5.00"), D("0"), 3, None, False)),
    ]


def test_headers_match_ignoring_case_blanks_and_order_and_extra_columns_are_ignored(sales):
    header = [
        "  corporatif",
        "FRANCHISE",
        "Date",
        "Extra",
        "Nom",
        "Ventes  brutes",
        "Ventes nettes",
        "Transactions",
        "Fermeture",
    ]
    data = csv_bytes([header, ["yes", "7", "2026-11-20", "x", "A", "1", "2", "3", "2026-07-01 09:00"]])
    ((_number, values),) = parse_attachment(data, sales)
    assert values[:2] == (dt.date(2026, 11, 20), 7)
    assert values[6] == dt.datetime(2026, 7, 1, 13, 0, tzinfo=UTC)  # EDT in July
    assert values[7] is True


def test_latin1_file_reads_when_the_report_says_latin1(tmp_path):
    config = load_imap_reports(
        write_reports_config(
            tmp_path,
            """
            legacy:
              sender: "@legacy.example"
              attachment: '\\.csv$'
              csv: {delimiter: ",", encoding: latin-1}
              columns:
                - {name: city, header: Ville}
                - {name: amount, header: Montant, type: numeric}
            """,
        )
    )
    data = csv_bytes([["Ville", "Montant"], ["Montréal", "1.5"]], delimiter=",", encoding="latin-1")
    assert parse_attachment(data, config.report("legacy")) == [(1, ("Montréal", D("1.5")))]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty (0 bytes)"),
        (b"\r\n \r\n", "only blank space"),
        (b"\xef\xbb\xbf", "only blank space"),
        (
            "Date;Franchise\r\n2026-11-20;Montr\xe9al\r\n".encode("latin-1"),
            "line 2: byte(s) e9 at offset 32 are not valid utf-8",
        ),
        (b"Date;Franchise\r\n\x00\x00", "NUL bytes"),
        (b'"Date"x;Franchise\r\n', "line 1: malformed CSV"),
    ],
)
def test_unreadable_files_are_rejected(sales, data, reason):
    with pytest.raises(RejectedAttachment, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_attachment(data, sales)


def test_undecodable_bytes_say_which_setting_to_change(sales):
    data = franchise_sales_csv(
        "2026-11-20", [["1", "Montréal", "1", "1", "1", "", "oui"]], encoding="latin-1"
    )
    with pytest.raises(RejectedAttachment) as info:
        parse_attachment(data, sales)
    assert "not valid utf-8" in str(info.value)
    assert "reports.franchise_daily_sales.csv.encoding" in str(info.value)


def test_ragged_rows_are_rejected_with_their_line_numbers(sales):
    data = franchise_sales_csv(
        "2026-11-20",
        [
            ["1", "A", "1", "1", "1", "", "oui"],
            ["2", "B", "1", "1"],
            ["3", "C", "1", "1", "1", "", "oui", "surplus"],
        ],
    )
    with pytest.raises(RejectedAttachment) as info:
        parse_attachment(data, sales)
    message = str(info.value)
    assert message.startswith("2 problem(s)")
    assert "line 3 has 5 fields, the header has 8" in message
    assert "line 4 has 9 fields, the header has 8" in message


def test_wrong_columns_are_rejected_naming_the_missing_ones_and_the_header(sales):
    data = csv_bytes([["Date", "Store", "Sales"], ["2026-11-20", "1", "2"]])
    with pytest.raises(RejectedAttachment) as info:
        parse_attachment(data, sales)
    assert "missing column(s) 'Franchise', 'Nom', 'Ventes brutes'" in str(info.value)
    assert "the file's header is: 'Date', 'Store', 'Sales'" in str(info.value)


def test_a_header_twice_is_ambiguous(sales):
    data = csv_bytes([[*FRANCHISE_HEADER, "Nom"], ["2026-11-20", "1", "A", "1", "1", "1", "", "oui", "B"]])
    with pytest.raises(RejectedAttachment, match="'Nom' appear more than once"):
        parse_attachment(data, sales)


def test_bad_values_are_rejected_naming_line_column_and_value(sales):
    data = franchise_sales_csv(
        "2026-11-20",
        [
            ["1", "A", "12,5x", "1", "1", "", "oui"],
            ["two", "B", "1", "1.5", "1", "20/11/2026 10:00", "peut-être"],
            ["", "C", "1", "1", "1", "", ""],
        ]
        + [["9", "D", "bad", "1", "1", "", ""]] * 10,
    )
    with pytest.raises(RejectedAttachment) as info:
        parse_attachment(data, sales)
    message = str(info.value)
    assert message.startswith("16 problem(s)")
    assert "line 2, column 'gross_sales' (header 'Ventes brutes'): '12,5x' is not a number" in message
    assert "line 3, column 'franchise_id' (header 'Franchise'): 'two' is not a whole number" in message
    assert (
        "line 3, column 'net_sales' (header 'Ventes nettes'): '1.5' is not a number with decimal separator ','"
        in (message)
    )
    assert (
        "line 3, column 'closed_at' (header 'Fermeture'): '20/11/2026 10:00' is not a date-time in format"
        in message
    )
    assert "and 11 more" in message


def test_a_required_column_may_not_be_empty(sales):
    data = franchise_sales_csv("", [["1", "A", "1", "1", "1", "", ""]])
    with pytest.raises(
        RejectedAttachment, match=r"column 'business_date' .*is empty, but the column is required"
    ):
        parse_attachment(data, sales)


def test_a_header_without_rows_is_an_empty_report_not_an_error(sales):
    assert parse_attachment(csv_bytes([FRANCHISE_HEADER]), sales) == []


def test_blank_lines_and_skipped_title_rows(tmp_path):
    config = load_imap_reports(
        write_reports_config(
            tmp_path,
            """
            titled:
              subject: 'x'
              attachment: 'x'
              csv: {skip_rows: 2, delimiter: tab}
              columns: [{name: n, type: int}, {name: ok, type: boolean}]
            """,
        )
    )
    data = b"Report title\r\nGenerated today\r\n\r\nn\tok\r\n1\tY\r\n\r\n\t\r\n2\tFALSE\r\n"
    assert parse_attachment(data, config.report("titled")) == [(1, (1, True)), (2, (2, False))]


def test_integers_must_fit_64_bits(sales):
    data = franchise_sales_csv("2026-11-20", [["99999999999999999999", "A", "1", "1", "1", "", ""]])
    with pytest.raises(RejectedAttachment, match="does not fit a 64-bit integer"):
        parse_attachment(data, sales)


def test_call_centre_xlsx(calls):
    data = call_centre_xlsx(
        [
            [dt.datetime(2026, 11, 16), 101, 540, 512.0, 183.4, 0.93, dt.datetime(2026, 11, 22, 17, 59)],
            [None, None, None, None, None, None, None],  # blank row: skipped
            ["2026-11-16", "102", 12, 12, 95, 1, None],
        ]
    )
    assert parse_attachment(data, calls) == [
        (
            1,
            (
                dt.date(2026, 11, 16),
                101,
                540,
                512,
                D("183.4"),
                D("0.93"),
                dt.datetime(2026, 11, 23, 1, 59, tzinfo=UTC),  # 17:59 in Vancouver
            ),
        ),
        (2, (dt.date(2026, 11, 16), 102, 12, 12, D("95"), D("1"), None)),
    ]


def test_xlsx_problems_name_the_sheet_row_and_column(calls):
    data = call_centre_xlsx([[dt.datetime(2026, 11, 16), 101, 1.5, 1, 1, 1, "yesterday"]])
    with pytest.raises(RejectedAttachment) as info:
        parse_attachment(data, calls)
    assert (
        "sheet 'Summary' row 4, column 'calls_offered' (header 'Calls Offered'): 1.5 is not a whole number"
        in str(info.value)
    )
    assert "sheet 'Summary' row 4, column 'last_call_at'" in str(info.value)


def test_xlsx_without_the_configured_sheet_or_header(calls):
    with pytest.raises(RejectedAttachment, match=r"no sheet 'Summary' \(sheets: 'Data'\)"):
        parse_attachment(xlsx_bytes({"Data": [CALL_CENTRE_HEADER]}), calls)
    with pytest.raises(
        RejectedAttachment, match="sheet 'Summary' row 3 is empty; the header was expected there"
    ):
        parse_attachment(xlsx_bytes({"Summary": [["title"]]}), calls)


def test_a_file_that_is_not_a_workbook_is_rejected(calls):
    with pytest.raises(RejectedAttachment, match=r"not a readable \.xlsx workbook"):
        parse_attachment(b"PK\x03\x04 this is no zip", calls)
    with pytest.raises(RejectedAttachment, match=r"not a readable \.xlsx workbook"):
        parse_attachment(b"Week Starting,Franchise ID\r\n", calls)


def test_malformed_quoting_in_a_data_row(sales):
    data = csv_bytes([FRANCHISE_HEADER]) + b'"2026-11-20"x;1;A;1;1;1;;oui\r\n'
    with pytest.raises(RejectedAttachment, match="line 2: malformed CSV"):
        parse_attachment(data, sales)


def test_report_local_times_at_dst_edges_are_read_as_standard_time(calls):
    # 01:30 occurs twice in Vancouver on 2026-11-01: read as PST (09:30Z), as PostgreSQL does.
    data = call_centre_xlsx(
        [
            [dt.datetime(2026, 11, 1), 101, 1, 1, 1, 1, dt.datetime(2026, 11, 1, 1, 30)],
            [dt.datetime(2026, 3, 8), 102, 1, 1, 1, 1, "2026-03-08 02:30:00"],
        ]
    )
    stamps = [row[-1] for _number, row in parse_attachment(data, calls)]
    assert stamps == [
        dt.datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
        dt.datetime(2026, 3, 8, 10, 30, tzinfo=UTC),
    ]


def _with_declared_dimension(workbook: bytes, ref: str) -> bytes:
    """The workbook with ``xl/worksheets/sheet1.xml`` declaring ``<dimension ref="...">`` as given,
    as streaming writers do (they write the element before they know the sheet's extent)."""
    import io
    import re
    import zipfile

    source, out = zipfile.ZipFile(io.BytesIO(workbook)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, count = re.subn(
                    rb'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>'.encode(), data
                )
                assert count == 1, data[:400]
            target.writestr(item, data)
    return out.getvalue()


def test_a_workbook_that_declares_a_one_cell_dimension_is_read_whole(calls):
    workbook = _with_declared_dimension(
        call_centre_xlsx([[dt.datetime(2026, 11, 16), 101, 540, 512, 183.4, 0.93, None]]), "A1"
    )
    rows = parse_attachment(workbook, calls)
    assert [(number, values[:4]) for number, values in rows] == [(1, (dt.date(2026, 11, 16), 101, 540, 512))]


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00rest of a zip", "a ZIP archive"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "a gzip-compressed file"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
        (b"Date;Franchise\x00\x00\x01\x02binary", "a binary file (it contains NUL bytes)"),
    ],
)
def test_a_binary_attachment_is_named_not_blamed_on_the_encoding(sales, data, what):
    with pytest.raises(RejectedAttachment) as info:
        parse_attachment(data, sales)
    message = str(info.value)
    assert message.startswith(f"{what}, not a CSV file"), message
    assert "encoding" not in message, message


def test_a_zip_archive_for_a_csv_report_suggests_xlsx(sales, calls):
    workbook = call_centre_xlsx([[dt.datetime(2026, 11, 16), 101, 540, 512, 183.4, 0.93, None]])
    with pytest.raises(RejectedAttachment, match="configure the report as xlsx if it is a workbook"):
        parse_attachment(workbook, sales)
    assert parse_attachment(workbook, calls)  # a workbook is a ZIP archive: fine for an xlsx report


def test_a_non_zip_file_for_an_xlsx_report_says_what_it_is(calls):
    with pytest.raises(RejectedAttachment, match=r"^a PDF document: not a readable \.xlsx workbook"):
        parse_attachment(b"%PDF-1.4\n", calls)
