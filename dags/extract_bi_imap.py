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

# An Airflow DAG file (DAG discovery parses only files that mention both words); the builder does the work.
from bi_pipelines.orchestration.imap import build_imap_dag

dag = build_imap_dag(__doc__)
