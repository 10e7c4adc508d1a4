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
            defaults: {{timezone: {args.timezone}}}
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
    # rows; import them before the clock starts, as a running worker already has (the project's
    # hooks module imports the MySQL, Postgres and Amazon providers: boto3 alone is 0.5 s).
    import airflow.providers.mysql.hooks.mysql
    import airflow.providers.postgres.hooks.postgres  # noqa: F401

    import bi_pipelines.db.hooks

    if args.text_copy:  # measure the text COPY path on rows that could go binary
        import bi_pipelines.load.warehouse

        bi_pipelines.load.warehouse.binary_fits = lambda *_: False
    window = Window(
        dt.datetime.fromisoformat(args.window_start or WINDOW_START),
        dt.datetime.fromisoformat(args.window_end or WINDOW_END),
        "bench",
    )
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


def child_argv(case: str, **kwargs) -> list[str]:
    """The command line that runs ``case`` of this file in a child process."""
    return [sys.executable, __file__, "--child", case] + [
        f"--{k.replace('_', '-')}={v}" for k, v in kwargs.items()
    ]


def child_env(workdir: str) -> dict:
    """The environment of the child processes: the project importable, Airflow's home in ``workdir``."""
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", workdir)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "include"), str(REPO / "plugins"), str(REPO)])
    return env


def with_connections(env: dict, source, target) -> dict:
    """``env`` plus the ``bench_source`` and ``bench_target`` connections the engine's flow names."""
    return {
        **env,
        "AIRFLOW_CONN_BENCH_SOURCE": source.airflow_conn_json(),
        "AIRFLOW_CONN_BENCH_TARGET": target.airflow_conn_json(),
    }


