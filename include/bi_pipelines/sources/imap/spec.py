"""``config/imap_reports.yaml`` loaded into frozen dataclasses: one :class:`ReportSpec` per report.

A report is everything needed to find its e-mails (folder, sender, subject pattern), pick the
attachment (file-name pattern, format, maximum size), read it (CSV dialect and encoding, or the
XLSX sheet), type its columns and land it in a table. Adding a report is one entry under
``reports:``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.settings import (
    CONFIG_DIR,
    Dag,
    FreshnessThresholds,
    Section,
    parse_dag,
    parse_duration,
    parse_thresholds,
    parse_timezone,
    read_config,
)
from bi_pipelines.db.identifiers import validate_identifier

IMAP_REPORTS_CONFIG = CONFIG_DIR / "imap_reports.yaml"
# Tests and demos point the DAG at another file without editing the committed one.
CONFIG_PATH_ENV = "BI_IMAP_REPORTS_CONFIG"
DEFAULT_DAG_ID = "extract_bi_imap"

FORMATS = ("csv", "xlsx")
# Report column types and the warehouse type each lands as.
COLUMN_TYPES = {
    "int": "bigint",
    "numeric": "numeric",
    "date": "date",
    "timestamptz": "timestamptz",
    "text": "text",
    "boolean": "boolean",
}
_TYPE_ALIASES = {
    "integer": "int",
    "bigint": "int",
    "decimal": "numeric",
    "timestamp": "timestamptz",
    "bool": "boolean",
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {None: 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a report: where it is in the file and what it becomes in the warehouse.

    Attributes:
        name: Warehouse column name.
        header: The column's header in the file (matched ignoring case and surrounding blanks).
        type: One of :data:`COLUMN_TYPES`.
        format: ``strptime`` format for ``date``/``timestamptz`` text values; ISO 8601 when unset.
        required: An empty value rejects the file instead of landing as NULL.
    """

    name: str
    header: str
    type: str
    format: str | None = None
    required: bool = False

    @property
    def warehouse_type(self) -> str:
        return COLUMN_TYPES[self.type]


@dataclass(frozen=True)
class CsvOptions:
    """How a CSV attachment is written: dialect, encoding and number format."""

    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8"
    skip_rows: int = 0
    decimal_separator: str = "."
    thousands_separator: str | None = None


@dataclass(frozen=True)
class XlsxOptions:
    """Where the table is in a workbook: the sheet (first when unset) and its header row (1-based)."""

    sheet: str | None = None
    header_row: int = 1


@dataclass(frozen=True)
class ReportSpec:
    """One e-mailed report: how to find it, read it and where it lands."""

    name: str
    description: str
    folder: str | None
    senders: tuple[str, ...]
    subject: re.Pattern | None
    attachment: re.Pattern
    format: str
    csv: CsvOptions
    xlsx: XlsxOptions
    columns: tuple[ColumnSpec, ...]
    timezone: str
    target_table: str
    max_size_bytes: int
    fail_on_rejected: bool
    freshness: FreshnessThresholds

    def sender_matches(self, address: str | None) -> bool:
        """Whether ``address`` is one of the senders (a full address, or ``@domain`` for a domain)."""
        if not self.senders:
            return True
        if not address:
            return False
        address = address.strip().lower()
        return any(address.endswith(s) if s.startswith("@") else address == s for s in self.senders)

    def subject_matches(self, subject: str | None) -> bool:
        return self.subject is None or bool(self.subject.search(subject or ""))

    def attachment_matches(self, file_name: str | None) -> bool:
        return bool(file_name) and bool(self.attachment.search(file_name or ""))


@dataclass(frozen=True)
class ImapReportsConfig:
    """The whole ``imap_reports.yaml``: DAG settings, mailbox, warehouse landing and the reports."""

    dag: Dag
    imap_conn_id: str
    overlap: dt.timedelta
    target_conn_id: str
    target_schema: str
    ledger_table: str
    reports: tuple[ReportSpec, ...]
    path: Path

    def report(self, name: str) -> ReportSpec:
        for report in self.reports:
            if report.name == name:
                return report
        raise KeyError(f"{self.path.name}: no report named {name!r}")


@dataclass(frozen=True)
class ReportFreshnessSpec:
    """Where the freshness monitor reads "newest report received" for one configured report.

    The fields mirror a ``freshness.yaml`` extra-table entry: ``MAX(column)`` over ``table``
    restricted by ``filter``. Only ``loaded`` attachments count: a rejected or re-sent file is not
    new data.
    """

    name: str
    conn_id: str
    schema: str
    table: str
    column: str
    filter: str
    timezone: str
    thresholds: FreshnessThresholds


def parse_size(value: Any, where: str) -> int:
    """Parse ``1048576``, ``"500KB"``, ``"25MB"`` or ``"1GB"`` into bytes."""
    match = _SIZE.match(str(value)) if not isinstance(value, bool) else None
    if not match:
        raise ConfigError(
            f"{where}: expected a size like '25MB', '500KB' or a number of bytes, got {value!r}"
        )
    unit = match.group(2).lower() if match.group(2) else None
    size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ConfigError(f"{where}: the size must be positive, got {value!r}")
    return size


