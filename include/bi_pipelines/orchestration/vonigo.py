"""Builds ``extract_vonigo`` from ``config/vonigo.yaml``: prepare, then one mapped task per franchise.

A Vonigo session is bound to one franchise server-side, so each franchise gets its own task (and
its own login), at most ``franchises.max_parallel`` at once.
"""

from __future__ import annotations

from typing import Any

from bi_pipelines.orchestration.assets import record_event, table_asset
from bi_pipelines.orchestration.policy import dag_kwargs, schedule_for, window_params
from bi_pipelines.orchestration.tasks import pipeline_task
from bi_pipelines.sources.vonigo.spec import VonigoConfig, load_vonigo_config


def build_vonigo_dag(doc_md: str, config: VonigoConfig | None = None):
    """Return the ``airflow.sdk.DAG`` for Vonigo; reads the YAML, does no other I/O."""
    from airflow.sdk import DAG, Param, get_current_context

    config = config or load_vonigo_config()
    params = {
        **window_params(),
        "franchise_ids": Param(
            None,
            type=["null", "array"],
            items={"type": "integer"},
            title="franchise ids",
            description="Optional. Extract only these franchises (default: franchises.ids in vonigo.yaml).",
        ),
    }
    tables = (config.target.records, config.target.fields, config.target.relations)
    records = [table_asset(config.target.conn_id, config.target.schema, table) for table in tables]
    dictionary = [
        table_asset(config.target.conn_id, config.target.schema, table)
        for table in (config.target.field_dictionary, config.target.field_options)
    ]
    with DAG(schedule=schedule_for(config.dag), **dag_kwargs(config.dag, doc_md, params=params)) as dag:

        @pipeline_task(outlets=dictionary)
        def prepare() -> list[dict]:
            from bi_pipelines.sources.vonigo.pipeline import prepare as prepare_vonigo

            requested = get_current_context()["params"].get("franchise_ids")
            return prepare_vonigo(config, requested)

        @pipeline_task(
            max_active_tis_per_dagrun=config.franchises.max_parallel,
            map_index_template="{{ franchise_label }}",
            outlets=records,
        )
        def extract_franchise(franchise: dict) -> dict[str, Any]:
            from bi_pipelines.core.windows import resolve_window
            from bi_pipelines.sources.vonigo.pipeline import extract_franchise as extract

            context = get_current_context()
            # Rendered by map_index_template into the mapped task's label in the grid.
            context["franchise_label"] = f"{franchise['franchise_id']} {franchise.get('name') or ''}".strip()  # type: ignore[typeddict-unknown-key]
            summary = extract(config, franchise, resolve_window(context))
            for asset in records:
                record_event(
                    context,
                    asset,
                    {
                        "franchise_id": summary["franchise_id"],
                        "window": summary["window"],
                        "objects": summary["objects"],
                    },
                )
            return summary

        extract_franchise.expand(franchise=prepare())
    return dag
