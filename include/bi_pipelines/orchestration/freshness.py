"""Builds ``monitor_source_freshness`` from ``config/freshness.yaml`` and every source's spec.

The whole configuration is read when the DAG is parsed, so a mistake in it shows as an import
error naming the file and the key, before any run; at run time the same parsed checks are used.
"""

from __future__ import annotations

import datetime as dt

from bi_pipelines.freshness.spec import FreshnessConfig, load_config
from bi_pipelines.orchestration.policy import dag_kwargs, schedule_for, task_timeout
from bi_pipelines.orchestration.tasks import pipeline_task

# The sweep has its own per-connection budget (sweep.connection_budget); this bounds the task
# well inside the 15-minute schedule so a stuck run never overlaps the next one for long.
CHECK_TIMEOUT = dt.timedelta(minutes=12)
ALERT_TIMEOUT = dt.timedelta(minutes=5)


def build_freshness_dag(doc_md: str, config: FreshnessConfig | None = None):
    """Return the ``airflow.sdk.DAG`` of the freshness monitor; reads the YAML, does no other I/O."""
    from airflow.sdk import DAG, Param, get_current_context

    from bi_pipelines.freshness.alerts import notify_failure

    config = config or load_config()
    params = {
        "force": Param(False, type="boolean", description="Check every active table now, due or not."),
        "tables": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Check only these table keys now, e.g. obe_mysql:bookings (empty: the due tables).",
        ),
    }
    kwargs = dag_kwargs(config.dag, doc_md, params=params, on_failure=notify_failure)
    with DAG(schedule=schedule_for(config.dag), **kwargs) as dag:
        # The summary is logged as a readable table instead of one long "Returned value" line.
        @pipeline_task(
            execution_timeout=task_timeout(config.dag, CHECK_TIMEOUT), show_return_value_in_logs=False
        )
        def check_tables() -> dict:
            """Measure the due tables, record one row each, apply retention, send lag gauges."""
            import logging

            from bi_pipelines.freshness.alerts import emit_metrics, format_table
            from bi_pipelines.freshness.monitor import checked_at_of, run_checks

            context = get_current_context()
            run_params = context.get("params") or {}
            summary, results = run_checks(
                config,
                run_id=context["run_id"],
                checked_at=checked_at_of(context),
                force=bool(run_params.get("force")),
                only=run_params.get("tables") or (),
            )
            emit_metrics(results)
            logging.getLogger("bi_pipelines.freshness").info(
                "Freshness at %s:\n%s", summary.checked_at, format_table(results, summary.tables_not_due)
            )
            return summary.to_dict()

        @pipeline_task(execution_timeout=task_timeout(config.dag, ALERT_TIMEOUT))
        def alert_on_changes(summary: dict) -> None:
            """E-mail status changes (when SMTP is configured) and fail while tables are in error."""
            from bi_pipelines.freshness.alerts import alert

            settings = config.alerts
            alert(
                summary, get_current_context(), email_to=settings.email_to, smtp_conn_id=settings.smtp_conn_id
            )

        alert_on_changes(check_tables())
    return dag
