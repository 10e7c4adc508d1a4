"""Which tables the freshness monitor watches, and how: ``FreshnessCheck`` entries, mostly derived.

1. Derived from the source configurations, nothing to add by hand:

   - every source table of the extraction flows (``extract_*.yaml``): its connection, schema and
     table, the freshness column (the cursor column by default), the time zone of naive
     timestamps and the table's ``freshness`` thresholds;
   - every active report of ``imap_reports.yaml``: the newest ``loaded`` attachment in the
     ledger, with the report's ``freshness`` thresholds;
   - every active object of ``vonigo.yaml``: the newest ``date_last_edited`` in the landing
     table, with the object's ``freshness`` thresholds.

2. ``freshness.yaml``: the monitor's ``dag:`` settings, where results go, how long they are kept,
   alerting, acknowledgements, and extra tables (warehouse marts, say) with a column or a custom
   SQL expression and an optional filter.

An entry in ``freshness.yaml`` whose key equals a derived table's key replaces it, e.g. to give a
full-refresh table without a timestamp column an expression; what the entry does not set
(thresholds, time zone, dialect) stays the derived table's own.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from bi_pipelines.core.enums import STATUSES, Dialect, FreshnessStatus
from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.settings import (
    CONFIG_DIR,
    ConfigModel,
    Dag,
    FreshnessThresholds,
    PositionalModel,
    auto_to_learned,
    check_order,
    config_error,
    env_var,
    load_model,
    problem,
    read_config,
)
from bi_pipelines.core.settings import (
    config_path as _config_path,
)
from bi_pipelines.core.types import (
    Duration,
    Identifier,
    NonNegativeFloat,
    PositiveInt,
    ThresholdMode,
    TimeZoneName,
)
from bi_pipelines.sources.relational.spec import load_flows

CONFIG_STEM = "freshness"
DEFAULT_CONFIG_PATH = CONFIG_DIR / f"{CONFIG_STEM}.yaml"
CONFIG_ENV = env_var(CONFIG_STEM)
DEFAULT_DAG_ID = "monitor_source_freshness"

PASS, WARN, ERROR, RUNTIME_ERROR, NO_DATA = FreshnessStatus

# Expressions and filters are SQL written by the team and reviewed like code; this only stops a
# second statement or a comment that would swallow the rest of the query.
# MySQL's `#` comment is refused outside single-quoted string literals only: `report = 'a#b'` is
# data. (Backslashes are refused too, so a literal ends at the first lone quote; PostgreSQL's
# `#` operator, bitwise XOR, is refused with it.)
_FORBIDDEN_SQL = re.compile(r";|--|/\*|\*/|\\")
_SQL_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_THRESHOLD_KEYS = ("warn_after", "error_after", "check_interval", "active", "mode")


def _sql_fragment(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty SQL fragment, got {value!r}")
    if (
        _FORBIDDEN_SQL.search(value)
        or "#" in _SQL_STRING_LITERAL.sub("''", value)
        or any(ord(ch) < 32 for ch in value)
    ):
        raise ValueError(
            f"{value!r} contains ';', a comment, a backslash or a control character; "
            "write a single expression or condition"
        )
    return value.strip()


SqlFragment = Annotated[str, BeforeValidator(_sql_fragment)]

# Longest identifier per dialect: PostgreSQL 63 bytes (NAMEDATALEN - 1), Redshift 127 bytes,
# MySQL/MariaDB 64 characters.
NAME_LIMITS = {"postgres": (63, "bytes"), "redshift": (127, "bytes"), "mysql": (64, "characters")}


def check_name_length(value: str, dialect: str | None) -> None:
    """Raise ValueError when ``value`` is longer than ``dialect`` allows (64 when unknown)."""
    limit, unit = NAME_LIMITS.get(dialect or "", (64, "characters"))
    size = len(value.encode("utf-8")) if unit == "bytes" else len(value)
    if size > limit:
        raise ValueError(f"{value[:20]!r}... is {size} {unit} long; {dialect or 'the server'} allows {limit}")


# Refused even though quoting would make them harmless: no real table is named like this, and a
# name with a statement separator, a comment or a quote character in a reviewed YAML file is far
# more likely an injection attempt or a copy-paste accident than a table.
_SUSPICIOUS_NAME = re.compile(r";|--|/\*|\*/|[\"`\\]")


def _quotable_name(value: Any) -> str:
    """A name as the server spells it (spaces, mixed case, ``-``, ``.``, non-ASCII letters...).

    It is always quoted for its dialect, the quote character doubled inside (``"..."`` on
    PostgreSQL/Redshift, backticks on MySQL/MariaDB). NUL and other control characters are
    refused, and so are ``;``, comments, quote characters and backslashes.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a valid identifier: expected a non-empty name")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"{value!r} is not a valid identifier: it contains a control character")
    if _SUSPICIOUS_NAME.search(value):
        raise ValueError(
            f"{value!r} is not a valid identifier: ';', comments, quotes, backticks and backslashes "
            "are refused in names"
        )
    check_name_length(value, None)
    return value


