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

# An Airflow DAG file (DAG discovery parses only files that mention both words); the builder does the work.
from bi_pipelines.orchestration.freshness import build_freshness_dag

dag = build_freshness_dag(__doc__)
