"""Which tables the freshness monitor watches, and how: ``FreshnessCheck`` entries from two places.

1. Every source table of the extraction flows (``extract_*.yaml``, via :func:`load_flows`): its
   connection, schema and table, the freshness column (the cursor column by default), the time
   zone of naive timestamps and the flow's ``freshness`` thresholds. Nothing to add by hand.
2. ``freshness.yaml``: the monitor's ``dag:`` settings, where results go, how long they are kept,
   alerting, acknowledgements, and extra tables (warehouse marts, the IMAP and Vonigo landing
   tables) with a column or a custom SQL expression and an optional filter.

An entry in ``freshness.yaml`` whose key equals a derived table's key replaces it, e.g. to give a
full-refresh table without a timestamp column an expression.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.settings import (
    CONFIG_DIR,
    DIALECTS,
    Dag,
    FreshnessThresholds,
    Section,
    load_flows,
    parse_dag,
    parse_duration,
    parse_thresholds,
    parse_timezone,
    read_config,
)
from bi_pipelines.db.identifiers import validate_identifier

DEFAULT_CONFIG_PATH = CONFIG_DIR / "freshness.yaml"
CONFIG_ENV = "FRESHNESS_CONFIG"
DEFAULT_DAG_ID = "monitor_source_freshness"

PASS, WARN, ERROR, RUNTIME_ERROR, NO_DATA = "pass", "warn", "error", "runtime_error", "no_data"
STATUSES = (PASS, WARN, ERROR, RUNTIME_ERROR, NO_DATA)

# Expressions and filters are SQL written by the team and reviewed like code; this only stops a
# second statement or a comment that would swallow the rest of the query.
_FORBIDDEN_SQL = re.compile(r";|--|/\*|\*/|\\")


@dataclass(frozen=True)
class FreshnessCheck:
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
    dialect: str | None
    schema: str | None
    table: str
    column: str | None
    expression: str | None
    filter: str | None
    timezone: str
    thresholds: FreshnessThresholds
    origin: str
    problem: str | None = None

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table

    @property
    def measured(self) -> str:
        """The column or expression, as written to the results table."""
        return self.expression or self.column or ""


@dataclass(frozen=True)
class Acknowledgement:
    """A table whose bad status is known and silenced until ``until`` (inclusive, UTC)."""

    table_key: str
    until: dt.datetime  # first instant no longer acknowledged
    reason: str

    def active(self, at: dt.datetime) -> bool:
        return at < self.until


@dataclass(frozen=True)
class MonitoringSettings:
    conn_id: str = "redshift_dw"
    schema: str = "monitoring"
    table: str = "source_table_freshness"
    retention: dt.timedelta = dt.timedelta(days=90)

    @property
    def view(self) -> str:
        return f"{self.table}_latest"


@dataclass(frozen=True)
class SweepSettings:
    statement_timeout: dt.timedelta = dt.timedelta(seconds=30)
    connect_attempts: int = 2
    connect_backoff_seconds: float = 1.0
    max_parallel_connections: int = 8
    connection_budget: dt.timedelta = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class AlertSettings:
    email_to: tuple[str, ...] = ()
    smtp_conn_id: str = "smtp_default"
    fail_on: tuple[str, ...] = (ERROR,)


@dataclass(frozen=True)
class FreshnessConfig:
    dag: Dag
    checks: tuple[FreshnessCheck, ...]
    monitoring: MonitoringSettings = MonitoringSettings()
    sweep: SweepSettings = SweepSettings()
    alerts: AlertSettings = AlertSettings()
    acknowledgements: tuple[Acknowledgement, ...] = ()
    path: Path = field(default=Path(), compare=False)

    def acknowledgement(self, table_key: str, at: dt.datetime) -> Acknowledgement | None:
        for ack in self.acknowledgements:
            if ack.table_key == table_key and ack.active(at):
                return ack
        return None

    @property
    def active_checks(self) -> tuple[FreshnessCheck, ...]:
        return tuple(c for c in self.checks if c.thresholds.active)


def config_path(path: str | Path | None = None) -> Path:
    """The freshness YAML: ``path``, else ``$FRESHNESS_CONFIG``, else ``config/freshness.yaml``."""
    return Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def _read(path: Path) -> Section:
    return read_config(
        path,
        "freshness configuration",
        {"dag", "monitoring", "sweep", "alerts", "flows", "defaults", "tables", "acknowledgements"},
        hint=f" (set {CONFIG_ENV} or create it)",
    )


def load_dag_settings(path: str | Path | None = None) -> Dag:
    """Only the ``dag:`` section: what the DAG file needs at parse time (no flows, no servers)."""
    p = config_path(path)
    return parse_dag(_read(p).section("dag", required=True), DEFAULT_DAG_ID)


def check_sql_fragment(value: Any, where: str) -> str:
    """Accept a configured SQL expression or filter that is one fragment, not a second statement."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a non-empty SQL fragment, got {value!r}")
    if _FORBIDDEN_SQL.search(value) or any(ord(ch) < 32 for ch in value):
        raise ConfigError(
            f"{where}: {value!r} contains ';', a comment, a backslash or a control character; "
            "write a single expression or condition"
        )
    return value.strip()


