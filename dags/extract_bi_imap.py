"""
# extract_bi_imap

Turns the **scheduled report e-mails** in the BI mailbox (connection `bi_imap`, IMAPS) into
warehouse tables (connection `redshift_dw`, schema `raw_reports`), exactly once.

- **Reports**: `include/bi_pipelines/config/imap_reports.yaml`, one entry per report (folder,
  sender, subject and attachment patterns, CSV or XLSX, columns and types, time zone, target
  table). Adding a report is one entry; it becomes the task `extract_<report>`.
- **Tasks**: `prepare_ledger` creates the ledger once, then one task per report, then
  `summarize`. One task per report because reports are independent: a vendor's broken file or a
  slow mailbox folder fails or delays only its own task, each report retries on its own, and the
  grid shows at a glance which report is red. `summarize` logs every report's totals and every
  rejection, and fails when any report failed, so the run's state tells the truth.
- **Schedule**: hourly at :20 UTC (`20 * * * *`). Each run searches the messages received in its
  data interval plus `source.overlap` (2 days) before it: late filing, failed runs and moved
  messages are picked up, and the ledger (`raw_reports.imap_report_ledger`) makes the overlap free.
- **Exactly once**: every attachment gets a ledger row (Message-ID, UIDVALIDITY/UID, received
  time, file name, SHA-256, rows, status `loaded`/`duplicate`/`rejected`, reason). Rows carry
  `_attachment_sha256` and are published with `ReplacePartitions` on it, so processing a
  message again replaces its rows; the same file in a second e-mail is a `duplicate`. Nothing
  reads or sets `\\Seen`: the folder is opened read-only and parts are fetched with `BODY.PEEK`.
- **Rejections**: a malformed attachment (ragged rows, wrong columns, undecodable bytes, empty,
  over `max_size`) is recorded as `rejected` with the reason and the other attachments go on; a
  report with `fail_on_rejected: true` then fails its task (no retries: a retry cannot fix a file).
- **Re-processing / backfill**: attachments already in the ledger are skipped. After fixing a
  report's configuration, trigger with `reprocess: true` (and `window_start`/`window_end` for an
  older window, e.g. `{"window_start": "2026-11-01T00:00:00+00:00", "window_end":
  "2026-11-08T00:00:00+00:00", "reprocess": true}`); loaded files are replaced, never doubled.
  A run triggered without a logical date covers the latest complete hour (plus the overlap).
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, get_current_context, task

from bi_pipelines.orchestration.policy import dag_kwargs, schedule_for, window_params
from bi_pipelines.sources.imap.spec import load_imap_reports

CONFIG = load_imap_reports()
REPORT_TASKS = {report.name: f"extract_{report.name}" for report in CONFIG.reports}
params = {
    **window_params(),
    "reprocess": Param(False, type="boolean", description="Process attachments already in the ledger again."),
}

with DAG(schedule=schedule_for(CONFIG.dag), **dag_kwargs(CONFIG.dag, __doc__, params=params)) as dag:

    @task
    def prepare_ledger() -> str:
        from bi_pipelines.sources.imap.pipeline import ensure_ledger

        return ensure_ledger(CONFIG)

    @task(trigger_rule="all_done")
    def summarize() -> None:
        from airflow.sdk.exceptions import AirflowFailException

        from bi_pipelines.sources.imap.pipeline import log_run_summary

        ti = get_current_context()["ti"]
        names = list(REPORT_TASKS)
        summaries = [ti.xcom_pull(task_ids=REPORT_TASKS[name], key="summary") for name in names]
        failed = log_run_summary(summaries, names)
        if failed:
            raise AirflowFailException(f"report(s) failed or rejected attachments: {', '.join(failed)}")

    ledger = prepare_ledger()
    done = summarize()
    for report in CONFIG.reports:

        @task(task_id=REPORT_TASKS[report.name], doc_md=report.description or None)
        def extract(report_name: str = report.name) -> None:
            from airflow.sdk.exceptions import AirflowFailException

            from bi_pipelines.core.windows import resolve_window
            from bi_pipelines.sources.imap.pipeline import extract_report

            context = get_current_context()
            window = resolve_window(context).widened(CONFIG.overlap)
            reprocess = bool(context["params"].get("reprocess"))
            summary = extract_report(CONFIG, CONFIG.report(report_name), window, reprocess=reprocess)
            context["ti"].xcom_push(key="summary", value=summary.as_dict())
            if summary.should_fail:
                raise AirflowFailException(
                    f"{summary.headline()}. Rejected: {'; '.join(summary.as_dict()['rejections'])}"
                )

        ledger >> extract() >> done
