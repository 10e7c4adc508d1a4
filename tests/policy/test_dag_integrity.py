"""Team policy for every DAG, written as tests: imports, schedules, ownership, retries, docs,
and no I/O at parse time."""

from __future__ import annotations

import ast
import datetime as dt
import socket
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
CONFIG_DIR = REPO / "include" / "bi_pipelines" / "config"
EXPECTED_DAGS = {
    "extract_obe_mysql",
    "extract_info_portal_postgres",
    "extract_redshift_dw",
    "extract_bi_imap",
    "extract_vonigo",
    "monitor_source_freshness",
}


class ParseTimeIO(AssertionError):
    pass


@pytest.fixture(scope="module")
def dagbag():
    """Parse the DAG folder with every network, database and secret access turned into a failure."""
    from unittest import mock

    from airflow.dag_processing.dagbag import DagBag

    def refuse(*args, **kwargs):
        raise ParseTimeIO(f"I/O at DAG parse time: {args[:2]}")

    patches = [
        mock.patch.object(socket.socket, "connect", refuse),
        mock.patch.object(socket, "create_connection", refuse),
        mock.patch("airflow.sdk.BaseHook.get_connection", refuse),
        mock.patch("airflow.sdk.Variable.get", refuse),
        mock.patch("psycopg2.connect", refuse),
        mock.patch("psycopg.connect", refuse),
        mock.patch("MySQLdb.connect", refuse),
    ]
    for p in patches:
        p.start()
    try:
        # `include_examples` no longer exists in Airflow 3.3: the folder alone.
        bag = DagBag(dag_folder=str(DAGS_DIR))
    finally:
        for p in patches:
            p.stop()
    return bag


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}, "\n".join(f"{k}: {v}" for k, v in dagbag.import_errors.items())


def test_every_expected_dag_is_there(dagbag):
    present = set(dagbag.dag_ids)
    assert present >= EXPECTED_DAGS, f"missing DAGs: {sorted(EXPECTED_DAGS - present)}"


def dags(bag):
    # bag.dags, not bag.get_dag(): in Airflow 3.3 get_dag() consults the metadata DB.
    return [bag.dags[dag_id] for dag_id in sorted(bag.dags)]


@pytest.fixture(params=sorted(EXPECTED_DAGS))
def dag(request, dagbag):
    """Each DAG in turn, so that a failing policy names the DAG in the test id."""
    if request.param not in dagbag.dags:
        pytest.fail(f"{request.param} did not import: {dagbag.import_errors}")
    return dagbag.dags[request.param]


def test_start_dates_are_absolute_and_timezone_aware(dag):
    start = dag.start_date
    assert start is not None, f"{dag.dag_id}: start_date must be tz-aware"
    assert start.tzinfo is not None, f"{dag.dag_id}: start_date must be tz-aware"
    # Computed from now() it would carry seconds/microseconds and lie in the future of the config.
    assert (start.second, start.microsecond) == (0, 0), f"{dag.dag_id}: start_date looks computed"
    assert start < dt.datetime.now(dt.UTC), f"{dag.dag_id}: start_date is in the future"


def test_no_dag_file_computes_dates_from_now():
    for path in DAGS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today", "days_ago"}:
                pytest.fail(f"{path.name}:{node.lineno} computes a date from the clock at parse time")


