"""Target tables and their DDL: create a table from the source's columns, add new ones, widen types.

A column dropped at the source stays in the warehouse (filled with NULL from then on): loads
only ever add columns, so history and downstream views keep working.

A column whose source type changed is compared with the target's type (:func:`type_change`):
a safe widening is applied (``ALTER COLUMN ... TYPE``); anything else fails with a
:class:`~bi_pipelines.core.errors.SchemaError`, because loading into the old type would round,
truncate or reject values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bi_pipelines.core.errors import SchemaError
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
    """A warehouse table a load writes: its schema, name, columns and primary key."""

    schema: str
    table: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        """The names of the columns, in table order."""
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


def existing_column_types(cur, schema: str, table: str, dialect: str = POSTGRES) -> dict[str, str]:
    """The table's columns and their normalised types (:func:`normalise_type`), in ordinal order.

    PostgreSQL's ``format_type`` spells a type with its modifiers (``numeric(14,4)``,
    ``character varying(50)``, ``integer[]``); Redshift's catalog is read through
    ``information_schema.columns``, whose length, precision and scale give the same spelling.
    """
    if dialect == POSTGRES:
        cur.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            (schema, table),
        )
        return {name: normalise_type(type_) for name, type_ in cur.fetchall()}
    cur.execute(
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "
        "FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position",
        (schema, table),
    )
    types = {}
    for name, data_type, length, precision, scale in cur.fetchall():
        base = normalise_type(data_type)
        if base in ("character varying", "character") and length:
            base = f"{base}({length})"
        elif base == "numeric" and precision:
            base = f"numeric({precision},{scale or 0})"
        types[name] = base
    return types


_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "int2": "smallint",
    "int8": "bigint",
    "decimal": "numeric",
    "varchar": "character varying",
    "char": "character",
    "bpchar": "character",
    "float8": "double precision",
    "float": "double precision",
    "float4": "real",
    "bool": "boolean",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
    "time": "time without time zone",
    "timetz": "time with time zone",
    "string": "text",
}
_TYPE = re.compile(r"^(?P<base>[a-z][a-z0-9_ ]*?)\s*(?:\(\s*(?P<mods>[0-9 ,]+)\s*\))?(?P<array>(?:\[\])*)$")
# Decimal digits each integer type holds in full (bigint: 9223372036854775807, 19 digits).
_INTEGER_DIGITS = {"smallint": 5, "integer": 10, "bigint": 19}


def normalise_type(type_name: str) -> str:
    """One spelling per type, as PostgreSQL's ``format_type`` prints it.

    ``DECIMAL(14, 4)`` and ``numeric(14,4)`` become ``numeric(14,4)``, ``varchar(50)``
    ``character varying(50)``, ``int8`` ``bigint``, ``timestamp`` ``timestamp without time
    zone``; a name this does not know is only lower-cased.
    """
    text = " ".join(type_name.lower().split())
    match = _TYPE.match(text)
    if match is None:
        return text
    base = _ALIASES.get(match["base"].strip(), match["base"].strip())
    mods = match["mods"]
    if base == "character" and not mods:
        mods = "1"
    suffix = f"({','.join(m.strip() for m in mods.split(','))})" if mods else ""
    if base.startswith(("timestamp ", "time ")) and suffix:
        # timestamp(3) without time zone: format_type puts the precision after the name's head.
        head, _, tail = base.partition(" ")
        return f"{head}{suffix} {tail}{match['array']}"
    return f"{base}{suffix}{match['array']}"


def _numeric(type_name: str) -> tuple[int, int] | None:
    """``(integer digits, scale)`` of a bounded numeric or integer type; None for unbounded numeric."""
    if type_name in _INTEGER_DIGITS:
        return _INTEGER_DIGITS[type_name], 0
    match = re.fullmatch(r"numeric\((\d+)(?:,(\d+))?\)", type_name)
    if match is None:
        return None
    precision, scale = int(match[1]), int(match[2] or 0)
    return precision - scale, scale


def _varchar_length(type_name: str) -> int | None:
    """The length of ``character varying(n)``; a huge number for ``text``/unbounded varchar."""
    if type_name in ("text", "character varying"):
        return 1 << 62
    match = re.fullmatch(r"character varying\((\d+)\)", type_name)
    return int(match[1]) if match else None


def type_change(old: str, new: str) -> str:
    """How a column of type ``old`` must change to hold values of type ``new``.

    Both are normalised first. Returns ``"same"`` (nothing to do), ``"keep"`` (the target keeps
    its type: ``timestamp`` against ``timestamptz``, which a load converts in UTC either way) or
    ``"widen"`` (``ALTER COLUMN ... TYPE new`` keeps every value exactly).

    Raises:
        ValueError: a narrowing or a change of kind (the caller names table and column).
    """
    old, new = normalise_type(old), normalise_type(new)
    if old == new:
        return "same"
    timestamps = {"timestamp without time zone", "timestamp with time zone"}
    if old in timestamps and new in timestamps:
        return "keep"
    if old == "real" and new == "double precision":
        return "widen"
    old_numeric_kind = old in _INTEGER_DIGITS or old.startswith("numeric")
    if old_numeric_kind and new.startswith("numeric"):
        old_digits, new_digits = _numeric(old), _numeric(new)
        if new_digits is None:  # unbounded numeric holds every numeric and integer exactly
            return "widen"
        if old_digits is not None and new_digits[0] >= old_digits[0] and new_digits[1] >= old_digits[1]:
            return "widen"
        raise ValueError("the new type holds fewer integer digits or a smaller scale")
    if old in _INTEGER_DIGITS and new in _INTEGER_DIGITS:
        if _INTEGER_DIGITS[new] > _INTEGER_DIGITS[old]:
            return "widen"
        raise ValueError("the new integer type is narrower")
    old_length, new_length = _varchar_length(old), _varchar_length(new)
    if old_length is not None and new_length is not None:
        if new_length > old_length:
            return "widen"
        raise ValueError("the new type is shorter")
    raise ValueError("the types are of different kinds")


_NOT_ON_REDSHIFT = frozenset({"text", "json", "jsonb", "uuid", "bytea", "interval"})


@dataclass(frozen=True)
class TypeWidening:
    """A column whose target type is widened to hold the source's values."""

    column: str
    old: str
    new: str


