"""Benchmark of the freshness monitor against a Watchdog-style baseline, in the same run.

Creates N tables (default 1,000) spread over the local PostgreSQL and MariaDB, in throw-away
databases dropped at the end, then times:

* ``baseline``: Watchdog's way, one process per table (``bench/watchdog_parse.py``), each opening
  its own connection, run in parallel on a sample of the tables and extrapolated to N;
* ``sweep``: ``bi_pipelines.freshness.sweep.sweep_all`` in this process, one connection per server;
* ``dag run``: ``airflow dags test monitor_source_freshness`` in a subprocess (temporary
  AIRFLOW_HOME, ``airflow db migrate`` first and not timed), Airflow's own overhead included, with
  the bench's configuration given through ``BI_FRESHNESS_CONFIG`` and connections through
  ``AIRFLOW_CONN_*`` variables.

Each case prints one line: seconds, tables/s, peak RSS, ratio to the baseline. Connections are
counted by wrapping the opener (sweep) and on the servers: ``pg_stat_database.sessions`` of the
bench databases (exact) and MariaDB's ``Connections`` status (server-wide: other clients count).

Run with ``make bench-freshness`` (or ``python bench/bench_freshness.py --help``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "include", REPO / "plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bi_pipelines.freshness.spec import load_config  # noqa: E402
from bi_pipelines.freshness.sweep import sweep_all  # noqa: E402
from tests.support.databases import Database, mysql_database, postgres_database  # noqa: E402

DAG_FILE = REPO / "dags" / "monitor_source_freshness.py"
PARSE = REPO / "bench" / "watchdog_parse.py"
ROWS_PER_TABLE = 50


# Put on PYTHONPATH of the `airflow dags test` subprocess: counts driver connects per process
# (psycopg 3, psycopg2, mysqlclient) and writes them out at exit. Tasks run inside that process.
CONNECT_COUNTER = """
import atexit, json, os

_counts = {}


def _wrap(module_name, kind):
    try:
        module = __import__(module_name)
    except Exception:
        return
    original = module.connect

    def connect(*args, **kwargs):
        _counts[kind] = _counts.get(kind, 0) + 1
        return original(*args, **kwargs)

    module.connect = connect


_wrap("psycopg2", "postgres")
_wrap("MySQLdb", "mariadb")
try:  # the postgres provider opens psycopg 3 connections through Connection.connect
    import psycopg

    _original_pg3 = psycopg.Connection.connect.__func__

    def _connect_pg3(cls, *args, **kwargs):
        _counts["postgres"] = _counts.get("postgres", 0) + 1
        return _original_pg3(cls, *args, **kwargs)

    psycopg.Connection.connect = classmethod(_connect_pg3)
except Exception:
    pass


@atexit.register
def _write():
    path = os.path.join(os.environ["BENCH_CONNECT_COUNTS"], f"{os.getpid()}.json")
    with open(path, "w") as f:
        json.dump(_counts, f)
"""


def read_connect_counts(directory: Path) -> Counter:
    total: Counter[str] = Counter()
    for path in directory.glob("*.json"):
        total.update(json.loads(path.read_text()))
    return total


class PeakRSS:
    """Polls the resident memory of this process's children (recursively) and keeps the peak."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.0f} MB"


def self_peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def table_name(i: int) -> str:
    return f"t_{i:05d}"


def age_minutes(i: int) -> int | None:
    """Every 10th table empty (no_data), every 10th stale (warn), the rest fresh (pass)."""
    if i % 10 == 0:
        return None
    return 120 if i % 10 == 1 else 5


def create_tables(pg: Database, my: Database, pg_tables: list[int], my_tables: list[int]) -> None:
    conn = pg.connect()
    with conn.cursor() as cur:
        for i in pg_tables:
            t = table_name(i)
            cur.execute(f'CREATE TABLE "{t}" (id int PRIMARY KEY, updated_at timestamptz)')
            cur.execute(f'CREATE INDEX ON "{t}" (updated_at)')
            age = age_minutes(i)
            if age is not None:
                cur.execute(
                    f"INSERT INTO \"{t}\" SELECT g, now() - make_interval(mins => {age}) - g * interval '1 second' "
                    f"FROM generate_series(1, {ROWS_PER_TABLE}) g"
                )
    conn.commit()
    conn.close()
    conn = my.connect()
    cur = conn.cursor()
    for i in my_tables:
        t = table_name(i)
        cur.execute(f"CREATE TABLE `{t}` (id int PRIMARY KEY, updated_at DATETIME, KEY (updated_at))")
        age = age_minutes(i)
        if age is not None:
            cur.execute(
                f"INSERT INTO `{t}` SELECT seq, UTC_TIMESTAMP() - INTERVAL {age} MINUTE - INTERVAL seq SECOND "
                f"FROM seq_1_to_{ROWS_PER_TABLE}"
            )
    conn.commit()
    conn.close()