def _pattern(value: Any, where: str) -> re.Pattern:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a regular expression, got {value!r}")
    try:
        # Case-insensitive: vendors change ``.CSV``/``.csv`` and subject capitalisation freely.
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"{where}: {value!r} is not a valid regular expression: {exc}") from None


def _single_char(s: Section, key: str, default: str) -> str:
    value = s.get(key, default, types=(str,))
    if len(value) != 1:
        raise ConfigError(f"{s.at(key)}: expected one character, got {value!r}")
    return value


def _encoding(s: Section, default: str) -> str:
    import codecs

    value = s.get("encoding", default, types=(str,))
    try:
        codecs.lookup(value)
    except LookupError:
        raise ConfigError(
            f"{s.at('encoding')}: unknown encoding {value!r} (use e.g. utf-8, latin-1 or cp1252)"
        ) from None
    return value


def _parse_csv(s: Section, d: CsvOptions) -> CsvOptions:
    s.check_keys(
        {"delimiter", "quotechar", "encoding", "skip_rows", "decimal_separator", "thousands_separator"}
    )
    delimiter = s.get("delimiter", d.delimiter, types=(str,))
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if len(delimiter) != 1:
        raise ConfigError(f"{s.at('delimiter')}: expected one character (or 'tab'), got {delimiter!r}")
    skip_rows = s.get("skip_rows", d.skip_rows, types=(int,))
    if skip_rows < 0:
        raise ConfigError(f"{s.at('skip_rows')}: must be 0 or more, got {skip_rows}")
    options = CsvOptions(
        delimiter=delimiter,
        quotechar=_single_char(s, "quotechar", d.quotechar),
        encoding=_encoding(s, d.encoding),
        skip_rows=skip_rows,
        decimal_separator=_single_char(s, "decimal_separator", d.decimal_separator),
        thousands_separator=s.get("thousands_separator", d.thousands_separator, types=(str,)),
    )
    if options.thousands_separator == options.decimal_separator:
        raise ConfigError(f"{s.where}: decimal_separator and thousands_separator must differ")
    return options


def _parse_xlsx(s: Section) -> XlsxOptions:
    s.check_keys({"sheet", "header_row"})
    header_row = s.get("header_row", 1, types=(int,))
    if header_row < 1:
        raise ConfigError(f"{s.at('header_row')}: rows are numbered from 1, got {header_row}")
    sheet = s.get("sheet", types=(str,))
    return XlsxOptions(sheet=sheet, header_row=header_row)


def _parse_column(raw: Any, where: str) -> ColumnSpec:
    s = Section(raw, where)
    s.check_keys({"name", "header", "type", "format", "required"})
    name = validate_identifier(s.get("name", required=True), s.at("name"))
    if name.startswith("_"):
        raise ConfigError(f"{s.at('name')}: names starting with '_' are reserved for load metadata columns")
    raw_type = str(s.get("type", "text")).strip().lower()
    column_type = _TYPE_ALIASES.get(raw_type, raw_type)
    if column_type not in COLUMN_TYPES:
        raise ConfigError(f"{s.at('type')}: unknown type {raw_type!r}; use one of {', '.join(COLUMN_TYPES)}")
    fmt = s.get("format", types=(str,))
    if fmt and column_type not in ("date", "timestamptz"):
        raise ConfigError(f"{s.at('format')}: only date and timestamptz columns take a format")
    return ColumnSpec(
        name=name,
        header=str(s.get("header", name)).strip(),
        type=column_type,
        format=fmt,
        required=s.get("required", False, types=(bool,)),
    )


_REPORT_KEYS = {
    "description",
    "folder",
    "sender",
    "subject",
    "attachment",
    "format",
    "csv",
    "xlsx",
    "columns",
    "timezone",
    "target_table",
    "max_size",
    "fail_on_rejected",
    "freshness",
}


@dataclass(frozen=True)
class _Defaults:
    folder: str | None
    timezone: str
    max_size_bytes: int
    fail_on_rejected: bool
    csv: CsvOptions
    freshness: FreshnessThresholds


