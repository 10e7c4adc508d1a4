"""Builds one extraction DAG from a relational flow configuration (``config/extract_*.yaml``).

Each configured table becomes one task, ``extract_<table>``, with a stable id derived from its
configuration key; tables are independent, so one failing table does not stop the others.
"""

from __future__ import annotations

import time
from typing import Any

from bi_pipelines.orchestration.assets import record_event, table_asset
from bi_pipelines.orchestration.policy import dag_kwargs, schedule_for
from bi_pipelines.orchestration.tasks import pipeline_task
from bi_pipelines.sources.relational.spec import CONFIG_DIR, FlowSpec, load_flow


def build_relational_dag(flow: FlowSpec | str, doc_md: str):
    """Return the ``airflow.sdk.DAG`` for ``flow``; reads the YAML, does no other I/O.

    Args:
        flow: The parsed flow, or the stem of its file in ``config/`` (``"extract_obe_mysql"``).
        doc_md: The DAG file's docstring.
    """
    from airflow.sdk import DAG

    if isinstance(flow, str):
        flow = load_flow(CONFIG_DIR / f"{flow}.yaml")
    assets = {}
    with DAG(schedule=schedule_for(flow.dag), **dag_kwargs(flow.dag, doc_md)) as dag:
        for table in flow.tables:
            mode = (
                f"incremental on `{table.cursor_column}` with {table.lookback} lookback, merged on "
                f"{', '.join(table.primary_key)}"
                if table.incremental
                else "full refresh, replaced atomically"
            )

            assets[table.name] = table_asset(flow.target_conn_id, flow.target_schema, table.target_table)

            @pipeline_task(
                task_id=f"extract_{table.name}",
                doc_md=f"`{table.qualified_source}` -> `{flow.target_schema}.{table.target_table}`: {mode}.",
                outlets=[assets[table.name]],
            )
            def extract(table_name: str = table.name) -> dict[str, Any]:
                task_started = time.monotonic()  # the zero of the timings extract_table logs
                from airflow.sdk import get_current_context

                from bi_pipelines.core.windows import resolve_window
                from bi_pipelines.sources.relational.pipeline import extract_table

                context = get_current_context()
                summary = extract_table(
                    flow, flow.table(table_name), resolve_window(context), task_started=task_started
                ).as_dict()
                record_event(context, assets[table_name], summary)
                return summary

            extract()
    return dag