def table_key(conn_id: str, schema: str | None, table: str, name: str | None = None) -> str:
    base = f"{conn_id}:{schema}.{table}" if schema else f"{conn_id}:{table}"
    return f"{base}#{name}" if name else base


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


_TABLE_KEYS = {
    "conn_id",
    "dialect",
    "schema",
    "table",
    "column",
    "expression",
    "filter",
    "timezone",
    "warn_after",
    "error_after",
    "check_interval",
    "active",
}


def _parse_entry(name: str, s: Section, default_tz: str, defaults: FreshnessThresholds) -> FreshnessCheck:
    s.check_keys(_TABLE_KEYS)
    validate_identifier(name, s.where)
    conn_id = validate_identifier(s.get("conn_id", required=True), s.at("conn_id"))
    dialect = s.get("dialect")
    if dialect is not None and dialect not in DIALECTS:
        raise ConfigError(f"{s.at('dialect')}: must be one of {', '.join(DIALECTS)}, got {dialect!r}")
    schema = s.get("schema")
    schema = validate_identifier(schema, s.at("schema")) if schema is not None else None
    table = validate_identifier(s.get("table", name), s.at("table"))
    column, expression = s.get("column"), s.get("expression")
    if (column is None) == (expression is None):
        raise ConfigError(f"{s.where}: give exactly one of `column` (a timestamp column) or `expression`")
    if column is not None:
        validate_identifier(column, s.at("column"))
    else:
        expression = check_sql_fragment(expression, s.at("expression"))
    flt = s.get("filter")
    flt = check_sql_fragment(flt, s.at("filter")) if flt is not None else None
    return FreshnessCheck(
        key=table_key(conn_id, schema, table, name if flt else None),
        conn_id=conn_id,
        dialect=dialect,
        schema=schema,
        table=table,
        column=column,
        expression=expression,
        filter=flt,
        timezone=parse_timezone(s.get("timezone", default_tz), s.at("timezone")),
        thresholds=parse_thresholds(s, defaults),
        origin=s.where,
    )


