"""Benchmark: the per-run overhead of a small relational DAG, up to its first source query.

``extract_obe_mysql`` (four small tables) on the demo's sample OBE database
(``devtools.sample_sources.seed_obe`` in a throw-away MariaDB database), loading into a throw-away
PostgreSQL database standing in for the warehouse, through the credentials files and the
credentials secrets backend as in production. Airflow's metadata database is a throw-away
PostgreSQL database too. Cases, each repeated ``--repeat`` times (the median is printed):

* ``import airflow``: ``python -c "import airflow"``, the floor of any Airflow process;
* ``dags test``: ``airflow dags test extract_obe_mysql`` as a whole process: seconds from the
  process start to its exit, and to the first source query (the line below, stamped when it
  reaches this process); also with ``-f`` (only the DAG's own file parsed);
* ``LocalExecutor``: api-server, scheduler and dag-processor started as ``make run`` starts them
  (``devtools.processes``); once the DAG is parsed, runs triggered through the REST API as the UI's
  Trigger button does. Per task: seconds from the task instance's ``start_date`` (set when the
  worker has started the task process) to the first source query, split into Airflow's part (up to
  the moment the task callable began) and the project's; the task's duration; the run's seconds
  from the trigger to success;
* ``breakdown``: what a task process does before the first query, each step timed in a process
  that has already imported what a LocalExecutor worker has (Airflow, the task runner): Airflow's
  ``@task`` machinery, the project's modules of the DAG file, building the DAG from its YAML, the
  task callable's imports, the provider hooks; then, from the task logs of the LocalExecutor
  runs, the steps ``extract_table`` logs: source connection (lookup, connect, login), session
  settings, warehouse connection, describe, NULL-cursor count, ``ensure_table``, first row.

"The first source query" is the moment ``extract_table`` logs ``first source query N s after the
task started``: the source connection is open (connection looked up, TCP connect and login done)
and its first statement (the reader's session settings) is about to be sent. N counts from the
moment the task callable began. Both are the engine's own ``time.monotonic()`` values; the wall
clock of the log record places them against the task instance's ``start_date`` (same machine).

Not a test: ``make bench-overhead``. Prints the machine's load average next to the numbers.

Usage: python bench/bench_overhead.py [--repeat 3] [--cases imports,catalog,dags-test,local-executor]
       [--logs DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "include"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from devtools.airflow_api import AirflowClient  # noqa: E402
from devtools.processes import Service, airflow_environment, free_port, measure_memory  # noqa: E402
from devtools.sample_sources import seed_obe  # noqa: E402
from devtools.seeding import (  # noqa: E402
    DemoDatabase,
    DemoDatabases,
    ImapAccount,
    VonigoAccount,
    credentials_values,
    write_credentials_file,
)
from tests.support.databases import mysql_database, postgres_database  # noqa: E402

DAG_ID = "extract_obe_mysql"
DAG_FILE = REPO / "dags" / f"{DAG_ID}.py"
CONN_IDS = ("obe_mysql", "redshift_dw")
START_TIMEOUT = 600
RUN_TIMEOUT = 600
FIRST_QUERY = re.compile(r"first source query (?P<after>[\d.]+) s after the task started")
TIMINGS = re.compile(
    r"timings: began (?P<began>[\d.]+) s after the task started; source connection looked up in "
    r"(?P<source_lookup>[\d.]+) s, connected in (?P<source_connect>[\d.]+) s, session set up in "
    r"(?P<session>[\d.]+) s; warehouse connected in (?P<warehouse_connect>[\d.]+) s; described in "
    r"(?P<describe>[\d.]+) s; NULL cursors counted in (?P<null_count>[\d.]+) s; target table ready in "
    r"(?P<ensure_table>[\d.]+) s; first row (?P<first_row>[\d.]+) s, done (?P<done>[\d.]+) s"
)
# The steps of the breakdown child, in order; each timed once per child process.
IMPORT_STEPS = (
    ("airflow's @task machinery (standard provider's python decorator)", "airflow_task"),
    ("DAG file: the project's modules (bi_pipelines.orchestration.relational)", "project_modules"),
    ("DAG file: the rest (YAML, config models, the DAG and its tasks)", "dag_build"),
    ("task callable: its imports (pipeline, windows)", "callable_imports"),
    ("task callable: provider hooks (bi_pipelines.db.hooks)", "hooks"),
)
WATCHED_MODULES = ("pandas", "numpy", "polars", "boto3", "botocore", "MySQLdb", "psycopg", "psycopg2")


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def line(name: str, seconds: float, rss_mb: float | None = None, ratio: str = "") -> None:
    rss = f"{rss_mb:7.0f} MB" if rss_mb is not None else "      - MB"
    print(f"{name:<72} {seconds:8.3f} s  peak RSS {rss}  {ratio}".rstrip(), flush=True)


def run_timed(argv: list[str], env: dict[str, str], marker: re.Pattern | None = None) -> dict:
    """Run ``argv``; seconds to exit, to the first line matching ``marker``, its peak RSS, its output
    (each line prefixed with the seconds since the start at which it arrived)."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None
    first = None
    out = []
    for text in process.stdout:
        if first is None and marker is not None and marker.search(text):
            first = time.monotonic() - started
        out.append(f"{time.monotonic() - started:8.3f} {text}")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": time.monotonic() - started,
        "first": first,
        "rss_mb": usage.ru_maxrss / 1024,
        "returncode": process.returncode,
        "output": "".join(out),
    }


