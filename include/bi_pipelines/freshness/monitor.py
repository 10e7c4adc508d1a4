"""One run of the freshness monitor: pick the due tables, sweep, record, compare with history.

:func:`run_checks` is what the DAG's task calls; it takes plain arguments (the configuration, the
run id and the run's ``checked_at``) and returns a :class:`RunSummary` small enough for XCom.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.freshness.acknowledgements import active_acknowledgements, with_acknowledgements
from bi_pipelines.freshness.learning import LEARNED, expect, learn
from bi_pipelines.freshness.spec import PASS, STATUSES, FreshnessCheck, FreshnessConfig
from bi_pipelines.freshness.sweep import FreshnessResult, Opener, judge_learned, sweep_all
from bi_pipelines.freshness.writer import (
    PreviousCheck,
    checks_at,
    delete_expired,
    ensure_objects,
    previous_checks,
    result_row,
    write_rows,
)
from bi_pipelines.load.warehouse import Warehouse

log = logging.getLogger(__name__)

# Scheduled runs are exactly one cron step apart; a run triggered by hand is not. A minute of
# slack keeps a 15-minute table due on every 15-minute run despite a few seconds of drift.
DUE_SLACK = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class TableState:
    """A table's status after this run (measured now, or its latest earlier row if not due)."""

    table_key: str
    status: str
    previous_status: str | None
    message: str | None
    lag_seconds: float | None
    checked_now: bool
    acknowledged_until: str | None = None
    acknowledgement: str | None = None


@dataclass(frozen=True)
class RunSummary:
    """What a run found, as plain data (JSON-serialisable for XCom and the alert task)."""

    run_id: str
    checked_at: str
    tables_monitored: int
    tables_checked: int
    tables_not_due: int
    servers: int
    counts: dict[str, int]
    changes: list[dict[str, Any]] = field(default_factory=list)
    failing: list[dict[str, Any]] = field(default_factory=list)
    acknowledged: list[dict[str, Any]] = field(default_factory=list)
    rows_written: int = 0
    rows_deleted: int = 0
    sweep_seconds: float = 0.0
    fail_on: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain values, for XCom."""
        return asdict(self)


def checked_at_of(context: Mapping[str, Any]) -> dt.datetime:
    """The instant a run stands for: its ``data_interval_end``, else its ``run_after`` (UTC).

    A run triggered from the UI or the API without a logical date has no data interval; its
    ``run_after`` (when it was asked to run) is then the honest timestamp.
    """
    value = context.get("data_interval_end")
    if value is None:
        value = getattr(context.get("dag_run"), "run_after", None)
    if value is None:
        value = dt.datetime.now(dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def is_due(check: FreshnessCheck, previous: PreviousCheck | None, checked_at: dt.datetime) -> bool:
    """Watchdog's rule: check a table when its ``check_interval`` has passed since its last check."""
    if previous is None:
        return True
    return checked_at - previous.checked_at >= check.thresholds.check_interval - DUE_SLACK


def select_due(
    checks: Iterable[FreshnessCheck],
    previous: dict[str, PreviousCheck],
    checked_at: dt.datetime,
    *,
    force: bool = False,
    only: Iterable[str] = (),
) -> tuple[list[FreshnessCheck], list[FreshnessCheck]]:
    """Split the active checks into due and not due; ``only`` forces a subset (a refresh on demand).

    Raises:
        ConfigError: when ``only`` names a table key that is not monitored.
    """
    checks = [c for c in checks if c.thresholds.active]
    wanted = set(only)
    if wanted:
        unknown = sorted(wanted - {c.key for c in checks})
        if unknown:
            raise ConfigError(f"params.tables: not monitored (or inactive): {', '.join(unknown)}")
        return [c for c in checks if c.key in wanted], [c for c in checks if c.key not in wanted]
    if force:
        return checks, []
    due = [c for c in checks if is_due(c, previous.get(c.key), checked_at)]
    due_keys = {c.key for c in due}
    return due, [c for c in checks if c.key not in due_keys]


def table_states(
    config: FreshnessConfig,
    results: list[FreshnessResult],
    not_due: list[FreshnessCheck],
    previous: dict[str, PreviousCheck],
    at: dt.datetime,
) -> list[TableState]:
    """Every active table's status after this run, with its acknowledgement."""
    states = []
    for r in results:
        before = previous.get(r.check.key)
        ack = config.acknowledgement(r.check.key, at)
        states.append(
            TableState(
                r.check.key,
                r.status,
                before.status if before else None,
                r.message,
                r.lag_seconds,
                True,
                ack.until.isoformat() if ack else None,
                ack.reason if ack else None,
            )
        )
    for check in not_due:
        before = previous.get(check.key)
        if before is None:
            continue
        ack = config.acknowledgement(check.key, at)
        states.append(
            TableState(
                check.key,
                before.status,
                before.status,
                before.message,
                None,
                False,
                ack.until.isoformat() if ack else None,
                ack.reason if ack else None,
            )
        )
    return states


