"""PostgreSQL (the Info Portal) and Amazon Redshift (the warehouse) as sources.

Both read the same SQL: naive timestamps are turned into ``timestamptz`` in the table's
configured zone by the server (``AT TIME ZONE``), and the window is compared on the server.
PostgreSQL streams with ``COPY (SELECT ...) TO STDOUT`` straight into a PostgreSQL target, or
with a server-side (named) cursor; Redshift has no ``COPY TO STDOUT`` and streams through an
explicit ``DECLARE ... CURSOR`` / ``FETCH``, which every driver supports.

Warehouse types never name a type that lives in the source database: a domain lands as its base
type, an enum, composite, range or any type outside ``pg_catalog`` (an extension's) as ``text``,
and an array of such a type as ``text[]`` (an array of a domain as an array of its base type).
Sessions wait at most ``lock_timeout`` for a lock and run a statement at most ``statement_timeout``
(connection extras, seconds; see ``reader.py`` for the defaults).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

from bi_pipelines.core.windows import Window
from bi_pipelines.db.identifiers import quote_pg
from bi_pipelines.db.pgcompat import BinaryCopyStream, copy_out, is_psycopg3, literal, quote_ident
from bi_pipelines.db.rows import RowStream
from bi_pipelines.load.tables import normalise_type
from bi_pipelines.sources.relational.reader import (
    FETCH_ROWS,
    RelationalSource,
    SourceColumn,
    session_timeouts,
    timeout_message,
)
from bi_pipelines.sources.relational.spec import TableSpec

_NAIVE = "timestamp without time zone"
_PRECISION = re.compile(r"\(\d+(?:,\s*\d+)?\)")
# One row per column, with its type's row in pg_type: name and type modifier to resolve from.
_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid, a.atttypmod, a.attnotnull
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
# What resolving a type needs: its kind, category, schema, domain base type and array element.
_TYPE_SQL = """
SELECT format_type(t.oid, %s), t.typtype, t.typcategory, n.nspname, t.typbasetype, t.typtypmod,
       CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.oid = %s
