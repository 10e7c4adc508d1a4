"""Reading a report attachment (CSV or XLSX bytes) into typed rows, or rejecting it with a reason.

Everything a person needs to fix a rejected file is in the :class:`RejectedAttachment` message:
which line or sheet row, which column (warehouse name and file header), which value and why.
A file is loaded whole or not at all, so the first problems are collected (up to
:data:`MAX_REPORTED_PROBLEMS`) and the file is rejected if there is any.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import decimal
import io
import re
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from bi_pipelines.core.timezones import local_to_utc
from bi_pipelines.core.values import parse_bool
from bi_pipelines.sources.imap.spec import ColumnSpec, CsvOptions, ReportSpec

MAX_REPORTED_PROBLEMS = 5
_BIGINT = 2**63
_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# Spaces that French and other locales use as thousands separators.
_SPACES = (" ", "\u00a0", "\u202f")
_BLANK_BYTES = b" \t\r\n\x00" + codecs.BOM_UTF8


class RejectedAttachment(ValueError):
    """The attachment cannot be loaded as configured; the message says why and where."""


Row = tuple[int, tuple[Any, ...]]  # (data row number from 1, values in the report's column order)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


# -- typed values ------------------------------------------------------------------------------
def _strip_thousands(text: str, options: CsvOptions) -> str:
    sep = options.thousands_separator
    if not sep:
        return text
    for mark in _SPACES if sep in _SPACES else (sep,):
        text = text.replace(mark, "")
    return text


def _to_int(value: Any, options: CsvOptions) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{_show(value)} is a boolean, not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{_show(value)} is not a whole number")
        number = int(value)
    else:
        text = _strip_thousands(str(value), options)
        if not _INTEGER.match(text):
            raise ValueError(f"{_show(value)} is not a whole number")
        number = int(text)
    if not -_BIGINT <= number < _BIGINT:
        raise ValueError(f"{_show(value)} does not fit a 64-bit integer")
    return number


def _to_numeric(value: Any, options: CsvOptions) -> decimal.Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{_show(value)} is a boolean, not a number")
    if isinstance(value, int | float):
        number = decimal.Decimal(str(value))  # str(): the float as displayed, not its binary expansion
    else:
        text = _strip_thousands(str(value), options)
        if options.decimal_separator != ".":
            if "." in text:
                raise ValueError(
                    f"{_show(value)} is not a number with decimal separator {options.decimal_separator!r}"
                )
            text = text.replace(options.decimal_separator, ".")
        if not _DECIMAL.match(text):
            raise ValueError(f"{_show(value)} is not a number")
        number = decimal.Decimal(text)
    if not number.is_finite():
        raise ValueError(f"{_show(value)} is not a finite number")
    return number


def _parse_datetime_text(text: str, fmt: str | None, what: str) -> dt.datetime:
    try:
        if fmt:
            return dt.datetime.strptime(text, fmt)
        return dt.datetime.fromisoformat(text)
    except ValueError:
        expected = f"format {fmt!r}" if fmt else "ISO 8601 (e.g. 2026-11-20 or 2026-11-20 08:30)"
        raise ValueError(f"{_show(text)} is not a {what} in {expected}") from None


def _to_date(value: Any, column: ColumnSpec) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{_show(value)} is a {type(value).__name__}, not a date")
    if column.format:
        return _parse_datetime_text(value, column.format, "date").date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return _parse_datetime_text(value, None, "date").date()


def _to_timestamp(value: Any, column: ColumnSpec, zone: ZoneInfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str):
        stamp = _parse_datetime_text(value, column.format, "date-time")
    else:
        raise ValueError(f"{_show(value)} is a {type(value).__name__}, not a date-time")
    # Naive values are the report's local time (daylight saving included).
    return local_to_utc(stamp, zone)


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an Excel number cell holding an id: "1042", not "1042.0"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _to_boolean(value: Any) -> bool:
    result = parse_bool(value)
    if result is None:
        raise ValueError(f"{_show(value)} is not a boolean (use true/false, yes/no, 1/0)")
    return result


def convert_value(value: Any, column: ColumnSpec, options: CsvOptions, zone: ZoneInfo) -> Any:
    """Convert one cell to the column's Python type.

    Raises:
        ValueError: with a message naming the value and what was expected.
    """
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        if column.required:
            raise ValueError("is empty, but the column is required")
        return None
    if column.type == "int":
        return _to_int(value, options)
    if column.type == "numeric":
        return _to_numeric(value, options)
    if column.type == "date":
        return _to_date(value, column)
    if column.type == "timestamptz":
        return _to_timestamp(value, column, zone)
    if column.type == "boolean":
        return _to_boolean(value)
    return _to_text(value)


# -- CSV ---------------------------------------------------------------------------------------
def _decode(data: bytes, spec: ReportSpec) -> str:
    # A byte-order mark says what the file is, whatever the configuration expects.
    if data.startswith(codecs.BOM_UTF8):
        encoding, data = "utf-8", data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = spec.csv.encoding
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : min(exc.end, exc.start + 4)].hex(" ")
        raise RejectedAttachment(
            f"line {line}: byte(s) {bad} at offset {exc.start} are not valid {encoding}; if the sender "
            f"changed encoding, set reports.{spec.name}.csv.encoding (e.g. cp1252 or latin-1)"
        ) from None


def _csv_table(data: bytes, spec: ReportSpec) -> tuple[list[str], Iterator[tuple[str, list[Any]]]]:
    text = _decode(data, spec)
    if "\x00" in text:
        raise RejectedAttachment(
            "the file contains NUL bytes: it is not a text CSV (wrong format or encoding?)"
        )
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=spec.csv.delimiter,
        quotechar=spec.csv.quotechar,
        strict=True,
    )

    def records() -> Iterator[tuple[str, list[Any]]]:
        try:
            for record in reader:
                yield f"line {reader.line_num}", record
        except csv.Error as exc:
            raise RejectedAttachment(f"line {reader.line_num}: malformed CSV ({exc})") from None

    rows = records()
    for _ in range(spec.csv.skip_rows):
        next(rows, None)
    for _location, record in rows:
        if any(cell.strip() for cell in record):
            return [cell.strip().lstrip("\ufeff") for cell in record], rows
    raise RejectedAttachment("the file has no header row (it is empty or blank)")


# -- XLSX --------------------------------------------------------------------------------------
def _xlsx_table(data: bytes, spec: ReportSpec) -> tuple[list[str], Iterator[tuple[str, list[Any]]]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError) as exc:
        raise RejectedAttachment(f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    if spec.xlsx.sheet:
        if spec.xlsx.sheet not in workbook.sheetnames:
            names = ", ".join(repr(n) for n in workbook.sheetnames)
            workbook.close()
            raise RejectedAttachment(f"the workbook has no sheet {spec.xlsx.sheet!r} (sheets: {names})")
        sheet = workbook[spec.xlsx.sheet]
    else:
        sheet = workbook.worksheets[0]
    # Streaming writers declare <dimension ref="A1"/> before they know the sheet's extent, and
    # read-only openpyxl trusts the declaration: forget it and read the rows that are there.
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()
    # Read everything now: the rows are small (the attachment is size-capped) and the workbook
    # can then be closed before any conversion error escapes.
    try:
        values = list(sheet.iter_rows(min_row=spec.xlsx.header_row, values_only=True))
    finally:
        workbook.close()
    where = f"sheet {sheet.title!r}"
    if not values or not any(v is not None and str(v).strip() for v in values[0]):
        raise RejectedAttachment(
            f"{where} row {spec.xlsx.header_row} is empty; the header was expected there"
        )
    header = ["" if v is None else str(v).strip() for v in values[0]]

    def records() -> Iterator[tuple[str, list[Any]]]:
        for offset, row in enumerate(values[1:], start=spec.xlsx.header_row + 1):
            cells = list(row[: len(header)]) + [None] * (len(header) - len(row))
            yield f"{where} row {offset}", cells

    return header, records()


# -- what the bytes are ------------------------------------------------------------------------
# Leading bytes of the files people attach instead of (or zipped around) a report. A ZIP is
# named apart: an .xlsx workbook is one, so it is fine for an xlsx report.
ZIP_SIGNATURE = b"PK\x03\x04"
_SIGNATURES = (
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old binary Office file (.xls or .doc)"),
)
_SNIFF_BYTES = 1024
_WIDE_ENCODINGS = ("utf-16", "utf-32")


def binary_kind(data: bytes, *, wide_text: bool = False) -> str | None:
    """What a file that is not text is ("a ZIP archive", "a PDF document"...), or None for text.

    Args:
        data: The decoded attachment.
        wide_text: The file may be UTF-16/32 text (declared, or a byte-order mark says so), whose
            NUL bytes are characters: then NUL bytes alone do not make it binary.
    """
    if data.startswith(ZIP_SIGNATURE):
        return "a ZIP archive"
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if not wide_text and b"\x00" in data[:_SNIFF_BYTES]:
        return "a binary file (it contains NUL bytes)"
    return None


def _reject_binary(data: bytes, spec: ReportSpec) -> None:
    """Reject a file whose bytes say it is not what the report's ``format`` reads."""
    if spec.format == "xlsx":
        if data.startswith(ZIP_SIGNATURE):
            return
        found = binary_kind(data) or "a text file (a CSV?)"
        raise RejectedAttachment(
            f"{found}: not a readable .xlsx workbook (an .xlsx file is a ZIP archive); ask the sender for "
            f"the .xlsx export, or configure reports.{spec.name} with the format it really sends"
        )
    wide = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or codecs.lookup(
        spec.csv.encoding
    ).name.startswith(_WIDE_ENCODINGS)
    kind = binary_kind(data, wide_text=wide)
    if kind is None:
        return
    if kind == "a ZIP archive":
        advice = (
            f"configure the report as xlsx if it is a workbook (reports.{spec.name}.format: xlsx), "
            "or ask the sender for CSV"
        )
    else:
        advice = "ask the sender for the CSV file itself"
    raise RejectedAttachment(f"{kind}, not a CSV file; {advice}")


