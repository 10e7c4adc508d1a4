"""
# extract_info_portal_postgres

Copies the **Info Portal** (PostgreSQL, connection `info_portal_postgres`) into the warehouse
(connection `redshift_dw`, schema `raw_info_portal`): franchise contacts, KPI targets,
announcements.

- **Tables**: `include/bi_pipelines/config/extract_info_portal_postgres.yaml`, one entry per
  table; one task per table.
- **Schedule**: every 6 hours at :30 UTC (`30 */6 * * *`): the portal changes slowly and runs
  on a small server. Each run covers its data interval plus a 1-hour lookback; rows are staged
  and merged on the primary key in one transaction, so reruns and backfills are idempotent.
- **Timezones**: the portal's naive timestamps are Vancouver local time and land as UTC.
- **Backfill**: `airflow backfill create --dag-id extract_info_portal_postgres --from-date ...
  --to-date ...`, or trigger with `window_start`/`window_end` params. A run triggered without a
  logical date extracts the latest complete 6-hour interval.
"""

from bi_pipelines.orchestration.relational import build_relational_dag
from bi_pipelines.sources.relational.spec import CONFIG_DIR, load_flow

dag = build_relational_dag(load_flow(CONFIG_DIR / "extract_info_portal_postgres.yaml"), __doc__)