def is_learned(i: int, every: int) -> bool:
    """Every ``every``-th table (0: none) has learned thresholds."""
    return every > 0 and i % every == 2 % every


def seed_history(mon: Database, keys: list[str], days: int) -> int:
    """``days`` of hourly checks of ``keys``, each seeing an update five minutes old (hourly gaps)."""
    from bi_pipelines.freshness.spec import MonitoringSettings
    from bi_pipelines.freshness.writer import ensure_objects
    from bi_pipelines.load.warehouse import Warehouse

    with Warehouse.connect("bench_mon") as wh:
        ensure_objects(wh, MonitoringSettings())
    conn = mon.connect()
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO monitoring.source_table_freshness (run_id, table_key, checked_at, queried_at, "
            "last_update, status, source_timezone) SELECT 'seed', k, c, c, c - interval '5 minutes', 'pass', "
            "'UTC' FROM unnest(%s::text[]) AS keys(k), generate_series(date_trunc('hour', now()) - "
            "make_interval(days => %s), date_trunc('hour', now()) - interval '1 hour', interval '1 hour') AS c",
            (keys, days),
        )
        inserted = cur.rowcount
    conn.commit()
    conn.close()
    return inserted


def write_config(
    directory: Path, pg_tables: list[int], my_tables: list[int], parallel: int, learned_every: int = 0
) -> Path:
    lines = [
        "dag:",
        "  dag_id: monitor_source_freshness",
        '  schedule: "*/15 * * * *"',
        '  start_date: "2026-11-01T00:00:00"',
        "monitoring: {conn_id: bench_mon, retention: 90d}",
        f"sweep: {{connect_attempts: 1, max_parallel_connections: {parallel}}}",
        "flows: {include: false}",
        "defaults: {warn_after: 1h, error_after: 1d, check_interval: 15m}",
        "tables:",
    ]
    for conn_id, tables in (("bench_pg", pg_tables), ("bench_my", my_tables)):
        for i in tables:
            mode = ", mode: learned" if is_learned(i, learned_every) else ""
            lines.append(
                f"  {conn_id}_{i}: {{conn_id: {conn_id}, table: {table_name(i)}, column: updated_at{mode}}}"
            )
    path = directory / "freshness_bench.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pg_sessions(db: Database) -> int:
    admin = Database("postgres", db.host, db.port, db.user, "postgres").connect()
    try:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT coalesce(sum(sessions), 0) FROM pg_stat_database WHERE datname = %s", (db.name,)
            )
            return int(cur.fetchone()[0])
    finally:
        admin.close()


class ConnectionCounter:
    """Sessions opened on the bench's PostgreSQL databases between ``start()`` and ``stop()``.

    ``pg_stat_database.sessions`` is per database, so other clients of the server do not count.
    """

    def __init__(self, pg_dbs: list[Database]):
        self.pg_dbs = pg_dbs

    def start(self) -> None:
        self.before = [pg_sessions(d) for d in self.pg_dbs]

    def stop(self) -> list[int]:
        return [pg_sessions(d) - b for d, b in zip(self.pg_dbs, self.before, strict=True)]


def run_baseline(jobs: list[dict], parallel: int) -> tuple[float, int]:
    def one(job: dict) -> None:
        out = subprocess.run(
            [sys.executable, str(PARSE), json.dumps(job)], capture_output=True, text=True, check=True
        )
        json.loads(out.stdout)

    with PeakRSS() as rss:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            list(pool.map(one, jobs))
        elapsed = time.perf_counter() - started
    return elapsed, rss.peak


def timed_sweep(checks, settings, opener: Callable) -> float:
    started = time.perf_counter()
    results = sweep_all(checks, settings, opener=opener)
    elapsed = time.perf_counter() - started
    bad = [r for r in results if r.status == "runtime_error"]
    if bad:
        raise SystemExit(f"sweep failed for {len(bad)} table(s), e.g. {bad[0].check.key}: {bad[0].message}")
    return elapsed


