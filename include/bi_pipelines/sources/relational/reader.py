"""What every relational source shares: column descriptions and the source interface."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from bi_pipelines.core.errors import ConfigError, ExtractionError, PermanentError
from bi_pipelines.core.windows import Window
from bi_pipelines.db.rows import RowStream
from bi_pipelines.sources.relational.spec import TableSpec

FETCH_ROWS = 10_000
# How long a source session waits for a lock, and how long one statement may run, in seconds;
# a connection's extra ``lock_timeout`` / ``statement_timeout`` (seconds) overrides them.
# Without them a table locked by another session stalls a task for as long as the lock is held.
DEFAULT_LOCK_TIMEOUT = 300.0
DEFAULT_STATEMENT_TIMEOUT = 3600.0


class NullCursorError(PermanentError, ExtractionError):
    """An incremental table with ``on_null_cursor: fail`` has rows whose cursor is NULL."""


@dataclass(frozen=True)
class SourceColumn:
    """A source column and how it lands in the warehouse.

    ``kind`` drives conversions: ``naive_timestamp`` (read in the table's time zone),
    ``utc_timestamp``, ``timestamptz``, ``date``, ``bool``, ``bytes``, ``json``, ``text``, ``other``,
    and MySQL's ``bit``, ``float``, ``geometry``, ``time``. ``select_cast``, when set, is the type
    the source SELECT casts the column to (a PostgreSQL domain to its base type, an enum array to
    ``text[]``).
    """

    name: str
    source_type: str
    target_type: str
    kind: str
    select_cast: str | None = None


def session_timeouts(extra: dict | None) -> tuple[float, float]:
    """``(lock, statement)`` timeouts in seconds from a connection's extra, or the defaults.

    Raises:
        ConfigError: when a value is not a positive number of seconds.
    """
    extra = extra or {}
    values = []
    for key, default in (
        ("lock_timeout", DEFAULT_LOCK_TIMEOUT),
        ("statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
    ):
        raw = extra.get(key, default)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = -1.0
        if value <= 0:
            raise ConfigError(f"connection extra {key!r} must be a positive number of seconds, not {raw!r}")
        values.append(value)
    return values[0], values[1]


def timeout_message(where: str, what: str, seconds: float, conn_id: str) -> str:
    """The message for a source session that gave up waiting (``what``: lock or statement)."""
    if what == "lock":
        return (
            f"{where}: gave up after {seconds:g} s waiting for a lock on the source table, which "
            f"another session holds; to wait longer, raise the extra 'lock_timeout' (seconds) of "
            f"connection {conn_id!r}"
        )
    return (
        f"{where}: the source query was stopped after running {seconds:g} s; to allow longer, raise "
        f"the extra 'statement_timeout' (seconds) of connection {conn_id!r}"
    )


def check_columns(table: TableSpec, columns: list[SourceColumn], where: str) -> list[SourceColumn]:
    """Select the configured columns and check the key and cursor exist; errors name the table."""
    if not columns:
        raise ExtractionError(f"{where}: table {table.qualified_source} does not exist or has no columns")
    names = [c.name for c in columns]
    if table.columns:
        missing = [c for c in table.columns if c not in names]
        if missing:
            raise ExtractionError(f"{where}: {table.qualified_source} has no column(s) {', '.join(missing)}")
        columns = [c for c in columns if c.name in table.columns]
        names = [c.name for c in columns]
    for role, wanted in (("primary key", table.primary_key), ("cursor", (table.cursor_column,))):
        for column in wanted:
            if column and column not in names:
                raise ExtractionError(
                    f"{where}: {role} column {column!r} is not a column of {table.qualified_source} "
                    f"(columns: {', '.join(names)})"
                )
    return columns


class RelationalSource:
    """Interface of a relational source (PostgreSQL, Redshift, MySQL)."""

    dialect = ""

    def __init__(self, conn, conn_id: str, extra: dict | None = None):
        self.conn = conn
        self.conn_id = conn_id
        self.extra = extra or {}
        # Counted while rows stream: dates loaded as NULL, text values with NUL characters removed.
        self.zero_dates = 0
        self.nul_values = 0

    def timeout_message(self, exc: BaseException, where: str) -> str | None:
        """What to tell a person when ``exc`` is this session's lock or statement timeout, else None."""
        return None

    def describe(self, table: TableSpec) -> list[SourceColumn]:
        """The table's columns and their warehouse types, read from the source's catalog.

        Raises:
            SchemaError: naming the table and column when a column's type has no warehouse mapping.
        """
        raise NotImplementedError

    def null_cursor_predicate(self, table: TableSpec, columns: list[SourceColumn]) -> str:
        """SQL true for a row whose cursor no window selects: NULL (MySQL: also a zero date)."""
        raise NotImplementedError

    def count_null_cursor(self, table: TableSpec, columns: list[SourceColumn]) -> int:
        """How many rows of ``table`` have a cursor no window selects (one ``count(*)``)."""
        raise NotImplementedError

    def row_stream(self, table: TableSpec, columns: list[SourceColumn], window: Window | None) -> RowStream:
        """The rows of ``table`` in ``window`` (all of them when None), streamed in batches."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection, ignoring any error from it."""
        # Closing a broken connection must not hide the original error.
        with contextlib.suppress(Exception):
            self.conn.close()
