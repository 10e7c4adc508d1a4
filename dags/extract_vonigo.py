"""
# extract_vonigo

Lands the franchises' **Vonigo** data (REST API, connection `vonigo_api` from `vonigo_creds.py`)
in the warehouse (connection `redshift_dw`, schema `vonigo`): franchises, clients, contacts,
locations, jobs, work orders, quotes and invoices.

- **Objects**: `include/bi_pipelines/config/vonigo.yaml`, one entry per object with its path,
  `dateMode` and window (adding an object is one entry).
- **Tasks**: `prepare` creates the tables, refreshes the field dictionary (`system/objects/`) and
  lists the franchises; then one mapped `extract_franchise` task per franchise, each with its own
  login (a Vonigo session is bound to one franchise), at most `franchises.max_parallel` at once.
- **Windows**: the run's data interval, widened by an overlap, on the edited date (issued date for
  invoices); work orders and quotes use the service date and also look ahead, because
  appointments move. Every list call sends `dateMode`, without which Vonigo ignores the dates.
- **Landing**: `raw_records` (JSON payload per `(object_type, object_id)`, with `date_last_edited`
  for the freshness monitor), `record_fields`, `record_relations`, `field_dictionary`,
  `field_options`. Merges and partition replaces: re-running a window changes nothing.
- **Schedule**: hourly at :20 UTC; appointments change during the day.
- **Backfill / reconcile**: trigger with `window_start`/`window_end` params (ISO 8601 with a zone)
  and optionally `franchise_ids` (e.g. `[90]`). Hard deletes in Vonigo are invisible to windows:
  re-run a long window now and then. A run without a logical date takes the latest complete hour.
- **Never writes to Vonigo**: the client refuses every method code but list and retrieve.
"""

# An Airflow DAG file (DAG discovery parses only files that mention both words); the builder does the work.
from bi_pipelines.orchestration.vonigo import build_vonigo_dag

dag = build_vonigo_dag(__doc__)