def _parse_until(value: Any, where: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        until = value
    elif isinstance(value, dt.date):
        # A date means "the whole of that day": silenced until the next midnight UTC.
        until = dt.datetime.combine(value + dt.timedelta(days=1), dt.time(), dt.UTC)
    else:
        try:
            return _parse_until(dt.date.fromisoformat(str(value)), where)
        except ValueError:
            pass
        try:
            until = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a date (YYYY-MM-DD) or ISO date-time") from None
    return until if until.tzinfo else until.replace(tzinfo=dt.UTC)


def _positive_int(s: Section, key: str, default: int) -> int:
    value = s.get(key, default, types=(int,))
    if value < 1:
        raise ConfigError(f"{s.at(key)}: must be at least 1, got {value}")
    return value


def load_config(path: str | Path | None = None, flows_dir: Path | None = None) -> FreshnessConfig:
    """Load ``freshness.yaml`` and derive checks from the extraction flows.

    Args:
        path: The YAML file; default ``$FRESHNESS_CONFIG`` or ``config/freshness.yaml``.
        flows_dir: Where ``extract_*.yaml`` live; default ``flows.config_dir`` or the config package.

    Raises:
        ConfigError: naming the file and key of any invalid setting, a duplicated table key, or
            an acknowledgement of an unknown table.
    """
    p = config_path(path)
    root = _read(p)
    dag = parse_dag(root.section("dag", required=True), DEFAULT_DAG_ID)

    mon = root.section("monitoring")
    mon.check_keys({"conn_id", "schema", "table", "retention"})
    monitoring = MonitoringSettings(
        conn_id=validate_identifier(mon.get("conn_id", "redshift_dw"), mon.at("conn_id")),
        schema=validate_identifier(mon.get("schema", "monitoring"), mon.at("schema")),
        table=validate_identifier(mon.get("table", "source_table_freshness"), mon.at("table")),
        retention=parse_duration(mon.get("retention", "90d"), mon.at("retention")),
    )

    sw = root.section("sweep")
    sw.check_keys(
        {
            "statement_timeout",
            "connect_attempts",
            "connect_backoff_seconds",
            "max_parallel_connections",
            "connection_budget",
        }
    )
    sweep = SweepSettings(
        statement_timeout=parse_duration(sw.get("statement_timeout", "30s"), sw.at("statement_timeout")),
        connect_attempts=_positive_int(sw, "connect_attempts", 2),
        connect_backoff_seconds=float(sw.get("connect_backoff_seconds", 1.0, types=(int, float))),
        max_parallel_connections=_positive_int(sw, "max_parallel_connections", 8),
        connection_budget=parse_duration(sw.get("connection_budget", "5m"), sw.at("connection_budget")),
    )

    al = root.section("alerts")
    al.check_keys({"email_to", "smtp_conn_id", "fail_on"})
    email_to = al.get("email_to", [], types=(list, str))
    fail_on = tuple(al.get("fail_on", [ERROR], types=(list,)))
    for status in fail_on:
        if status not in STATUSES or status == PASS:
            raise ConfigError(f"{al.at('fail_on')}: {status!r} is not one of {', '.join(STATUSES[1:])}")
    alerts = AlertSettings(
        email_to=tuple([email_to] if isinstance(email_to, str) else [str(e) for e in email_to]),
        smtp_conn_id=validate_identifier(al.get("smtp_conn_id", "smtp_default"), al.at("smtp_conn_id")),
        fail_on=fail_on,
    )

    flows = root.section("flows")
    flows.check_keys({"include", "config_dir"})
    checks: dict[str, FreshnessCheck] = {}
    if flows.get("include", True, types=(bool,)):
        directory = flows_dir or (Path(flows.get("config_dir")) if flows.get("config_dir") else None)
        for check in checks_from_flows(directory):
            if check.key in checks:
                raise ConfigError(
                    f"{check.origin}: table {check.key} is already monitored from "
                    f"{checks[check.key].origin}; give one of them its own freshness settings"
                )
            checks[check.key] = check

    defaults = root.section("defaults")
    defaults.check_keys({"timezone", "warn_after", "error_after", "check_interval", "active"})
    default_tz = parse_timezone(defaults.get("timezone", "UTC"), defaults.at("timezone"))
    default_thresholds = parse_thresholds(defaults)
    tables = root.section("tables")
    declared: dict[str, str] = {}
    for name, body in tables.data.items():
        check = _parse_entry(
            str(name), Section(body or {}, tables.at(str(name))), default_tz, default_thresholds
        )
        if check.key in declared:
            raise ConfigError(f"{check.origin}: same table as {declared[check.key]} ({check.key})")
        declared[check.key] = check.origin
        # A declared entry replaces the derived one for the same table, keeping its thresholds
        # unless the entry sets its own.
        checks[check.key] = check

    acks = []
    raw_acks = root.get("acknowledgements", [], types=(list,))
    for i, body in enumerate(raw_acks):
        s = Section(body, f"{p.name}.acknowledgements[{i}]")
        s.check_keys({"table", "until", "reason"})
        key = str(s.get("table", required=True))
        if key not in checks:
            raise ConfigError(
                f"{s.at('table')}: {key!r} is not a monitored table key; keys look like "
                f"'obe_mysql:bookings' (see the table_key column of monitoring.source_table_freshness)"
            )
        reason = str(s.get("reason", required=True)).strip()
        if not reason:
            raise ConfigError(f"{s.at('reason')}: say why the table is acknowledged")
        acks.append(Acknowledgement(key, _parse_until(s.get("until", required=True), s.at("until")), reason))

    return FreshnessConfig(
        dag=dag,
        checks=tuple(checks.values()),
        monitoring=monitoring,
        sweep=sweep,
        alerts=alerts,
        acknowledgements=tuple(acks),
        path=p,
    )
