"""Telling people: a log summary every run, e-mail on status changes, a red run while tables fail.

* Every run logs a summary: counts per status, each status change, each failing table.
* A status change (compared with the table's previous row) is e-mailed once, when an SMTP
  connection exists at run time (``alerts.smtp_conn_id``, default ``smtp_default``).
* The run fails while any table is in a ``fail_on`` status (default ``error``) and is not
  acknowledged, so the Airflow UI shows red until the table recovers or is acknowledged. That
  failure is not e-mailed again: the change that caused it already was.
* Any other failure of the monitor itself (configuration, warehouse unreachable) is e-mailed by
  :func:`notify_failure`, the tasks' ``on_failure_callback``.
* The lag of each table goes to StatsD through Airflow's own metrics when ``[metrics]`` is on.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bi_pipelines.core.errors import PermanentError, root_cause
from bi_pipelines.freshness.spec import STATUSES
from bi_pipelines.freshness.sweep import FreshnessResult

log = logging.getLogger(__name__)

METRIC_PREFIX = "source_freshness"
_METRIC_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class FreshnessFailure(PermanentError):
    """Tables are failing their freshness thresholds; no retry can change that."""


def _lag(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = seconds / 60
    return f"{minutes / 60:.1f} h" if abs(minutes) >= 90 else f"{minutes:.0f} min"


def _line(item: dict[str, Any]) -> str:
    until = item.get("acknowledged_until")
    return (
        f"{item['table_key']}: {item.get('previous_status') or 'new'} -> {item['status']} "
        f"(lag {_lag(item.get('lag_seconds'))})"
        + (f" - {item['message']}" if item.get("message") else "")
        + (f" [acknowledged until {until}: {item.get('acknowledgement')}]" if until else "")
    )


def format_summary(summary: dict[str, Any]) -> str:
    """The run's log summary: one headline, then changes, failing and acknowledged tables."""
    counts = ", ".join(f"{n} {s}" for s, n in summary["counts"].items() if n)
    lines = [
        f"Freshness at {summary['checked_at']}: checked {summary['tables_checked']} of "
        f"{summary['tables_monitored']} table(s) on {summary['servers']} server(s) in "
        f"{summary['sweep_seconds']} s ({counts or 'nothing due'}); {summary['tables_not_due']} not due; "
        f"wrote {summary['rows_written']} row(s), deleted {summary['rows_deleted']} past retention."
    ]
    for title, key in (
        ("Status changes", "changes"),
        ("Failing (fail the run)", "failing"),
        ("Acknowledged", "acknowledged"),
    ):
        items = summary.get(key) or []
        if items:
            lines.append(f"{title} ({len(items)}):")
            lines.extend(f"  {_line(i)}" for i in items)
    if not summary.get("changes"):
        lines.append("No status changes since the previous check.")
    return "\n".join(lines)


def _limits(result: FreshnessResult) -> str:
    exp = result.expectation
    if exp is not None and exp.mode == "learned":
        nxt = f", next by {exp.expected_next_update:%Y-%m-%d %H:%M}" if exp.expected_next_update else ""
        return (
            f"learned {exp.basis or ''}: gap {_lag(_secs(exp.gap))}{nxt}; "
            f"warn {_lag(_secs(exp.warn_after))} / error {_lag(_secs(exp.error_after))}"
        )
    t = result.check.thresholds
    prefix = f"learning ({exp.samples or 0} gaps); " if exp is not None and exp.mode == "learning" else ""
    return f"{prefix}warn {_lag(_secs(t.warn_after))} / error {_lag(_secs(t.error_after))}"


def _secs(delta) -> float | None:
    return delta.total_seconds() if delta is not None else None


def format_table(results: Iterable[FreshnessResult], not_due: int = 0) -> str:
    """The checked tables as an aligned text table for the task log, then a count line.

    One line per table: key, status, lag, the thresholds (or the learned expectation) and the
    reason when the status is not ``pass``; failing tables first.
    """
    order = {s: i for i, s in enumerate(("error", "runtime_error", "warn", "no_data", "pass"))}
    rows = sorted(results, key=lambda r: (order.get(r.status, 9), r.check.key))
    header = ("table", "status", "lag", "thresholds", "reason")
    body = [
        (r.check.key, str(r.status), _lag(r.lag_seconds), _limits(r), (r.message or "")[:160]) for r in rows
    ]
    widths = [max([len(header[i])] + [len(b[i]) for b in body]) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(line)).rstrip()
        for line in [header, *body]
    ]
    counts = ", ".join(f"{sum(r.status == s for r in rows)} {s}" for s in STATUSES)
    lines.append(f"{len(rows)} table(s) checked: {counts}; {not_due} not due.")
    return "\n".join(lines)


def emit_metrics(results: Iterable[FreshnessResult]) -> int:
    """Send each table's lag (and this run's count per status) as StatsD gauges via Airflow's metrics.

    Returns the number of per-table lag gauges sent.

    Without ``[metrics] statsd_on`` Airflow's logger is a no-op. A metrics problem never fails
    the run.
    """
    try:
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # pragma: no cover - older task SDK
        return 0
    results = list(results)
    sent = 0
    for status in STATUSES:
        with contextlib.suppress(Exception):
            Stats.gauge(f"{METRIC_PREFIX}.checked.{status}", sum(r.status == status for r in results))
    for r in results:
        if r.lag_seconds is None:
            continue
        name = _METRIC_UNSAFE.sub("_", r.check.key.replace(":", ".").replace("#", "."))
        try:
            Stats.gauge(
                f"{METRIC_PREFIX}.lag_seconds.{name}",
                r.lag_seconds,
                tags={"conn_id": r.check.conn_id, "table": r.check.qualified_table, "status": r.status},
            )
            sent += 1
        except Exception:
            log.debug("sending the freshness gauge for %s failed", r.check.key, exc_info=True)
    return sent


