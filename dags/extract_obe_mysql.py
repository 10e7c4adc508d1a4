"""
# extract_obe_mysql

Copies the **OBE booking system** (MySQL, connection `obe_mysql`) into the warehouse
(connection `redshift_dw`, schema `raw_obe`): bookings, customers, payments and franchises.

- **Tables**: `include/bi_pipelines/config/extract_obe_mysql.yaml`, one entry per table (adding a
  table is one entry). One task per table.
- **Schedule**: hourly at :15 UTC (`15 * * * *`), after the booking system's own hourly jobs.
  Each run covers its data interval `[start, end)` on the table's cursor column, plus a lookback
  that catches late updates; rows are staged, then merged on the primary key in one transaction,
  so re-running an interval changes nothing. `franchises` is a full refresh.
- **Timezones**: OBE's DATETIME values are Vancouver local time and land as UTC `timestamptz`;
  zero dates (`0000-00-00`) land as NULL and are counted in the task log.
- **Backfill**: `airflow backfill create --dag-id extract_obe_mysql --from-date 2026-11-01
  --to-date 2026-11-08`, in any order, or trigger with `window_start`/`window_end` params.
  A run triggered without a logical date extracts the latest complete hour.
"""

from bi_pipelines.orchestration.relational import build_relational_dag
from bi_pipelines.sources.relational.spec import CONFIG_DIR, load_flow

dag = build_relational_dag(load_flow(CONFIG_DIR / "extract_obe_mysql.yaml"), __doc__)