def run_child(case: str, env: dict, **kwargs) -> dict:
    out = subprocess.run(child_argv(case, **kwargs), env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def raw_pipe(
    source_cmd: list[str], target_db, schema: str, null: str | None = None, options: str = ""
) -> float:
    options = f" WITH (NULL '{null}')" if null else options
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
    fill_more("mysql", db, 1, rows)


def fill_more(dialect: str, db, lo: int, hi: int) -> None:
    """Add the rows ``lo`` to ``hi`` (inclusive) to the source's ``orders``."""
    if dialect == "postgres":
        db.execute(PG_FILL.format(lo=lo, hi=hi))
        return
    step = 500_000  # MariaDB's sequence tables: one statement per half million rows
    for start in range(lo, hi + 1, step):
        db.execute(MYSQL_FILL.format(lo=start, hi=min(start + step - 1, hi)))


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
        env = with_connections(env, source, target)
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
        big = None
        if args.big_rows > args.rows:
            big = bench_big(dialect, args, env, source, ours)
        verdicts += bench_merge(dialect, args, env, source, target)
        raw_target = 0.6 if dialect == "postgres" else 0.5
        verdicts.append(
            f"{dialect}: >= {raw_target}x raw pipe: {'met' if ratio_raw >= raw_target else 'MISSED'} ({ratio_raw:.2f}x)"
        )
        if gt:
            verdicts.append(
                f"{dialect}: >= 4x GenericTransfer: {'met' if ratio_gt >= 4 else 'MISSED'} ({ratio_gt:.1f}x)"
            )
        if big:
            flat = max(ours["rss_mb"], big["rss_mb"]) < 300 and big["rss_mb"] < ours["rss_mb"] * 1.15
            verdicts.append(
                f"{dialect}: peak RSS < 300 MB and flat: {'met' if flat else 'MISSED'} "
                f"({ours['rss_mb']:.0f} MB at {args.rows:,}, {big['rss_mb']:.0f} MB at {args.big_rows:,})"
            )
    return verdicts


def bench_big(dialect: str, args, env: dict, source, ours: dict) -> dict:
    fill_more(dialect, source, args.rows + 1, args.big_rows)
    big = run_child("pipeline", env, dialect=dialect, schema="bench_3m", workdir=args.workdir)
    assert big["rows"] == args.big_rows, big
    line(
        f"{dialect}: pipeline {args.big_rows:,} rows",
        args.big_rows,
        big["seconds"],
        big["rss_mb"],
        f"RSS {big['rss_mb'] / ours['rss_mb']:.2f}x the {args.rows:,}-row run",
    )
    return big


CHANGED_ROWS = 50_000  # case (b): this many rows updated and as many new, merged on the primary key
CHANGES_START = "2026-11-30T00:00:00+00:00"  # every changed row, and only they, is after this
QUIET_START = "2026-12-15T00:00:00+00:00"  # case (c): a window with nothing new
PG_CHANGE = """
UPDATE src.orders SET customer = customer || ' v2', amount = amount + 1,
       updated_at = timestamp '2026-12-01' + (order_id % 1000) * interval '1 second'
WHERE order_id > {lo} AND order_id <= {hi}
"""
MYSQL_CHANGE = """
UPDATE orders SET customer = CONCAT(customer, ' v2'), amount = amount + 1,
       updated_at = TIMESTAMP('2026-12-01') + INTERVAL (order_id % 1000) SECOND
WHERE order_id > {lo} AND order_id <= {hi}
"""
NON_KEY = [c.strip() for c in COLUMNS.split(",")][1:]
_SET = ", ".join(f"{c} = {{new}}.{c}" for c in NON_KEY)
_DELETE = "DELETE FROM {t} WHERE EXISTS (SELECT 1 FROM s k WHERE {t}.order_id = k.order_id)"
_INSERT = f"INSERT INTO {{t}} ({COLUMNS}) SELECT {COLUMNS} FROM s"
_UPSERT = _INSERT + " ON CONFLICT (order_id) DO UPDATE SET " + _SET.format(new="EXCLUDED")
_MERGE = (
    "MERGE INTO {t} USING s ON {t}.order_id = s.order_id WHEN MATCHED THEN UPDATE SET "
    + _SET.format(new="s")
    + f" WHEN NOT MATCHED THEN INSERT ({COLUMNS}) VALUES ("
    + ", ".join(f"s.{c.strip()}" for c in COLUMNS.split(","))
    + ")"
)
# Publish statements of case (b), timed on the same staged rows, each rolled back.
MERGE_VARIANTS = {
    "DELETE+INSERT (engine)": [_DELETE, _INSERT],
    "DELETE+INSERT, ANALYZE staged": ["ANALYZE s", _DELETE, _INSERT],
    "DELETE+INSERT, index+ANALYZE staged": [
        "CREATE INDEX ON s (order_id)",
        "ANALYZE s",
        _DELETE,
        _INSERT,
    ],
    "INSERT ON CONFLICT DO UPDATE": [_UPSERT],
    "INSERT ON CONFLICT, ANALYZE staged": ["ANALYZE s", _UPSERT],
    "INSERT ON CONFLICT, counted": [
        f"WITH u AS ({_UPSERT} RETURNING xmax <> 0 AS replaced) "
        "SELECT count(*), count(*) FILTER (WHERE replaced) FROM u"
    ],
    "MERGE (PostgreSQL 15)": [_MERGE],
    "MERGE, ANALYZE staged": ["ANALYZE s", _MERGE],
}
# Case (a), the initial load into an empty target: with its primary key, or the key built after.
INITIAL_VARIANTS = {
    "into the table with its PK": [
        "CREATE TABLE bench_var.empty (LIKE bench_var.orders INCLUDING ALL)",
        f"INSERT INTO bench_var.empty ({COLUMNS}) SELECT {COLUMNS} FROM bench_var.orders",
    ],
    "no PK, then ADD PRIMARY KEY": [
        "CREATE TABLE bench_var.empty (LIKE bench_var.orders)",
        f"INSERT INTO bench_var.empty ({COLUMNS}) SELECT {COLUMNS} FROM bench_var.orders",
        "ALTER TABLE bench_var.empty ADD PRIMARY KEY (order_id)",
    ],
}


def time_variants(target, variants: dict, rounds: int, setup: list[str]) -> dict[str, float]:
    """Median seconds of each variant's statements, interleaved over ``rounds``, each rolled back."""
    import statistics

    times: dict[str, list[float]] = {name: [] for name in variants}
    conn = target.connect()
    try:
        for _ in range(rounds):
            for name, statements in variants.items():
                with conn.cursor() as cur:
                    for statement in setup:
                        cur.execute(statement)
                    started = time.perf_counter()
                    for statement in statements:
                        cur.execute(statement.format(t="bench_var.orders"))
                    times[name].append(time.perf_counter() - started)
                conn.rollback()
    finally:
        conn.close()
    return {name: statistics.median(values) for name, values in times.items()}


def index_cursor(dialect: str, source) -> None:
    """The index on the cursor column an incrementally read table has.

    Without it the source scans every row to find none, which is the source's time, not ours.
    """
    source.execute(
        f"CREATE INDEX orders_updated_at ON {'src.' if dialect == 'postgres' else ''}orders (updated_at)"
    )


def change_rows(dialect: str, source, rows: int, top: int) -> int:
    """Case (b)'s changes: the last ``CHANGED_ROWS`` of the first ``rows`` rows updated, as many new.

    The new rows get the ids after ``top``. Every changed row, and only they, gets an
    ``updated_at`` after ``CHANGES_START`` (and before ``QUIET_START``). Returns the rows changed.
    """
    change = PG_CHANGE if dialect == "postgres" else MYSQL_CHANGE
    source.execute(change.format(lo=rows - CHANGED_ROWS, hi=rows))
    fill_more(dialect, source, top + 1, top + CHANGED_ROWS)
    source.execute(change.format(lo=top, hi=top + CHANGED_ROWS))
    return min(CHANGED_ROWS, rows) + CHANGED_ROWS


def bench_merge(dialect: str, args, env: dict, source, target) -> list[str]:
    """Cases (b) 50k updated + 50k new rows merged into the 1M-row target, (c) nothing new."""
    index_cursor(dialect, source)
    change_rows(dialect, source, args.rows, max(args.rows, args.big_rows))
    # The variants' target: the 1M rows as case (b) finds them, with the primary key.
    target.execute(
        "CREATE SCHEMA bench_var",
        "CREATE TABLE bench_var.orders (LIKE bench_1m.orders INCLUDING ALL)",
        "INSERT INTO bench_var.orders SELECT * FROM bench_1m.orders",
        "ANALYZE bench_var.orders",
    )
    changed = 2 * CHANGED_ROWS
    merged = run_child(
        "pipeline", env, dialect=dialect, schema="bench_1m", workdir=args.workdir, window_start=CHANGES_START
    )
    assert merged["rows"] == changed, merged
    quiet = run_child(
        "pipeline", env, dialect=dialect, schema="bench_1m", workdir=args.workdir, window_start=QUIET_START
    )
    assert quiet["rows"] == 0, quiet
    again = run_child(
        "pipeline", env, dialect=dialect, schema="bench_1m", workdir=args.workdir, window_start=CHANGES_START
    )
    assert again["rows"] == changed, again
    count = target.query("SELECT count(*) FROM bench_1m.orders")[0][0]
    assert count == args.rows + CHANGED_ROWS, count
    # The staged rows of case (b), in the target's types, for the publish variants.
    staged = run_child(
        "pipeline", env, dialect=dialect, schema="bench_chg", workdir=args.workdir, window_start=CHANGES_START
    )
    assert staged["rows"] == changed, staged
    setup = ["CREATE TEMPORARY TABLE s ON COMMIT DROP AS SELECT * FROM bench_chg.orders"]
    merge_times = time_variants(target, MERGE_VARIANTS, args.rounds, setup)
    initial_times = time_variants(target, INITIAL_VARIANTS, args.rounds, [])
    best = min(merge_times.values())
    print(f"   (load average: {os.getloadavg()[0]:.2f})", flush=True)
    for name, seconds in merge_times.items():
        line(f"{dialect}: (b) publish {name}", changed, seconds, None, f"{seconds / best:.2f}x the fastest")
    for run, name in ((merged, "(b) merge 50k+50k into 1M"), (again, "(b) the same window again")):
        line(
            f"{dialect}: pipeline {name}",
            changed,
            run["seconds"],
            run["rss_mb"],
            f"publish alone: fastest variant {best:.2f} s",
        )
    best_initial = min(initial_times.values())
    for name, seconds in initial_times.items():
        line(
            f"{dialect}: (a) 1M rows {name}",
            args.rows,
            seconds,
            None,
            f"{seconds / best_initial:.2f}x the fastest",
        )
    print(
        f"{dialect + ': pipeline (c) nothing new':<44} {'':>12}        {quiet['seconds']:8.2f} s  "
        f"peak RSS {quiet['rss_mb']:7.0f} MB",
        flush=True,
    )
    target.execute("DROP SCHEMA bench_var CASCADE")
    return [
        f"{dialect}: (c) a run with nothing new <= 0.5 s: "
        f"{'met' if quiet['seconds'] <= 0.5 else 'MISSED'} ({quiet['seconds']:.2f} s)"
    ]


def bench_binary(args, env: dict) -> list[str]:
    """PostgreSQL -> PostgreSQL where every type lands unchanged: binary COPY against text COPY."""
    import statistics

    with postgres_database("bench_tgt") as target, postgres_database("bench_src") as source:
        env = with_connections(env, source, target)
        print(f"\n== postgres -> postgres, types unchanged (timestamptz): {args.rows:,} rows", flush=True)
        source.execute(
            PG_SOURCE_DDL.replace(" timestamp,", " timestamptz,").replace(
                " timestamp NOT", " timestamptz NOT"
            )
        )
        source.execute(PG_FILL.format(lo=1, hi=args.rows))
        source.execute("ANALYZE src.orders")
        pipe = {"text": [], "binary": []}
        ours = {"text": [], "binary": []}
        rss = {}
        for round_ in range(2):
            for kind in ("binary", "text"):
                options = " (FORMAT binary)" if kind == "binary" else ""
                schema = f"raw_{kind}_{round_}"
                target.execute(TARGET_DDL.format(schema=schema))
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
                    f"COPY (SELECT {COLUMNS} FROM src.orders) TO STDOUT{options}",
                ]
                pipe[kind].append(raw_pipe(source_cmd, target, schema, options=options))
                result = run_child(
                    "pipeline",
                    env,
                    dialect="postgres",
                    schema=f"bench_{kind}_{round_}",
                    workdir=args.workdir,
                    text_copy=int(kind == "text"),
                )
                assert result["rows"] == args.rows, result
                ours[kind].append(result["seconds"])
                rss[kind] = result["rss_mb"]
        digest = "SELECT md5(string_agg(t::text, '|' ORDER BY order_id)) FROM {}.orders t"
        same = target.query(digest.format("bench_binary_0")) == target.query(digest.format("bench_text_0"))
        print(f"   (load average: {os.getloadavg()[0]:.2f})", flush=True)
        med = {k: statistics.median(v) for k, v in ours.items()}
        raw = {k: statistics.median(v) for k, v in pipe.items()}
        for kind in ("text", "binary"):
            line(f"postgres: raw pipe, {kind} COPY (baseline)", args.rows, raw[kind], None)
        for kind in ("text", "binary"):
            line(
                f"postgres: pipeline, {kind} COPY",
                args.rows,
                med[kind],
                rss[kind],
                f"{raw[kind] / med[kind]:.2f}x raw {kind} pipe"
                + (f", {raw['binary'] / med[kind]:.2f}x raw binary pipe" if kind == "text" else ""),
            )
    return [
        f"postgres: binary COPY lands the same rows as text: {'met' if same else 'MISSED'}",
        f"postgres: binary pipeline {med['binary'] / med['text']:.2f}x the text pipeline's time",
    ]


