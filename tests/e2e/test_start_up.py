"""The first runs on a new installation: parallel tasks creating the same warehouse schemas at the
same instant, and a missing credentials file that must turn the run red at once, reason first.

Runs after test_rest_api.py (file order): both tests point a connection elsewhere for the length
of their runs and put the credentials file back afterwards, so that test's comparisons and the
browser test that follows see the stack as the fixture built it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator

import pytest

from bi_pipelines.credentials import CREDENTIAL_FILES
from devtools.seeding import write_credentials_file
from tests.e2e.conftest import RUN_TIMEOUT, _as_demo
from tests.support.databases import postgres_database

pytestmark = pytest.mark.e2e

# Two relational DAGs whose every task is independent: all of them are queued by the same
# scheduler loop, and each creates its target schema (and the shared bookkeeping) on first contact.
PARALLEL_DAGS = ("extract_info_portal_postgres", "extract_obe_mysql")
CONFIG_ERROR_DAG, MISSING = "extract_obe_mysql", "obe_mysql"
FAIL_WITHIN = 60  # seconds from the trigger to a red run, retries included (there must be none)


@contextlib.contextmanager
def swapped_credentials(stack, conn_id: str, values: dict | None) -> Iterator[None]:
    """``conn_id``'s credentials file rewritten with ``values`` (removed if ``None``), then put back.

    The secrets backend reads the folder on every lookup and each task runs in a new process, so
    the change applies to the next task that starts and to no component's cached state.
    """
    path = stack.credentials / CREDENTIAL_FILES[conn_id].filename
    try:
        if values is None:
            path.unlink()
        else:
            write_credentials_file(stack.credentials, conn_id, values)
        yield
    finally:
        write_credentials_file(stack.credentials, conn_id, stack.credentials_values[conn_id])


def idle(client, dag_ids) -> None:
    """Unpaused (the scheduler's own first run included) and nothing queued or running."""
    for dag_id in dag_ids:
        client.set_paused(dag_id, False)
    time.sleep(2)  # unpausing may create a scheduled run a moment later
    client.wait_until_idle(dag_ids, RUN_TIMEOUT)


def instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def test_parallel_first_runs_on_a_fresh_warehouse_succeed_on_the_first_try(e2e_stack):
    client = e2e_stack.client
    idle(client, PARALLEL_DAGS)
    with postgres_database("bi_e2e_fresh") as fresh:
        warehouse = _as_demo(fresh)
        assert warehouse.query(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
        ) == [("public",)], "the new warehouse is not empty"
        values = {**e2e_stack.credentials_values["redshift_dw"], "db_name": fresh.name}
        with swapped_credentials(e2e_stack, "redshift_dw", values):
            runs = [(d, client.trigger(d, unpause=False)["dag_run_id"]) for d in PARALLEL_DAGS]
            states = client.wait_for_runs(runs, RUN_TIMEOUT)
        instances = {run: client.task_instances(*run) for run in runs}
        schemas = {s for (s,) in warehouse.query("SELECT nspname FROM pg_namespace")}

    summary = {
        f"{dag_id}.{ti['task_id']}": (ti["state"], ti["try_number"], ti["start_date"], ti["end_date"])
        for (dag_id, _), tis in instances.items()
        for ti in tis
    }
    assert set(states.values()) == {"success"}, (states, summary)
    # Not one retry: a race on CREATE SCHEMA would have failed a try and been retried green.
    assert {t: s[:2] for t, s in summary.items() if s[:2] != ("success", 1)} == {}
    assert {"raw_info_portal", "raw_obe"} <= schemas, schemas

    # The tasks really ran at the same time: every task of the Info Portal run (3, within the
    # executor's parallelism of 4) started before any of them ended. The OBE run's 4 tasks share
    # the remaining slot(s) with it, so only their single tries are asserted.
    tis = instances[runs[0]]
    starts = sorted(instant(ti["start_date"]) for ti in tis)
    assert len(tis) == 3, [ti["task_id"] for ti in tis]
    assert starts[-1] < min(instant(ti["end_date"]) for ti in tis), f"the tasks did not overlap: {summary}"
    print(
        f"\nstart-up race: {PARALLEL_DAGS[0]}: {len(tis)} tasks started within "
        f"{(starts[-1] - starts[0]).total_seconds():.2f}s on an empty warehouse, "
        f"{len(summary)} tasks in all, each green on its first try"
    )


def test_a_missing_credentials_file_fails_the_run_at_once_with_the_reason_first(e2e_stack):
    client = e2e_stack.client
    filename = CREDENTIAL_FILES[MISSING].filename
    idle(client, [CONFIG_ERROR_DAG])
    with swapped_credentials(e2e_stack, MISSING, None):
        started = time.monotonic()
        run_id = client.trigger(CONFIG_ERROR_DAG, unpause=False)["dag_run_id"]
        states = client.wait_for_runs([(CONFIG_ERROR_DAG, run_id)], RUN_TIMEOUT, poll=1.0)
        seconds = time.monotonic() - started
    run = client.run(CONFIG_ERROR_DAG, run_id)
    assert run["logical_date"] is None  # triggered as the UI does
    assert states == {(CONFIG_ERROR_DAG, run_id): "failed"}, states
    assert seconds < FAIL_WITHIN, f"the run took {seconds:.0f}s to turn red"

    instances = client.task_instances(CONFIG_ERROR_DAG, run_id)
    assert instances
    assert {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in instances} == {
        ti["task_id"]: ("failed", 1) for ti in instances
    }, "a configuration error was retried"
    for ti in instances:
        records = [
            r for r in client.task_log(CONFIG_ERROR_DAG, run_id, ti["task_id"], 1) if isinstance(r, dict)
        ]
        errors = [
            (i, r) for i, r in enumerate(records) if str(r.get("level", "")).lower() in ("error", "critical")
        ]
        assert errors, (ti["task_id"], records[-5:])
        first_at, first = errors[0]
        line = str(first.get("event", ""))
        # The reason, on the first ERROR line: the type, which file is missing, where its template is.
        assert line.startswith("ConnectionNotDefined: "), (ti["task_id"], line)
        assert f"connection '{MISSING}' is not defined" in line, line
        assert str(e2e_stack.credentials / filename) in line, line
        assert f"credentials_templates/{filename}" in line, line
        assert "not retried" in line, line
        # ... and no traceback before it.
        tracebacks = [
            i for i, r in enumerate(records) if r.get("error_detail") or "Traceback" in str(r.get("event"))
        ]
        assert not tracebacks or tracebacks[0] > first_at, (ti["task_id"], records[: first_at + 1])
    print(
        f"\nconfig error: {CONFIG_ERROR_DAG} red after {seconds:.1f}s, {len(instances)} tasks, one try "
        f"each; first ERROR line: {line}"
    )
