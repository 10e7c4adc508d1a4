"""MySQL / MariaDB (the OBE booking system) as a source.

Two ways out, both over an unbuffered (server-side) cursor so memory does not grow with the table:

* ``copy_chunks``: the server formats each row as one line of PostgreSQL COPY text (escaping,
  NULLs, booleans, hex bytea, zone-qualified timestamps). Python only joins lines, which is what
  makes MySQL -> PostgreSQL run close to ``mysql --batch | psql COPY``.
* ``batches``: typed Python rows (for Redshift targets), converted the same way.

Time: the session runs at ``+00:00`` so TIMESTAMP columns (stored in UTC) come out in UTC;
DATETIME columns are naive local times in the table's configured zone. Zero dates
(``0000-00-00``, or a zero month or day) become NULL and are counted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from bi_pipelines.core.timezones import local_to_utc
from bi_pipelines.core.windows import Window
from bi_pipelines.db.identifiers import quote_mysql
from bi_pipelines.db.rows import RowStream
from bi_pipelines.sources.relational.reader import FETCH_ROWS, RelationalSource, SourceColumn
from bi_pipelines.sources.relational.spec import TableSpec

log = logging.getLogger(__name__)

_INTEGER_TYPES = {
    "tinyint": "smallint",
    "smallint": "integer",
    "mediumint": "integer",
    "int": "bigint",
    "integer": "bigint",
    "bigint": "numeric(20,0)",
    "year": "smallint",
}
_SIGNED_INTEGER_TYPES = {
    "tinyint": "smallint",
    "smallint": "smallint",
    "mediumint": "integer",
    "int": "integer",
}
_TEXT_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
_BINARY_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}


def map_mysql_type(data_type: str, column_type: str, precision, scale) -> tuple[str, str]:
    """Return ``(warehouse type, kind)`` for a MySQL column from ``information_schema.COLUMNS``."""
    data_type = data_type.lower()
    column_type = column_type.lower()
    unsigned = "unsigned" in column_type
    if data_type == "tinyint" and column_type.startswith("tinyint(1)"):
        return "boolean", "bool"
    if data_type in _INTEGER_TYPES:
        if data_type == "bigint" and not unsigned:
            return "bigint", "other"
        if not unsigned and data_type in _SIGNED_INTEGER_TYPES:
            return _SIGNED_INTEGER_TYPES[data_type], "other"
        return _INTEGER_TYPES[data_type], "other"
    if data_type == "decimal":
        return f"numeric({precision},{scale})", "other"
    if data_type == "float":
        return "real", "other"
    if data_type == "double":
        return "double precision", "other"
    if data_type == "bit":
        return "bigint", "bit"
    if data_type == "datetime":
        return "timestamp with time zone", "naive_timestamp"
    if data_type == "timestamp":
        return "timestamp with time zone", "utc_timestamp"
    if data_type == "date":
        return "date", "date"
    if data_type == "time":
        return "interval", "time"
    if data_type == "json" or (data_type == "longtext" and "json" in column_type):
        return "jsonb", "json"
    if data_type in _BINARY_TYPES:
        return "bytea", "bytes"
    if data_type in _TEXT_TYPES:
        return "text", "text"
    return "text", "text"


def _escaped(col: str) -> str:
    """SQL that escapes a text value for COPY text format: backslash, tab, newline, CR."""
    return f"REPLACE(REPLACE(REPLACE(REPLACE({col}, '\\\\', '\\\\\\\\'), '\\t', '\\\\t'), '\\n', '\\\\n'), '\\r', '\\\\r')"


def _is_zero_date(col: str) -> str:
    return f"(MONTH({col}) = 0 OR DAYOFMONTH({col}) = 0)"


class MySqlSource(RelationalSource):
    """A MySQL/MariaDB source over a mysqlclient connection."""

    dialect = "mysql"

    def __init__(self, conn, conn_id: str):
        super().__init__(conn, conn_id)
        with self.conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
            cur.execute("SET NAMES utf8mb4")
            # The COPY formatting below relies on backslash escapes in string literals.
            cur.execute("SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')")
            cur.execute("SELECT DATABASE()")
            self.database = cur.fetchone()[0]

    def relation(self, table: TableSpec) -> str:
        schema = table.source_schema or self.database
        return f"{quote_mysql(schema)}.{quote_mysql(table.source_table)}"

    def describe(self, table: TableSpec) -> list[SourceColumn]:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE "
                "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                "ORDER BY ORDINAL_POSITION",
                (table.source_schema or self.database, table.source_table),
            )
            rows = cur.fetchall()
            # MariaDB's JSON is LONGTEXT plus a json_valid() check constraint.
            cur.execute(
                "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                "WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s",
                (table.source_schema or self.database, table.source_table),
            )
            checks = " ".join(_text(r[0]) for r in cur.fetchall()).lower()
        columns = []
        for name, data_type, column_type, precision, scale in rows:
            name = _text(name)
            is_json = f"json_valid(`{name.lower()}`)" in checks
            target, kind = map_mysql_type(
                "json" if is_json else _text(data_type), _text(column_type), precision, scale
            )
            columns.append(SourceColumn(name, _text(column_type), target, kind))
        return columns

    def _where(
        self, table: TableSpec, columns: list[SourceColumn], window: Window | None
    ) -> tuple[str, list]:
        if window is None or not table.cursor_column:
            return "", []
        cursor = next(c for c in columns if c.name == table.cursor_column)
        if cursor.kind == "naive_timestamp":
            zone = ZoneInfo(table.source_timezone)
            bounds = [b.astimezone(zone).replace(tzinfo=None) for b in (window.start, window.end)]
        elif cursor.kind == "date":
            zone = ZoneInfo(table.source_timezone)
            bounds = [b.astimezone(zone).date() for b in (window.start, window.end)]
        else:  # TIMESTAMP in a +00:00 session, or a numeric cursor compared to UTC instants
            bounds = [b.astimezone(dt.UTC).replace(tzinfo=None) for b in (window.start, window.end)]
        col = quote_mysql(cursor.name)
        return f" WHERE {col} >= %s AND {col} < %s", bounds

    def _copy_expression(self, column: SourceColumn, zone: str) -> str:
        col = quote_mysql(column.name)
        zone_sql = zone.replace("'", "")
        if column.kind in ("naive_timestamp", "utc_timestamp", "date"):
            # %% because the statement always goes through the driver's %s parameter formatting.
            fmt = "'%%Y-%%m-%%d'" if column.kind == "date" else "'%%Y-%%m-%%d %%H:%%i:%%s.%%f'"
            suffix = {"naive_timestamp": f"' {zone_sql}'", "utc_timestamp": "'+00'", "date": "''"}[
                column.kind
            ]
            return f"IF({_is_zero_date(col)}, NULL, CONCAT(DATE_FORMAT({col}, {fmt}), {suffix}))"
        if column.kind == "bool":
            return f"CASE WHEN {col} IS NULL THEN NULL WHEN {col} <> 0 THEN 't' ELSE 'f' END"
        if column.kind == "bytes":
            return f"CONCAT('\\\\\\\\x', HEX({col}))"
        if column.kind in ("text", "json"):
            return _escaped(col)
        if column.kind == "bit":
            return f"CAST({col} + 0 AS CHAR)"
        return col

    def copy_select(
        self, table: TableSpec, columns: list[SourceColumn], window: Window | None
    ) -> tuple[str, list]:
        """A SELECT whose first column is a finished COPY text line, second the row's zero-date count."""
        fields = [f"IFNULL({self._copy_expression(c, table.source_timezone)}, '\\\\N')" for c in columns]
        dates = [
            quote_mysql(c.name) for c in columns if c.kind in ("naive_timestamp", "utc_timestamp", "date")
        ]
        zero = " + ".join(f"IFNULL({_is_zero_date(d)}, 0)" for d in dates) if dates else "0"
        where, params = self._where(table, columns, window)
        sql = f"SELECT CONCAT_WS('\\t', {', '.join(fields)}), {zero} FROM {self.relation(table)}{where}"
        return sql, params

    def typed_select(
        self, table: TableSpec, columns: list[SourceColumn], window: Window | None
    ) -> tuple[str, list]:
        exprs = []
        for c in columns:
            col = quote_mysql(c.name)
            if c.kind in ("naive_timestamp", "utc_timestamp", "date"):
                exprs.append(f"IF({_is_zero_date(col)}, NULL, {col})")
            elif c.kind == "bit":
                exprs.append(f"{col} + 0")
            else:
                exprs.append(col)
        dates = [
            quote_mysql(c.name) for c in columns if c.kind in ("naive_timestamp", "utc_timestamp", "date")
        ]
        zero = " + ".join(f"IFNULL({_is_zero_date(d)}, 0)" for d in dates) if dates else "0"
        where, params = self._where(table, columns, window)
        return f"SELECT {', '.join(exprs)}, {zero} FROM {self.relation(table)}{where}", params

    def _unbuffered(self, sql: str, params: list) -> Iterator[list[tuple]]:
        import MySQLdb.cursors

        cur = self.conn.cursor(MySQLdb.cursors.SSCursor)
        try:
            cur.execute(sql, tuple(params))
            while batch := cur.fetchmany(FETCH_ROWS):
                yield batch
        finally:
            cur.close()

    def row_stream(self, table: TableSpec, columns: list[SourceColumn], window: Window | None) -> RowStream:
        names = tuple(c.name for c in columns)
        self.zero_dates = 0

        def copy_chunks() -> Iterator[bytes]:
            sql, params = self.copy_select(table, columns, window)
            for batch in self._unbuffered(sql, params):
                lines = [row[0] for row in batch]
                self.zero_dates += sum(row[1] for row in batch)
                text = "\n".join(lines) + "\n"
                yield text.encode("utf-8") if isinstance(text, str) else text

        def batches() -> Iterator[list[tuple]]:
            sql, params = self.typed_select(table, columns, window)
            converters = [_converter(c, ZoneInfo(table.source_timezone)) for c in columns]
            for batch in self._unbuffered(sql, params):
                out = []
                for row in batch:
                    self.zero_dates += row[-1]
                    out.append(
                        tuple(
                            conv(v) if v is not None else None
                            for conv, v in zip(converters, row[:-1], strict=True)
                        )
                    )
                yield out

        return RowStream(names, batches=batches, copy_chunks=copy_chunks)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _identity(value):
    return value


def _converter(column: SourceColumn, zone: ZoneInfo):
    if column.kind == "naive_timestamp":
        return lambda v: local_to_utc(v, zone) if isinstance(v, dt.datetime) else v
    if column.kind == "utc_timestamp":
        return lambda v: v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) else v
    if column.kind == "bool":
        return lambda v: bool(v)
    if column.kind == "time":
        return lambda v: f"{v.total_seconds()} seconds" if isinstance(v, dt.timedelta) else v
    if column.kind == "json":
        return lambda v: json.loads(v) if isinstance(v, str | bytes) else v
    if column.kind == "text":
        return lambda v: (
            v.decode("utf-8") if isinstance(v, bytes) else (",".join(sorted(v)) if isinstance(v, set) else v)
        )
    return _identity
