"""``config/imap_reports.yaml`` as pydantic models: one :class:`ReportSpec` per report.

A report is everything needed to find its e-mails (folder, sender, subject pattern), pick the
attachment (file-name pattern, format, maximum size), read it (CSV dialect and encoding, or the
XLSX sheet), type its columns and land it in a table. Adding a report is one entry under
``reports:``; ``defaults:`` gives what a report leaves unset.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PlainValidator,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.settings import (
    CONFIG_DIR,
    ConfigModel,
    Dag,
    FreshnessThresholds,
    config_path,
    env_var,
    load_model,
    problem,
)
from bi_pipelines.core.types import Duration, Identifier, TimeZoneName

CONFIG_STEM = "imap_reports"
IMAP_REPORTS_CONFIG = CONFIG_DIR / f"{CONFIG_STEM}.yaml"
# Tests and demos point the DAG at another file without editing the committed one.
CONFIG_PATH_ENV = env_var(CONFIG_STEM)
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
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*", re.IGNORECASE)
_SIZE_UNITS = {None: 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def to_size(value: Any) -> int:
    """``1048576``, ``"500KB"``, ``"25MB"`` or ``"1GB"`` in bytes."""
    match = _SIZE.fullmatch(str(value)) if not isinstance(value, bool) else None
    if not match:
        raise ValueError(f"expected a size like '25MB', '500KB' or a number of bytes, got {value!r}")
    unit = match.group(2).lower() if match.group(2) else None
    size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ValueError(f"the size must be positive, got {value!r}")
    return size


def parse_size(value: Any, where: str) -> int:
    """Parse a size (see :func:`to_size`), naming ``where`` in the error."""
    try:
        return to_size(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _pattern(value: Any) -> re.Pattern:
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a regular expression, got {value!r}")
    try:
        # Case-insensitive: vendors change ``.CSV``/``.csv`` and subject capitalisation freely.
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None


def _one_char(value: str) -> str:
    if len(value) != 1:
        raise ValueError(f"expected one character, got {value!r}")
    return value


Size = Annotated[int, PlainValidator(to_size)]
Pattern = Annotated[re.Pattern, PlainValidator(_pattern)]


class ColumnSpec(ConfigModel):
    """One column of a report: where it is in the file and what it becomes in the warehouse.

    Attributes:
        name: Warehouse column name.
        header: The column's header in the file (matched ignoring case and surrounding blanks).
        type: One of :data:`COLUMN_TYPES`.
        format: ``strptime`` format for ``date``/``timestamptz`` text values; ISO 8601 when unset.
        required: An empty value rejects the file instead of landing as NULL.
    """

    name: Identifier
    header: str
    type: str = "text"
    format: str | None = None
    required: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _header_defaults_to_the_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" in data:
            data = {"header": data["name"], **data}
            data["header"] = str(data["header"]).strip()
        return data

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.startswith("_"):
            raise ValueError("names starting with '_' are reserved for load metadata columns")
        return value

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> str:
        raw = str(value).strip().lower()
        column_type = _TYPE_ALIASES.get(raw, raw)
        if column_type not in COLUMN_TYPES:
            raise ValueError(f"unknown type {raw!r}; use one of {', '.join(COLUMN_TYPES)}")
        return column_type

    @model_validator(mode="after")
    def _format_for_dates_only(self) -> ColumnSpec:
        if self.format and self.type not in ("date", "timestamptz"):
            raise problem("format", "only date and timestamptz columns take a format")
        return self

    @property
    def warehouse_type(self) -> str:
        """The warehouse column type of the configured ``type``."""
        return COLUMN_TYPES[self.type]


class CsvOptions(ConfigModel):
    """How a CSV attachment is written: dialect, encoding and number format."""

    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8"
    skip_rows: StrictInt = Field(0, ge=0)
    decimal_separator: str = "."
    thousands_separator: str | None = None

    @field_validator("delimiter")
    @classmethod
    def _tab(cls, value: str) -> str:
        value = "\t" if value in ("\\t", "tab") else value
        if len(value) != 1:
            raise ValueError(f"expected one character (or 'tab'), got {value!r}")
        return value

    @field_validator("quotechar", "decimal_separator")
    @classmethod
    def _single(cls, value: str) -> str:
        return _one_char(value)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (use e.g. utf-8, latin-1 or cp1252)") from None
        return value

    @model_validator(mode="after")
    def _separators_differ(self) -> CsvOptions:
        if self.thousands_separator == self.decimal_separator:
            raise ValueError("decimal_separator and thousands_separator must differ")
        return self


class XlsxOptions(ConfigModel):
    """Where the table is in a workbook: the sheet (first when unset) and its header row (1-based)."""

    sheet: str | None = None
    header_row: StrictInt = 1

    @field_validator("header_row")
    @classmethod
    def _from_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"rows are numbered from 1, got {value}")
        return value


class ReportDefaults(ConfigModel):
    """``defaults:``: what a report leaves unset."""

    folder: str | None = None
    timezone: TimeZoneName = "UTC"
    max_size: Size = 25 * 1024**2
    fail_on_rejected: StrictBool = False
    csv: CsvOptions = CsvOptions()
    freshness: FreshnessThresholds = FreshnessThresholds()


class ReportSpec(ConfigModel):
    """One e-mailed report: how to find it, read it and where it lands."""

    name: Identifier
    description: str = ""
    folder: str | None = None
    senders: tuple[str, ...] = Field((), alias="sender")
    subject: Pattern | None = None
    attachment: Pattern
    format: Literal["csv", "xlsx"] = "csv"
    csv: CsvOptions = CsvOptions()
    xlsx: XlsxOptions = XlsxOptions()
    columns: tuple[ColumnSpec, ...]
    timezone: TimeZoneName = "UTC"
    target_table: Identifier
    max_size_bytes: Size = Field(25 * 1024**2, alias="max_size")
    fail_on_rejected: StrictBool = False
    freshness: FreshnessThresholds = FreshnessThresholds()

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {"target_table": data.get("name"), **data}
            if isinstance(data.get("sender"), str):
                data["sender"] = [data["sender"]]
            if isinstance(data.get("sender"), list):
                data["sender"] = [str(s).strip().lower() for s in data["sender"]]
            if isinstance(data.get("format"), str):
                data["format"] = data["format"].lower()
        return data

    @field_validator("columns")
    @classmethod
    def _columns_distinct(cls, columns: tuple[ColumnSpec, ...]) -> tuple[ColumnSpec, ...]:
        if not columns:
            raise ValueError("list at least one column")
        for attr in ("name", "header"):
            values = [getattr(c, attr).lower() for c in columns]
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"column {attr}(s) used twice: {', '.join(repeated)}")
        return columns

    @model_validator(mode="after")
    def _matches_something(self) -> ReportSpec:
        if not self.senders and self.subject is None:
            raise problem(None, "give a sender or a subject pattern, or every e-mail would match")
        return self

    def sender_matches(self, address: str | None) -> bool:
        """Whether ``address`` is one of the senders (a full address, or ``@domain`` for a domain)."""
        if not self.senders:
            return True
        if not address:
            return False
        address = address.strip().lower()
        return any(address.endswith(s) if s.startswith("@") else address == s for s in self.senders)

    def subject_matches(self, subject: str | None) -> bool:
        """Whether ``subject`` matches the subject pattern (any subject when none is set)."""
        return self.subject is None or bool(self.subject.search(subject or ""))

    def attachment_matches(self, file_name: str | None) -> bool:
        """Whether an attachment named ``file_name`` is one of the report's files."""
        return bool(file_name) and bool(self.attachment.search(file_name or ""))


