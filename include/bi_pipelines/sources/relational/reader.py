"""What every relational source shares: column descriptions and the source interface."""

from __future__ import annotations

from dataclasses import dataclass

from bi_pipelines.core.errors import ExtractionError
from bi_pipelines.core.windows import Window
from bi_pipelines.db.rows import RowStream
from bi_pipelines.sources.relational.spec import TableSpec

FETCH_ROWS = 10_000


@dataclass(frozen=True)
class SourceColumn:
    """A source column and how it lands in the warehouse.

    ``kind`` drives conversions: ``naive_timestamp`` (read in the table's time zone),
    ``utc_timestamp``, ``timestamptz``, ``date``, ``bool``, ``bytes``, ``json``, ``text``, ``other``.
    """

    name: str
    source_type: str
    target_type: str
    kind: str


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

    def __init__(self, conn, conn_id: str):
        self.conn = conn
        self.conn_id = conn_id
        self.zero_dates = 0

    def describe(self, table: TableSpec) -> list[SourceColumn]:
        raise NotImplementedError

    def row_stream(self, table: TableSpec, columns: list[SourceColumn], window: Window | None) -> RowStream:
        raise NotImplementedError

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # closing a broken connection must not hide the original error
            pass
