"""The freshness history in the warehouse: one row per table per check, a view of the latest.

``monitoring.source_table_freshness`` keeps every check (until the retention deletes it);
``monitoring.source_table_freshness_latest`` shows the newest row per table. Rows are written
through the shared load path (``Warehouse.load`` with ``Merge(("table_key", "checked_at"))``): a
table has at most one row per checked instant, so a rerun of an instant (``airflow dags test``
twice, a cleared run, a manual trigger next to the scheduled one) replaces the rows of that
instant, whichever run wrote them.

:func:`ensure_objects` also migrates a table created by an earlier version, idempotently: the key
was ``(run_id, table_key)`` (duplicates of an instant are reduced to the newest row) and
``lag_seconds`` was ``double precision`` (now ``numeric``, so ``round(lag_seconds / 3600, 1)``
works on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, overload

from bi_pipelines.db.rows import RowStream
from bi_pipelines.freshness.learning import FIXED, LEARNED
from bi_pipelines.freshness.spec import Acknowledgement, MonitoringSettings
from bi_pipelines.freshness.sweep import FreshnessResult
from bi_pipelines.load.publish import LoadResult, Merge
from bi_pipelines.load.tables import POSTGRES, Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse

log = logging.getLogger(__name__)

KEY = ("table_key", "checked_at")
LEGACY_KEY = ("run_id", "table_key")
# numeric, not double precision: PostgreSQL has round(numeric, int) but no round(double, int).
LAG_TYPE = "numeric(18,3)"
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
    Column("lag_seconds", LAG_TYPE),
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
    # How the thresholds of the row were set: 'fixed' (configured), 'learned' (from the table's
    # own update history) or 'learning' (learned thresholds asked for, not enough history yet:
    # the configured ones applied).
    Column("threshold_mode", "text"),
    Column("expected_next_update", "timestamptz"),
    Column("learned_quantile", "double precision"),
    Column("learned_samples", "bigint"),
    Column("learned_gap_seconds", "numeric(18,3)"),
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
    """The results table as the load layer sees it: columns and key."""
    return TargetTable(settings.schema, settings.table, COLUMNS, KEY)


def _primary_key(wh: Warehouse, settings: MonitoringSettings) -> tuple[str | None, tuple[str, ...]]:
    """The name and columns (in key order) of the results table's primary key."""
    rows = wh.query(
        "SELECT tc.constraint_name, kcu.column_name FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
        "AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name "
        "WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = %s AND tc.table_name = %s "
        "ORDER BY kcu.ordinal_position",
        (settings.schema, settings.table),
    )
    return (rows[0][0] if rows else None), tuple(r[1] for r in rows)


def _column_type(wh: Warehouse, settings: MonitoringSettings, column: str) -> str | None:
    rows = wh.query(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        (settings.schema, settings.table, column),
    )
    return rows[0][0] if rows else None