def type_widenings(target: TargetTable, existing: dict[str, str], dialect: str) -> list[TypeWidening]:
    """The target's columns whose type must widen to take the source's values.

    Args:
        target: The wanted table (the source's columns and types).
        existing: The table's current types (:func:`existing_column_types`).
        dialect: ``"postgres"`` or ``"redshift"``.

    Raises:
        SchemaError: a column's new type is narrower or of another kind, or (Redshift) a
            numeric would have to widen, which Redshift cannot do in place.
    """
    widenings = []
    for column in target.columns:
        if column.name not in existing:
            continue
        old, new = existing[column.name], normalise_type(column_type(column, dialect))
        if dialect == REDSHIFT and (old in _NOT_ON_REDSHIFT or old.endswith("[]")):
            # Redshift never reports these types (its TEXT is VARCHAR(256)): the table was made
            # by hand on a PostgreSQL server speaking the Redshift dialect; it keeps its types.
            continue
        try:
            change = type_change(old, new)
        except ValueError as exc:
            raise SchemaError(
                f"{target}: column {column.name!r} is {old} in the warehouse but the source now "
                f"sends {new} ({exc}); loading would change or reject values. Alter the target "
                f"column by hand to a type that holds both, or restore the source type"
            ) from None
        if change != "widen":
            continue
        if dialect == REDSHIFT and _varchar_length(old) is None:
            raise SchemaError(
                f"{target}: column {column.name!r} is {old} in the warehouse but the source now "
                f"sends {new}; Redshift can only widen VARCHAR columns in place. Add a column of "
                f"type {new}, copy the values over (UPDATE), drop the old column and rename the "
                f"new one, then rerun"
            )
        widenings.append(TypeWidening(column.name, old, new))
    return widenings


def widen_statement(target: TargetTable, widening: TypeWidening, quote: Callable[[str], str]) -> str:
    """``ALTER TABLE ... ALTER COLUMN ... TYPE ...`` for one widening (valid on Redshift for VARCHAR)."""
    return (
        f"ALTER TABLE {quote(target.schema)}.{quote(target.table)} "
        f"ALTER COLUMN {quote(widening.column)} TYPE {widening.new}"
    )


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
    "TypeWidening",
    "column_type",
    "evolve_statements",
    "existing_column_types",
    "existing_columns",
    "normalise_type",
    "type_change",
    "type_widenings",
    "widen_statement",
]
