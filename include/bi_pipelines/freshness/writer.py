"""The freshness history in the warehouse: one row per table per check, a view of the latest.

``monitoring.source_table_freshness`` keeps every check (until the retention deletes it);
``monitoring.source_table_freshness_latest`` shows the newest row per table. Rows are written
through the shared load path (``Warehouse.load`` with ``Merge(("run_id", "table_key"))``), so a
rerun of the same DAG run replaces its own rows instead of adding new ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, overload

from bi_pipelines.db.rows import RowStream
from bi_pipelines.freshness.spec import Acknowledgement, MonitoringSettings
from bi_pipelines.freshness.sweep import FreshnessResult
from bi_pipelines.load.publish import LoadResult, Merge
from bi_pipelines.load.tables import POSTGRES, Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse

KEY = ("run_id", "table_key")
COLUMNS: tuple[Column, ...] = (
    Column("run_id", "text"),
    Column("table_key", "text"),
    Column("source_conn_id", "text"),
    Column("server_host", "text"),
    Column("db_type", "text"),
    Column("qualified_table", "text"),
    Column("column_or_expression", "text"),
    Column("filter", "text"),
    Column("source_timezone", "text"),
    Column("last_update", "timestamptz"),
    Column("checked_at", "timestamptz"),
    Column("queried_at", "timestamptz"),
    Column("lag_seconds", "double precision"),
    Column("status", "text"),
    Column("previous_status", "text"),
    Column("status_changed", "boolean"),
    Column("error_message", "text"),
    Column("warn_after_seconds", "bigint"),
    Column("error_after_seconds", "bigint"),
    Column("check_interval_seconds", "bigint"),
    Column("acknowledged_until", "timestamptz"),
    Column("acknowledgement", "text"),
    Column("query_seconds", "double precision"),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)


@dataclass(frozen=True)
class PreviousCheck:
    """The newest earlier row of a table: what a status change is measured against."""

    status: str
    checked_at: dt.datetime
    last_update: dt.datetime | None
    message: str | None = None


def target(settings: MonitoringSettings) -> TargetTable:
    return TargetTable(settings.schema, settings.table, COLUMNS, KEY)


def ensure_objects(wh: Warehouse, settings: MonitoringSettings) -> None:
    """Create (or extend) the results table, its index and the ``_latest`` view. Commits."""
    table = target(settings)
    wh.ensure_table(table)
    qualified = wh.qualified(settings.schema, settings.table)
    columns = ", ".join(wh.q(c) for c in COLUMN_NAMES)
    with wh.transaction() as cur:
        if wh.dialect == POSTGRES:
            # Redshift has no indexes (its sort key plays that part); PostgreSQL needs one for
            # the previous-status lookup and the view once the history grows.
            cur.execute(
                f"CREATE INDEX IF NOT EXISTS {wh.q(settings.table[:40] + '_key_checked_idx')} "
                f"ON {qualified} (table_key, checked_at DESC)"
            )
        cur.execute(
            f"CREATE OR REPLACE VIEW {wh.qualified(settings.schema, settings.view)} AS "
            f"SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY table_key "
            f"ORDER BY checked_at DESC, queried_at DESC) AS row_rank FROM {qualified}) ranked "
            "WHERE row_rank = 1"
        )


def previous_checks(
    wh: Warehouse, settings: MonitoringSettings, before: dt.datetime, since: dt.datetime
) -> dict[str, PreviousCheck]:
    """The newest row per table checked in ``[since, before)``.

    ``before`` is the current run's ``checked_at``: a rerun of a run therefore compares with the
    same earlier row as the first attempt did, not with its own rows.
    """
    sql = (
        "SELECT table_key, status, checked_at, last_update, error_message FROM (SELECT table_key, status, "
        "checked_at, last_update, error_message, ROW_NUMBER() OVER (PARTITION BY table_key ORDER BY checked_at DESC, queried_at DESC) "
        f"AS row_rank FROM {wh.qualified(settings.schema, settings.table)} "
        "WHERE checked_at < %s AND checked_at >= %s) ranked WHERE row_rank = 1"
    )
    rows = wh.query(sql, (before, since))
    return {
        key: PreviousCheck(status, _aware(checked), _aware(last), message)
        for key, status, checked, last, message in rows
    }


@overload
def _aware(value: dt.datetime) -> dt.datetime: ...
@overload
def _aware(value: None) -> None: ...
def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _seconds(delta: dt.timedelta | None) -> int | None:
    return int(delta.total_seconds()) if delta is not None else None


def result_row(
    result: FreshnessResult,
    *,
    run_id: str,
    checked_at: dt.datetime,
    previous: PreviousCheck | None,
    acknowledgement: Acknowledgement | None,
) -> tuple[Any, ...]:
    """The results-table row of one check, in the order of :data:`COLUMN_NAMES`."""
    check = result.check
    previous_status = previous.status if previous else None
    return (
        run_id,
        check.key,
        check.conn_id,
        result.server_host,
        result.db_type,
        check.qualified_table,
        check.measured,
        check.filter,
        check.timezone,
        result.last_update,
        checked_at,
        result.queried_at,
        round(result.lag_seconds, 3) if result.lag_seconds is not None else None,
        result.status,
        previous_status,
        previous_status is not None and previous_status != result.status,
        result.message,
        _seconds(check.thresholds.warn_after),
        _seconds(check.thresholds.error_after),
        _seconds(check.thresholds.check_interval),
        acknowledgement.until if acknowledgement else None,
        acknowledgement.reason if acknowledgement else None,
        round(result.query_seconds, 6) if result.query_seconds is not None else None,
    )


def write_rows(wh: Warehouse, settings: MonitoringSettings, rows: Sequence[Sequence[Any]]) -> LoadResult:
    """Publish the rows of one run, replacing rows of the same ``(run_id, table_key)``."""
    stream = RowStream(COLUMN_NAMES, batches=lambda: iter([list(rows)]))
    return wh.load(target(settings), stream, Merge(KEY))


def delete_expired(wh: Warehouse, settings: MonitoringSettings, cutoff: dt.datetime) -> int:
    """Delete rows checked before ``cutoff`` (the retention). Commits; returns the rows deleted."""
    return wh.execute(
        f"DELETE FROM {wh.qualified(settings.schema, settings.table)} WHERE checked_at < %s", (cutoff,)
    )


def latest_rows(wh: Warehouse, settings: MonitoringSettings, keys: Iterable[str] | None = None) -> list[dict]:
    """The ``_latest`` view as dictionaries (tests and ad-hoc inspection)."""
    rows = [
        dict(zip(COLUMN_NAMES, r, strict=True))
        for r in wh.query(
            f"SELECT {', '.join(COLUMN_NAMES)} FROM {wh.qualified(settings.schema, settings.view)}"
        )
    ]
    wanted = set(keys) if keys is not None else None
    return [r for r in rows if wanted is None or r["table_key"] in wanted]
