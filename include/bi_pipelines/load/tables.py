"""Target tables and their DDL: create a table from the source's columns, add new ones.

A column dropped at the source stays in the warehouse (filled with NULL from then on): loads
only ever add columns, so history and downstream views keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bi_pipelines.load.redshift import redshift_type

POSTGRES = "postgres"
REDSHIFT = "redshift"
DIALECTS = (POSTGRES, REDSHIFT)


@dataclass(frozen=True)
class Column:
    """A warehouse column; ``type`` is a PostgreSQL type name (translated for Redshift)."""

    name: str
    type: str


@dataclass(frozen=True)
class TargetTable:
    schema: str
    table: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


def column_type(column: Column, dialect: str) -> str:
    """The column's type as the warehouse of ``dialect`` spells it."""
    return redshift_type(column.type) if dialect == REDSHIFT else column.type


def existing_columns(cur, schema: str, table: str) -> list[str]:
    """The table's column names in ordinal order; empty when the table does not exist."""
    cur.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table),
    )
    return [r[0] for r in cur.fetchall()]


def evolve_statements(
    target: TargetTable, existing: list[str], quote: Callable[[str], str], dialect: str
) -> tuple[list[str], list[str]]:
    """The DDL that brings the warehouse table in line with ``target``.

    Args:
        target: The wanted table.
        existing: Its current column names (:func:`existing_columns`); empty if it is missing.
        quote: The warehouse's identifier quoting.
        dialect: ``"postgres"`` or ``"redshift"`` (column types differ).

    Returns:
        ``(statements, added column names)``: ``CREATE SCHEMA``/``CREATE TABLE`` for a missing
        table, else one ``ALTER TABLE ... ADD COLUMN`` per column the table lacks.
    """
    qualified = f"{quote(target.schema)}.{quote(target.table)}"
    if not existing:
        cols = [f"{quote(c.name)} {column_type(c, dialect)}" for c in target.columns]
        if target.primary_key:
            cols.append(f"PRIMARY KEY ({', '.join(quote(c) for c in target.primary_key)})")
        return [
            f"CREATE SCHEMA IF NOT EXISTS {quote(target.schema)}",
            f"CREATE TABLE IF NOT EXISTS {qualified} ({', '.join(cols)})",
        ], []
    missing = [c for c in target.columns if c.name not in existing]
    statements = [
        f"ALTER TABLE {qualified} ADD COLUMN {quote(c.name)} {column_type(c, dialect)}" for c in missing
    ]
    return statements, [c.name for c in missing]


__all__ = [
    "DIALECTS",
    "POSTGRES",
    "REDSHIFT",
    "Column",
    "TargetTable",
    "column_type",
    "evolve_statements",
    "existing_columns",
]
