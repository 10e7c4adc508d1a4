"""The relational extraction engine: one table, one window, source to warehouse.

``extract_table`` is what each task of ``extract_obe_mysql``, ``extract_info_portal_postgres`` and
``extract_redshift_dw`` runs. It reads exactly ``[window.start - lookback, window.end)`` on the
table's cursor column (or the whole table for a full refresh), stages the rows and publishes them
in one transaction: merge on the primary key, or an atomic replace for full refreshes. Running the
same window twice, or windows in any order, leaves the target identical.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bi_pipelines.core.errors import ExtractionError
from bi_pipelines.core.windows import Window
from bi_pipelines.db.connections import open_dbapi
from bi_pipelines.load.publish import Merge, ReplaceAll
from bi_pipelines.load.tables import Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse
from bi_pipelines.sources.relational.reader import NullCursorError, RelationalSource, check_columns
from bi_pipelines.sources.relational.spec import FlowSpec, TableSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractSummary:
    """What one table's extraction did, small enough for XCom and the task log."""

    table: str
    target: str
    window_start: str | None
    window_end: str | None
    rows_staged: int
    rows_replaced: int
    rows_inserted: int
    zero_dates_nulled: int
    nul_values_stripped: int
    null_cursor_rows: int
    null_cursor_policy: str | None
    columns_added: tuple[str, ...]
    seconds: float

    def as_dict(self) -> dict:
        """The summary as a plain dict, for XCom."""
        return asdict(self)


def open_source(dialect: str, conn_id: str) -> RelationalSource:
    """Open the source behind ``conn_id`` with the reader for its dialect."""
    conn, _, extra = open_dbapi(conn_id)
    cls: type[RelationalSource]
    if dialect == "mysql":
        from bi_pipelines.sources.relational.mysql import MySqlSource

        cls = MySqlSource
    elif dialect == "redshift":
        from bi_pipelines.sources.relational.postgres import RedshiftSource

        cls = RedshiftSource
    else:
        from bi_pipelines.sources.relational.postgres import PostgresSource

        cls = PostgresSource
    try:
        return cls(conn, conn_id, extra)
    except BaseException:
        conn.close()
        raise


def extract_table(
    flow: FlowSpec,
    table: TableSpec,
    window: Window,
    before_publish: Callable[[], None] | None = None,
) -> ExtractSummary:
    """Extract one table's window into the warehouse.

    Args:
        flow: The flow the table belongs to (source and target connections, target schema).
        table: The table to extract.
        window: The run's window; the table's lookback is added in front of it.
        before_publish: Test hook called between staging and publishing.

    Raises:
        ExtractionError: naming the connection and table when the source cannot be read, or when
            the source session gave up waiting for a lock or stopped a long query (saying which
            connection extra to raise).
        SchemaError: when a source column has a type the warehouse cannot hold.
        NullCursorError: for ``on_null_cursor: fail`` when rows have a NULL cursor.
    """
    started = time.monotonic()
    where = f"{flow.dag.dag_id}.{table.name} (connection {flow.source_conn_id!r})"
    read_window = window.widened(table.lookback) if table.incremental else None
    source = open_source(flow.source_dialect, flow.source_conn_id)
    try:
        warehouse = Warehouse.connect(flow.target_conn_id)
        try:
            columns = check_columns(table, source.describe(table), where)
            target = TargetTable(
                schema=flow.target_schema,
                table=table.target_table,
                columns=tuple(Column(c.name, c.target_type) for c in columns),
                primary_key=table.primary_key,
            )
            null_cursor = check_null_cursor(source, table, columns, where)
            added = warehouse.ensure_table(target)
            stream = source.row_stream(table, columns, read_window)
            strategy = Merge(table.primary_key) if table.incremental else ReplaceAll()
            hook = (lambda _cur: before_publish()) if before_publish is not None else None
            result = warehouse.load(target, stream, strategy, before_publish=hook)
        finally:
            warehouse.close()
    except Exception as exc:
        message = source.timeout_message(exc, where)
        if message is None:
            raise
        raise ExtractionError(message) from exc
    finally:
        source.close()
    if source.zero_dates:
        log.warning(
            "%s: %d zero date value(s) (0000-00-00, a zero month/day, or year 0) were loaded as NULL",
            where,
            source.zero_dates,
        )
    if source.nul_values:
        log.warning(
            "%s: %d text value(s) held NUL characters, which the warehouse cannot store; they were "
            "loaded with the NUL characters removed",
            where,
            source.nul_values,
        )
    summary = ExtractSummary(
        table=table.qualified_source,
        target=str(target),
        window_start=read_window.start.isoformat() if read_window else None,
        window_end=read_window.end.isoformat() if read_window else None,
        rows_staged=result.rows_staged,
        rows_replaced=result.rows_deleted,
        rows_inserted=result.rows_inserted,
        zero_dates_nulled=source.zero_dates,
        nul_values_stripped=source.nul_values,
        null_cursor_rows=null_cursor,
        null_cursor_policy=table.on_null_cursor if table.incremental else None,
        columns_added=added,
        seconds=round(time.monotonic() - started, 3),
    )
    null_note = ""
    if table.incremental:
        verb = "loaded" if table.on_null_cursor == "load" else "skipped"
        null_note = f", {null_cursor} row(s) with a NULL cursor {verb}"
    log.info(
        "%s -> %s: window %s, %s%s",
        table.qualified_source,
        target,
        read_window or "full refresh",
        result.summary(),
        null_note,
    )
    return summary


def check_null_cursor(source: RelationalSource, table: TableSpec, columns: list, where: str) -> int:
    """Count the rows no window selects (NULL cursor) and apply the table's ``on_null_cursor``.

    Returns:
        The count (0 for a full refresh, which reads every row anyway).

    Raises:
        NullCursorError: for ``on_null_cursor: fail`` when there is at least one such row.
    """
    if not table.incremental:
        return 0
    count = source.count_null_cursor(table, columns)
    if not count:
        return 0
    column = table.cursor_column
    if table.on_null_cursor == "fail":
        raise NullCursorError(
            f"{where}: {count} row(s) of {table.qualified_source} have a NULL cursor "
            f"({column!r}{' or a year-0 date such as 0000-00-00' if source.dialect == 'mysql' else ''}), which no window "
            "selects; set the table's on_null_cursor to 'load' to read them on every run or "
            "'skip' to leave them out, or fill the column at the source"
        )
    if table.on_null_cursor == "skip":
        log.warning(
            "%s: %d row(s) of %s have a NULL cursor (%r) and were not loaded (on_null_cursor: skip)",
            where,
            count,
            table.qualified_source,
            column,
        )
    return count
