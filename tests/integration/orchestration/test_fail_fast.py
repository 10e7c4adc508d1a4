"""A run that a retry cannot fix turns red at once, with the reason first, retries configured or not."""

from __future__ import annotations

import runpy
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
DAGS_DIR = Path(__file__).resolve().parents[3] / "dags"


def test_bad_window_params_fail_every_task_on_its_first_try(airflow_db):
    # The DAG as shipped: 3 retries 5 minutes apart. dag.test() would wait those out for a
    # retryable error; a permanent one must not be retried at all.
    dag = runpy.run_path(str(DAGS_DIR / "extract_obe_mysql.py"), run_name="fail_fast_under_test")["dag"]
    assert all(task.retries >= 2 for task in dag.tasks)
    started = time.monotonic()
    run = dag.test(run_conf={"window_start": "yesterday", "window_end": "2026-11-02T00:00:00+00:00"})
    elapsed = time.monotonic() - started
    tis = run.get_task_instances()
    assert run.state == "failed"
    assert {ti.state for ti in tis} == {"failed"}
    assert {ti.try_number for ti in tis} == {1}
    assert elapsed < 120, f"took {elapsed:.0f} s: a retry delay was waited out"
