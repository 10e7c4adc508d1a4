"""Running the repository's DAGs with ``dag.test()`` in tests."""

from __future__ import annotations

import runpy
from pathlib import Path

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


def load_dag(file_stem: str):
    """A freshly parsed DAG from ``dags/<file_stem>.py``, its tasks' retries set to 0.

    Fresh, because ``dag.test(run_conf=...)`` leaves the conf in the DAG object's params; without
    retries, because ``dag.test()`` waits out retry delays (minutes) before a failure shows.
    """
    dag = runpy.run_path(str(DAGS_DIR / f"{file_stem}.py"), run_name=f"{file_stem}_under_test")["dag"]
    for task in dag.tasks:
        task.retries = 0
    return dag


def run_dag(dag, expected_state: str = "success", **kwargs):
    """``dag.test(**kwargs)``, asserting the run's final state; returns ``(dag_run, task states)``."""
    dag_run = dag.test(**kwargs)
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == expected_state, f"{dag.dag_id}: {dag_run.state} {states}"
    return dag_run, states