@pytest.mark.parametrize("path", sorted(DAGS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_dag_files_are_a_docstring_and_one_builder_call(path):
    """DAG files only wire: the docstring (the DAG's doc_md), one import, one builder call."""
    tree = ast.parse(path.read_text())
    body = tree.body
    assert ast.get_docstring(tree), f"{path.name}: no docstring"
    statements = body[1:]
    assert [type(s).__name__ for s in statements] == ["ImportFrom", "Assign"], f"{path.name}: only wiring"
    imported = statements[0]
    assert imported.module, path.name
    assert imported.module.startswith("bi_pipelines.orchestration."), path.name
    call = statements[1].value
    assert isinstance(call, ast.Call), path.name
    assert call.func.id.startswith("build_"), path.name


def test_schedules_are_cron_data_intervals(dag):
    timetable = dag.timetable
    assert type(timetable).__name__ == "CronDataIntervalTimetable", f"{dag.dag_id}: {timetable!r}"
    assert len(timetable.expression.split()) == 5, f"{dag.dag_id}: not a 5-field cron"
    assert not timetable.expression.startswith("@"), f"{dag.dag_id}: presets are not allowed"


def test_owner_tags_retries_and_docs(dag):
    assert dag.tags, f"{dag.dag_id}: no tags"
    assert dag.doc_md, f"{dag.dag_id}: doc_md missing or too short"
    assert len(dag.doc_md.strip()) > 200, f"{dag.dag_id}: doc_md missing or too short"
    assert dag.max_active_runs >= 1
    for task in dag.tasks:
        assert task.owner not in ("", "airflow"), f"{dag.dag_id}.{task.task_id}: set an owner"
        assert task.retries >= 2, f"{dag.dag_id}.{task.task_id}: retries={task.retries}"
        assert task.retry_delay, f"{dag.dag_id}.{task.task_id}"
        assert task.retry_delay >= dt.timedelta(seconds=30), f"{dag.dag_id}.{task.task_id}"


def test_tags_come_from_the_vocabulary(dag):
    from bi_pipelines.orchestration.policy import KIND_TAGS, TAG_VOCABULARY

    tags = set(dag.tags)
    assert tags <= TAG_VOCABULARY, (
        f"{dag.dag_id}: tags outside the vocabulary: {sorted(tags - TAG_VOCABULARY)}"
    )
    assert len(tags & KIND_TAGS) == 1, f"{dag.dag_id}: exactly one of {sorted(KIND_TAGS)}"


def test_every_task_has_a_failure_callback_and_a_timeout(dag):
    from bi_pipelines.orchestration.callbacks import log_task_failure

    for task in dag.tasks:
        where = f"{dag.dag_id}.{task.task_id}"
        callbacks = task.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert log_task_failure in callbacks, f"{where}: no failure callback"
        assert task.execution_timeout is not None, f"{where}: no execution_timeout"
        assert dt.timedelta(minutes=1) <= task.execution_timeout <= dt.timedelta(hours=6), where


def test_a_tasks_return_value_is_one_xcom(dag):
    """Not one more XCom per key of a returned dict: each is an execution API call per task run."""
    unrolled = [t.task_id for t in dag.tasks if getattr(t, "multiple_outputs", False)]
    assert unrolled == [], f"{dag.dag_id}: tasks unrolling their return value: {unrolled}"


@pytest.mark.parametrize("dag_id", sorted(d for d in EXPECTED_DAGS if d.startswith("extract_")))
def test_extraction_tasks_declare_the_warehouse_tables_they_write(dagbag, dag_id):
    """Each extraction writes a table: it is an Asset outlet, so downstream DAGs can follow the data."""
    dag = dagbag.dags[dag_id]
    writers = [task for task in dag.tasks if task.task_id.startswith("extract")]
    assert writers, dag.dag_id
    for task in writers:
        uris = [getattr(outlet, "uri", "") for outlet in task.outlets]
        assert uris, f"{dag.dag_id}.{task.task_id}: no outlets"
        assert all(uri.startswith("x-bi-warehouse://") for uri in uris), uris


def test_only_the_orchestration_layer_builds_dags():
    """Airflow's DAG, task and task-control APIs are used in ``orchestration/`` only.

    Run-time services (connection lookup through ``BaseHook``, log masking, metrics) are used
    where the work is done; what makes a DAG, a task or a task's fate stays in one layer.
    """
    dag_apis = {
        "DAG",
        "dag",
        "task",
        "task_group",
        "TaskGroup",
        "Param",
        "get_current_context",
        "CronDataIntervalTimetable",
        "AirflowFailException",
        "AirflowSkipException",
    }
    package = REPO / "include" / "bi_pipelines"
    offenders = []
    for path in package.rglob("*.py"):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("orchestration/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("airflow"):
                used = {a.name for a in node.names} & dag_apis
                offenders += [f"{relative}:{node.lineno} {node.module}.{name}" for name in sorted(used)]
    assert offenders == []


def test_the_shipped_package_imports_nothing_from_tests_or_devtools():
    """The image copies dags/, plugins/ and include/ only."""
    offenders = []
    for folder in ("include", "plugins", "dags"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                modules = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module]
                elif isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                offenders += [
                    f"{path.relative_to(REPO)}:{node.lineno} {m}"
                    for m in modules
                    if m.split(".")[0] in ("tests", "devtools")
                ]
    assert offenders == []


def test_catchup_is_explicit_in_every_dag_config():
    sections = 0
    for path in CONFIG_DIR.glob("*.yaml"):
        raw = yaml.safe_load(path.read_text())
        if isinstance(raw, dict) and "dag" in raw:
            sections += 1
            assert "catchup" in raw["dag"], f"{path.name}: set dag.catchup explicitly"
            assert "start_date" in raw["dag"], f"{path.name}: set dag.start_date"
    assert sections >= 3


def test_local_time_dag_follows_daylight_saving(dagbag):
    """extract_redshift_dw runs at 03:00 Vancouver time all year: 11:00 UTC in winter, 10:00 in summer."""
    dag = dagbag.dags["extract_redshift_dw"]
    assert str(dag.timetable.timezone) == "America/Vancouver"
    from zoneinfo import ZoneInfo

    from croniter import croniter

    zone = ZoneInfo("America/Vancouver")
    winter = croniter(dag.timetable.expression, dt.datetime(2026, 12, 1, tzinfo=zone)).get_next(dt.datetime)
    summer = croniter(dag.timetable.expression, dt.datetime(2027, 7, 1, tzinfo=zone)).get_next(dt.datetime)
    assert winter.astimezone(dt.UTC).hour == 11
    assert summer.astimezone(dt.UTC).hour == 10


def test_every_extraction_dag_accepts_window_params(dagbag):
    """A window can be re-run by hand from the Trigger form (the monitor checks "now", no window)."""
    for dag in dags(dagbag):
        if not dag.dag_id.startswith("extract_"):
            continue
        assert {"window_start", "window_end"} <= set(dag.params), f"{dag.dag_id}: window params missing"
