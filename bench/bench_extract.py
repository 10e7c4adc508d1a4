"""Benchmark: relational extraction against the raw pipe and Airflow's GenericTransfer.

For each source (PostgreSQL, MySQL) it creates a table of mixed types in a throw-away database
on the local server, then times, in this same run and on the same rows:

* ``pipeline``: ``extract_table`` (window read, COPY staging, merge publish), 1M and 3M rows;
* ``raw pipe``: ``psql COPY TO STDOUT | psql COPY FROM STDIN`` (MySQL: ``mysql --quick --batch``);
* ``GenericTransfer``: Airflow's common-sql operator, the usual "just use Airflow" baseline.

For MySQL it also loads a table of large text values (``--text-rows`` rows of 256 KB) twice: plain
letters, then the same number of bytes dense with tabs, backslashes and newlines, which COPY text
must escape. The dense load must take less than twice the plain one (escaping is linear).

Every case runs in its own process so its peak RSS is its own. One line per case:
rows/s, seconds, peak RSS, and the ratio against the baselines. Not a test: ``make bench``.

Usage: python bench/bench_extract.py [--rows 1000000] [--big-rows 3000000] [--skip-generic]
       [--text-rows 200] [--sources postgres,mysql,mysql_text]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "include")]

from tests.support.databases import mysql_database, postgres_database  # noqa: E402

WINDOW_START = "2026-01-01T00:00:00+00:00"
WINDOW_END = "2027-01-01T00:00:00+00:00"

PG_SOURCE_DDL = """
CREATE SCHEMA src;
CREATE TABLE src.orders (
  order_id bigint PRIMARY KEY, franchise_id integer NOT NULL, customer text, amount numeric(12,2),
  quantity integer, paid boolean, note text, created_at timestamp, updated_at timestamp NOT NULL,
  service_date date, score double precision
);
"""
PG_FILL = """
INSERT INTO src.orders
SELECT g, g % 500, 'customer ' || g || ' Zoë', (g % 100000) / 100.0, g % 17, g % 3 = 0,
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'note with tab' || chr(9) || 'and é ' || g END,
       timestamp '2026-06-01' + (g % 86400) * interval '1 second',
       timestamp '2026-06-01' + (g % 1000000) * interval '1 second', date '2026-06-01' + (g % 200), g / 7.0
FROM generate_series({lo}, {hi}) g
"""
MYSQL_SOURCE_DDL = """
CREATE TABLE orders (
  order_id BIGINT PRIMARY KEY, franchise_id INT NOT NULL, customer VARCHAR(100), amount DECIMAL(12,2),
  quantity INT, paid TINYINT(1), note TEXT, created_at DATETIME, updated_at DATETIME NOT NULL,
  service_date DATE, score DOUBLE
) ENGINE=InnoDB
"""
MYSQL_FILL = """
INSERT INTO orders
SELECT seq, seq % 500, CONCAT('customer ', seq, ' Zoë'), (seq % 100000) / 100.0, seq % 17, seq % 3 = 0,
       IF(seq % 10 = 0, NULL, CONCAT('note with tab', CHAR(9), 'and é ', seq)),
       TIMESTAMP('2026-06-01') + INTERVAL (seq % 86400) SECOND,
       TIMESTAMP('2026-06-01') + INTERVAL (seq % 1000000) SECOND, DATE('2026-06-01') + INTERVAL (seq % 200) DAY,
       seq / 7.0