def migrate(wh: Warehouse, settings: MonitoringSettings) -> list[str]:
    """Bring a results table of an earlier version to the current shape. Idempotent; commits.

    Returns:
        What was changed, for the log (empty when nothing was to do).
    """
    qualified = wh.qualified(settings.schema, settings.table)
    view = wh.qualified(settings.schema, settings.view)
    done = []
    name, key = _primary_key(wh, settings)
    if key != KEY:
        with wh.transaction() as cur:
            # One row per table and instant: of several, the newest read wins (the last rerun).
            cur.execute(
                f"DELETE FROM {qualified} WHERE (table_key, checked_at, run_id, queried_at) IN ("
                f"SELECT table_key, checked_at, run_id, queried_at FROM (SELECT table_key, checked_at, "
                "run_id, queried_at, ROW_NUMBER() OVER (PARTITION BY table_key, checked_at "
                "ORDER BY queried_at DESC, run_id DESC) AS row_rank "
                f"FROM {qualified}) ranked WHERE row_rank > 1)"
            )
            if name:
                cur.execute(f"ALTER TABLE {qualified} DROP CONSTRAINT {wh.q(name)}")
            cur.execute(f"ALTER TABLE {qualified} ADD PRIMARY KEY ({', '.join(wh.q(c) for c in KEY)})")
        done.append(f"primary key {key or '(none)'} -> {KEY}")
    if _column_type(wh, settings, "lag_seconds") == "double precision":
        with wh.transaction() as cur:
            cur.execute(f"DROP VIEW IF EXISTS {view}")  # it depends on the column's type
            if wh.dialect == POSTGRES:
                cur.execute(
                    f"ALTER TABLE {qualified} ALTER COLUMN lag_seconds TYPE {LAG_TYPE} "
                    f"USING round(lag_seconds::numeric, 3)"
                )
            else:  # Redshift alters only VARCHAR types in place: copy through a new column
                cur.execute(f"ALTER TABLE {qualified} ADD COLUMN lag_seconds_numeric {LAG_TYPE}")
                cur.execute(f"UPDATE {qualified} SET lag_seconds_numeric = lag_seconds::{LAG_TYPE}")
                cur.execute(f"ALTER TABLE {qualified} DROP COLUMN lag_seconds")
                cur.execute(f"ALTER TABLE {qualified} RENAME COLUMN lag_seconds_numeric TO lag_seconds")
        done.append(f"lag_seconds double precision -> {LAG_TYPE}")
    return done


def ensure_objects(wh: Warehouse, settings: MonitoringSettings) -> None:
    """Create (extend, migrate) the results table, its index and the ``_latest`` view. Commits."""
    table = target(settings)
    # Migrate before the schema check: the load layer refuses a column type change it cannot
    # prove lossless (double precision -> numeric), which migrate() makes deliberately.
    if wh.existing_columns(settings.schema, settings.table):
        for change in migrate(wh, settings):
            log.info("%s.%s migrated: %s", settings.schema, settings.table, change)
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
        # New columns come last, which CREATE OR REPLACE VIEW allows; a type change drops the
        # view first (migrate).
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


def checks_at(wh: Warehouse, settings: MonitoringSettings, at: dt.datetime) -> dict[str, PreviousCheck]:
    """The rows already recorded for the instant ``at`` (by an earlier attempt at the same instant).

    They are what this instant has already reported: a rerun alerts only on what differs from them.
    """
    sql = (
        "SELECT table_key, status, checked_at, last_update, error_message "
        f"FROM {wh.qualified(settings.schema, settings.table)} WHERE checked_at = %s"
    )
    return {
        key: PreviousCheck(status, _aware(checked), _aware(last), message)
        for key, status, checked, last, message in wh.query(sql, (at,))
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
    """The results-table row of one check, in the order of :data:`COLUMN_NAMES`.

    ``previous`` is the table's latest check *before* ``checked_at``, whatever run wrote it.
    """
    check = result.check
    previous_status = previous.status if previous else None
    exp = result.expectation
    warn_after = exp.warn_after if exp and exp.mode == LEARNED else check.thresholds.warn_after
    error_after = exp.error_after if exp and exp.mode == LEARNED else check.thresholds.error_after
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
        _seconds(warn_after),
        _seconds(error_after),
        _seconds(check.thresholds.check_interval),
        acknowledgement.until if acknowledgement else None,
        acknowledgement.reason if acknowledgement else None,
        round(result.query_seconds, 6) if result.query_seconds is not None else None,
        exp.mode if exp else FIXED,
        exp.expected_next_update if exp else None,
        exp.quantile if exp and exp.mode == LEARNED else None,
        exp.samples if exp else None,
        round(exp.gap.total_seconds(), 3) if exp and exp.gap is not None else None,
    )


def write_rows(wh: Warehouse, settings: MonitoringSettings, rows: Sequence[Sequence[Any]]) -> LoadResult:
    """Publish the rows of one run, replacing rows of the same ``(table_key, checked_at)``."""
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