class ImapSource(ConfigModel):
    """``source``: the mailbox's Airflow connection and how far before its window each run reads."""

    conn_id: Identifier = "bi_imap"
    overlap: Duration = dt.timedelta(days=1)


class ImapTarget(ConfigModel):
    """``target``: the warehouse connection, the schema the reports land in and the ledger table."""

    conn_id: Identifier = "redshift_dw"
    schema_: Identifier = Field("raw_reports", alias="schema")
    ledger_table: Identifier = "imap_report_ledger"


class ImapReportsConfig(ConfigModel):
    """The whole ``imap_reports.yaml``: DAG settings, mailbox, warehouse landing and the reports."""

    dag: Dag
    source: ImapSource = ImapSource()
    target: ImapTarget = ImapTarget()
    defaults: ReportDefaults = ReportDefaults()
    reports_: dict[str, ReportSpec] = Field(alias="reports")
    _path: Path = PrivateAttr(default=Path())

    @field_validator("reports_", mode="before")
    @classmethod
    def _apply_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        """Each report gets its key as name, and ``defaults:`` for what it leaves unset."""
        if not isinstance(value, dict):
            return value
        d: ReportDefaults = info.data.get("defaults", ReportDefaults())
        inherited = {
            "folder": d.folder,
            "timezone": d.timezone,
            "max_size": d.max_size,
            "fail_on_rejected": d.fail_on_rejected,
        }
        reports = {}
        for name, body in value.items():
            body = {} if body is None else body
            if isinstance(body, dict):
                fmt = str(body.get("format", "csv")).lower()
                for own, other in (("a csv", "xlsx"), ("an xlsx", "csv")):
                    if fmt == own.split()[1] and other in body:
                        raise problem(f"{name}.{other}", f"{own} report has no {other} options")
                body = {**inherited, **body, "name": str(name)}
                for key, base in (("csv", d.csv), ("freshness", d.freshness)):
                    own_value = body.get(key) or {}
                    if isinstance(own_value, dict):
                        body[key] = {**{k: getattr(base, k) for k in base.model_fields_set}, **own_value}
            reports[str(name)] = body
        return reports

    @model_validator(mode="after")
    def _tables_land_apart(self) -> ImapReportsConfig:
        if not self.reports:
            raise problem("reports", "no reports configured")
        tables = [r.target_table for r in self.reports] + [self.ledger_table]
        repeated = sorted({t for t in tables if tables.count(t) > 1})
        if repeated:
            raise problem("reports", f"target table(s) used twice: {', '.join(repeated)}")
        return self

    @property
    def reports(self) -> tuple[ReportSpec, ...]:
        """The configured reports, in file order."""
        return tuple(self.reports_.values())

    @property
    def imap_conn_id(self) -> str:
        """The Airflow connection of the mailbox."""
        return self.source.conn_id

    @property
    def overlap(self) -> dt.timedelta:
        """How far before its window each run reads the mailbox."""
        return self.source.overlap

    @property
    def target_conn_id(self) -> str:
        """The Airflow connection of the warehouse."""
        return self.target.conn_id

    @property
    def target_schema(self) -> str:
        """The warehouse schema the reports and the ledger land in."""
        return self.target.schema_

    @property
    def ledger_table(self) -> str:
        """The name of the ledger table."""
        return self.target.ledger_table

    @property
    def path(self) -> Path:
        """The configuration file this configuration was read from."""
        return self._path

    def report(self, name: str) -> ReportSpec:
        """The report named ``name``.

        Raises:
            KeyError: naming the file, when it has no such report.
        """
        try:
            return self.reports_[name]
        except KeyError:
            raise KeyError(f"{self.path.name}: no report named {name!r}") from None