"""


def _kind(base: str, category: str) -> str:
    if base == _NAIVE:
        return "naive_timestamp"
    if base == "timestamp with time zone":
        return "timestamptz"
    if base == "date":
        return "date"
    if base == "boolean":
        return "bool"
    if base == "bytea":
        return "bytes"
    if base in ("json", "jsonb"):
        return "json"
    if category == "S":
        return "text"
    return "other"


class PostgresSource(RelationalSource):
    """A PostgreSQL source over a psycopg connection (session time zone UTC)."""

    dialect = "postgres"

    @property
    def supports_copy_out(self) -> bool:
        """COPY TO STDOUT needs psycopg 3 (the provider's driver); other drivers fetch rows."""
        return is_psycopg3(self.conn)

    def q(self, identifier: str) -> str:
        """Quote an identifier with the driver's own quoting."""
        return quote_ident(self.conn, identifier)

    def relation(self, table: TableSpec) -> str:
        """The quoted ``schema.table`` of ``table`` at the source (schema ``public`` by default)."""
        schema = table.source_schema or "public"
        return f"{self.q(schema)}.{self.q(table.source_table)}"

    def __init__(self, conn, conn_id: str, extra: dict | None = None):
        super().__init__(conn, conn_id, extra)
        # NOT NULL columns of each relation described (PostgreSQL only), by relation.
        self._not_null: dict[str, frozenset[str]] = {}
        self.lock_timeout, self.statement_timeout = session_timeouts(extra)
        self._set_timeouts()

    def _set_timeouts(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"SET lock_timeout = {int(self.lock_timeout * 1000)}")
            cur.execute(f"SET statement_timeout = {int(self.statement_timeout * 1000)}")
        self.conn.commit()

    def timeout_message(self, exc: BaseException, where: str) -> str | None:
        """The message for a cancelled statement when it is this session's lock or statement timeout."""
        # Matched on the server's message: COPY TO STDOUT failures carry no SQLSTATE here.
        text = str(exc)
        if "canceling statement due to lock timeout" in text:
            return timeout_message(where, "lock", self.lock_timeout, self.conn_id)
        if "canceling statement due to statement timeout" in text:
            return timeout_message(where, "statement", self.statement_timeout, self.conn_id)
        return None

    def describe(self, table: TableSpec) -> list[SourceColumn]:
        """The table's columns, typed from ``pg_attribute`` (domains and arrays resolved to their base types)."""
        with self.conn.cursor() as cur:
            cur.execute(_COLUMNS_SQL, (table.source_schema or "public", table.source_table))
            rows = cur.fetchall()
            columns = []
            # One catalog read per distinct type, not per column (a run with nothing new is
            # mostly such round trips).
            resolved: dict[tuple[int, int], tuple[str, str, str]] = {}
            not_null = set()
            for name, type_name, type_oid, typmod, attnotnull in rows:
                if attnotnull:
                    not_null.add(name)
                if (type_oid, typmod) not in resolved:
                    resolved[type_oid, typmod] = self._resolve(cur, type_oid, typmod)
                target, base, category = resolved[type_oid, typmod]
                if base == _NAIVE:
                    target = "timestamp with time zone"
                cast = target if target not in (type_name, "timestamp with time zone") else None
                columns.append(SourceColumn(name, type_name, target, _kind(base, category), cast))
        self.conn.commit()
        self._not_null[self.relation(table)] = frozenset(not_null)
        return columns

    def _resolve(self, cur, type_oid: int, typmod: int) -> tuple[str, str, str]:
        """``(warehouse type, base type name without modifiers, category)`` of a source type."""
        cur.execute(_TYPE_SQL, (typmod, type_oid))
        type_name, typtype, category, schema, base_oid, base_typmod, element = cur.fetchone()
        if typtype == "d":  # a domain: its base type, with the domain's own modifier if it has one
            return self._resolve(cur, base_oid, base_typmod if base_typmod != -1 else typmod)
        if element:
            target, base, _ = self._resolve(cur, element, typmod)
            return f"{target}[]", f"{base}[]", "A"
        if typtype in ("e", "c", "r", "m", "p") or schema != "pg_catalog":
            # Enums, composites, ranges and extension types land as their text form.
            return "text", "text", "S"
        return type_name, _PRECISION.sub("", type_name).strip(), category

    def select_sql(
        self,
        table: TableSpec,
        columns: list[SourceColumn],
        window: Window | None,
        arrays_as_text: bool = False,
    ) -> str:
        """The SELECT for a window, with every value already in its warehouse form.

        Args:
            table: The table read.
            columns: The columns read, from :meth:`describe`.
            window: The window on the cursor column, or None for the whole table.
            arrays_as_text: Select arrays as their text form (``{a,"b c"}``), for typed rows:
                the array literal is what both COPY and INSERT take for an array column, where
                a Python list would be encoded as JSON.
        """
        zone = table.source_timezone
        exprs = []
        for c in columns:
            col = self.q(c.name)
            if arrays_as_text and c.target_type.endswith("[]"):
                exprs.append(f"{col}::text AS {col}")
            elif c.kind == "naive_timestamp":
                exprs.append(f"({col} AT TIME ZONE {self._literal(zone)}) AS {col}")
            elif c.select_cast:
                exprs.append(f"{col}::{c.select_cast} AS {col}")
            elif c.target_type == "text" and c.source_type != "text":
                exprs.append(f"{col}::text AS {col}")
            else:
                exprs.append(col)
        sql = f"SELECT {', '.join(exprs)} FROM {self.relation(table)}"
        if window is not None and table.cursor_column:
            cursor = next(c for c in columns if c.name == table.cursor_column)
            col = self.q(cursor.name)
            in_window = (
                f"{col} >= {self._bound(window.start, cursor, zone)}"
                f" AND {col} < {self._bound(window.end, cursor, zone)}"
            )
            if table.on_null_cursor == "load":
                # Rows no window selects are read on every run too, and merged on the primary key.
                in_window = f"({in_window}) OR {self.null_cursor_predicate(table, columns)}"
            sql += f" WHERE {in_window}"
        return sql

    def null_cursor_predicate(self, table: TableSpec, columns: list[SourceColumn]) -> str:
        """SQL true for a row whose cursor is NULL."""
        return f"{self.q(str(table.cursor_column))} IS NULL"

    def count_null_cursor(self, table: TableSpec, columns: list[SourceColumn]) -> int:
        """How many rows of ``table`` have a NULL cursor (one ``count(*)``)."""
        if table.cursor_column in self._not_null.get(self.relation(table), ()):
            # A NOT NULL cursor has no NULL rows; PostgreSQL 15 would still scan the table.
            return 0
        sql = (
            f"SELECT count(*) FROM {self.relation(table)} WHERE {self.null_cursor_predicate(table, columns)}"
        )
        with self.conn.cursor() as cur:
            cur.execute(sql)
            (count,) = cur.fetchone()
        self.conn.commit()
        return int(count)

    def _literal(self, value) -> str:
        return literal(self.conn, value)

    def _bound(self, instant, cursor: SourceColumn, zone: str) -> str:
        literal = f"{self._literal(instant.isoformat())}::timestamptz"
        if cursor.kind == "naive_timestamp":
            return f"({literal} AT TIME ZONE {self._literal(zone)})"
        if cursor.kind == "date":
            return f"({literal} AT TIME ZONE {self._literal(zone)})::date"
        return literal

    def row_stream(self, table: TableSpec, columns: list[SourceColumn], window: Window | None) -> RowStream:
        """The rows in ``window``: COPY TO STDOUT text where the driver streams it, else typed batches."""
        sql = self.select_sql(table, columns, window)
        typed_sql = self.select_sql(table, columns, window, arrays_as_text=True)
        names = tuple(c.name for c in columns)
        batches = lambda: self._fetch_batches(typed_sql)  # noqa: E731
        if not self.supports_copy_out:
            return RowStream(names, batches=batches)
        copy_chunks = lambda: self._copy_out(sql)  # noqa: E731
        # Binary COPY only when every column is selected as it is stored: no time zone
        # conversion, no cast, so the bytes are exactly what a column of the source type reads.
        as_stored = all(
            c.kind != "naive_timestamp"
            and not c.select_cast
            and normalise_type(c.target_type) == normalise_type(c.source_type)
            for c in columns
        )
        if not as_stored:
            return RowStream(names, batches=batches, copy_chunks=copy_chunks)
        return BinaryCopyStream(
            names,
            batches=batches,
            copy_chunks=copy_chunks,
            binary_chunks=lambda: self._copy_out(sql, binary=True),
            binary_types=tuple(c.source_type for c in columns),
        )

    def _copy_out(self, sql: str, binary: bool = False) -> Iterator[bytes]:
        return copy_out(self.conn, f"COPY ({sql}) TO STDOUT{' (FORMAT binary)' if binary else ''}")

    def _fetch_batches(self, sql: str) -> Iterator[list[tuple]]:
        # A named cursor is a server-side cursor: rows arrive FETCH_ROWS at a time.
        with self.conn.cursor(name=f"extract_{uuid.uuid4().hex[:8]}") as cur:
            cur.itersize = FETCH_ROWS
            cur.execute(sql)
            while batch := cur.fetchmany(FETCH_ROWS):
                yield batch
        self.conn.commit()


class RedshiftSource(PostgresSource):
    """Redshift: the PostgreSQL SQL path with an explicit cursor instead of COPY TO STDOUT."""

    dialect = "redshift"
    supports_copy_out = False

    def q(self, identifier: str) -> str:
        """Quote an identifier with double quotes (``redshift_connector`` has no quoting of its own)."""
        return quote_pg(identifier)

    def _set_timeouts(self) -> None:
        # Redshift has no lock_timeout: a statement waiting for a lock is bounded by
        # statement_timeout alone.
        with self.conn.cursor() as cur:
            cur.execute(f"SET statement_timeout TO {int(self.statement_timeout * 1000)}")
        self.conn.commit()

    def _literal(self, value) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    def describe(self, table: TableSpec) -> list[SourceColumn]:
        """The table's columns, typed from ``information_schema.columns``."""
        with self.conn.cursor() as cur:
            cur.execute(
                """
                SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale
                FROM information_schema.columns
                WHERE table_schema = %s AND table_name = %s
                ORDER BY ordinal_position
                """,
                (table.source_schema or "public", table.source_table),
            )
            rows = cur.fetchall()
        self.conn.commit()
        columns = []
        for name, data_type, length, precision, scale in rows:
            if data_type == "numeric" and precision is not None:
                target = f"numeric({precision},{scale or 0})"
            elif data_type == "character varying":
                target = f"character varying({length})" if length else "text"
            elif data_type == "character":
                target = f"character({length})" if length else "text"
            elif data_type == _NAIVE:
                target = "timestamp with time zone"
            elif data_type in ("USER-DEFINED", "ARRAY", "super"):
                target = "text"
            else:
                target = data_type
            category = "S" if data_type in ("character varying", "character", "text") else ""
            columns.append(SourceColumn(name, data_type, target, _kind(data_type, category)))
        return columns

    def _fetch_batches(self, sql: str) -> Iterator[list[tuple]]:
        name = f"extract_{uuid.uuid4().hex[:8]}"
        with self.conn.cursor() as cur:
            cur.execute(f"DECLARE {name} NO SCROLL CURSOR FOR {sql}")
            while True:
                cur.execute(f"FETCH FORWARD {FETCH_ROWS} FROM {name}")
                batch = cur.fetchall()
                if not batch:
                    break
                yield batch
            cur.execute(f"CLOSE {name}")
        self.conn.commit()
