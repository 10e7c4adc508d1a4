"""``extract_*.yaml``: one relational flow per file, a :class:`FlowSpec` of :class:`TableSpec` entries.

A flow is one source connection, one target schema and one DAG. Each table says where it comes
from, how it is windowed (incremental on a cursor column, or full refresh) and where it lands;
``defaults:`` gives every table's time zone and freshness thresholds unless the table sets its own.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from bi_pipelines.core.enums import DIALECTS, Dialect
from bi_pipelines.core.settings import (
    CONFIG_DIR,
    ConfigModel,
    Dag,
    FreshnessThresholds,
    config_path,
    load_model,
    parse_duration,
    problem,
)
from bi_pipelines.core.types import Duration, Identifier, TimeZoneName

__all__ = [
    "CONFIG_DIR",
    "DIALECTS",
    "Dag",
    "FlowSpec",
    "FreshnessThresholds",
    "NullCursorPolicy",
    "TableSpec",
    "load_flow",
    "load_flows",
    "parse_duration",
]


# What an incremental read does with rows whose cursor is NULL (or, on MySQL, a zero date), which
# no window on the cursor would ever select: ``load`` reads them in every run's window too (merged
# on the primary key, so reruns stay idempotent; the cost is reading all of them on every run),
# ``skip`` leaves them out and counts them with a warning, ``fail`` fails the table naming the count.
NullCursorPolicy = Literal["load", "skip", "fail"]


class TableFreshness(FreshnessThresholds):
    """A table's thresholds, plus the timestamp column measured (default: the cursor column)."""

    column: Identifier | None = None


class TableSpec(ConfigModel):
    """One table of a relational flow: where it comes from, how it is windowed, where it lands."""

    name: Identifier
    source_schema: Identifier | None = None
    source_table: Identifier
    target_table: Identifier
    primary_key: tuple[Identifier, ...] = ()
    mode: Literal["incremental", "full_refresh"] = "incremental"
    cursor_column: Identifier | None = None
    source_timezone: TimeZoneName = Field("UTC", alias="timezone")
    lookback: Duration = dt.timedelta(minutes=60)
    on_null_cursor: NullCursorPolicy = "load"
    columns: tuple[Identifier, ...] | None = None
    freshness: TableFreshness = TableFreshness()

    @model_validator(mode="before")
    @classmethod
    def _names_default_to_the_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" in data:
            data = {"source_table": data["name"], "target_table": data["name"], **data}
            if isinstance(data.get("primary_key"), str):
                data["primary_key"] = [data["primary_key"]]
        return data

    @model_validator(mode="after")
    def _mode_rules(self) -> TableSpec:
        if self.mode == "incremental":
            if not self.cursor_column:
                raise problem("cursor_column", "an incremental table needs a cursor column")
            if not self.primary_key:
                raise problem("primary_key", "an incremental table needs a primary key to merge on")
        elif self.cursor_column:
            raise problem("cursor_column", "a full_refresh table has no cursor column")
        return self

    @property
    def incremental(self) -> bool:
        """Whether the table is read in windows on its cursor column."""
        return self.cursor_column is not None

    @property
    def freshness_column(self) -> str | None:
        """The column the freshness monitor reads: its own, else the cursor column."""
        return self.freshness.column or self.cursor_column

    @property
    def qualified_source(self) -> str:
        """``schema.table`` at the source, or the bare table when no schema is set."""
        return f"{self.source_schema}.{self.source_table}" if self.source_schema else self.source_table


class FlowSource(ConfigModel):
    conn_id: Identifier
    dialect: Dialect


class FlowTarget(ConfigModel):
    conn_id: Identifier
    schema_: Identifier = Field(alias="schema")


class FlowDefaults(ConfigModel):
    timezone: TimeZoneName = "UTC"
    on_null_cursor: NullCursorPolicy = "load"
    freshness: FreshnessThresholds = FreshnessThresholds()


class FlowSpec(ConfigModel):
    """A relational flow: one source connection, one target schema, one DAG."""

    dag: Dag
    source: FlowSource
    target: FlowTarget
    defaults: FlowDefaults = FlowDefaults()
    tables_: dict[str, TableSpec] = Field(alias="tables")
    _path: Path = PrivateAttr(default=Path())

    @field_validator("tables_", mode="before")
    @classmethod
    def _apply_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        """Each table gets its key as name, and the flow's defaults for what it leaves unset."""
        if not isinstance(value, dict):
            return value
        defaults = info.data.get("defaults", FlowDefaults())
        fresh = {k: getattr(defaults.freshness, k) for k in defaults.freshness.model_fields_set}
        tables = {}
        for name, body in value.items():
            body = {} if body is None else body
            if isinstance(body, dict):
                own_fresh = body.get("freshness") or {}
                body = {
                    "timezone": defaults.timezone,
                    "on_null_cursor": defaults.on_null_cursor,
                    **body,
                    "name": str(name),
                }
                body["freshness"] = {**fresh, **own_fresh} if isinstance(own_fresh, dict) else own_fresh
            tables[str(name)] = body
        return tables

    @model_validator(mode="after")
    def _tables_land_apart(self) -> FlowSpec:
        if not self.tables:
            raise problem("tables", "no tables configured")
        targets = [t.target_table for t in self.tables]
        duplicated = sorted({t for t in targets if targets.count(t) > 1})
        if duplicated:
            raise problem("tables", f"target table(s) used twice: {', '.join(duplicated)}")
        return self

    @property
    def tables(self) -> tuple[TableSpec, ...]:
        """The configured tables, in file order."""
        return tuple(self.tables_.values())

    @property
    def source_conn_id(self) -> str:
        """The Airflow connection of the source."""
        return self.source.conn_id

    @property
    def source_dialect(self) -> Dialect:
        """The source's SQL dialect."""
        return self.source.dialect

    @property
    def target_conn_id(self) -> str:
        """The Airflow connection of the warehouse."""
        return self.target.conn_id

    @property
    def target_schema(self) -> str:
        """The warehouse schema the tables land in."""
        return self.target.schema_

    @property
    def path(self) -> Path:
        """The configuration file this flow was read from."""
        return self._path

    def table(self, name: str) -> TableSpec:
        """The table named ``name``.

        Raises:
            KeyError: when the flow has no such table.
        """
        try:
            return self.tables_[name]
        except KeyError:
            raise KeyError(name) from None


def load_flow(path: Path) -> FlowSpec:
    """Load one ``extract_*.yaml`` file; a committed one is replaced by ``$BI_<STEM>_CONFIG`` if set.

    Raises:
        ConfigError: naming the file and key for any invalid or missing setting.
    """
    path = Path(path)
    stem = path.stem
    if path.parent == CONFIG_DIR:
        path = config_path(stem)
    flow = load_model(FlowSpec, path, "extraction flow", context={"dag_id": stem})
    flow._path = path
    return flow


def load_flows(config_dir: Path | None = None) -> list[FlowSpec]:
    """Load every ``extract_*.yaml`` relational flow in ``config_dir`` (default: this package)."""
    directory = config_dir or CONFIG_DIR
    return [load_flow(p) for p in sorted(directory.glob("extract_*.yaml"))]
