"""The relational extraction engine: one table, one window, source to warehouse.

``extract_table`` is what each task of ``extract_obe_mysql``, ``extract_info_portal_postgres`` and
``extract_redshift_dw`` runs. It reads exactly ``[window.start - lookback, window.end)`` on the
table's cursor column (or the whole table for a full refresh), stages the rows and publishes them
in one transaction: merge on the primary key, or an atomic replace for full refreshes. Running the
same window twice, or windows in any order, leaves the target identical.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TypeVar

from bi_pipelines.core.errors import ExtractionError
from bi_pipelines.core.windows import Window
from bi_pipelines.db.connections import get_connection, open_dbapi
from bi_pipelines.db.rows import RowStream
from bi_pipelines.load.publish import Merge, ReplaceAll
from bi_pipelines.load.tables import Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse
from bi_pipelines.sources.relational.reader import NullCursorError, RelationalSource, check_columns
from bi_pipelines.sources.relational.spec import FlowSpec, TableSpec

log = logging.getLogger(__name__)
T = TypeVar("T")


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


class StepClock:
    """Seconds since the task started at each step of one table's extraction, for the task log.

    Args:
        task_started: ``time.monotonic()`` when the task callable began; default now.
    """

    def __init__(self, task_started: float | None = None):
        self.task_started = time.monotonic() if task_started is None else task_started
        self.marks: dict[str, float] = {}

    def mark(self, step: str) -> float:
        """Note that ``step`` is done now; return the seconds since the task started."""
        self.marks[step] = time.monotonic() - self.task_started
        return self.marks[step]

    def between(self, first: str, second: str) -> float:
        """Seconds from the end of step ``first`` (``"start"``: the task's start) to that of ``second``."""
        return self.marks[second] - (0.0 if first == "start" else self.marks[first])

    def noting_first(self, stream: RowStream, step: str) -> RowStream:
        """``stream``, marking ``step`` when its first batch or COPY chunk arrives from the source."""

        def noted(produce: Callable[[], Iterator[T]]) -> Callable[[], Iterator[T]]:
            def produce_noting_first() -> Iterator[T]:
                for item in produce():
                    if step not in self.marks:
                        self.mark(step)
                    yield item

            return produce_noting_first

        copy_chunks = noted(stream.copy_chunks) if stream.copy_chunks is not None else None
        return dataclasses.replace(stream, batches=noted(stream.batches), copy_chunks=copy_chunks)


def open_source(
    dialect: str, conn_id: str, clock: StepClock | None = None, where: str | None = None
) -> RelationalSource:
    """Open the source behind ``conn_id`` with the reader for its dialect.

    Logs ``first source query N s after the task started`` once the connection is open (looked
    up, connected, logged in), right before the reader's first statement (its session settings).

    Args:
        dialect: ``mysql``, ``postgres`` or ``redshift``.
        conn_id: The Airflow connection id.
        clock: Marks ``source looked up``, ``source connected`` and ``source ready`` on it.
        where: Names the table and connection in the log line (default: the connection id).
    """
    clock = clock if clock is not None else StepClock()
    opening = clock.mark("source opening")
    airflow_conn = get_connection(conn_id)
    clock.mark("source looked up")
    conn, _, extra = open_dbapi(conn_id, airflow_conn=airflow_conn)
    log.info(
        "%s: source connected in %.3f s (connection looked up in %.3f s); first source query %.3f s "
        "after the task started",
        where or repr(conn_id),
        clock.mark("source connected") - opening,
        clock.between("source opening", "source looked up"),
        clock.marks["source connected"],
    )
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
        source = cls(conn, conn_id, extra)
    except BaseException:
        conn.close()
        raise
    clock.mark("source ready")
    return source


def extract_table(
    flow: FlowSpec,
    table: TableSpec,
    window: Window,
    before_publish: Callable[[], None] | None = None,
    task_started: float | None = None,
) -> ExtractSummary:
    """Extract one table's window into the warehouse.

    Logs, besides the summary, when the first statement goes to the source and how long each
    step before the first row took (connect, describe, the warehouse), in seconds since the task
    started.

    Args:
        flow: The flow the table belongs to (source and target connections, target schema).
        table: The table to extract.
        window: The run's window; the table's lookback is added in front of it.
        before_publish: Test hook called between staging and publishing.
        task_started: ``time.monotonic()`` when the task callable began (default: now), the
            zero of the timings in the log.

    Raises:
        ExtractionError: naming the connection and table when the source cannot be read, or when
            the source session gave up waiting for a lock or stopped a long query (saying which
            connection extra to raise).
        SchemaError: when a source column has a type the warehouse cannot hold.
        NullCursorError: for ``on_null_cursor: fail`` when rows have a NULL cursor.
    """
    started = time.monotonic()
    clock = StepClock(task_started)
    clock.mark("begin")
    where = f"{flow.dag.dag_id}.{table.name} (connection {flow.source_conn_id!r})"
    read_window = window.widened(table.lookback) if table.incremental else None
    source = open_source(flow.source_dialect, flow.source_conn_id, clock, where)
    try:
        warehouse = Warehouse.connect(flow.target_conn_id)
        try:
            clock.mark("warehouse connected")
            columns = check_columns(table, source.describe(table), where)
            clock.mark("described")
            target = TargetTable(
                schema=flow.target_schema,
                table=table.target_table,
                columns=tuple(Column(c.name, c.target_type) for c in columns),
                primary_key=table.primary_key,
            )
            null_cursor = check_null_cursor(source, table, columns, where)
            clock.mark("null cursor counted")
            added = warehouse.ensure_table(target)
            clock.mark("target ready")
            stream = clock.noting_first(source.row_stream(table, columns, read_window), "first row")
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
    clock.mark("done")
    log_timings(where, clock)
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


def log_timings(where: str, clock: StepClock) -> None:
    """One line: each step before the first row, and when the first row and the end came."""
    marks = clock.marks
    first_row = marks.get("first row")
    log.info(
        "%s: timings: began %.3f s after the task started; source connection looked up in %.3f s, "
        "connected in %.3f s, session set up in %.3f s; warehouse connected in %.3f s; described "
        "in %.3f s; NULL cursors counted in %.3f s; target table ready in %.3f s; first row %s, "
        "done %.3f s after the task started",
        where,
        marks["begin"],
        clock.between("source opening", "source looked up"),
        clock.between("source looked up", "source connected"),
        clock.between("source connected", "source ready"),
        clock.between("source ready", "warehouse connected"),
        clock.between("warehouse connected", "described"),
        clock.between("described", "null cursor counted"),
        clock.between("null cursor counted", "target ready"),
        f"{first_row:.3f} s" if first_row is not None else "none (no rows)",
        marks["done"],
    )


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
