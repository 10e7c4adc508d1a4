"""What a relational task imports before its first query: nothing it does not use.

Every task process pays its imports again (it parses its DAG file, then runs one table). Parsing a
DAG file imports no provider hook, and a MySQL or PostgreSQL table's task never imports boto3 (the
Amazon provider: only a Redshift connection needs it), pandas, numpy or polars.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "botocore", "pandas", "numpy", "polars", "airflow.providers.amazon.aws.hooks")
HOOKS = ("airflow.providers.mysql.hooks.mysql", "airflow.providers.postgres.hooks.postgres")

PROBE = textwrap.dedent(
    """
    import importlib.util, json, sys
    import airflow.sdk
    from airflow.sdk.execution_time import supervisor, task_runner

    def loaded(names):
        return sorted(n for n in names if n in sys.modules)

    spec = importlib.util.spec_from_file_location("dag_file", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    after_parse = set(sys.modules)
    from bi_pipelines.core.windows import resolve_window
    from bi_pipelines.sources.relational.pipeline import extract_table
    import bi_pipelines.db.hooks
    import bi_pipelines.sources.relational.mysql, bi_pipelines.sources.relational.postgres
    print(json.dumps({"parse": sorted(after_parse), "task": sorted(sys.modules)}))
    """
)


@pytest.mark.parametrize("dag_id", ["extract_obe_mysql", "extract_info_portal_postgres"])
def test_a_relational_task_imports_no_hooks_at_parse_and_nothing_heavy_at_all(dag_id):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(REPO / "dags" / f"{dag_id}.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    parse, task = set(modules["parse"]), set(modules["task"])

    assert [m for m in HOOKS if m in parse] == [], "a DAG file's parse imports provider hooks"
    assert all(m in task for m in HOOKS)  # the probe reached the task's imports
    assert [m for m in HEAVY if m in task] == []
