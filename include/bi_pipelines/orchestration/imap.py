"""Builds ``extract_bi_imap`` from ``config/imap_reports.yaml``: one task per report, then a summary.

One task per report because reports are independent: a vendor's broken file or a slow folder
fails or delays only its own task, each report retries on its own, and the grid shows which
report is red. ``summarize`` runs whatever happened (``all_done``), logs every report's totals and
rejections, and fails when any report failed, so the run's state tells the truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bi_pipelines.core.errors import ConfigError, PermanentError
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
            False,
            type=["boolean", "string"],
            description=(
                'Process attachments already in the ledger again: true (or "rejected") the rejected '
                'ones only, "all" loaded ones too. With window_start/window_end the window is '
                "exact (no overlap). See the IMAP README, reprocessing."
            ),
        ),
        "reprocess_sha256": Param(
            None, type=["null", "string"], description="Process only this file (its SHA-256) again."
        ),
        "reprocess_message_id": Param(
            None, type=["null", "string"], description="Process only this e-mail (its Message-ID) again."
        ),
        "reprocess_part": Param(
            None,
            type=["null", "string"],
            description="With reprocess_message_id: only this part (the ledger's `part`, e.g. 2).",
        ),
        "reports": Param(
            [],
            type=["null", "array"],
            items={"type": "string"},
            description="Run only these reports (names from imap_reports.yaml); empty: all.",
        ),
        "exact_window": Param(
            False, type="boolean", description="Do not add the overlap before window_start."
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


def report_run_options(config: ImapReportsConfig, report_name: str, context: Mapping[str, Any]):
    """The window and reprocess selection of one report in the run in ``context``.

    The window is the run's, widened by ``source.overlap``, except when ``exact_window`` is set
    or an explicit ``window_start``/``window_end`` comes with a reprocess request: reprocessing
    then touches exactly the window asked for.

    Returns:
        ``(window, ReprocessSelection)``, or None when the run's ``reports`` leave this one out.

    Raises:
        ConfigError: unknown report names in ``reports``, or malformed reprocess params.
    """
    from bi_pipelines.core.values import parse_bool
    from bi_pipelines.core.windows import resolve_window
    from bi_pipelines.sources.imap.pipeline import ReprocessSelection

    params = context.get("params") or {}
    wanted = params.get("reports") or []
    if isinstance(wanted, str):
        wanted = [name.strip() for name in wanted.split(",") if name.strip()]
    known = [report.name for report in config.reports]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ConfigError(f"params.reports: unknown report(s) {unknown}; the reports are {known}")
    if wanted and report_name not in wanted:
        return None
    selection = ReprocessSelection.of(params.get("reprocess"))
    sha256 = str(params.get("reprocess_sha256") or "").strip().lower() or None
    message_id = str(params.get("reprocess_message_id") or "").strip() or None
    if sha256:
        selection = ReprocessSelection(sha256=sha256)
    elif message_id:
        part = str(params.get("reprocess_part") or "").strip() or None
        selection = ReprocessSelection(message_id=message_id, part=part)
    window = resolve_window(context)
    exact = parse_bool(params.get("exact_window"), default=False) or (
        selection.anything and window.origin == "params"
    )
    return (window if exact else window.widened(config.overlap)), selection


def run_report(config: ImapReportsConfig, report_name: str, context: Mapping[str, Any]):
    """Extract one report for the run in ``context`` (see :func:`report_run_options`).

    Returns:
        The report's ``ReportSummary``.
    """
    from bi_pipelines.sources.imap.pipeline import extract_report

    options = report_run_options(config, report_name, context)
    if options is None:
        from bi_pipelines.sources.imap.pipeline import not_selected_summary

        return not_selected_summary(config, report_name)
    window, selection = options
    return extract_report(config, config.report(report_name), window, reprocess=selection)
