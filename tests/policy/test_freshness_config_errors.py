"""A broken freshness.yaml is an import error of the DAG file, naming the file and the key,
never a run that fails (and is retried) at run time."""

from __future__ import annotations

import textwrap
from pathlib import Path

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "monitor_source_freshness.py"


def test_a_bad_freshness_yaml_is_a_dagbag_import_error_naming_file_and_key(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    bad = tmp_path / "freshness_broken.yaml"
    bad.write_text(
        textwrap.dedent(
            """\
            dag: {schedule: "*/15 * * * *", start_date: "2026-11-01T00:00:00"}
            flows: {include: false}
            tables:
              mart_revenue: {conn_id: dw, schema: mart, column: refreshed_at, warn_after: soon}
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("BI_FRESHNESS_CONFIG", str(bad))
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert "monitor_source_freshness" not in bag.dags
    [message] = bag.import_errors.values()
    assert "freshness_broken.yaml" in message
    assert "tables.mart_revenue.warn_after" in message