def run_dag(env: dict[str, str], home: Path) -> tuple[float, int, subprocess.CompletedProcess, Counter]:
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True, cwd=home)
    counter_dir, counts_dir = home / "connect_counter", home / "connect_counts"
    counter_dir.mkdir()
    counts_dir.mkdir()
    (counter_dir / "sitecustomize.py").write_text(CONNECT_COUNTER, encoding="utf-8")
    env = {
        **env,
        "PYTHONPATH": os.pathsep.join([str(counter_dir), env["PYTHONPATH"]]),
        "BENCH_CONNECT_COUNTS": str(counts_dir),
    }
    with PeakRSS() as rss:
        started = time.perf_counter()
        done = subprocess.run(
            [*airflow, "dags", "test", "monitor_source_freshness", "-f", str(DAG_FILE)],
            env=env,
            capture_output=True,
            text=True,
            cwd=home,
        )
        elapsed = time.perf_counter() - started
    return elapsed, rss.peak, done, read_connect_counts(counts_dir)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", type=int, default=1000, help="tables to create (half on each server)")
    parser.add_argument("--baseline-sample", type=int, default=100, help="tables the baseline really checks")
    parser.add_argument(
        "--baseline-parallel", type=int, default=os.cpu_count() or 2, help="baseline processes at once"
    )
    parser.add_argument("--parallel", type=int, default=8, help="sweep.max_parallel_connections")
    parser.add_argument("--repeat", type=int, default=3, help="sweep repetitions (the median is shown)")
    parser.add_argument("--skip-dag", action="store_true", help="do not run the whole DAG")
    parser.add_argument(
        "--learned-every", type=int, default=5, help="every n-th table has learned thresholds (0: none)"
    )
    parser.add_argument("--history-days", type=int, default=30, help="days of hourly history seeded for them")
    args = parser.parse_args()

    pg_tables = list(range(0, args.tables, 2))
    my_tables = list(range(1, args.tables, 2))
    with (
        postgres_database("bench_freshness") as pg,
        postgres_database("bench_freshness_mon") as mon,
        mysql_database("bench_freshness") as my,
        tempfile.TemporaryDirectory(prefix="bench_freshness_") as tmp,
    ):
        tmpdir = Path(tmp)
        t0 = time.perf_counter()
        create_tables(pg, my, pg_tables, my_tables)
        config_path = write_config(tmpdir, pg_tables, my_tables, args.parallel, args.learned_every)
        conns = {
            "AIRFLOW_CONN_BENCH_PG": pg.airflow_conn_json(),
            "AIRFLOW_CONN_BENCH_MY": my.airflow_conn_json(),
            "AIRFLOW_CONN_BENCH_MON": mon.airflow_conn_json(),
        }
        os.environ.update(conns)
        config = load_config(config_path)
        checks = config.active_checks
        servers = len({c.conn_id for c in checks})
        learned_keys = [c.key for c in config.learned_checks]
        seeded = seed_history(mon, learned_keys, args.history_days) if learned_keys else 0
        print(
            f"freshness bench: {len(checks)} tables ({len(pg_tables)} PostgreSQL, {len(my_tables)} MariaDB) on "
            f"{servers} source servers, {len(learned_keys)} with learned thresholds ({seeded} history rows "
            f"seeded: {args.history_days} days of hourly checks), set up in {time.perf_counter() - t0:.1f} s; "
            f"max_parallel_connections {args.parallel}",
            flush=True,
        )
        counter = ConnectionCounter([pg, mon])

        # Baseline: a spread sample (every k-th table), one process per table.
        step = max(1, len(checks) // args.baseline_sample)
        jobs = []
        for c in checks[::step][: args.baseline_sample]:
            db = pg if c.conn_id == "bench_pg" else my
            jobs.append(
                {
                    "dialect": db.kind,
                    "host": db.host,
                    "port": db.port,
                    "user": db.user,
                    "database": db.name,
                    "table": c.table,
                    "column": c.column,
                }
            )
        counter.start()
        sample_seconds, baseline_rss = run_baseline(jobs, args.baseline_parallel)
        baseline_pg_sessions = counter.stop()[0]
        baseline = sample_seconds * len(checks) / len(jobs)
        print(
            f"baseline  Watchdog-style, one process + connection per table, {args.baseline_parallel} at a time "
            f"(measured on {len(jobs)} tables in {sample_seconds:.2f} s, extrapolated to {len(checks)}): "
            f"{baseline:.2f} s, {len(checks) / baseline:.0f} tables/s, peak RSS {mb(baseline_rss)} "
            f"(all processes at once), ratio 1.0x; one connection per table ({baseline_pg_sessions} PostgreSQL "
            f"sessions for its {sum(j['dialect'] == 'postgres' for j in jobs)} PostgreSQL tables)",
            flush=True,
        )

        # Sweep: one warm-up on two tables imports the provider hooks, then timed repetitions.
        opened: Counter[str] = Counter()

        def counting_open(conn_id, **kwargs):
            from bi_pipelines.db.connections import open_dbapi

            opened[conn_id] += 1
            return open_dbapi(conn_id, **kwargs)

        sweep_all([checks[0], checks[1]], config.sweep)
        times = []
        for rep in range(args.repeat):
            if rep == 0:
                counter.start()
            times.append(timed_sweep(checks, config.sweep, counting_open))
            if rep == 0:
                sweep_sessions = counter.stop()
                sweep_opened = dict(opened)
        sweep = statistics.median(times)
        print(
            f"sweep     one connection per server, servers in parallel, in-process (median of {args.repeat}, "
            f"after a warm-up): {sweep:.3f} s, {len(checks) / sweep:.0f} tables/s, peak RSS "
            f"{mb(self_peak_rss())} (bench process), ratio to the baseline {baseline / sweep:.0f}x",
            flush=True,
        )

        dag_seconds = None
        if not args.skip_dag:
            home = tmpdir / "airflow_home"
            home.mkdir()
            env = {
                **os.environ,
                **conns,
                "AIRFLOW_HOME": str(home),
                "BI_FRESHNESS_CONFIG": str(config_path),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
                "PYTHONPATH": os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")]),
            }
            counter.start()
            dag_seconds, dag_rss, done, dag_connects = run_dag(env, home)
            dag_sessions = counter.stop()
            rows = mon.query(
                "SELECT count(*), count(DISTINCT run_id) FROM monitoring.source_table_freshness "
                "WHERE run_id <> 'seed'"
            )[0]
            modes = dict(
                mon.query(
                    "SELECT threshold_mode, count(*) FROM monitoring.source_table_freshness "
                    "WHERE run_id <> 'seed' GROUP BY threshold_mode"
                )
            )
            ok = (
                done.returncode == 0
                and "state=success" in (done.stdout + done.stderr)
                and rows[0] == len(checks)
                and modes.get("learned", 0) == len(learned_keys)
            )
            print(
                f"dag run   airflow dags test monitor_source_freshness, Airflow start-up and overhead included: "
                f"{dag_seconds:.2f} s, {len(checks) / dag_seconds:.0f} tables/s, peak RSS {mb(dag_rss)}, "
                f"ratio to the baseline {baseline / dag_seconds:.1f}x; "
                f"{'run succeeded' if ok else 'RUN FAILED'}, {rows[0]} rows recorded "
                f"({', '.join(f'{n} {m}' for m, n in sorted(modes.items()))})",
                flush=True,
            )
            if not ok:
                print((done.stdout + done.stderr)[-4000:], file=sys.stderr)

        bound = servers * args.parallel
        line = (
            f"connections opened: sweep {sum(sweep_opened.values())} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(sweep_opened.items()))}; PostgreSQL server saw "
            f"{sweep_sessions[0]} session)"
        )
        if dag_seconds is not None:
            line += (
                f"; dag run {sum(dag_connects.values())} "
                f"({', '.join(f'{k} {v}' for k, v in sorted(dag_connects.items()))}, counted in the process; "
                f"PostgreSQL server saw source {dag_sessions[0]} + monitoring {dag_sessions[1]} sessions)"
            )
        print(line + f"; bound {servers} source servers x {args.parallel} parallel = {bound}", flush=True)
        targets = [
            ("sweep >= 20x faster than the baseline", baseline / sweep >= 20, f"{baseline / sweep:.0f}x"),
            (
                "connections <= servers x parallelism",
                sum(sweep_opened.values()) <= bound
                and (dag_seconds is None or sum(dag_connects.values()) <= bound + 1),  # + the monitoring one
                f"sweep {sum(sweep_opened.values())}"
                + (f", dag run {sum(dag_connects.values())}" if dag_seconds is not None else "")
                + f" <= {bound}",
            ),
        ]
        if dag_seconds is not None:
            targets.append(("whole DAG run <= 30 s", dag_seconds <= 30 and ok, f"{dag_seconds:.1f} s"))
        print(
            "targets: "
            + "; ".join(f"{name}: {'met' if met else 'MISSED'} ({value})" for name, met, value in targets),
            flush=True,
        )
        return 0 if all(met for _, met, _ in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