def smtp_available(conn_id: str) -> bool:
    """Whether the SMTP connection exists now (checked at run time, never when parsing the DAG)."""
    try:
        from bi_pipelines.db.connections import get_connection

        get_connection(conn_id)
        return True
    except Exception:
        return False


def _recipients(email_to: Iterable[str], smtp_conn_id: str) -> list[str]:
    to = [e for e in email_to if e]
    if to:
        return to
    # Without a configured list the SMTP connection's sender gets the alerts (often a team box).
    try:
        from bi_pipelines.db.connections import get_connection

        conn = get_connection(smtp_conn_id)
        sender = (conn.extra_dejson or {}).get("from_email") or conn.login or ""
        return [sender] if "@" in sender else []
    except Exception:
        return []


def send_email(
    context: Mapping[str, Any], subject: str, body_html: str, *, email_to: Iterable[str], smtp_conn_id: str
) -> bool:
    """E-mail through ``SmtpNotifier`` when ``smtp_conn_id`` exists; returns whether it was sent."""
    if not smtp_available(smtp_conn_id):
        log.info("no SMTP connection %r: alert not e-mailed (it is in this log)", smtp_conn_id)
        return False
    to = _recipients(email_to, smtp_conn_id)
    if not to:
        log.warning(
            "SMTP connection %r exists but no recipient: set alerts.email_to in freshness.yaml", smtp_conn_id
        )
        return False
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    notifier = SmtpNotifier(to=to, subject=subject, html_content=body_html, smtp_conn_id=smtp_conn_id)
    try:
        # notify(), not notifier(context): calling the notifier would render subject and body as
        # Jinja templates, and table names or error messages must come through literally.
        notifier.notify(context)  # type: ignore[arg-type]  # any mapping: notify() reads a few keys
    except Exception:
        log.exception("e-mailing the freshness alert through %r failed", smtp_conn_id)
        return False
    log.info("freshness alert e-mailed to %s", ", ".join(to))
    return True


def _html_list(items: list[dict[str, Any]]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(_line(i))}</li>" for i in items) + "</ul>"


def change_email(summary: dict[str, Any], dag_id: str) -> tuple[str, str]:
    """Subject and HTML body announcing the status changes of a run."""
    changes = summary["changes"]
    worst = [c for c in changes if c["status"] != "pass"]
    subject = (
        f"[{dag_id}] {len(worst)} table(s) turned {', '.join(sorted({c['status'] for c in worst}))}"
        if worst
        else f"[{dag_id}] {len(changes)} table(s) recovered"
    )
    body = [f"<p>Freshness check at {html.escape(summary['checked_at'])}.</p>", "<h3>Status changes</h3>"]
    body.append(_html_list(changes))
    if summary.get("failing"):
        body.append("<h3>Failing the run</h3>" + _html_list(summary["failing"]))
    body.append(
        "<p>History: <code>monitoring.source_table_freshness</code>, current state: "
        "<code>monitoring.source_table_freshness_latest</code>. To silence a known problem add an "
        "entry under <code>acknowledgements</code> in freshness.yaml.</p>"
    )
    return subject, "\n".join(body)


def alert(
    summary: dict[str, Any], context: Mapping[str, Any], *, email_to: Iterable[str], smtp_conn_id: str
) -> None:
    """Log the summary, e-mail status changes, and fail when tables are failing.

    Raises:
        FreshnessFailure: when unacknowledged tables are in a ``fail_on`` status.
    """
    log.info("%s", format_summary(summary))
    dag_id = getattr(context.get("dag"), "dag_id", None) or "monitor_source_freshness"
    changes = [c for c in summary["changes"] if not c.get("acknowledged_until")]
    if changes:
        subject, body = change_email({**summary, "changes": changes}, dag_id)
        send_email(context, subject, body, email_to=email_to, smtp_conn_id=smtp_conn_id)
    failing = summary.get("failing") or []
    if failing:
        shown = "; ".join(_line(i) for i in failing[:20])
        more = f" and {len(failing) - 20} more" if len(failing) > 20 else ""
        raise FreshnessFailure(
            f"{len(failing)} table(s) in {'/'.join(summary.get('fail_on') or ['error'])}: {shown}{more}. "
            "Fix the source or acknowledge the table in freshness.yaml."
        )


def notify_failure(context: Mapping[str, Any]) -> None:
    """``on_failure_callback``: e-mail a failure of the monitor itself (not a freshness failure)."""
    exc = root_cause(context.get("exception"))
    if isinstance(exc, FreshnessFailure):
        return  # the status change that led here was e-mailed by the alert task
    try:
        from bi_pipelines.freshness.spec import load_config

        settings = load_config().alerts
        email_to, smtp_conn_id = settings.email_to, settings.smtp_conn_id
    except Exception:  # a broken configuration is the likely failure: fall back to the defaults
        email_to, smtp_conn_id = (), "smtp_default"
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", "monitor_source_freshness")
    task_id = getattr(ti, "task_id", "?")
    subject = f"[{dag_id}] the freshness monitor failed in {task_id}"
    body = (
        f"<p>Run {html.escape(str(context.get('run_id')))}: task <code>{html.escape(task_id)}</code> failed: "
        f"<pre>{html.escape(str(exc))[:2000]}</pre></p><p>Source freshness is not being recorded "
        "until this is fixed; see the task log.</p>"
    )
    send_email(context, subject, body, email_to=email_to, smtp_conn_id=smtp_conn_id)