# -- the breakdown child: what a task process imports and builds before its callable runs -----------
def child_imports() -> dict:
    """Time each step of a task process's start in this process (run with ``--child imports``)."""
    import importlib.util
    import resource

    # What a LocalExecutor worker has imported before it forks the task process.
    import airflow.sdk
    from airflow.sdk.execution_time import supervisor, task_runner  # noqa: F401

    seconds = {}
    started = time.perf_counter()
    import airflow.providers.standard.decorators.python  # noqa: F401

    seconds["airflow_task"] = time.perf_counter() - started
    started = time.perf_counter()
    import bi_pipelines.orchestration.relational

    seconds["project_modules"] = time.perf_counter() - started
    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location(DAG_ID, DAG_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seconds["dag_build"] = time.perf_counter() - started
    started = time.perf_counter()
    from bi_pipelines.core.windows import resolve_window  # noqa: F401
    from bi_pipelines.sources.relational.pipeline import extract_table  # noqa: F401

    seconds["callable_imports"] = time.perf_counter() - started
    started = time.perf_counter()
    import bi_pipelines.db.hooks  # noqa: F401

    seconds["hooks"] = time.perf_counter() - started
    return {
        "seconds": seconds,
        "modules": {m: m in sys.modules for m in WATCHED_MODULES},
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


CATALOG_ROUNDS = 20
CASES = ("imports", "catalog", "dags-test", "local-executor")


def child_catalog() -> dict:
    """Per table of the flow: seconds and catalog queries of ``describe`` and of ``ensure_table`` on
    an existing target, each the median of :data:`CATALOG_ROUNDS` (run with ``--child catalog``)."""
    from bi_pipelines.load import warehouse as warehouse_module
    from bi_pipelines.load.tables import Column, TargetTable
    from bi_pipelines.load.warehouse import Warehouse
    from bi_pipelines.sources.relational.pipeline import open_source
    from bi_pipelines.sources.relational.reader import check_columns
    from bi_pipelines.sources.relational.spec import CONFIG_DIR, load_flow

    statements: list[str] = []
    reads: list[str] = []
    for name in ("existing_column_types", "has_unique_key", "droppable_primary_key", "existing_columns"):
        real = getattr(warehouse_module, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            reads.append(_name)
            return _real(*args, **kwargs)

        setattr(warehouse_module, name, counted)
    flow = load_flow(CONFIG_DIR / f"{DAG_ID}.yaml")
    source = open_source(flow.source_dialect, flow.source_conn_id)
    source.conn = CountingConnection(source.conn, statements)
    warehouse = Warehouse.connect(flow.target_conn_id)
    result: dict[str, dict] = {"describe": {}, "ensure_table": {}}
    try:
        for table in flow.tables:
            times, queries = [], []
            for _ in range(CATALOG_ROUNDS):
                statements.clear()
                started = time.perf_counter()
                columns = check_columns(table, source.describe(table), table.name)
                times.append(time.perf_counter() - started)
                queries.append(sum("information_schema" in s.lower() for s in statements))
            result["describe"][table.name] = {"seconds": median(times), "queries": max(queries)}
            target = TargetTable(
                flow.target_schema,
                table.target_table,
                tuple(Column(c.name, c.target_type) for c in columns),
                table.primary_key,
            )
            warehouse.ensure_table(target)  # creates it on the first run of the benchmark
            times, queries = [], []
            for _ in range(CATALOG_ROUNDS):
                reads.clear()
                started = time.perf_counter()
                warehouse.ensure_table(target)
                times.append(time.perf_counter() - started)
                queries.append(len(reads))
            result["ensure_table"][table.name] = {
                "seconds": median(times),
                "queries": max(queries),
                "columns": len(columns),
            }
    finally:
        warehouse.close()
        source.close()
    return result


class CountingConnection:
    """A DB-API connection whose cursors record the statements they run."""

    def __init__(self, conn, statements: list[str]):
        self._conn, self._statements = conn, statements

    def cursor(self, *args):
        cursor, statements = self._conn.cursor(*args), self._statements

        class Counting:
            def execute(self, sql, params=None):
                statements.append(sql)
                return cursor.execute(sql, params)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return cursor.__exit__(*exc)

            def __getattr__(self, name):
                return getattr(cursor, name)

        return Counting()

    def __getattr__(self, name):
        return getattr(self._conn, name)


# -- set-up -------------------------------------------------------------------------------------------
def as_demo(db) -> DemoDatabase:
    return DemoDatabase(db.kind, db.host, db.port, db.user, "", db.name)


def write_credentials(directory: Path, obe, warehouse) -> None:
    """The two credentials files ``extract_obe_mysql`` reads, in the runbook's formats."""
    databases = DemoDatabases(obe=as_demo(obe), portal=as_demo(warehouse), warehouse=as_demo(warehouse))
    values = credentials_values(
        databases,
        ImapAccount("127.0.0.1", 993, "unused", "unused"),
        VonigoAccount("127.0.0.1:9", "unused", "unused"),
    )
    for conn_id in CONN_IDS:
        write_credentials_file(directory, conn_id, values[conn_id])


# -- cases --------------------------------------------------------------------------------------------
def bench_import_airflow(env: dict[str, str], repeat: int) -> float:
    runs = [run_timed([sys.executable, "-c", "import airflow"], env) for _ in range(repeat)]
    bare = median(run_timed([sys.executable, "-c", "pass"], env)["seconds"] for _ in range(repeat))
    seconds = median(r["seconds"] for r in runs)
    line(
        "python -c 'import airflow' (Airflow's)",
        seconds,
        max(r["rss_mb"] for r in runs),
        f"python alone {bare:.3f} s",
    )
    return seconds


def bench_breakdown_imports(env: dict[str, str], repeat: int) -> None:
    results = []
    for _ in range(repeat):
        out = run_timed([sys.executable, __file__, "--child", "imports"], env)
        if out["returncode"] != 0:
            raise RuntimeError(f"the import breakdown failed:\n{out['output'][-4000:]}")
        results.append(json.loads(out["output"].strip().splitlines()[-1].split(None, 1)[1]))
    total = 0.0
    for name, key in IMPORT_STEPS:
        seconds = median(r["seconds"][key] for r in results)
        total += seconds
        line(f"  {name}", seconds)
    line("  all of the above", total, max(r["rss_mb"] for r in results))
    modules = results[-1]["modules"]
    print(
        "  modules loaded by then: "
        + ", ".join(f"{m} {'yes' if loaded else 'no'}" for m, loaded in modules.items()),
        flush=True,
    )


def bench_catalog(env: dict[str, str]) -> None:
    out = run_timed([sys.executable, __file__, "--child", "catalog"], env)
    if out["returncode"] != 0:
        raise RuntimeError(f"the catalog breakdown failed:\n{out['output'][-4000:]}")
    result = json.loads(out["output"].strip().splitlines()[-1].split(None, 1)[1])
    for table, d in result["describe"].items():
        e = result["ensure_table"][table]
        print(
            f"  {table:<18} {e['columns']:>2} columns: describe {d['seconds'] * 1000:6.2f} ms, "
            f"{d['queries']} source catalog quer{'y' if d['queries'] == 1 else 'ies'}; ensure_table "
            f"(table exists) {e['seconds'] * 1000:6.2f} ms, {e['queries']} warehouse catalog quer"
            f"{'y' if e['queries'] == 1 else 'ies'}",
            flush=True,
        )


def bench_dags_test(env: dict[str, str], repeat: int, import_airflow: float, logs: Path | None) -> None:
    for label, extra in (("", []), (f" -f dags/{DAG_FILE.name}", ["-f", str(DAG_FILE)])):
        runs = []
        for attempt in range(repeat + 1):  # the first run creates the warehouse tables: not counted
            out = run_timed(["airflow", "dags", "test", DAG_ID, *extra], env, FIRST_QUERY)
            if out["returncode"] != 0 or out["first"] is None:
                raise RuntimeError(f"airflow dags test failed:\n{out['output'][-6000:]}")
            if attempt:
                runs.append(out)
            if logs is not None:
                (logs / f"dags-test{label.replace(' ', '_').replace('/', '_')}-{attempt}.log").write_text(
                    out["output"]
                )
        in_task = [float(m["after"]) for r in runs for m in [FIRST_QUERY.search(r["output"])] if m]
        whole = median(r["seconds"] for r in runs)
        first = median(r["first"] for r in runs)
        rss = max(r["rss_mb"] for r in runs)
        name = f"airflow dags test {DAG_ID}{label}"
        line(f"{name}: start to exit", whole, rss, f"{whole / import_airflow:.1f}x import airflow")
        line(
            f"{name}: start to first source query",
            first,
            rss,
            f"{first / import_airflow:.1f}x import airflow; {median(in_task):.3f} s of it after the task callable began",
        )
        reached = [milestones(r["output"]) for r in runs]
        previous = 0.0
        for text, name in DAGS_TEST_MILESTONES:
            at = median(m[text] for m in reached if text in m)
            line(f"    {name}", at - previous, None, f"at {at:.3f} s")
            previous = at


# Airflow's own lines in the output of `airflow dags test`, in order, and what comes before each.
DAGS_TEST_MILESTONES = (
    ("DAG bundles loaded", "to the CLI's first line: import airflow, the CLI, the metadata DB"),
    ("Bulk-writing dags to db", "the DAG folder parsed (a DagBag) and written to the metadata DB"),
    ("[DAG TEST] running task", "the run created, the first task set up"),
    ("Task started", "the first task started through the in-process execution API"),
    ("first source query", "the first task's own start: DAG parse, callable to first source query"),
)


def milestones(output: str) -> dict[str, float]:
    """The arrival time of the first output line holding each milestone's text."""
    found: dict[str, float] = {}
    for text in output.splitlines():
        stamp, _, rest = text.strip().partition(" ")
        for milestone, _name in DAGS_TEST_MILESTONES:
            if milestone not in found and milestone in rest:
                found[milestone] = float(stamp)
    return found


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


PARSE_DONE = "Worker startup parse complete"  # the task runner has parsed the DAG file


def task_timings(client: AirflowClient, run_id: str) -> list[dict]:
    """Per task of the run: Airflow's and the project's seconds before the first source query."""
    tasks = []
    for ti in client.task_instances(DAG_ID, run_id):
        started, ended = parse_time(ti["start_date"]), parse_time(ti["end_date"])
        records = client.task_log(DAG_ID, run_id, ti["task_id"], ti["try_number"])
        marker = next(
            (r for r in records if isinstance(r, dict) and FIRST_QUERY.search(str(r.get("event")))), None
        )
        timings = next(
            (r for r in records if isinstance(r, dict) and TIMINGS.search(str(r.get("event")))), None
        )
        if marker is None or timings is None:
            raise RuntimeError(f"{ti['task_id']}: no timing lines in its log: {records[-5:]}")
        at = parse_time(marker["timestamp"])
        after = float(FIRST_QUERY.search(marker["event"])["after"])  # type: ignore[index]
        steps = {k: float(v) for k, v in TIMINGS.search(timings["event"]).groupdict().items()}  # type: ignore[union-attr]
        to_first = (at - started).total_seconds()
        dicts = [r for r in records if isinstance(r, dict) and r.get("timestamp")]
        parsed = next((r for r in dicts if str(r.get("event")).startswith(PARSE_DONE)), dicts[0])
        tasks.append(
            {
                "task_id": ti["task_id"],
                "to_first_query": to_first,
                "airflow": to_first - after,
                "project": after,
                "duration": (ended - started).total_seconds(),
                "steps": steps,
                # Airflow's part, from its own lines in the task log.
                "to_log": (parse_time(dicts[0]["timestamp"]) - started).total_seconds(),
                "to_parsed": (parse_time(parsed["timestamp"]) - started).total_seconds(),
            }
        )
    return tasks


def bench_local_executor(env: dict[str, str], home: Path, repeat: int, logs: Path | None) -> None:
    port = int(env["AIRFLOW__API__PORT"])
    services = []
    commands = {
        "api-server": ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
        "scheduler": ["airflow", "scheduler"],
        "dag-processor": ["airflow", "dag-processor"],
    }
    started_at = dt.datetime.now(dt.UTC)
    try:
        for name, command in commands.items():
            services.append(Service(name, command, home / "logs" / f"{name}.out").start(env))
        client = AirflowClient(f"http://127.0.0.1:{port}", "admin", env["BENCH_ADMIN_PASSWORD"])
        try:
            client.wait_until_healthy(START_TIMEOUT, ("metadatabase", "scheduler", "dag_processor"))
            client.login()
            wait_for_parse(client, started_at, START_TIMEOUT)
        except Exception:
            for service in services:
                print(f"--- {service.name}\n{service.log_tail()}")
            raise
        # Unpausing starts the latest scheduled interval too: let it finish before measuring.
        client.set_paused(DAG_ID, False)
        time.sleep(3)
        client.wait_until_idle([DAG_ID], RUN_TIMEOUT)
        runs, tasks, windows = [], [], []
        for attempt in range(repeat + 1):  # a first run warms the worker's caches: not counted
            triggered = time.time()
            run_id = client.trigger(DAG_ID, unpause=False)["dag_run_id"]
            state = client.wait_for_runs([(DAG_ID, run_id)], RUN_TIMEOUT, poll=0.5)[(DAG_ID, run_id)]
            if state != "success":
                raise RuntimeError(f"run {run_id} ended {state}")
            run = client.run(DAG_ID, run_id)
            others = [r for r in client.runs(DAG_ID) if r["dag_run_id"] != run_id and overlaps(r, run)]
            if others:
                print(f"  note: {run_id} overlapped {len(others)} scheduled run(s)", flush=True)
            if attempt:
                runs.append(parse_time(run["end_date"]).timestamp() - triggered)
                windows.append((triggered, parse_time(run["end_date"]).timestamp() + 1.0))
                tasks.extend(task_timings(client, run_id))
        memory = measure_memory([s.pid for s in services if s.pid])
    finally:
        for service in services:
            service.stop(grace=20)
        if logs is not None:
            for service in services:
                if service.log_path.exists():
                    shutil.copy(service.log_path, logs / service.log_path.name)
            if (home / "logs").exists():
                shutil.copytree(home / "logs", logs / "airflow-logs", dirs_exist_ok=True)
    calls = execution_api_calls(services[0].log_path, windows)
    count = f"{len(tasks)} task runs"
    to_first = median(t["to_first_query"] for t in tasks)
    duration = median(t["duration"] for t in tasks)
    airflow_part = median(t["airflow"] for t in tasks)
    project_part = median(t["project"] for t in tasks)
    line(
        "LocalExecutor: task start_date to first source query",
        to_first,
        None,
        f"{to_first / duration:.0%} of the task's duration ({count})",
    )
    line(
        "  Airflow's part: start_date to the task callable",
        airflow_part,
        None,
        f"{airflow_part / to_first:.0%} (process start, DAG file parse, execution API calls)",
    )
    line(
        "    start_date to the task's first log line (the run call, the task's start-up)",
        median(t["to_log"] for t in tasks),
    )
    line(
        "    first log line to the DAG file parsed (the task runner's parse)",
        median(t["to_parsed"] - t["to_log"] for t in tasks),
    )
    line(
        "    DAG file parsed to the task callable (pre-execute: rendered fields, outlets)",
        median(t["airflow"] - t["to_parsed"] for t in tasks),
    )
    line(
        "  the project's part: task callable to first source query",
        project_part,
        None,
        f"{project_part / to_first:.0%}",
    )
    line("LocalExecutor: task duration (start_date to end_date)", duration, None, count)
    line(
        "LocalExecutor: run, trigger to success",
        median(runs),
        memory.total_rss_mib,
        f"{len(runs)} runs; RSS of the components",
    )
    print("  in the task, from its timing lines (medians over the task runs):", flush=True)
    for key, name in (
        ("began", "callable began to extract_table (imports, context, window)"),
        ("source_lookup", "source connection: lookup (credentials backend, API server)"),
        ("source_connect", "source connection: hooks import, connect, login"),
        ("session", "source session settings"),
        ("warehouse_connect", "warehouse connection: lookup, connect, session settings"),
        ("describe", "describe (source catalog)"),
        ("null_count", "NULL-cursor count"),
        ("ensure_table", "ensure_table (warehouse catalog)"),
    ):
        line(f"    {name}", median(t["steps"][key] for t in tasks))
    line("    first row, after the task callable began", median(t["steps"]["first_row"] for t in tasks))
    line("    done, after the task callable began", median(t["steps"]["done"] for t in tasks))
    line(
        "  after extract_table: return value to XCom, asset event, state (Airflow's)",
        median(t["duration"] - t["airflow"] - t["steps"]["done"] for t in tasks),
    )
    total_calls = sum(n for n, _ in calls.values())
    total_ms = sum(ms for _, ms in calls.values())
    print(
        f"  execution API calls per task (api-server access log, server-side time): "
        f"{total_calls / len(tasks):.1f} calls, {total_ms / len(tasks):.0f} ms",
        flush=True,
    )
    for kind, (n, ms) in sorted(calls.items(), key=lambda item: -item[1][0]):
        print(f"    {kind:<56} {n / len(tasks):5.1f} calls  {ms / n:6.1f} ms each", flush=True)


ACCESS_LINE = re.compile(
    r"^(?P<at>\S+) .*\[http\.access\].* duration_us=(?P<us>\d+) .*method=(?P<method>[A-Z]+) "
    r"path=/execution/(?P<path>\S+)"
)
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f-]{27}$")


def execution_api_calls(api_log: Path, windows: list[tuple[float, float]]) -> dict[str, tuple[int, float]]:
    """``{kind: (calls, server milliseconds)}`` of the execution API calls made during ``windows``.

    The kind is the method and path with the task instance id, DAG, run and key left out
    (``POST xcoms``, ``PATCH task-instances/run``, ``GET connections/obe_mysql``).
    """
    calls: dict[str, tuple[int, float]] = {}
    for text in api_log.read_text(errors="replace").splitlines():
        match = ACCESS_LINE.match(text)
        if match is None:
            continue
        at = parse_time(match["at"]).timestamp()
        if not any(start <= at <= end for start, end in windows):
            continue
        parts = match["path"].split("?")[0].split("/")
        if parts[0] == "task-instances" and len(parts) > 2 and _ID.match(parts[1]):
            kind = f"task-instances/{'/'.join(parts[2:])}"
        elif parts[0] == "connections":
            kind = "/".join(parts[:2])
        else:
            kind = parts[0]
        key = f"{match['method']} {kind}"
        n, ms = calls.get(key, (0, 0.0))
        calls[key] = (n + 1, ms + int(match["us"]) / 1000)
    return calls


def overlaps(one: dict, other: dict) -> bool:
    if not one.get("start_date") or not other.get("start_date"):
        return False
    end = one.get("end_date") or dt.datetime.now(dt.UTC).isoformat()
    return parse_time(one["start_date"]) < parse_time(other["end_date"]) and parse_time(end) > parse_time(
        other["start_date"]
    )


def wait_for_parse(client: AirflowClient, since: dt.datetime, timeout: float) -> None:
    """Wait until the dag-processor started here has parsed the DAG (``dags test`` registered it before)."""
    deadline = time.monotonic() + timeout
    while True:
        dag = client.dags().get(DAG_ID)
        parsed = dag and dag.get("last_parsed_time")
        if parsed and parse_time(parsed) > since:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{DAG_ID} not parsed after {timeout:.0f}s")
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions of each case (the median is shown)"
    )
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)} (default: all)"
    )
    parser.add_argument("--logs", type=Path, help="keep the output of every process and task in this folder")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.logs is not None:
        args.logs.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps({"imports": child_imports, "catalog": child_catalog}[args.child]()))
        return

    now = dt.datetime.now(dt.UTC)
    # A short AIRFLOW_HOME: the components use unix sockets under it on some platforms.
    home = Path(tempfile.mkdtemp(prefix="bench-ovh-"))
    try:
        with (
            mysql_database("bench_ovh") as obe,
            postgres_database("bench_ovh_wh") as warehouse,
            postgres_database("bench_ovh_airflow") as metadata,
        ):
            conn = obe.connect()
            try:
                counts = seed_obe(conn, now)
            finally:
                conn.close()
            credentials = home / "credentials"
            write_credentials(credentials, obe, warehouse)
            admin_password = secrets.token_urlsafe(12)
            (home / "passwords.json").write_text(json.dumps({"admin": admin_password}))
            port = free_port()
            env = airflow_environment(
                home,
                credentials,
                AIRFLOW__CORE__EXECUTOR="LocalExecutor",
                AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=as_demo(metadata).sqlalchemy_url(),
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
                AIRFLOW__API__PORT=str(port),
                AIRFLOW__API__HOST="127.0.0.1",
                AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
                AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
                AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
                AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
                AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
                PYTHONUNBUFFERED="1",
                BENCH_ADMIN_PASSWORD=admin_password,
            )
            env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(REPO)])
            migrate = run_timed(["airflow", "db", "migrate"], env)
            if migrate["returncode"] != 0:
                raise RuntimeError(f"airflow db migrate failed:\n{migrate['output'][-4000:]}")
            print(
                f"per-run overhead: {DAG_ID} ({', '.join(f'{t} {n}' for t, n in counts.items())} rows), "
                f"median of {args.repeat}; {load()}",
                flush=True,
            )
            cases = args.cases.split(",")
            unknown = set(cases) - set(CASES)
            if unknown:
                raise SystemExit(f"unknown cases {sorted(unknown)}; choose from {', '.join(CASES)}")
            import_airflow = bench_import_airflow(env, args.repeat)
            if "imports" in cases:
                print("breakdown of a task process's start (after what the worker has imported):", flush=True)
                bench_breakdown_imports(env, args.repeat)
            if "catalog" in cases:
                print(f"catalog queries per table, median of {CATALOG_ROUNDS} in one process:", flush=True)
                bench_catalog(env)
            if "dags-test" in cases:
                bench_dags_test(env, args.repeat, import_airflow, args.logs)
                print(f"   ({load()})", flush=True)
            if "local-executor" in cases:
                bench_local_executor(env, home, args.repeat, args.logs)
                print(f"   ({load()})", flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
