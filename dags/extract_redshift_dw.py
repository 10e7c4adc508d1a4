"""
# extract_redshift_dw

Publishes the warehouse's **reporting marts** (Redshift, connection `redshift_dw`, schema `mart`)
into the **Info Portal** (connection `info_portal_postgres`, schema `portal`), so franchise
owners see BI figures in the portal.

- **Tables**: `include/bi_pipelines/config/extract_redshift_dw.yaml`; one task per table.
  `franchise_daily_revenue` is incremental on `refreshed_at` (1-day lookback, merged on
  franchise and date); `franchise_scorecard` is a full refresh, replaced atomically.
- **Schedule**: daily at **03:00 Vancouver time** (`0 3 * * *` in `America/Vancouver`). The
  cron follows daylight saving: 11:00 UTC in winter, 10:00 UTC in summer, with no edits.
- **Backfill**: `airflow backfill create --dag-id extract_redshift_dw --from-date ... --to-date
  ...`, or trigger with `window_start`/`window_end` params. A run triggered without a logical
  date covers the latest complete day.
"""

from bi_pipelines.orchestration.relational import build_relational_dag
from bi_pipelines.sources.relational.spec import CONFIG_DIR, load_flow

dag = build_relational_dag(load_flow(CONFIG_DIR / "extract_redshift_dw.yaml"), __doc__)
