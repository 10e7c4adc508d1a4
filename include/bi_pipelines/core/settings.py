"""Frozen dataclasses for pipeline configuration and the YAML loaders that build them.

Every DAG's settings come from a ``dag:`` section parsed by :func:`parse_dag`, so the IMAP, Vonigo
and freshness configurations share the same rules (absolute tz-aware start date, cron schedule,
explicit catchup, owner, tags, retries).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.db.identifiers import validate_identifier

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
DIALECTS = ("postgres", "mysql", "redshift")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d)?\s*$")
_DURATION_UNITS = {
    "s": "seconds",
    "m": "minutes",
    "min": "minutes",
    "h": "hours",
    "d": "days",
    None: "minutes",
}
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


def parse_duration(value: Any, where: str) -> dt.timedelta:
    """Parse ``90``, ``"90m"``, ``"2h"``, ``"1d"`` or ``"30s"`` (a bare number is minutes)."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration like '90m', '2h' or '1d', got {value!r}")
    match = _DURATION.match(str(value))
    if not match:
        raise ConfigError(f"{where}: expected a duration like '90m', '2h' or '1d', got {value!r}")
    return dt.timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def parse_timezone(value: Any, where: str) -> str:
    """Return ``value`` if it names an IANA time zone (``UTC``, ``America/Vancouver``)."""
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {value!r} (use an IANA name such as 'UTC')") from None
    return str(value)


def parse_cron(value: Any, where: str) -> str:
    """Accept a five-field cron expression; reject presets such as ``@daily``."""
    fields = str(value).split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ConfigError(f"{where}: {value!r} is not a five-field cron expression such as '15 * * * *'")
    return " ".join(fields)


class Section:
    """A mapping from YAML with the path it came from, for error messages."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        self.data = data
        self.where = where

    def at(self, key: str) -> str:
        return f"{self.where}.{key}"

    def get(self, key: str, default: Any = None, *, required: bool = False, types: tuple = ()) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise ConfigError(f"{self.at(key)}: required key is missing")
            return default
        value = self.data[key]
        if types and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            names = "/".join(t.__name__ for t in types)
            raise ConfigError(f"{self.at(key)}: expected {names}, got {type(value).__name__}")
        return value

    def section(self, key: str, *, required: bool = False) -> Section:
        return Section(self.get(key, {}, required=required), self.at(key))

    def check_keys(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.data) - allowed)
        if unknown:
            raise ConfigError(
                f"{self.where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
            )


def read_config(path: Path, what: str, keys: set[str], hint: str = "") -> Section:
    """Read a YAML configuration file into its root :class:`Section`, checking its top-level keys.

    Args:
        path: The file.
        what: What it configures, for messages ("IMAP reports configuration").
        keys: The top-level keys allowed.
        hint: Added to the message when the file cannot be read (where else to look).

    Raises:
        ConfigError: the file cannot be read, is not YAML, or has an unknown top-level key.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise ConfigError(f"{path}: cannot read the {what}: {reason}{hint}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {exc}") from None
    root = Section(raw, path.name)
    root.check_keys(keys)
    return root


@dataclass(frozen=True)
class Dag:
    """Settings every DAG of the repository has."""

    dag_id: str
    schedule: str
    start_date: dt.datetime
    timezone: str
    catchup: bool
    owner: str
    tags: tuple[str, ...]
    retries: int
    retry_delay: dt.timedelta
    max_active_runs: int
    description: str


_DAG_KEYS = {
    "dag_id",
    "schedule",
    "start_date",
    "timezone",
    "catchup",
    "owner",
    "tags",
    "retries",
    "retry_delay",
    "max_active_runs",
    "description",
}


