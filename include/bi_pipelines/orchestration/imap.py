"""Builds ``extract_bi_imap`` from ``config/imap_reports.yaml``: one task per report, then a summary.

One task per report because reports are independent: a vendor's broken file or a slow folder
fails or delays only its own task, each report retries on its own, and the grid shows which
report is red. ``summarize`` runs whatever happened (``all_done``), logs every report's totals and
rejections, and fails when any report failed, so the run's state tells the truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bi_pipelines.core.errors import PermanentError
from bi_pipelines.orchestration.assets import record_event, table_asset
from bi_pipelines.orchestration.policy import dag_kwargs, schedule_for, window_params
from bi_pipelines.orchestration.tasks import pipeline_task
from bi_pipelines.sources.imap.spec import ImapReportsConfig, load_imap_reports


class ReportsFailed(PermanentError):
    """Reports had attachments rejected (with ``fail_on_rejected``) or their task failed."""


def report_task_id(report_name: str) -> str:
    """The task id of a report's extraction: ``extract_<report>``."""
    return f"extract_{report_name}"


def build_imap_dag(doc_md: str, config: ImapReportsConfig | None = None):
    """Return the ``airflow.sdk.DAG`` for the IMAP reports; reads the YAML, does no other I/O."""
    from airflow.sdk import DAG, Param, get_current_context

    config = config or load_imap_reports()
    names = [report.name for report in config.reports]
    params = {
        **window_params(),
        "reprocess": Param(
            False, type="boolean", description="Process attachments already in the ledger again."
        ),
    }
    assets = {}
    with DAG(schedule=schedule_for(config.dag), **dag_kwargs(config.dag, doc_md, params=params)) as dag:

        @pipeline_task()
        def prepare_ledger() -> str:
            from bi_pipelines.sources.imap.pipeline import ensure_ledger

            return ensure_ledger(config)

        @pipeline_task(trigger_rule="all_done")
        def summarize() -> None:
            from bi_pipelines.sources.imap.pipeline import log_run_summary

            ti = get_current_context()["ti"]
            summaries = [ti.xcom_pull(task_ids=report_task_id(name), key="summary") for name in names]
            failed = log_run_summary(summaries, names)
            if failed:
                raise ReportsFailed(f"report(s) failed or rejected attachments: {', '.join(failed)}")

        ledger = prepare_ledger()
        done = summarize()
        for report in config.reports:
            assets[report.name] = table_asset(
                config.target_conn_id, config.target_schema, report.target_table
            )

            @pipeline_task(
                task_id=report_task_id(report.name),
                doc_md=report.description or None,
                outlets=[assets[report.name]],
            )
            def extract(report_name: str = report.name) -> None:
                context = get_current_context()
                summary = run_report(config, report_name, context)
                result = summary.as_dict()
                context["ti"].xcom_push(key="summary", value=result)
                record_event(
                    context,
                    assets[report_name],
                    {k: result[k] for k in ("window", "loaded", "duplicate", "rejected", "rows_loaded")},
                )
                if summary.should_fail:
                    # A retry would reject the same file again.
                    raise ReportsFailed(f"{summary.headline()}. Rejected: {'; '.join(result['rejections'])}")

            ledger >> extract() >> done
    return dag


def run_report(config: ImapReportsConfig, report_name: str, context: Mapping[str, Any]):
    """Extract one report for the run in ``context``: its window widened by the overlap.

    Returns:
        The report's ``ReportSummary``.
    """
    from bi_pipelines.core.windows import resolve_window
    from bi_pipelines.sources.imap.pipeline import extract_report

    window = resolve_window(context).widened(config.overlap)
    reprocess = bool((context.get("params") or {}).get("reprocess"))
    return extract_report(config, config.report(report_name), window, reprocess=reprocess)