# -- both --------------------------------------------------------------------------------------
def _normal(header: str) -> str:
    return " ".join(header.split()).casefold()


def _column_indexes(header: Sequence[str], spec: ReportSpec) -> list[int]:
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        positions.setdefault(_normal(name), []).append(index)
    missing = [c.header for c in spec.columns if _normal(c.header) not in positions]
    if missing:
        shown = ", ".join(repr(h) for h in header[:30]) + (", ..." if len(header) > 30 else "")
        raise RejectedAttachment(
            f"missing column(s) {', '.join(repr(m) for m in missing)}; the file's header is: {shown}"
        )
    repeated = [c.header for c in spec.columns if len(positions[_normal(c.header)]) > 1]
    if repeated:
        raise RejectedAttachment(
            f"column(s) {', '.join(repr(r) for r in repeated)} appear more than once in the header"
        )
    return [positions[_normal(c.header)][0] for c in spec.columns]


def parse_attachment(data: bytes, spec: ReportSpec) -> list[Row]:
    """Read ``data`` as ``spec`` describes and return typed rows.

    Args:
        data: The decoded attachment (after base64/quoted-printable).
        spec: The report: format, CSV options or XLSX sheet, columns, time zone.

    Returns:
        ``(row number, values)`` per data row, values in ``spec.columns`` order. Blank rows are
        skipped and not numbered.

    Raises:
        RejectedAttachment: empty file, undecodable bytes, malformed CSV, missing columns, rows
            with the wrong number of fields, or values that do not convert.
    """
    if not data:
        raise RejectedAttachment("the file is empty (0 bytes)")
    if not data.strip(_BLANK_BYTES):
        raise RejectedAttachment(f"the file holds only blank space ({len(data)} bytes)")
    _reject_binary(data, spec)
    header, records = (_csv_table if spec.format == "csv" else _xlsx_table)(data, spec)
    indexes = _column_indexes(header, spec)
    zone = ZoneInfo(spec.timezone)
    problems: list[str] = []
    problem_count = 0
    rows: list[Row] = []
    for location, record in records:
        if not any(cell is not None and str(cell).strip() for cell in record):
            continue
        if len(record) != len(header):
            problem_count += 1
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append(f"{location} has {len(record)} fields, the header has {len(header)}")
            continue
        values = []
        for column, index in zip(spec.columns, indexes, strict=True):
            try:
                values.append(convert_value(record[index], column, spec.csv, zone))
            except ValueError as exc:
                problem_count += 1
                if len(problems) < MAX_REPORTED_PROBLEMS:
                    problems.append(f"{location}, column {column.name!r} (header {column.header!r}): {exc}")
                values.append(None)
        rows.append((len(rows) + 1, tuple(values)))
    if problem_count:
        more = f"; and {problem_count - len(problems)} more" if problem_count > len(problems) else ""
        raise RejectedAttachment(f"{problem_count} problem(s): " + "; ".join(problems) + more)
    return rows