def parse_dag(s: Section, default_dag_id: str) -> Dag:
    """Parse a ``dag:`` section. ``start_date`` is a naive ISO date-time read in ``timezone``."""
    s.check_keys(_DAG_KEYS)
    dag_id = validate_identifier(s.get("dag_id", default_dag_id), s.at("dag_id"))
    timezone = parse_timezone(s.get("timezone", "UTC"), s.at("timezone"))
    raw_start = s.get("start_date", required=True)
    try:
        start = raw_start if isinstance(raw_start, dt.datetime) else dt.datetime.fromisoformat(str(raw_start))
    except ValueError:
        raise ConfigError(f"{s.at('start_date')}: {raw_start!r} is not an ISO date-time") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(timezone))
    retries = s.get("retries", 2, types=(int,))
    if retries < 2:
        raise ConfigError(f"{s.at('retries')}: at least 2 retries are required, got {retries}")
    tags = s.get("tags", [], types=(list,))
    return Dag(
        dag_id=dag_id,
        schedule=parse_cron(s.get("schedule", required=True), s.at("schedule")),
        start_date=start,
        timezone=timezone,
        catchup=s.get("catchup", False, types=(bool,)),
        owner=str(s.get("owner", "bi-team")),
        tags=tuple(str(t) for t in tags),
        retries=retries,
        retry_delay=parse_duration(s.get("retry_delay", "5m"), s.at("retry_delay")),
        max_active_runs=s.get("max_active_runs", 1, types=(int,)),
        description=str(s.get("description", "")),
    )


@dataclass(frozen=True)
class FreshnessThresholds:
    """When a source table counts as stale; ``None`` disables a level."""

    warn_after: dt.timedelta | None = None
    error_after: dt.timedelta | None = None
    check_interval: dt.timedelta = dt.timedelta(minutes=15)
    active: bool = True


def parse_thresholds(s: Section, defaults: FreshnessThresholds | None = None) -> FreshnessThresholds:
    d = defaults or FreshnessThresholds()
    warn = s.get("warn_after")
    error = s.get("error_after")
    interval = s.get("check_interval")
    thresholds = FreshnessThresholds(
        warn_after=parse_duration(warn, s.at("warn_after")) if warn is not None else d.warn_after,
        error_after=parse_duration(error, s.at("error_after")) if error is not None else d.error_after,
        check_interval=(
            parse_duration(interval, s.at("check_interval")) if interval is not None else d.check_interval
        ),
        active=s.get("active", d.active, types=(bool,)),
    )
    if thresholds.warn_after and thresholds.error_after and thresholds.warn_after > thresholds.error_after:
        raise ConfigError(f"{s.where}: warn_after must not be longer than error_after")
    return thresholds


@dataclass(frozen=True)
class TableSpec:
    """One table of a relational flow: where it comes from, how it is windowed, where it lands."""

    name: str
    source_schema: str | None
    source_table: str
    target_table: str
    primary_key: tuple[str, ...]
    cursor_column: str | None
    source_timezone: str
    lookback: dt.timedelta
    columns: tuple[str, ...] | None
    freshness: FreshnessThresholds
    freshness_column: str | None

    @property
    def incremental(self) -> bool:
        return self.cursor_column is not None

    @property
    def qualified_source(self) -> str:
        return f"{self.source_schema}.{self.source_table}" if self.source_schema else self.source_table


@dataclass(frozen=True)
class FlowSpec:
    """A relational flow: one source connection, one target schema, one DAG."""

    dag: Dag
    source_conn_id: str
    source_dialect: str
    target_conn_id: str
    target_schema: str
    tables: tuple[TableSpec, ...]
    path: Path = field(compare=False, default=Path())

    def table(self, name: str) -> TableSpec:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)


_TABLE_KEYS = {
    "source_schema",
    "source_table",
    "target_table",
    "primary_key",
    "cursor_column",
    "mode",
    "timezone",
    "lookback",
    "columns",
    "freshness",
}


