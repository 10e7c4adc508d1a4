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

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from bi_pipelines.orchestration.policy import dag_kwargs, schedule_for, window_params
from bi_pipelines.sources.vonigo.spec import load_vonigo_config

CONFIG = load_vonigo_config()


@dag(
    schedule=schedule_for(CONFIG.dag),
    **dag_kwargs(
        CONFIG.dag,
        __doc__,
        params={
            **window_params(),
            "franchise_ids": Param(
                None,
                type=["null", "array"],
                items={"type": "integer"},
                title="franchise ids",
                description="Optional. Extract only these franchises (default: franchises.ids in vonigo.yaml).",
            ),
        },
    ),
)
def extract_vonigo():
    @task
    def prepare() -> list[dict]:
        from bi_pipelines.sources.vonigo.pipeline import prepare as prepare_vonigo

        requested = get_current_context()["params"].get("franchise_ids")
        return prepare_vonigo(load_vonigo_config(), requested)

    # One Vonigo session per franchise task: a session is bound to one franchise server-side.
    @task(
        max_active_tis_per_dagrun=CONFIG.franchises.max_parallel, map_index_template="{{ franchise_label }}"
    )
    def extract_franchise(franchise: dict) -> dict:
        from bi_pipelines.core.windows import resolve_window
        from bi_pipelines.sources.vonigo.pipeline import extract_franchise as extract

        context = get_current_context()
        context["franchise_label"] = f"{franchise['franchise_id']} {franchise.get('name') or ''}".strip()
        return extract(load_vonigo_config(), franchise, resolve_window(context))

    extract_franchise.expand(franchise=prepare())


dag = extract_vonigo()
