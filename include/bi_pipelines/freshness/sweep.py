"""Measuring the last update of many tables: one connection per server, servers in parallel.

Watchdog launched a process per table, each opening its own connection (~66 ms a table here).
The sweep opens one connection per Airflow connection id, runs every due table's query over it
(~0.1 ms a table with an index), and checks the servers side by side in a bounded thread pool,
so a slow or dead server only delays its own tables. Whatever happens, every table gets a
result: a server that cannot be reached yields a ``runtime_error`` row per table with the reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bi_pipelines.freshness.learning import LEARNED, Expectation
from bi_pipelines.freshness.queries import (
    ServerSession,
    UnusableValue,
    dialect_for,
    freshness_query,
    prepare_session,
    to_utc,
)
from bi_pipelines.freshness.spec import (
    ERROR,
    NO_DATA,
    PASS,
    RUNTIME_ERROR,
    WARN,
    FreshnessCheck,
    SweepSettings,
)

log = logging.getLogger(__name__)

MAX_MESSAGE = 500
# Beyond its connection_budget a server's sweep only finishes the query in flight (bounded by
# the statement timeout); past this grace the server is given up.
ABANDON_GRACE_SECONDS = 60.0
# Clocks differ between servers; a last update this far in the future means a wrong time zone.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)

Opener = Callable[..., tuple[Any, str, dict[str, Any]]]


@dataclass(frozen=True)
class FreshnessResult:
    """The outcome of one check.

    Attributes:
        check: What was measured.
        status: ``pass``, ``warn``, ``error``, ``runtime_error`` or ``no_data``.
        last_update: The newest timestamp found, UTC; ``None`` for no rows or a failure.
        queried_at: When the value was read (UTC); the lag is measured against it.
        lag_seconds: ``queried_at - last_update`` in seconds.
        message: Why the status is not ``pass`` (or a hint), else ``None``.
        server_host: The host of the Airflow connection.
        db_type: ``postgres``, ``redshift``, ``mysql`` or ``mariadb`` (as detected when connected).
        query_seconds: How long the query took.
        expectation: The learned expectation the status was judged against (``None``: the
            configured thresholds only).
    """

    check: FreshnessCheck
    status: str
    last_update: dt.datetime | None
    queried_at: dt.datetime
    lag_seconds: float | None
    message: str | None
    server_host: str | None
    db_type: str
    query_seconds: float | None = None
    expectation: Expectation | None = None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:MAX_MESSAGE]


def evaluate(
    check: FreshnessCheck,
    last_update: dt.datetime | None,
    queried_at: dt.datetime,
    expectation: Expectation | None = None,
) -> tuple[str, float | None, str | None]:
    """Status, lag and message of a measured table (dbt's rule: stale when the age exceeds a limit).

    The limits are the configured ``warn_after``/``error_after``, or those of a ``learned``
    ``expectation`` (the lag is then the gap still open since the last update, compared with
    what gaps starting at that hour of the week plausibly last).
    """
    if last_update is None:
        where = f" matching {check.filter}" if check.filter else ""
        return NO_DATA, None, f"no rows{where} (or {check.measured} is NULL in every row)"
    lag = queried_at - last_update
    seconds = lag.total_seconds()
    limits: Any = check.thresholds
    learned = ""
    if expectation is not None and expectation.mode == LEARNED:
        limits = expectation
        learned = "the learned "
    message = None
    if lag < -FUTURE_TOLERANCE:
        message = (
            f"last update is {_human(-lag)} in the future: are the values really in {check.timezone}? "
            f"(set the table's timezone in {check.origin.split(':')[0]})"
        )
    basis = f" ({expectation.basis})" if learned and expectation and expectation.basis else ""
    if limits.error_after is not None and lag > limits.error_after:
        return (
            ERROR,
            seconds,
            f"last update {_human(lag)} ago, more than {learned}error_after {_human(limits.error_after)}{basis}",
        )
    if limits.warn_after is not None and lag > limits.warn_after:
        return (
            WARN,
            seconds,
            f"last update {_human(lag)} ago, more than {learned}warn_after {_human(limits.warn_after)}{basis}",
        )
    return PASS, seconds, message


def judge_learned(result: FreshnessResult, expectation: Expectation) -> FreshnessResult:
    """``result`` judged against ``expectation`` (a measured result only; failures stay as they are)."""
    if result.status not in (PASS, WARN, ERROR):
        return dataclasses.replace(result, expectation=expectation)
    status, lag, message = evaluate(result.check, result.last_update, result.queried_at, expectation)
    return dataclasses.replace(
        result, status=status, lag_seconds=lag, message=message, expectation=expectation
    )


def _human(delta: dt.timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _failed(
    check: FreshnessCheck, message: str, host: str | None, db_type: str, at: dt.datetime
) -> FreshnessResult:
    return FreshnessResult(check, RUNTIME_ERROR, None, at, None, message[:MAX_MESSAGE], host, db_type)


def connection_identity(conn_id: str) -> tuple[str | None, str | None]:
    """The host and type of an Airflow connection, ``(None, None)`` when it is not defined."""
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        return conn.host, conn.conn_type
    except Exception:
        return None, None


def sweep_connection(
    conn_id: str,
    checks: Iterable[FreshnessCheck],
    settings: SweepSettings | None = None,
    *,
    opener: Opener | None = None,
    clock: Callable[[], dt.datetime] = _utcnow,
) -> list[FreshnessResult]:
    """Measure every check of one Airflow connection over ONE database connection.

    Args:
        conn_id: The Airflow connection all ``checks`` live on.
        checks: The tables to measure.
        settings: Statement timeout, connect attempts, time budget for the whole connection.
        opener: ``open_dbapi``-compatible function (tests and the benchmark count connects).
        clock: Source of "now" (tests).

    Returns:
        One :class:`FreshnessResult` per check, in order. Never raises for a source problem: a
        connection failure gives ``runtime_error`` results for all the checks, a failing query
        one for its table.
    """
    checks = list(checks)
    if not checks:
        return []
    settings = settings or SweepSettings()
    if opener is None:
        from bi_pipelines.db.connections import open_dbapi

        opener = open_dbapi
    started = time.monotonic()
    host, known_type = connection_identity(conn_id)
    configured = checks[0].dialect
    try:
        conn, conn_type, _extra = opener(
            conn_id, attempts=settings.connect_attempts, backoff=settings.connect_backoff_seconds
        )
    except Exception as exc:
        reason = _reason(exc)
        log.error(
            "freshness: %s unreachable, %d table(s) marked runtime_error: %s", conn_id, len(checks), reason
        )
        at = clock()
        db_type = dialect_for(known_type, configured) if known_type else configured or "unknown"
        return [_failed(c, f"cannot connect: {reason}", host, db_type, at) for c in checks]

    results: list[FreshnessResult] = []
    try:
        dialect = dialect_for(conn_type, configured)
        try:
            session = prepare_session(conn, dialect, settings.statement_timeout)
        except Exception as exc:
            at = clock()
            reason = f"connected, but preparing the session failed: {_reason(exc)}"
            return [_failed(c, reason, host, dialect, at) for c in checks]
        budget = settings.connection_budget.total_seconds()
        for check in checks:
            if time.monotonic() - started > budget:
                message = (
                    f"not checked: the sweep of {conn_id} used up its budget of {int(budget)} s "
                    "(sweep.connection_budget); look for slow tables or raise the budget"
                )
                results.append(_failed(check, message, host, session.flavour, clock()))
                continue
            try:
                results.append(
                    _measure(conn, check, dialect_for(conn_type, check.dialect), session, host, clock)
                )
            except Exception as exc:  # a bug on one table must not cost the server's other rows
                log.exception("freshness: measuring %s failed unexpectedly", check.key)
                results.append(
                    _failed(check, f"internal error: {_reason(exc)}", host, session.flavour, clock())
                )
    finally:
        try:
            conn.close()
        except Exception:  # a broken connection may refuse to close; the results stand
            log.debug("closing %s failed", conn_id, exc_info=True)
    return results


def _measure(
    conn, check: FreshnessCheck, dialect: str, session: ServerSession, host, clock
) -> FreshnessResult:
    if check.problem:
        return _failed(check, check.problem, host, session.flavour, clock())
    t0 = time.perf_counter()
    cur = conn.cursor()
    try:
        cur.execute(freshness_query(check, dialect, conn))
        row = cur.fetchone()
        type_code = cur.description[0][1] if cur.description else None
        queried_at = clock()
    except Exception as exc:
        return _failed(check, f"query failed: {_reason(exc)}", host, session.flavour, clock())
    finally:
        try:
            cur.close()
        except Exception:
            log.debug("closing a cursor failed", exc_info=True)
    elapsed = time.perf_counter() - t0
    try:
        last_update = to_utc(row[0] if row else None, check.timezone, dialect=dialect, type_code=type_code)
    except UnusableValue as exc:
        return _failed(check, f"{check.measured} {exc}", host, session.flavour, queried_at)
    except (ValueError, OverflowError, OSError, ArithmeticError) as exc:  # an epoch out of range, say
        return _failed(
            check,
            f"{check.measured} returned {_reason(exc)}: not a usable time",
            host,
            session.flavour,
            queried_at,
        )
    status, lag, message = evaluate(check, last_update, queried_at)
    return FreshnessResult(
        check, status, last_update, queried_at, lag, message, host, session.flavour, elapsed
    )


def group_by_connection(checks: Iterable[FreshnessCheck]) -> dict[str, list[FreshnessCheck]]:
    """The checks by connection id, in their configured order."""
    groups: dict[str, list[FreshnessCheck]] = {}
    for check in checks:
        groups.setdefault(check.conn_id, []).append(check)
    return groups


def sweep_all(
    checks: Iterable[FreshnessCheck],
    settings: SweepSettings | None = None,
    *,
    opener: Opener | None = None,
    clock: Callable[[], dt.datetime] = _utcnow,
) -> list[FreshnessResult]:
    """Measure ``checks`` grouped by connection, at most ``max_parallel_connections`` servers at once.

    A server that does not answer at all (a connect hanging on a black-holed address, a query
    stuck despite the statement timeout) is given up after its ``connection_budget`` plus a
    grace period: its tables get ``runtime_error`` rows and the sweep returns without it. The
    workers are daemon threads, so an abandoned one cannot keep the task process alive.

    Returns:
        One result per check, in the order given.
    """
    checks = list(checks)
    settings = settings or SweepSettings()
    groups = group_by_connection(checks)
    if not groups:
        return []
    pending: queue.Queue[str] = queue.Queue()
    for conn_id in groups:
        pending.put(conn_id)
    done: dict[str, list[FreshnessResult]] = {}
    started: dict[str, float] = {}
    closed = threading.Event()
    lock = threading.Condition()

    def work() -> None:
        while not closed.is_set():
            try:
                conn_id = pending.get_nowait()
            except queue.Empty:
                return
            with lock:
                started[conn_id] = time.monotonic()
            try:
                results = sweep_connection(conn_id, groups[conn_id], settings, opener=opener, clock=clock)
            except Exception as exc:  # a bug must not cost the other servers their rows
                log.exception("freshness: sweeping %s failed unexpectedly", conn_id)
                at = clock()
                reason = f"internal error: {_reason(exc)}"
                results = [_failed(c, reason, None, "unknown", at) for c in groups[conn_id]]
            with lock:
                done[conn_id] = results
                lock.notify_all()

    workers = min(settings.max_parallel_connections, len(groups))
    for n in range(workers):
        threading.Thread(target=work, name=f"freshness-{n}", daemon=True).start()

    allowance = settings.connection_budget.total_seconds() + ABANDON_GRACE_SECONDS
    given_up: dict[str, str] = {}
    with lock:
        while len(done.keys() | given_up.keys()) < len(groups):
            now = time.monotonic()
            for conn_id, t0 in started.items():
                if conn_id not in done and conn_id not in given_up and now - t0 > allowance:
                    given_up[conn_id] = f"no answer from {conn_id} within {int(allowance)} s; given up"
            # Workers stuck on abandoned servers never come back for the servers still queued.
            if len(given_up) >= workers:
                for conn_id in groups:
                    if conn_id not in started and conn_id not in given_up:
                        given_up[conn_id] = "not checked: every worker was stuck on an unresponsive server"
            lock.wait(timeout=0.5)
        closed.set()

    by_key: dict[str, FreshnessResult] = {}
    for conn_id, group in groups.items():
        if conn_id in done:
            for result in done[conn_id]:
                by_key[result.check.key] = result
            continue
        log.error("freshness: %s", given_up[conn_id])
        at = clock()
        for check in group:
            by_key[check.key] = _failed(check, given_up[conn_id], None, check.dialect or "unknown", at)
    return [by_key[c.key] for c in checks]
