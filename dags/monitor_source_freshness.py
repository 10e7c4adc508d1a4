"""
### monitor_source_freshness

**Purpose.** Records when every source table was last updated and judges it: `pass`, `warn`,
`error` (older than the table's `warn_after`/`error_after`), `no_data` (no rows) or
`runtime_error` (server unreachable, query failed). Status changes are logged and e-mailed; the
run turns red while an unacknowledged table is in `error`.

**Source -> target.** Every table the extraction DAGs read (from `extract_*.yaml`) plus the extra
entries of `include/bi_pipelines/config/freshness.yaml` -> `monitoring.source_table_freshness` in
the monitoring connection (`redshift_dw`), one row per table per check; the view
`monitoring.source_table_freshness_latest` holds each table's newest row.

**Schedule.** Every 15 minutes (cron, UTC). Each table is queried only when its own
`check_interval` has passed since its previous check; servers are checked in parallel over one
connection each, so a dead server only affects its own tables (rows with `runtime_error`).

**Backfill / rerun.** There is nothing to backfill: freshness is measured now. Clearing a run
re-measures its due tables and replaces that run's rows (keyed on run id and table). Trigger with
`force: true` to check every table now, or `tables: [<table_key>, ...]` to refresh a few.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, get_current_context, task

from bi_pipelines.freshness.alerts import notify_failure
from bi_pipelines.freshness.spec import load_dag_settings
from bi_pipelines.orchestration.policy import dag_kwargs, schedule_for

PARAMS = {
    "force": Param(False, type="boolean", description="Check every active table now, due or not."),
    "tables": Param(
        [],
        type="array",
        items={"type": "string"},
        description="Check only these table keys now, e.g. obe_mysql:bookings (empty: the due tables).",
    ),
}


SETTINGS = load_dag_settings()


@dag(schedule=schedule_for(SETTINGS), **dag_kwargs(SETTINGS, __doc__, params=PARAMS))
def monitor_source_freshness():
    @task(on_failure_callback=notify_failure, execution_timeout=dt.timedelta(minutes=12))
    def check_tables() -> dict:
        """Measure the due tables, record one row each, apply retention, send lag gauges."""
        from bi_pipelines.freshness.alerts import emit_metrics
        from bi_pipelines.freshness.monitor import checked_at_of, run_checks
        from bi_pipelines.freshness.spec import load_config

        context = get_current_context()
        params = context.get("params") or {}
        summary, results = run_checks(
            load_config(),
            run_id=context["run_id"],
            checked_at=checked_at_of(context),
            force=bool(params.get("force")),
            only=params.get("tables") or (),
        )
        emit_metrics(results)
        return summary.to_dict()

    @task(on_failure_callback=notify_failure)
    def alert_on_changes(summary: dict) -> None:
        """E-mail status changes (when SMTP is configured) and fail while tables are in error."""
        from bi_pipelines.freshness.alerts import alert
        from bi_pipelines.freshness.spec import load_config

        settings = load_config().alerts
        alert(summary, get_current_context(), email_to=settings.email_to, smtp_conn_id=settings.smtp_conn_id)

    alert_on_changes(check_tables())


dag = monitor_source_freshness()