# The schema/table/column of a freshness.yaml entry: looser than the strict ``Identifier`` of the
# extraction flows (whose names also become warehouse tables), quoted for its dialect in queries.
QuotableName = Annotated[str, BeforeValidator(_quotable_name)]


def check_sql_fragment(value: Any, where: str) -> str:
    """Accept a configured SQL expression or filter that is one fragment, not a second statement."""
    try:
        return _sql_fragment(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def table_key(conn_id: str, schema: str | None, table: str, name: str | None = None) -> str:
    """The stable key of a table's history: ``<conn_id>:<schema>.<table>``, ``#<name>`` for a slice."""
    base = f"{conn_id}:{schema}.{table}" if schema else f"{conn_id}:{table}"
    return f"{base}#{name}" if name else base


class FreshnessCheck(ConfigModel):
    """One table (or one filtered slice of a table) whose last update is measured.

    Attributes:
        key: Stable identifier, ``<conn_id>:<schema>.<table>`` (plus ``#<name>`` for a filtered
            entry); the history of a table is keyed on it.
        conn_id: Airflow connection of the server holding the table.
        dialect: ``postgres``, ``mysql`` or ``redshift``; ``None`` means "from the connection type".
        schema: Schema (MySQL: database); ``None`` means the connection's default.
        table: Table name.
        column: Timestamp column whose maximum is the last update.
        expression: SQL expression used instead of ``MAX(column)``, e.g. ``max(received_at)``.
        filter: Optional SQL condition (``report = 'daily_sales'``).
        timezone: Time zone of naive timestamps (``timestamp``/``DATETIME``).
        thresholds: warn_after, error_after, check_interval, active.
        origin: Where the entry came from (file and key), for messages.
        problem: Why the table cannot be checked as configured; it then gets a runtime_error row.
    """

    key: str
    conn_id: str
    dialect: Dialect | None = None
    schema_: str | None = Field(None, alias="schema")
    table: str
    column: str | None = None
    expression: str | None = None
    filter: str | None = None
    timezone: str
    thresholds: FreshnessThresholds
    origin: str
    problem: str | None = None

    @property
    def schema(self) -> str | None:  # type: ignore[override]  # shadows pydantic's deprecated BaseModel.schema()
        """The schema (MySQL: database), or None for the connection's default."""
        return self.schema_

    @property
    def qualified_table(self) -> str:
        """``schema.table``, or the table alone."""
        return f"{self.schema}.{self.table}" if self.schema else self.table

    @property
    def measured(self) -> str:
        """The column or expression, as written to the results table."""
        return self.expression or self.column or ""


def _until(value: Any) -> dt.datetime:
    """A date means "the whole of that day": silenced until the next midnight UTC."""
    if not isinstance(value, dt.datetime):
        try:
            day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
            return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
        except ValueError:
            pass
        try:
            value = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or ISO date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _reason(value: str) -> str:
    if not value.strip():
        raise ValueError("say why the table is acknowledged")
    return value.strip()


class Acknowledgement(PositionalModel):
    """A table whose bad status is known and silenced until ``until`` (inclusive, UTC)."""

    table_key: str = Field(alias="table")
    until: Annotated[dt.datetime, BeforeValidator(_until)]  # first instant no longer acknowledged
    reason: Annotated[str, AfterValidator(_reason)]

    def active(self, at: dt.datetime) -> bool:
        """Whether the acknowledgement still holds at ``at``."""
        return at < self.until


class MonitoringSettings(ConfigModel):
    """Where the results go (``monitoring:``) and how long they are kept."""

    conn_id: Identifier = "redshift_dw"
    schema_: Identifier = Field("monitoring", alias="schema")
    table: Identifier = "source_table_freshness"
    retention: Duration = dt.timedelta(days=90)

    @property
    def schema(self) -> str:  # type: ignore[override]  # shadows pydantic's deprecated BaseModel.schema()
        """The monitoring schema."""
        return self.schema_

    @property
    def view(self) -> str:
        """The view holding each table's newest row."""
        return f"{self.table}_latest"


class SweepSettings(ConfigModel):
    """How the sweep waits (``sweep:``): statement timeout, connect attempts, parallel servers."""

    statement_timeout: Duration = dt.timedelta(seconds=30)
    connect_attempts: PositiveInt = 2
    connect_backoff_seconds: NonNegativeFloat = 1.0
    max_parallel_connections: PositiveInt = 8
    connection_budget: Duration = dt.timedelta(minutes=5)


class AlertSettings(ConfigModel):
    """Who is told (``alerts:``), through which SMTP connection, and which statuses fail the run."""

    email_to: tuple[str, ...] = ()
    smtp_conn_id: Identifier = "smtp_default"
    fail_on: tuple[FreshnessStatus, ...] = (ERROR,)

    @field_validator("email_to", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("fail_on")
    @classmethod
    def _not_pass(cls, value: tuple[FreshnessStatus, ...]) -> tuple[FreshnessStatus, ...]:
        if PASS in value:
            raise ValueError(f"{PASS.value!r} is not one of {', '.join(STATUSES[1:])}")
        return value


class LearningSettings(ConfigModel):
    """``learning:``: how thresholds are learned for the tables in ``mode: learned``.

    The defaults suit the 90-day retention: a weekly table has about 12 updates in 90 days, so
    ``min_updates`` is 8 (reached after two months), and ``min_days`` 14 makes sure a weekly
    rhythm has been seen at least twice before it is trusted.
    """

    quantile: float = Field(0.95, gt=0, lt=1)
    warn_margin: float = Field(1.5, ge=1)
    error_margin: float = Field(3.0, ge=1)
    min_updates: PositiveInt = 8
    min_days: Duration = dt.timedelta(days=14)
    bucket_min_samples: PositiveInt = 5
    rhythm_ratio: float = Field(3.0, ge=1)
    timezone: TimeZoneName | None = None

    @model_validator(mode="after")
    def _warn_before_error(self) -> LearningSettings:
        if self.warn_margin > self.error_margin:
            raise problem("warn_margin", "warn_margin must not be larger than error_margin")
        return self


class FlowsSection(ConfigModel):
    """``flows:``: whether checks are derived from the source configurations, and from where."""

    include: StrictBool = True
    config_dir: Path | None = None


class EntryDefaults(FreshnessThresholds):
    """``defaults:``: for the entries under ``tables:`` that are not derived tables."""

    timezone: TimeZoneName = "UTC"


class TableEntry(ConfigModel):
    """One entry under ``tables:``."""

    name: Identifier
    conn_id: Identifier
    dialect: Dialect | None = None
    schema_: QuotableName | None = Field(None, alias="schema")
    table: QuotableName
    column: QuotableName | None = None
    expression: SqlFragment | None = None
    filter: SqlFragment | None = None
    timezone: TimeZoneName | None = None
    warn_after: Duration | None = None
    error_after: Duration | None = None
    check_interval: Duration | None = None
    active: StrictBool | None = None
    mode: ThresholdMode | None = None

    @model_validator(mode="before")
    @classmethod
    def _table_defaults_to_the_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" in data:
            return {"table": data["name"], **auto_to_learned(data)}
        return data

    @model_validator(mode="after")
    def _one_measure(self) -> TableEntry:
        if (self.column is None) == (self.expression is None):
            raise problem(None, "give exactly one of `column` (a timestamp column) or `expression`")
        check_order(self.warn_after, self.error_after)
        for name in (self.schema_, self.table, self.column):
            if name is not None:
                check_name_length(name, self.dialect)
        return self

    @property
    def key(self) -> str:
        """The entry's table key (see :func:`table_key`)."""
        return table_key(self.conn_id, self.schema_, self.table, self.name if self.filter else None)

    def thresholds_over(self, base: FreshnessThresholds) -> FreshnessThresholds:
        """The thresholds this entry sets, ``base``'s for the others."""
        own = {k: getattr(self, k) for k in _THRESHOLD_KEYS if k in self.model_fields_set}
        return FreshnessThresholds.model_validate({**{k: getattr(base, k) for k in _THRESHOLD_KEYS}, **own})


class FreshnessFile(ConfigModel):
    """The whole ``freshness.yaml``."""

    dag: Dag
    monitoring: MonitoringSettings = MonitoringSettings()
    sweep: SweepSettings = SweepSettings()
    alerts: AlertSettings = AlertSettings()
    learning: LearningSettings = LearningSettings()
    flows: FlowsSection = FlowsSection()
    defaults: EntryDefaults = EntryDefaults()
    tables: dict[str, TableEntry] = {}
    acknowledgements: tuple[Acknowledgement, ...] = ()

    @field_validator("tables", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            str(name): {**(body or {}), "name": str(name)} if isinstance(body, dict | None) else body
            for name, body in value.items()
        }


class FreshnessConfig(ConfigModel):
    """What the monitor runs on: its settings and every check, derived or declared."""

    dag: Dag
    checks: tuple[FreshnessCheck, ...]
    monitoring: MonitoringSettings = MonitoringSettings()
    sweep: SweepSettings = SweepSettings()
    alerts: AlertSettings = AlertSettings()
    learning: LearningSettings = LearningSettings()
    acknowledgements: tuple[Acknowledgement, ...] = ()
    path: Path = Path()

    def acknowledgement(self, table_key: str, at: dt.datetime) -> Acknowledgement | None:
        """The first acknowledgement of ``table_key`` that holds at ``at``, if any."""
        for ack in self.acknowledgements:
            if ack.table_key == table_key and ack.active(at):
                return ack
        return None

    @property
    def active_checks(self) -> tuple[FreshnessCheck, ...]:
        """The checks that are measured (``active: true``)."""
        return tuple(c for c in self.checks if c.thresholds.active)

    @property
    def learned_checks(self) -> tuple[FreshnessCheck, ...]:
        """The active checks whose thresholds are learned from their history."""
        return tuple(c for c in self.active_checks if c.thresholds.mode == "learned")


def config_path(path: str | Path | None = None) -> Path:
    """The freshness YAML: ``path``, else ``$BI_FRESHNESS_CONFIG``, else ``config/freshness.yaml``."""
    return _config_path(CONFIG_STEM, path)


def _load_file(path: Path) -> FreshnessFile:
    return load_model(
        FreshnessFile,
        path,
        "freshness configuration",
        hint=f" (set {CONFIG_ENV} or create it)",
        context={"dag_id": DEFAULT_DAG_ID},
    )


def load_dag_settings(path: str | Path | None = None) -> Dag:
    """Only the ``dag:`` section: what the DAG file needs at parse time (no flows, no servers)."""
    p = config_path(path)
    raw = read_config(p, "freshness configuration", hint=f" (set {CONFIG_ENV} or create it)")
    if not isinstance(raw, dict) or not isinstance(raw.get("dag"), dict):
        return _load_file(p).dag  # raises, naming what is wrong
    try:
        return Dag.model_validate(raw["dag"], context={"dag_id": DEFAULT_DAG_ID})
    except ValidationError as exc:
        raise config_error(exc, f"{p.name}.dag") from None


def checks_from_flows(config_dir: Path | None = None) -> list[FreshnessCheck]:
    """One check per source table read by an extraction flow."""
    checks = []
    for flow in load_flows(config_dir):
        for t in flow.tables:
            origin = f"{flow.path.name}: tables.{t.name}"
            problem = None
            if not t.freshness_column:
                problem = (
                    f"no timestamp column to measure ({origin} is a full_refresh table): set "
                    f"freshness.column there, or add an entry with an `expression` to freshness.yaml"
                )
            checks.append(
                FreshnessCheck(
                    key=table_key(flow.source_conn_id, t.source_schema, t.source_table),
                    conn_id=flow.source_conn_id,
                    dialect=flow.source_dialect,
                    schema=t.source_schema,
                    table=t.source_table,
                    column=t.freshness_column,
                    expression=None,
                    filter=None,
                    timezone=t.source_timezone,
                    thresholds=t.freshness,
                    origin=origin,
                    problem=problem,
                )
            )
    return checks


def checks_from_imap_reports(path: Path | None = None) -> list[FreshnessCheck]:
    """One check per active IMAP report: the newest ``loaded`` attachment in the ledger."""
    from bi_pipelines.sources.imap.spec import load_imap_reports, report_freshness_specs

    config = load_imap_reports(path)
    return [
        FreshnessCheck(
            key=table_key(spec.conn_id, spec.schema, spec.table, spec.name),
            conn_id=spec.conn_id,
            dialect=None,
            schema=spec.schema,
            table=spec.table,
            column=None,
            expression=f"max({spec.column})",
            filter=spec.filter,
            timezone=spec.timezone,
            thresholds=spec.thresholds,
            origin=f"{config.path.name}: reports.{spec.report}",
        )
        for spec in report_freshness_specs(config)
    ]


def checks_from_vonigo(path: Path | None = None) -> list[FreshnessCheck]:
    """One check per active Vonigo object: the newest ``date_last_edited`` of its landed records.

    ``object_type`` in the records table is the object's key in ``vonigo.yaml``;
    ``date_last_edited`` is a ``timestamptz``.
    """
    from bi_pipelines.sources.vonigo.spec import load_vonigo_config

    config = load_vonigo_config(path)
    target = config.target
    return [
        FreshnessCheck(
            key=table_key(target.conn_id, target.schema, target.records, f"vonigo_{spec.name}"),
            conn_id=target.conn_id,
            dialect=None,
            schema=target.schema,
            table=target.records,
            column=None,
            expression="max(date_last_edited)",
            # object names are validated identifiers: no quote can appear in them
            filter=f"object_type = '{spec.name}'",
            timezone="UTC",
            thresholds=spec.freshness,
            origin=f"{config.path.name}: objects.{spec.name}",
        )
        for spec in config.objects
        if spec.freshness.active
    ]


def derived_checks(config_dir: Path | None = None) -> list[FreshnessCheck]:
    """Every check derived from the source configurations.

    Args:
        config_dir: The directory holding ``extract_*.yaml`` and, optionally, ``imap_reports.yaml``
            and ``vonigo.yaml``. Default: the committed configuration, where
            ``$BI_<STEM>_CONFIG`` replaces a file.
    """
    checks = checks_from_flows(config_dir)
    for stem, derive in (("imap_reports", checks_from_imap_reports), ("vonigo", checks_from_vonigo)):
        if config_dir is None:
            checks += derive(None)
        elif (config_dir / f"{stem}.yaml").exists():
            checks += derive(config_dir / f"{stem}.yaml")
    return checks


def _entry_check(entry: TableEntry, base: FreshnessCheck | None, defaults: EntryDefaults, origin: str):
    try:
        thresholds = entry.thresholds_over(base.thresholds if base else defaults)
    except ValidationError as exc:  # the merged thresholds can still disagree
        raise config_error(exc, origin) from None
    return FreshnessCheck(
        key=entry.key,
        conn_id=entry.conn_id,
        dialect=entry.dialect or (base.dialect if base else None),
        schema=entry.schema_,
        table=entry.table,
        column=entry.column,
        expression=entry.expression,
        filter=entry.filter,
        timezone=entry.timezone or (base.timezone if base else defaults.timezone),
        thresholds=thresholds,
        origin=origin,
    )


def load_config(path: str | Path | None = None, flows_dir: Path | None = None) -> FreshnessConfig:
    """Load ``freshness.yaml`` and derive checks from the source configurations.

    Args:
        path: The YAML file; default ``$BI_FRESHNESS_CONFIG`` or ``config/freshness.yaml``.
        flows_dir: Where the source configurations live; default ``flows.config_dir`` or the
            committed ones (see :func:`derived_checks`).

    Raises:
        ConfigError: naming the file and key of any invalid setting, a duplicated table key, or
            an acknowledgement of an unknown table.
    """
    p = config_path(path)
    file = _load_file(p)

    checks: dict[str, FreshnessCheck] = {}
    if file.flows.include:
        for check in derived_checks(flows_dir or file.flows.config_dir):
            if check.key in checks:
                raise ConfigError(
                    f"{check.origin}: table {check.key} is already monitored from "
                    f"{checks[check.key].origin}; give one of them its own freshness settings"
                )
            checks[check.key] = check

    declared: dict[str, str] = {}
    for name, entry in file.tables.items():
        origin = f"{p.name}.tables.{name}"
        if entry.key in declared:
            raise ConfigError(f"{origin}: same table as {declared[entry.key]} ({entry.key})")
        declared[entry.key] = origin
        checks[entry.key] = _entry_check(entry, checks.get(entry.key), file.defaults, origin)

    for i, ack in enumerate(file.acknowledgements):
        if ack.table_key not in checks:
            raise ConfigError(
                f"{p.name}.acknowledgements[{i}].table: {ack.table_key!r} is not a monitored table key; "
                f"keys look like 'obe_mysql:bookings' (see the table_key column of "
                f"monitoring.source_table_freshness)"
            )

    return FreshnessConfig(
        dag=file.dag,
        checks=tuple(checks.values()),
        monitoring=file.monitoring,
        sweep=file.sweep,
        alerts=file.alerts,
        learning=file.learning,
        acknowledgements=file.acknowledgements,
        path=p,
    )