def _parse_table(name: str, s: Section, default_tz: str, default_fresh: FreshnessThresholds) -> TableSpec:
    s.check_keys(_TABLE_KEYS)
    validate_identifier(name, s.where)
    mode = s.get("mode", "incremental")
    if mode not in ("incremental", "full_refresh"):
        raise ConfigError(f"{s.at('mode')}: must be 'incremental' or 'full_refresh', got {mode!r}")
    pk = s.get("primary_key", [], types=(list, str))
    pk = [pk] if isinstance(pk, str) else pk
    cursor = s.get("cursor_column")
    if mode == "incremental":
        if not cursor:
            raise ConfigError(f"{s.at('cursor_column')}: an incremental table needs a cursor column")
        if not pk:
            raise ConfigError(f"{s.at('primary_key')}: an incremental table needs a primary key to merge on")
        validate_identifier(cursor, s.at("cursor_column"))
    elif cursor:
        raise ConfigError(f"{s.at('cursor_column')}: a full_refresh table has no cursor column")
    columns = s.get("columns", types=(list,))
    fresh = s.section("freshness")
    fresh.check_keys({"warn_after", "error_after", "check_interval", "active", "column"})
    freshness_column = fresh.get("column") or cursor
    if freshness_column:
        validate_identifier(freshness_column, fresh.at("column"))
    source_schema = s.get("source_schema")
    return TableSpec(
        name=name,
        source_schema=validate_identifier(source_schema, s.at("source_schema")) if source_schema else None,
        source_table=validate_identifier(s.get("source_table", name), s.at("source_table")),
        target_table=validate_identifier(s.get("target_table", name), s.at("target_table")),
        primary_key=tuple(validate_identifier(c, s.at("primary_key")) for c in pk),
        cursor_column=cursor,
        source_timezone=parse_timezone(s.get("timezone", default_tz), s.at("timezone")),
        lookback=parse_duration(s.get("lookback", "60m"), s.at("lookback")),
        columns=tuple(validate_identifier(c, s.at("columns")) for c in columns) if columns else None,
        freshness=parse_thresholds(fresh, default_fresh),
        freshness_column=freshness_column,
    )


def load_flow(path: Path) -> FlowSpec:
    """Load one ``extract_*.yaml`` file.

    Raises:
        ConfigError: naming the file and key for any invalid or missing setting.
    """
    root = read_config(path, "extraction flow", {"dag", "source", "target", "defaults", "tables"})
    source = root.section("source", required=True)
    source.check_keys({"conn_id", "dialect"})
    target = root.section("target", required=True)
    target.check_keys({"conn_id", "schema"})
    dialect = source.get("dialect", required=True)
    if dialect not in DIALECTS:
        raise ConfigError(f"{source.at('dialect')}: must be one of {', '.join(DIALECTS)}, got {dialect!r}")
    defaults = root.section("defaults")
    defaults.check_keys({"timezone", "freshness"})
    default_tz = parse_timezone(defaults.get("timezone", "UTC"), defaults.at("timezone"))
    default_fresh = parse_thresholds(defaults.section("freshness"))
    tables_section = root.section("tables", required=True)
    tables = tuple(
        _parse_table(str(name), Section(body or {}, tables_section.at(str(name))), default_tz, default_fresh)
        for name, body in tables_section.data.items()
    )
    if not tables:
        raise ConfigError(f"{tables_section.where}: no tables configured")
    targets = [t.target_table for t in tables]
    duplicated = sorted({t for t in targets if targets.count(t) > 1})
    if duplicated:
        raise ConfigError(f"{tables_section.where}: target table(s) used twice: {', '.join(duplicated)}")
    return FlowSpec(
        dag=parse_dag(root.section("dag", required=True), path.stem),
        source_conn_id=validate_identifier(source.get("conn_id", required=True), source.at("conn_id")),
        source_dialect=dialect,
        target_conn_id=validate_identifier(target.get("conn_id", required=True), target.at("conn_id")),
        target_schema=validate_identifier(target.get("schema", required=True), target.at("schema")),
        tables=tables,
        path=path,
    )


def load_flows(config_dir: Path | None = None) -> list[FlowSpec]:
    """Load every ``extract_*.yaml`` relational flow in ``config_dir`` (default: this package)."""
    directory = config_dir or CONFIG_DIR
    return [load_flow(p) for p in sorted(directory.glob("extract_*.yaml"))]