def summarize(
    config: FreshnessConfig,
    *,
    run_id: str,
    checked_at: dt.datetime,
    results: list[FreshnessResult],
    not_due: list[FreshnessCheck],
    previous: dict[str, PreviousCheck],
    now: dt.datetime,
    reported: Mapping[str, PreviousCheck] | None = None,
) -> RunSummary:
    """Status counts, status changes against each table's previous row, and what fails the run.

    ``reported`` holds the rows an earlier attempt at the same instant recorded: they were
    alerted on already, so a change is one from *them* when they exist (a rerun sends nothing
    new), else from the latest earlier check.
    """
    reported = reported or {}
    states = table_states(config, results, not_due, previous, now)
    changes, failing, acknowledged = [], [], []
    for s in states:
        already = reported.get(s.table_key)
        item = {
            "table_key": s.table_key,
            "status": s.status,
            "previous_status": s.previous_status,
            "message": s.message,
            "lag_seconds": s.lag_seconds,
            "acknowledged_until": s.acknowledged_until,
            "acknowledgement": s.acknowledgement,
        }
        # A table seen for the first time counts as a change only when it is not healthy.
        baseline = already.status if already else (s.previous_status or PASS)
        if s.checked_now and s.status != baseline:
            changes.append(item)
        if s.status != PASS:
            if s.acknowledged_until:
                acknowledged.append(item)
            elif s.status in config.alerts.fail_on:
                failing.append(item)
    counts = Counter(r.status for r in results)
    return RunSummary(
        run_id=run_id,
        checked_at=checked_at.isoformat(),
        tables_monitored=len(config.active_checks),
        tables_checked=len(results),
        tables_not_due=len(not_due),
        servers=len({r.check.conn_id for r in results}),
        counts={s: counts.get(s, 0) for s in STATUSES},
        changes=changes,
        failing=failing,
        acknowledged=acknowledged,
        fail_on=list(config.alerts.fail_on),
    )


def run_checks(
    config: FreshnessConfig,
    *,
    run_id: str,
    checked_at: dt.datetime,
    force: bool = False,
    only: Iterable[str] = (),
    opener: Opener | None = None,
    warehouse: Warehouse | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> tuple[RunSummary, list[FreshnessResult]]:
    """Check every due table, record one row per table in the monitoring table, apply retention.

    Args:
        config: The loaded freshness configuration.
        run_id: The DAG run id, recorded on each row.
        checked_at: The run's scheduled time (``data_interval_end``) or ``run_after``, UTC; a
            second run at the same instant replaces the rows of the first.
        force: Check every active table regardless of its ``check_interval``.
        only: Check just these table keys (a refresh on demand).
        opener: Replacement for ``open_dbapi`` on the sources (tests, the benchmark).
        warehouse: An open monitoring warehouse; by default one is opened from
            ``config.monitoring.conn_id`` and closed afterwards.
        clock: Source of "now" for the lag (tests).

    Returns:
        The summary and the individual results.
    """
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    wh = warehouse or Warehouse.connect(config.monitoring.conn_id)
    try:
        mon = config.monitoring
        ensure_objects(wh, mon)
        # Acknowledgements made in the Freshness page count like those in freshness.yaml: the
        # rows, the alerts and the red run all see them.
        config = with_acknowledgements(config, active_acknowledgements(wh, mon, checked_at))
        # The latest check *before* this instant, whatever run wrote it: what is due, the
        # previous status and the alerts are all measured against it, so a rerun of the instant
        # picks the same tables and writes the same rows (replacing the earlier attempt's).
        previous = previous_checks(wh, mon, before=checked_at, since=checked_at - mon.retention)
        reported = checks_at(wh, mon, checked_at)
        due, not_due = select_due(config.checks, previous, checked_at, force=force, only=only)
        # One query learns the rhythm of every due learned table, from the rows before this
        # instant (a rerun learns from the same history as the first attempt).
        learned_keys = [c.key for c in due if c.thresholds.mode == LEARNED]
        histories = learn(
            wh, mon, config.learning, learned_keys, before=checked_at, since=checked_at - mon.retention
        )
        started = time.perf_counter()
        results = sweep_all(due, config.sweep, opener=opener, clock=now)
        sweep_seconds = time.perf_counter() - started
        results = [
            judge_learned(r, expect(r.check, r.last_update, histories.get(r.check.key), config.learning))
            if r.check.thresholds.mode == LEARNED
            else r
            for r in results
        ]
        at = now()
        rows = [
            result_row(
                r,
                run_id=run_id,
                checked_at=checked_at,
                previous=previous.get(r.check.key),
                acknowledgement=config.acknowledgement(r.check.key, at),
            )
            for r in results
        ]
        written = write_rows(wh, mon, rows).rows_inserted if rows else 0
        deleted = delete_expired(wh, mon, checked_at - mon.retention)
    finally:
        if warehouse is None:
            wh.close()
    summary = summarize(
        config,
        run_id=run_id,
        checked_at=checked_at,
        results=results,
        not_due=not_due,
        previous=previous,
        now=at,
        reported=reported,
    )
    summary = RunSummary(
        **{
            **summary.to_dict(),
            "rows_written": written,
            "rows_deleted": deleted,
            "sweep_seconds": round(sweep_seconds, 3),
        }
    )
    return summary, results