def _parse_report(name: str, s: Section, d: _Defaults) -> ReportSpec:
    s.check_keys(_REPORT_KEYS)
    validate_identifier(name, s.where)
    raw_senders = s.get("sender", [], types=(str, list))
    senders = tuple(
        str(x).strip().lower() for x in ([raw_senders] if isinstance(raw_senders, str) else raw_senders)
    )
    subject = s.get("subject")
    if not senders and subject is None:
        raise ConfigError(f"{s.where}: give a sender or a subject pattern, or every e-mail would match")
    fmt = str(s.get("format", "csv")).lower()
    if fmt not in FORMATS:
        raise ConfigError(f"{s.at('format')}: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "csv" and "xlsx" in s.data:
        raise ConfigError(f"{s.at('xlsx')}: a csv report has no xlsx options")
    if fmt == "xlsx" and "csv" in s.data:
        raise ConfigError(f"{s.at('csv')}: an xlsx report has no csv options")
    raw_columns = s.get("columns", required=True, types=(list,))
    columns = tuple(_parse_column(c, f"{s.at('columns')}[{i}]") for i, c in enumerate(raw_columns))
    if not columns:
        raise ConfigError(f"{s.at('columns')}: list at least one column")
    for attr in ("name", "header"):
        values = [getattr(c, attr).lower() for c in columns]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ConfigError(f"{s.at('columns')}: column {attr}(s) used twice: {', '.join(repeated)}")
    folder = s.get("folder", d.folder, types=(str,))
    return ReportSpec(
        name=name,
        description=str(s.get("description", "")),
        folder=folder,
        senders=senders,
        subject=_pattern(subject, s.at("subject")) if subject is not None else None,
        attachment=_pattern(s.get("attachment", required=True), s.at("attachment")),
        format=fmt,
        csv=_parse_csv(s.section("csv"), d.csv),
        xlsx=_parse_xlsx(s.section("xlsx")),
        columns=columns,
        timezone=parse_timezone(s.get("timezone", d.timezone), s.at("timezone")),
        target_table=validate_identifier(s.get("target_table", name), s.at("target_table")),
        max_size_bytes=(
            parse_size(s.get("max_size"), s.at("max_size"))
            if s.get("max_size") is not None
            else d.max_size_bytes
        ),
        fail_on_rejected=s.get("fail_on_rejected", d.fail_on_rejected, types=(bool,)),
        freshness=parse_thresholds(s.section("freshness"), d.freshness),
    )


def config_path(path: str | Path | None = None) -> Path:
    """The configuration file: ``path``, else ``$BI_IMAP_REPORTS_CONFIG``, else the committed one."""
    return Path(path or os.environ.get(CONFIG_PATH_ENV) or IMAP_REPORTS_CONFIG)


def load_imap_reports(path: str | Path | None = None) -> ImapReportsConfig:
    """Load and validate the IMAP reports configuration.

    Raises:
        ConfigError: naming the file and key of any invalid or missing setting.
    """
    path = config_path(path)
    root = read_config(path, "IMAP reports configuration", {"dag", "source", "target", "defaults", "reports"})
    source = root.section("source")
    source.check_keys({"conn_id", "overlap"})
    target = root.section("target")
    target.check_keys({"conn_id", "schema", "ledger_table"})
    ds = root.section("defaults")
    ds.check_keys({"folder", "timezone", "max_size", "fail_on_rejected", "csv", "freshness"})
    defaults = _Defaults(
        folder=ds.get("folder", types=(str,)),
        timezone=parse_timezone(ds.get("timezone", "UTC"), ds.at("timezone")),
        max_size_bytes=parse_size(ds.get("max_size", "25MB"), ds.at("max_size")),
        fail_on_rejected=ds.get("fail_on_rejected", False, types=(bool,)),
        csv=_parse_csv(ds.section("csv"), CsvOptions()),
        freshness=parse_thresholds(ds.section("freshness")),
    )
    reports_section = root.section("reports", required=True)
    reports = tuple(
        _parse_report(str(name), Section(body or {}, reports_section.at(str(name))), defaults)
        for name, body in reports_section.data.items()
    )
    if not reports:
        raise ConfigError(f"{reports_section.where}: no reports configured")
    ledger_table = validate_identifier(
        target.get("ledger_table", "imap_report_ledger"), target.at("ledger_table")
    )
    tables = [r.target_table for r in reports] + [ledger_table]
    repeated = sorted({t for t in tables if tables.count(t) > 1})
    if repeated:
        raise ConfigError(f"{reports_section.where}: target table(s) used twice: {', '.join(repeated)}")
    overlap = parse_duration(source.get("overlap", "1d"), source.at("overlap"))
    return ImapReportsConfig(
        dag=parse_dag(root.section("dag", required=True), DEFAULT_DAG_ID),
        imap_conn_id=validate_identifier(source.get("conn_id", "bi_imap"), source.at("conn_id")),
        overlap=overlap,
        target_conn_id=validate_identifier(target.get("conn_id", "redshift_dw"), target.at("conn_id")),
        target_schema=validate_identifier(target.get("schema", "raw_reports"), target.at("schema")),
        ledger_table=ledger_table,
        reports=reports,
        path=path,
    )


def report_freshness_specs(config: ImapReportsConfig | None = None) -> list[ReportFreshnessSpec]:
    """Per configured report: where to read the newest loaded attachment's receive time.

    ``MAX(received_at)`` over the ledger, filtered on the report and ``status = 'loaded'``.
    ``received_at`` is the server's INTERNALDATE, a ``timestamptz``.
    """
    config = config or load_imap_reports()
    return [
        ReportFreshnessSpec(
            name=f"imap_{report.name}",
            conn_id=config.target_conn_id,
            schema=config.target_schema,
            table=config.ledger_table,
            column="received_at",
            # report names are validated identifiers: no quote can appear in them
            filter=f"report = '{report.name}' AND status = 'loaded'",
            timezone="UTC",
            thresholds=report.freshness,
        )
        for report in config.reports
        if report.freshness.active
    ]