FROM seq_{lo}_to_{hi}
"""
# 256 KB per value: plain letters, or the same bytes where half are characters COPY escapes.
TEXT_VALUE_BYTES = 256 * 1024
MYSQL_TEXT_DDL = """
CREATE TABLE {table} (
  order_id BIGINT PRIMARY KEY, updated_at DATETIME NOT NULL, note LONGTEXT
) ENGINE=InnoDB
"""
MYSQL_TEXT_FILL = """
INSERT INTO {table}
SELECT seq, TIMESTAMP('2026-06-01') + INTERVAL seq SECOND, REPEAT({piece}, {repeat})
FROM seq_1_to_{rows}
"""
TEXT_PIECES = {
    "plain": "'abcdefgh'",
    "dense": "CONCAT('ab', CHAR(9), '\\\\', CHAR(10), 'c', CHAR(13), '\\\\')",
}
COLUMNS = "order_id, franchise_id, customer, amount, quantity, paid, note, created_at, updated_at, service_date, score"
TARGET_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE {schema}.orders (
  order_id bigint PRIMARY KEY, franchise_id integer, customer text, amount numeric(12,2), quantity integer,
  paid boolean, note text, created_at timestamptz, updated_at timestamptz, service_date date,
  score double precision
);
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- cases, each run in a child process ---------------------------------------------------------
def case_pipeline(args) -> dict:
    from bi_pipelines.core.windows import Window
    from bi_pipelines.sources.relational.pipeline import extract_table
    from bi_pipelines.sources.relational.spec import load_flow

    flow_path = Path(args.workdir) / "extract_bench.yaml"
    flow_path.write_text(
        textwrap.dedent(
            f"""
            dag: {{dag_id: extract_bench, schedule: "0 * * * *", start_date: "2026-01-01T00:00:00", catchup: false}}
            source: {{conn_id: bench_source, dialect: {args.dialect}}}
            target: {{conn_id: bench_target, schema: {args.schema}}}
            defaults: {{timezone: America/Vancouver}}
            tables:
              {args.table or "orders"}:
                {"source_schema: src" if args.dialect == "postgres" else ""}
                primary_key: [order_id]
                cursor_column: updated_at
                lookback: 0m
            """
        )
    )
    flow = load_flow(flow_path)
    # Provider imports (about 3-4 s here) are a one-time cost of any Airflow task, not of moving
    # rows; import them before the clock starts, as a running worker already has.
    import airflow.providers.mysql.hooks.mysql
    import airflow.providers.postgres.hooks.postgres  # noqa: F401

    window = Window(dt.datetime.fromisoformat(WINDOW_START), dt.datetime.fromisoformat(WINDOW_END), "bench")
    started = time.perf_counter()
    summary = extract_table(flow, flow.table(args.table or "orders"), window)
    return {"seconds": time.perf_counter() - started, "rows": summary.rows_inserted, "rss_mb": peak_rss_mb()}


def case_generic(args) -> dict:
    from airflow.providers.common.sql.operators.generic_transfer import GenericTransfer

    select = f"SELECT {COLUMNS} FROM {'src.orders' if args.dialect == 'postgres' else 'orders'}"
    generic_transfer = GenericTransfer(
        task_id="generic_transfer",
        source_conn_id="bench_source",
        destination_conn_id="bench_target",
        sql=select,
        destination_table=f"{args.schema}.orders",
    )
    started = time.perf_counter()
    generic_transfer.execute(context={})
    return {"seconds": time.perf_counter() - started, "rss_mb": peak_rss_mb()}


def run_child(case: str, env: dict, **kwargs) -> dict:
    argv = [sys.executable, __file__, "--child", case] + [
        f"--{k.replace('_', '-')}={v}" for k, v in kwargs.items()
    ]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def raw_pipe(source_cmd: list[str], target_db, schema: str, null: str | None = None) -> float:
    options = f" WITH (NULL '{null}')" if null else ""
    target_cmd = [
        "psql",
        "-h",
        target_db.host,
        "-p",
        str(target_db.port),
        "-U",
        target_db.user,
        "-d",
        target_db.name,
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        f"COPY {schema}.orders ({COLUMNS}) FROM STDIN{options}",
    ]
    started = time.perf_counter()
    producer = subprocess.Popen(source_cmd, stdout=subprocess.PIPE)
    consumer = subprocess.run(target_cmd, stdin=producer.stdout, capture_output=True, text=True)
    producer.stdout.close()
    producer.wait()
    elapsed = time.perf_counter() - started
    if producer.returncode or consumer.returncode:
        raise RuntimeError(f"raw pipe failed: {consumer.stderr}")
    return elapsed


def fill_pg(db, rows: int) -> None:
    db.execute(PG_SOURCE_DDL)
    db.execute(PG_FILL.format(lo=1, hi=rows))
    db.execute("ANALYZE src.orders")


def fill_mysql(db, rows: int) -> None:
    db.execute(MYSQL_SOURCE_DDL)
    step = 500_000
    for lo in range(1, rows + 1, step):
        db.execute(MYSQL_FILL.format(lo=lo, hi=min(lo + step - 1, rows)))


def line(name: str, rows: int, seconds: float, rss: float | None, ratios: str = "") -> None:
    rss_text = f"{rss:7.0f} MB" if rss is not None else "      - MB"
    print(
        f"{name:<44} {rows / seconds:>12,.0f} rows/s {seconds:8.2f} s  peak RSS {rss_text}  {ratios}",
        flush=True,
    )


def bench_source(dialect: str, args, env: dict) -> list[str]:
    verdicts = []
    with (
        postgres_database("bench_tgt") as target,
        postgres_database("bench_src") if dialect == "postgres" else mysql_database("bench_src") as source,
    ):
        env = dict(env)
        env["AIRFLOW_CONN_BENCH_SOURCE"] = source.airflow_conn_json()
        env["AIRFLOW_CONN_BENCH_TARGET"] = target.airflow_conn_json()
        print(f"\n== {dialect} -> postgres: filling {args.rows:,} source rows ...", flush=True)
        (fill_pg if dialect == "postgres" else fill_mysql)(source, args.rows)

        if dialect == "postgres":
            select = f"SELECT {COLUMNS} FROM src.orders"
            source_cmd = [
                "psql",
                "-h",
                source.host,
                "-p",
                str(source.port),
                "-U",
                source.user,
                "-d",
                source.name,
                "-c",
                f"COPY ({select}) TO STDOUT",
            ]
            null = None
        else:
            source_cmd = [
                "mysql",
                "-h",
                source.host,
                "-P",
                str(source.port),
                "-u",
                source.user,
                "--quick",
                "--batch",
                "--skip-column-names",
                "--default-character-set=utf8mb4",
                source.name,
                "-e",
                f"SELECT {COLUMNS} FROM orders",
            ]
            null = "NULL"
        target.execute(TARGET_DDL.format(schema="raw_pipe"))
        raw = raw_pipe(source_cmd, target, "raw_pipe", null)
        line(f"{dialect}: raw pipe (baseline)", args.rows, raw, None)

        ours = run_child("pipeline", env, dialect=dialect, schema="bench_1m", workdir=args.workdir)
        assert ours["rows"] == args.rows, ours
        ratio_raw = raw / ours["seconds"]
        gt = None
        if not args.skip_generic:
            ddl = TARGET_DDL.format(schema="generic")
            if dialect == "mysql":  # GenericTransfer converts nothing: TINYINT(1) stays an integer
                ddl = ddl.replace("paid boolean", "paid smallint")
            target.execute(ddl)
            gt = run_child("generic", env, dialect=dialect, schema="generic")
            got = target.query("SELECT count(*) FROM generic.orders")[0][0]
            assert got == args.rows, got
            line(f"{dialect}: GenericTransfer (baseline)", args.rows, gt["seconds"], gt["rss_mb"])
        ratio_gt = gt["seconds"] / ours["seconds"] if gt else float("nan")
        line(
            f"{dialect}: pipeline {args.rows:,} rows",
            args.rows,
            ours["seconds"],
            ours["rss_mb"],
            f"{ratio_raw:.2f}x raw pipe, {ratio_gt:.1f}x GenericTransfer",
        )
        # Same data, three times the rows: memory must stay flat.
        if dialect == "postgres":
            source.execute(PG_FILL.format(lo=args.rows + 1, hi=args.big_rows))
        else:
            step = 500_000
            for lo in range(args.rows + 1, args.big_rows + 1, step):
                source.execute(MYSQL_FILL.format(lo=lo, hi=min(lo + step - 1, args.big_rows)))
        big = run_child("pipeline", env, dialect=dialect, schema="bench_3m", workdir=args.workdir)
        assert big["rows"] == args.big_rows, big
        line(
            f"{dialect}: pipeline {args.big_rows:,} rows",
            args.big_rows,
            big["seconds"],
            big["rss_mb"],
            f"RSS {big['rss_mb'] / ours['rss_mb']:.2f}x the {args.rows:,}-row run",
        )
        raw_target = 0.6 if dialect == "postgres" else 0.5
        verdicts.append(
            f"{dialect}: >= {raw_target}x raw pipe: {'met' if ratio_raw >= raw_target else 'MISSED'} ({ratio_raw:.2f}x)"
        )
        if gt:
            verdicts.append(
                f"{dialect}: >= 4x GenericTransfer: {'met' if ratio_gt >= 4 else 'MISSED'} ({ratio_gt:.1f}x)"
            )
        flat = max(ours["rss_mb"], big["rss_mb"]) < 300 and big["rss_mb"] < ours["rss_mb"] * 1.15
        verdicts.append(
            f"{dialect}: peak RSS < 300 MB and flat: {'met' if flat else 'MISSED'} "
            f"({ours['rss_mb']:.0f} MB at {args.rows:,}, {big['rss_mb']:.0f} MB at {args.big_rows:,})"
        )
    return verdicts


def bench_mysql_text(args, env: dict) -> list[str]:
    """Large text values: the dense (escaped) load against the same bytes in plain letters."""
    with postgres_database("bench_tgt") as target, mysql_database("bench_src") as source:
        env = dict(env)
        env["AIRFLOW_CONN_BENCH_SOURCE"] = source.airflow_conn_json()
        env["AIRFLOW_CONN_BENCH_TARGET"] = target.airflow_conn_json()
        print(f"\n== mysql -> postgres: {args.text_rows} rows of 256 KB text values", flush=True)
        results = {}
        for kind, piece in TEXT_PIECES.items():
            table = f"texts_{kind}"
            source.execute(MYSQL_TEXT_DDL.format(table=table))
            # Every piece is 8 characters, so both tables hold the same number of bytes.
            source.execute(
                MYSQL_TEXT_FILL.format(
                    table=table, piece=piece, repeat=TEXT_VALUE_BYTES // 8, rows=args.text_rows
                )
            )
            result = run_child(
                "pipeline", env, dialect="mysql", schema=f"bench_{kind}", workdir=args.workdir, table=table
            )
            assert result["rows"] == args.text_rows, result
            results[kind] = result
            got = target.query(f"SELECT sum(octet_length(note)) FROM bench_{kind}.{table}")[0][0]
            assert got == args.text_rows * TEXT_VALUE_BYTES, got
        megabytes = args.text_rows * TEXT_VALUE_BYTES / 2**20
        plain = results["plain"]["seconds"]
        for kind, result in results.items():
            seconds = result["seconds"]
            print(
                f"{'mysql: 256 KB text values, ' + kind:<44} {args.text_rows / seconds:>12,.1f} rows/s "
                f"{seconds:8.2f} s  {megabytes / seconds:7.1f} MB/s  peak RSS {result['rss_mb']:7.0f} MB  "
                f"{seconds / plain:.2f}x the plain-text time",
                flush=True,
            )
        ratio = results["dense"]["seconds"] / plain
    return [
        f"mysql: 256 KB escaped text within 2x plain text: {'met' if ratio <= 2 else 'MISSED'} ({ratio:.2f}x)"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=3_000_000)
    parser.add_argument("--skip-generic", action="store_true", help="skip the slow GenericTransfer baseline")
    parser.add_argument("--text-rows", type=int, default=200, help="rows of 256 KB text values")
    parser.add_argument("--sources", default="postgres,mysql,mysql_text")
    parser.add_argument("--table")
    parser.add_argument("--child")
    parser.add_argument("--dialect")
    parser.add_argument("--schema")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.child:
        result = {"pipeline": case_pipeline, "generic": case_generic}[args.child](args)
        print(json.dumps(result))
        return
    import tempfile

    args.workdir = tempfile.mkdtemp(prefix="bench-extract-")
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", args.workdir)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "include"), str(REPO / "plugins"), str(REPO)])
    print(f"extraction benchmark: {args.rows:,} rows of 11 mixed-type columns; each case in its own process")
    verdicts = []
    for dialect in args.sources.split(","):
        if dialect == "mysql_text":
            verdicts += bench_mysql_text(args, env)
        else:
            verdicts += bench_source(dialect, args, env)
    print("\nTargets:")
    for verdict in verdicts:
        print(f"  {verdict}")


if __name__ == "__main__":
    main()