def bench_mysql_text(args, env: dict) -> list[str]:
    """Large text values: the dense (escaped) load against the same bytes in plain letters."""
    with postgres_database("bench_tgt") as target, mysql_database("bench_src") as source:
        env = with_connections(env, source, target)
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
    parser.add_argument("--big-rows", type=int, default=3_000_000, help="0 skips the big-table run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the interleaved publish variants")
    parser.add_argument("--skip-generic", action="store_true", help="skip the slow GenericTransfer baseline")
    parser.add_argument("--text-rows", type=int, default=200, help="rows of 256 KB text values")
    parser.add_argument("--sources", default="postgres,postgres_binary,mysql,mysql_text")
    parser.add_argument("--table")
    parser.add_argument("--child")
    parser.add_argument("--dialect")
    parser.add_argument("--schema")
    parser.add_argument("--workdir")
    parser.add_argument("--text-copy", type=int, default=0)
    parser.add_argument("--window-start")
    parser.add_argument("--window-end")
    parser.add_argument("--timezone", default="America/Vancouver", help="of the source's naive timestamps")
    args = parser.parse_args()
    if args.child:
        result = {"pipeline": case_pipeline, "generic": case_generic}[args.child](args)
        print(json.dumps(result))
        return
    import tempfile

    args.workdir = tempfile.mkdtemp(prefix="bench-extract-")
    env = child_env(args.workdir)
    print(f"extraction benchmark: {args.rows:,} rows of 11 mixed-type columns; each case in its own process")
    verdicts = []
    for dialect in args.sources.split(","):
        if dialect == "mysql_text":
            verdicts += bench_mysql_text(args, env)
        elif dialect == "postgres_binary":
            verdicts += bench_binary(args, env)
        else:
            verdicts += bench_source(dialect, args, env)
    print("\nTargets:")
    for verdict in verdicts:
        print(f"  {verdict}")


if __name__ == "__main__":
    main()