class ReportFreshnessSpec(ConfigModel):
    """Where the freshness monitor reads "newest report received" for one configured report.

    ``MAX(column)`` over ``table`` restricted by ``filter``. Only ``loaded`` attachments count: a
    rejected or re-sent file is not new data.
    """

    name: str
    report: str
    conn_id: str
    schema_: str = Field(alias="schema")
    table: str
    column: str
    filter: str
    timezone: str
    thresholds: FreshnessThresholds

    @property
    def schema(self) -> str:  # type: ignore[override]  # shadows pydantic's deprecated BaseModel.schema()
        """The warehouse schema of ``table``."""
        return self.schema_


def load_imap_reports(path: str | Path | None = None) -> ImapReportsConfig:
    """Load and validate the IMAP reports configuration.

    Args:
        path: The file; default ``$BI_IMAP_REPORTS_CONFIG``, else the committed one.

    Raises:
        ConfigError: naming the file and key of any invalid or missing setting.
    """
    path = config_path(CONFIG_STEM, path)
    config = load_model(
        ImapReportsConfig, path, "IMAP reports configuration", context={"dag_id": DEFAULT_DAG_ID}
    )
    config._path = path
    return config


def report_freshness_specs(config: ImapReportsConfig | None = None) -> list[ReportFreshnessSpec]:
    """Per active report: where to read the newest loaded attachment's receive time.

    ``MAX(received_at)`` over the ledger, filtered on the report and ``status = 'loaded'``.
    ``received_at`` is the server's INTERNALDATE, a ``timestamptz``.
    """
    config = config or load_imap_reports()
    return [
        ReportFreshnessSpec(
            name=f"imap_{report.name}",
            report=report.name,
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
