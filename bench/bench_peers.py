"""Benchmark: the relational engine side by side with the tools a user would pick instead.

The peers are dlt (``sql_table`` with an incremental cursor on ``updated_at``, ``write_disposition=
"merge"`` on ``order_id``; by default the connectorx backend and the csv loader file format, which
loads with COPY: dlt's fastest path to PostgreSQL), ingestr (``--incremental-strategy merge``) and
sling (``--mode incremental``). Each is installed in its own virtualenv under
``.bench-venv/`` on first use (never in the project's requirements or image) and reused while its
pinned packages stay the same; ``--reinstall`` rebuilds them. A peer that cannot be installed or
run is reported with the reason, and the others go on.

For PostgreSQL -> PostgreSQL and MySQL (MariaDB) -> PostgreSQL, on the ``orders`` table of
``bench_extract.py`` (11 mixed-type columns), every tool runs these cases, interleaved (the engine
and each peer in turn, each in its own process) and repeated ``--rounds`` times (median):

* (a) ``--rows`` rows into an empty target;
* (b) 50,000 updated and 50,000 new source rows merged on the primary key into the target the same
  tool loaded in (a) (the updated rows get a newer ``updated_at``);
* (c) the same run again, with nothing new;
* (a) at ``--big-rows`` rows, to show whether memory stays flat.

The engine runs ``extract_table`` on consecutive windows, as incremental runs after each other
read them: (a) up to the day before the changes, (b) the changes' fortnight, (c) the next one.
dlt and sling keep their own cursor state; ingestr 0.15.9 keeps none (without
``--interval-start`` it reads the whole table on every run), so it is given the engine's windows.

One line per tool and case: seconds inside the tool's run call where that is measurable in
process (the engine: ``extract_table``; dlt: ``sql_table`` + ``pipeline.run``; the CLIs sling and
ingestr: ``-``), whole-process seconds (start to exit, imports included), peak RSS (the largest
process of the tool's tree, from ``getrusage(RUSAGE_CHILDREN)`` of a fresh wrapper process),
rows/s, the ratio of each peer's time to ours (above 1: we are faster) and a correctness check:
the row count and an md5 over canonically rendered rows, computed in SQL on the target and on the
source. A difference names the columns whose own md5 differs. Not a test: ``make bench-peers``.

Usage: python bench/bench_peers.py [--rows 1000000] [--big-rows 3000000] [--rounds 1]
       [--peers dlt,ingestr,sling] [--sources postgres,mysql] [--reinstall]
       [--dlt-backend connectorx] [--dlt-format csv]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import bench_extract as ex

from tests.support.databases import Database, mysql_database, postgres_database

REPO = ex.REPO
VENVS = REPO / ".bench-venv"
# Each peer in its own virtualenv: their dependencies (dlt's SQLAlchemy and pyarrow above all)
# must not meet each other's or the project's.
PEER_PACKAGES = {
    "dlt": [
        "dlt[postgres,sql_database]==1.31.0",
        "connectorx==0.4.6",
        "pyarrow",
        "pymysql",
        "psycopg2-binary",
        "sqlalchemy",
    ],
    # Later versions download their binary when first run, which cannot work offline; 0.15.9's
    # wheel is the binary itself.
    "ingestr": ["ingestr==0.15.9"],
    # sling-linux-amd64 carries the binary; the `sling` wrapper would download one of its own
    # version, so the bench runs the carried binary directly.
    "sling": ["sling", "sling-linux-amd64"],
}
REPORTED_DISTRIBUTIONS = {
    "dlt": ["dlt", "connectorx", "pyarrow", "sqlalchemy", "pymysql", "psycopg2-binary"],
    "ingestr": ["ingestr"],
    "sling": ["sling", "sling-linux-amd64"],
}
TOOLS = ("ours", "dlt", "ingestr", "sling")
RUN_TIMEOUT = 3600
# Runs a tool and reports its wall time and the peak RSS of its process tree's largest process.
MEASURE = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
        started = time.perf_counter()
        code = subprocess.call(sys.argv[3:], stdout=out, stderr=err)
        seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"code": code, "seconds": seconds, "rss_mb": rss_mb}))
    """
)
VERSIONS = textwrap.dedent(
    """
    import importlib.metadata as m, json, sys
    print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))
    """
)


# -- the peers' virtualenvs ----------------------------------------------------------------------
@dataclass
class Peer:
    """A peer ready to run (``command`` set), or the reason it is not (``problem``)."""

    name: str
    command: Path | None = None
    versions: str = ""
    note: str = ""
    problem: str = ""


def last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def install_venv(venv: Path, packages: list[str]) -> None:
    uv = REPO / ".venv" / "bin" / "uv"
    python = venv / "bin" / "python"
    if uv.exists():
        steps = [
            [str(uv), "venv", "-q", "--python", sys.executable, str(venv)],
            [str(uv), "pip", "install", "-q", "--python", str(python), *packages],
        ]
    else:
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "-q", *packages],
        ]
    for step in steps:
        subprocess.run(step, check=True, capture_output=True, text=True, timeout=1800)


def prepare_peer(name: str, reinstall: bool, env: dict) -> Peer:
    """Install ``name`` into ``.bench-venv/<name>`` unless it is there with the same packages."""
    packages = PEER_PACKAGES[name]
    venv = VENVS / name
    stamp = venv / f".installed-{hashlib.sha1(' '.join(packages).encode()).hexdigest()[:12]}"
    if reinstall or not stamp.exists():
        shutil.rmtree(venv, ignore_errors=True)
        print(f"{name}: installing {' '.join(packages)} into {venv.relative_to(REPO)} ...", flush=True)
        try:
            install_venv(venv, packages)
        except subprocess.CalledProcessError as exc:
            return Peer(name, problem=f"installing {' '.join(packages)} failed: {last_line(exc.stderr)}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Peer(name, problem=f"installing {' '.join(packages)} failed: {exc}")
        stamp.touch()
    python = venv / "bin" / "python"
    try:
        found = output(str(python), "-c", VERSIONS, *REPORTED_DISTRIBUTIONS[name])
        versions = ", ".join(f"{k} {v}" for k, v in json.loads(found).items())
        peer = Peer(name, versions=versions)
        if name == "dlt":
            peer.command = python
        elif name == "ingestr":
            requires = output(
                str(python), "-c", "import importlib.metadata as m; print(m.requires('ingestr'))"
            )
            peer.command = venv / "bin" / "ingestr"
            kind = "a self-contained binary" if requires == "None" else f"requires {requires}"
            peer.note = (
                f"{kind}, {last_line(output(str(peer.command), '--version', env=env))}; it keeps no cursor state (without --interval-start "
                "every run reads the whole table), so it is given the engine's windows"
            )
        else:
            peer.command = Path(
                output(str(python), "-c", "import sling_linux_amd64 as s; print(s.SLING_BIN)")
            )
            peer.note = (
                f"runs {peer.command.relative_to(REPO)} ({last_line(output(str(peer.command), '--version', env=env))}); its cursor is "
                "the target's max(updated_at)"
            )
    except subprocess.CalledProcessError as exc:
        return Peer(name, problem=f"installed but does not run: {last_line(exc.stderr or exc.stdout)}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Peer(name, problem=f"installed but does not run: {exc}")
    return peer


def peer_env(logs: Path) -> dict:
    """The peers' environment: their homes (sling's run history, dlt's settings) in ``logs``."""
    return {
        **os.environ,
        "HOME": str(logs / "home"),
        "SLING_HOME_DIR": str(logs / "home" / ".sling"),
        "SLING_DISABLE_TELEMETRY": "true",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }


def output(*argv: str, env: dict | None = None) -> str:
    """What ``argv`` prints (on stdout, else on stderr), stripped; raises when it fails."""
    done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120, env=env)
    return done.stdout.strip() or done.stderr.strip()


# -- one run of one tool, in a fresh wrapper process ----------------------------------------------
@dataclass
class Run:
    """One tool's run of one case: its times and memory, or why it failed, and its check."""

    process_s: float | None = None
    engine_s: float | None = None
    rss_mb: float | None = None
    error: str = ""
    check: str = ""
    ok: bool = False


def measure(argv: list[str], env: dict, logs: Path, name: str, in_process: bool) -> Run:
    """Run ``argv`` under the ``MEASURE`` wrapper; ``in_process`` tools print JSON with ``seconds``."""
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    wrapper = subprocess.Popen(
        [sys.executable, "-c", MEASURE, str(out), str(err), *argv],
        env=env,
        cwd=logs,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = wrapper.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(wrapper.pid, signal.SIGKILL)
        wrapper.communicate()
        return Run(error=f"timed out after {RUN_TIMEOUT} s")
    if wrapper.returncode:
        return Run(error=f"the measuring wrapper failed: {last_line(stderr)}")
    result = json.loads(stdout)
    run = Run(process_s=result["seconds"], rss_mb=result["rss_mb"])
    if result["code"]:
        text = err.read_text(errors="replace") + out.read_text(errors="replace")
        failures = [line for line in text.splitlines() if "rror" in line] or [last_line(text)]
        run.error = f"exit {result['code']}: {failures[-1].strip()[:300]}"
        return run
    if in_process:
        lines = [line for line in out.read_text().splitlines() if line.startswith("{")]
        run.engine_s = json.loads(lines[-1])["seconds"]
    return run


# -- the canonical rendering of the rows, in SQL, on the source and on each target ----------------
# Each column kind rendered the same way whatever type a tool chose for it: integers as decimals,
# numerics with the source's scale, booleans t/f (boolean or 0/1), timestamps as UTC seconds
# (timestamp or timestamptz), dates ISO, doubles rounded to 10 decimals from their shortest text.
PG_KINDS = {
    "bigint": "int",
    "integer": "int",
    "smallint": "int",
    "numeric": "numeric",
    "boolean": "bool",
    "text": "text",
    "character varying": "text",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamp",
    "date": "date",
    "double precision": "double",
}
MYSQL_KINDS = {
    "bigint": "int",
    "int": "int",
    "smallint": "int",
    "decimal": "numeric",
    "varchar": "text",
    "text": "text",
    "datetime": "timestamp",
    "date": "date",
    "double": "double",
}
BLOCK_ROWS = 10_000  # rows per md5 block: the md5 of the ordered blocks' md5s covers every row


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    scale: int | None


def source_columns(dialect: str, source: Database) -> list[Column]:
    schema = "src" if dialect == "postgres" else source.name
    rows = source.query(
        "SELECT column_name, data_type, column_type, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'orders' ORDER BY ordinal_position"
        if dialect == "mysql"
        else "SELECT column_name, data_type, data_type, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'orders' ORDER BY ordinal_position",
        (schema,),
    )
    columns = []
    for name, data_type, column_type, scale in rows:
        if dialect == "mysql" and column_type.lower() == "tinyint(1)":
            kind = "bool"
        else:
            kind = (MYSQL_KINDS if dialect == "mysql" else PG_KINDS)[data_type.lower()]
        columns.append(Column(name, kind, scale))
    return columns


def pg_render(column: Column, target_type: str) -> str:
    c = '"' + column.name.replace('"', '""') + '"'
    if column.kind == "timestamp" and target_type == "timestamp with time zone":
        text = f"to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
    else:
        text = {
            "int": f"trim_scale({c}::numeric)::text",
            "numeric": f"round({c}::numeric, {column.scale})::text",
            "bool": (
                f"CASE WHEN {c} THEN 't' ELSE 'f' END"
                if target_type in ("boolean", "")
                else f"CASE WHEN lower({c}::text) IN ('t', 'true', 'y', 'yes', 'on', '1') THEN 't' ELSE 'f' END"
                if target_type.startswith(("text", "character"))
                else f"CASE WHEN {c}::numeric <> 0 THEN 't' ELSE 'f' END"
            ),
            "text": f"{c}::text",
            "timestamp": f"to_char({c}::timestamp, 'YYYY-MM-DD HH24:MI:SS')",
            "date": f"to_char({c}::date, 'YYYY-MM-DD')",
            "double": f"round({c}::float8::text::numeric, 10)::text",
        }[column.kind]
    return f"CASE WHEN {c} IS NULL THEN '\\N' ELSE {text} END"


def mysql_render(column: Column) -> str:
    c = "`" + column.name.replace("`", "``") + "`"
    text = {
        "int": f"CAST({c} AS CHAR)",
        "numeric": f"CAST(CAST({c} AS DECIMAL(65,{column.scale})) AS CHAR)",
        "bool": f"IF({c} <> 0, 't', 'f')",
        "text": c,
        "timestamp": f"DATE_FORMAT({c}, '%Y-%m-%d %H:%i:%s')",
        "date": f"DATE_FORMAT({c}, '%Y-%m-%d')",
        "double": f"CAST(CAST({c} AS DECIMAL(65,10)) AS CHAR)",
    }[column.kind]
    return f"IF({c} IS NULL, '\\\\N', {text})"


# What the digest query says in each dialect: the line of a row, an ordered md5, a block's key.
DIGEST_WORDS = {
    "postgres": {
        "line": "concat_ws(chr(31), {})",
        "md5": "md5(string_agg({value}, {separator} ORDER BY {order}))",
        "newline": "chr(10)",
        "block": "order_id::bigint / {rows}",
    },
    "mysql": {
        "line": "CONCAT_WS(CHAR(31 USING utf8mb4), {})",
        "md5": "MD5(GROUP_CONCAT({value} ORDER BY {order} SEPARATOR {separator}))",
        "newline": "'\\n'",
        "block": "order_id DIV {rows}",
    },
}


def digest_sql(dialect: str, table: str, rendered: dict[str, str], per_column: bool) -> str:
    """One scan: the row count and the md5 of every row's line (or of each column's values).

    The md5 of a block of ``BLOCK_ROWS`` keys is over its lines in key order, and the result is
    the md5 of the blocks' md5s in block order: the same for the same rows in any database, and
    no value larger than a block is built (MySQL's ``GROUP_CONCAT`` has a length limit).
    """
    words = DIGEST_WORDS[dialect]
    values = list(rendered.values()) if per_column else [words["line"].format(", ".join(rendered.values()))]
    inner = ", ".join(
        words["md5"].format(value=v, separator=words["newline"], order="order_id") + f" AS h{i}"
        for i, v in enumerate(values)
    )
    outer = ", ".join(
        words["md5"].format(value=f"h{i}", separator="''", order="b") for i in range(len(values))
    )
    block = words["block"].format(rows=BLOCK_ROWS)
    return f"SELECT SUM(n), {outer} FROM (SELECT {block} AS b, COUNT(*) AS n, {inner} FROM {table} GROUP BY b) blocks"


def run_digest(db: Database, sql: str) -> tuple:
    conn = db.connect()
    try:
        with contextlib.closing(conn.cursor()) as cur:
            if db.kind == "mysql":  # a block's rows are concatenated before their md5
                cur.execute("SET SESSION group_concat_max_len = 1073741824")
            cur.execute(sql)
            return cur.fetchone()
    finally:
        conn.close()


@dataclass
class SourceState:
    """The source's digest at one point (after the fill, after the changes), computed once."""

    source: Database
    dialect: str
    columns: list[Column]
    rows: int = 0
    md5: str = ""
    column_md5: dict[str, str] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return "src.orders" if self.dialect == "postgres" else "orders"

    def rendered(self) -> dict[str, str]:
        if self.dialect == "postgres":
            return {c.name: pg_render(c, "") for c in self.columns}
        return {c.name: mysql_render(c) for c in self.columns}

    def compute(self) -> SourceState:
        count, self.md5 = run_digest(
            self.source, digest_sql(self.dialect, self.table, self.rendered(), False)
        )
        self.rows = int(count or 0)
        self.column_md5 = {}
        return self

    def per_column(self) -> dict[str, str]:
        if not self.column_md5:
            got = run_digest(self.source, digest_sql(self.dialect, self.table, self.rendered(), True))
            self.column_md5 = dict(zip([c.name for c in self.columns], got[1:], strict=True))
        return self.column_md5


def target_types(target: Database, schema: str) -> dict[str, str]:
    rows = target.query(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class t ON t.oid = a.attrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = %s AND t.relname = 'orders' AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (schema,),
    )
    return dict(rows)


def check_target(target: Database, schema: str, state: SourceState) -> tuple[bool, str]:
    """Compare the tool's ``<schema>.orders`` with the source: row count, md5, differing columns."""
    try:
        types = target_types(target, schema)
        missing = [c.name for c in state.columns if c.name not in types]
        if not types or missing:
            return False, f"DIFFERS: no {'table' if not types else 'column ' + ', '.join(missing)}"
        rendered = {c.name: pg_render(c, types[c.name]) for c in state.columns}
        table = f'"{schema}".orders'
        count, md5 = run_digest(target, digest_sql("postgres", table, rendered, False))
        count = int(count or 0)
        if count == state.rows and md5 == state.md5:
            return True, f"ok: {count:,} rows, md5 {md5[:10]} = source"
        key = "order_id"
        got = run_digest(target, digest_sql("postgres", table, rendered, True))
        got_md5 = dict(zip([c.name for c in state.columns], got[1:], strict=True))
        differing = [name for name, value in state.per_column().items() if got_md5[name] != value]
        if count != state.rows or key in differing:  # other rows: every column's values differ
            return False, f"DIFFERS: {count:,} rows against the source's {state.rows:,}, other {key}s"
        return (
            False,
            f"DIFFERS: {count:,} rows = source, values differ in {', '.join(differing) or 'no single column'}",
        )
    except Exception as exc:  # a peer's odd type is a finding, not a crash
        return False, f"check failed: {last_line(str(exc))}"


# -- one source: every tool, every case ----------------------------------------------------------
@dataclass(frozen=True)
class Case:
    key: str
    label: str
    rows: int
    window: tuple[str, str]


WINDOW_A = (ex.WINDOW_START, ex.CHANGES_START)
WINDOW_B = (ex.CHANGES_START, ex.QUIET_START)
WINDOW_C = (ex.QUIET_START, ex.WINDOW_END)


def url(db: Database, scheme: str, password: str = "", query: str = "") -> str:
    auth = f"{db.user}:{password}" if password else db.user
    return f"{scheme}://{auth}@{db.host}:{db.port}/{db.name}{query}"


@dataclass
class Bench:
    """What every run of one source needs: the databases, the peers, the options."""

    dialect: str
    source: Database
    target: Database
    peers: dict[str, Peer]
    args: argparse.Namespace
    engine_env: dict
    peer_env: dict
    logs: Path

    def argv(self, tool: str, case: Case, schema: str) -> tuple[list[str], dict]:
        src_schema = "src" if self.dialect == "postgres" else self.source.name
        if tool == "ours":
            argv = ex.child_argv(
                "pipeline",
                dialect=self.dialect,
                schema=schema,
                workdir=self.logs,
                window_start=case.window[0],
                window_end=case.window[1],
                timezone="UTC",  # naive source timestamps are UTC, as every peer reads them
            )
            return argv, self.engine_env
        peer = self.peers[tool]
        pg_query = "?sslmode=disable"
        if self.dialect == "postgres":
            cli_source = url(self.source, "postgresql", query=pg_query)
        else:
            cli_source = url(self.source, "mysql")
        cli_target = url(self.target, "postgresql", query=pg_query)
        if tool == "dlt":
            config = {
                "source": url(
                    self.source, "postgresql+psycopg2" if self.dialect == "postgres" else "mysql+pymysql"
                ),
                "schema": src_schema,
                # dlt wants a password; the local server's trust authentication ignores it.
                "target": url(self.target, "postgresql", password="unused"),
                "dataset": schema,
                "pipeline": f"bench_{self.dialect}_{schema}",
                "pipelines_dir": str(self.logs / "dlt-pipelines"),
                "backend": self.args.dlt_backend,
                "format": self.args.dlt_format or None,
            }
            return [str(peer.command), str(REPO / "bench" / "peer_dlt.py"), json.dumps(config)], self.peer_env
        if tool == "ingestr":
            argv = [
                str(peer.command),
                "ingest",
                f"--source-uri={cli_source}",
                f"--source-table={src_schema}.orders",
                f"--dest-uri={cli_target}",
                f"--dest-table={schema}.orders",
                "--incremental-strategy=merge",
                "--incremental-key=updated_at",
                "--primary-key=order_id",
                f"--interval-start={case.window[0]}",
                f"--interval-end={case.window[1]}",
                "--yes",
                "--progress=log",
            ]
            return argv, self.peer_env
        argv = [
            str(peer.command),
            "run",
            f"--src-conn={cli_source}",
            f"--src-stream={src_schema}.orders",
            f"--tgt-conn={cli_target}",
            f"--tgt-object={schema}.orders",
            "--mode=incremental",
            "--primary-key=order_id",
            "--update-key=updated_at",
        ]
        return argv, self.peer_env

    def run(self, tool: str, case: Case, schema: str, state: SourceState, round_: int) -> Run:
        argv, env = self.argv(tool, case, schema)
        run = measure(argv, env, self.logs, f"{self.dialect}-{schema}-{case.key}", tool in ("ours", "dlt"))
        if not run.error:
            run.ok, run.check = check_target(self.target, schema, state)
        shown = run.error or f"{run.process_s:.2f} s whole-process, {run.check}"
        print(f"   . round {round_ + 1} {case.key:<5} {tool:<8} {shown}", flush=True)
        return run

    def drop(self, schema: str) -> None:
        for name in (schema, f"{schema}_staging"):  # dlt stages merges in <dataset>_staging
            self.target.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def refill(dialect: str, source: Database, rows: int, fresh: bool) -> None:
    """The source's ``orders`` with ``rows`` rows as ``bench_extract`` fills it, and its cursor index."""
    if not fresh:
        source.execute("DROP SCHEMA src CASCADE" if dialect == "postgres" else "DROP TABLE orders")
    print(f"   filling {rows:,} source rows ...", flush=True)
    (ex.fill_pg if dialect == "postgres" else ex.fill_mysql)(source, rows)
    ex.index_cursor(dialect, source)


def bench_source(dialect: str, args, peers: dict[str, Peer], env: dict, logs: Path) -> list[str]:
    """Every case of one source, interleaved over the tools; prints the lines, returns verdicts."""
    tools = ["ours", *[p for p in args.peers if peers[p].command]]
    updated = min(ex.CHANGED_ROWS, args.rows)  # change_rows updates the last 50k of the first rows
    cases = [
        Case("a", f"(a) {args.rows:,} rows into empty", args.rows, WINDOW_A),
        Case(
            "b", f"(b) merge {updated:,} upd + {ex.CHANGED_ROWS:,} new", updated + ex.CHANGED_ROWS, WINDOW_B
        ),
        Case("c", "(c) nothing new", 0, WINDOW_C),
    ]
    big = Case("big", f"(a) {args.big_rows:,} rows into empty", args.big_rows, WINDOW_A)
    results: dict[tuple[str, str], list[Run]] = {}
    types: dict[str, dict[str, str]] = {}
    print(f"\n== {dialect} -> postgres", flush=True)
    with (
        postgres_database("bench_peers_tgt") as target,
        postgres_database("bench_peers_src")
        if dialect == "postgres"
        else mysql_database("bench_peers_src") as source,
    ):
        bench = Bench(
            dialect,
            source,
            target,
            peers,
            args,
            ex.with_connections(env, source, target),
            peer_env(logs),
            logs,
        )
        for round_ in range(args.rounds):
            refill(dialect, source, args.rows, fresh=round_ == 0)
            columns = source_columns(dialect, source)
            state = SourceState(source, dialect, columns).compute()
            order = tools[round_ % len(tools) :] + tools[: round_ % len(tools)]
            failed: dict[str, str] = {}
            for case in cases:
                if case.key == "b":
                    ex.change_rows(dialect, source, args.rows, args.rows)
                    state = SourceState(source, dialect, columns).compute()
                for tool in order:
                    schema = f"r{round_ + 1}_{tool}"
                    if tool in failed:
                        run = Run(error=f"not run: its {failed[tool]} failed")
                    else:
                        run = bench.run(tool, case, schema, state, round_)
                        if run.error:
                            failed[tool] = case.label.split(" ")[0]
                    results.setdefault((tool, case.key), []).append(run)
                    if case.key == "a" and round_ == 0 and not run.error:
                        types[tool] = target_types(target, schema)
            for tool in order:
                bench.drop(f"r{round_ + 1}_{tool}")
        if args.big_rows:
            refill(dialect, source, args.big_rows, fresh=False)
            state = SourceState(source, dialect, source_columns(dialect, source)).compute()
            for round_ in range(args.rounds):
                for tool in tools[round_ % len(tools) :] + tools[: round_ % len(tools)]:
                    schema = f"r{round_ + 1}_{tool}_big"
                    results.setdefault((tool, "big"), []).append(bench.run(tool, big, schema, state, round_))
                    bench.drop(schema)
    shown = [*cases, big] if args.big_rows else cases
    print_table(dialect, tools, shown, results)
    print_types(dialect, tools, types)
    return verdicts(dialect, tools, results, args)


# -- the report -----------------------------------------------------------------------------------
@dataclass
class Summary:
    """A tool's runs of one case, as medians; ``check`` is the worst round's."""

    engine_s: float | None
    process_s: float | None
    rss_mb: float | None
    check: str
    ok: bool


def summarize(runs: list[Run]) -> Summary:
    done = [r for r in runs if not r.error]
    if not done:
        return Summary(None, None, None, f"FAILED: {runs[0].error}", False)

    def median(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    worst = next((r for r in done if not r.ok), done[-1])
    failed = len(runs) - len(done)
    check = worst.check + (f" ({failed} of {len(runs)} rounds failed)" if failed else "")
    return Summary(
        median([r.engine_s for r in done]),
        median([r.process_s for r in done]),
        median([r.rss_mb for r in done]),
        check,
        worst.ok and not failed,
    )


def seconds(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def ratio(peer: float | None, ours: float | None) -> str:
    return f"{peer / ours:.2f}x" if peer is not None and ours else "-"


def print_table(dialect: str, tools: list[str], cases: list[Case], results: dict) -> None:
    print(
        f"\n{'tool':<8} {'case':<36} {'engine s':>9} {'process s':>9} {'peak RSS':>9} {'rows/s':>10} "
        f"{'eng/ours':>8} {'proc/ours':>9}  check ({dialect} -> postgres)"
    )
    for case in cases:
        ours = summarize(results[("ours", case.key)])
        for tool in tools:
            s = summarize(results[(tool, case.key)])
            timed = s.engine_s if s.engine_s is not None else s.process_s
            rate = f"{case.rows / timed:,.0f}" if case.rows and timed else "-"
            rss = f"{s.rss_mb:.0f} MB" if s.rss_mb is not None else "-"
            mine = tool == "ours"
            print(
                f"{tool:<8} {case.label:<36} {seconds(s.engine_s):>9} {seconds(s.process_s):>9} {rss:>9} "
                f"{rate:>10} {'' if mine else ratio(s.engine_s, ours.engine_s):>8} "
                f"{'' if mine else ratio(s.process_s, ours.process_s):>9}  {s.check}",
                flush=True,
            )
    print("rows/s: over the engine seconds where measured, else over the whole process")
    overhead = [
        s.process_s - s.engine_s
        for case in cases
        if (s := summarize(results[("ours", case.key)])).engine_s is not None and s.process_s is not None
    ]
    if overhead:
        print(
            f"ours: whole-process minus engine seconds {statistics.median(overhead):.2f} s (median): the "
            "interpreter, Airflow's and the providers' imports, the flow file; a worker pays them once"
        )


def print_types(dialect: str, tools: list[str], types: dict[str, dict[str, str]]) -> None:
    if not types:
        return
    print(f"target column types ({dialect} -> postgres):")
    reference_tool = "ours" if "ours" in types else next(iter(types))
    reference = types[reference_tool]
    print(f"  {reference_tool}: " + ", ".join(f"{c} {t}" for c, t in reference.items()))
    for tool in tools:
        if tool == reference_tool or tool not in types:
            continue
        chosen = types[tool]
        other = [f"{c} {t}" for c, t in chosen.items() if c in reference and reference[c] != t]
        added = [c for c in chosen if c not in reference]
        print(
            f"  {tool}: "
            + (", ".join(other) if other else f"the same as {reference_tool}")
            + (f"; adds {', '.join(added)}" if added else "")
        )


def verdicts(dialect: str, tools: list[str], results: dict, args) -> list[str]:
    """The targets: speed against every peer in (a) and (b), (c) time, memory."""
    found = []
    for key, label in (("a", f"(a) {args.rows:,} rows"), ("b", "(b) merge")):
        ours = summarize(results[("ours", key)])
        # The target: our engine time against each peer's engine time, or its whole-process time
        # where a CLI peer reports nothing finer. Beside it, whole process against whole process:
        # ours then includes the interpreter and Airflow's imports, which a running worker has
        # already paid (see the per-run overhead benchmark).
        target, whole = [], []
        for tool in tools[1:]:
            peer = summarize(results[(tool, key)])
            theirs = peer.engine_s if peer.engine_s is not None else peer.process_s
            if ours.engine_s is not None and theirs:
                metric = "engine" if peer.engine_s is not None else "whole-process"
                target.append(
                    (
                        ours.engine_s / theirs,
                        f"{ours.engine_s / theirs:.2f}x {tool} (our engine {ours.engine_s:.2f} s vs its "
                        f"{metric} {theirs:.2f} s)",
                    )
                )
            if ours.process_s is not None and peer.process_s:
                whole.append(
                    (
                        ours.process_s / peer.process_s,
                        f"{ours.process_s / peer.process_s:.2f}x {tool} "
                        f"({ours.process_s:.2f} s vs {peer.process_s:.2f} s)",
                    )
                )
        if not target:
            found.append(f"{dialect} {label}: ours <= 0.8x the fastest peer: no peer to compare with")
            continue
        worst = max(target)[0]
        found.append(
            f"{dialect} {label}: our engine <= 0.8x the fastest peer's reported time: "
            f"{'met' if worst <= 0.8 else 'MISSED'} "
            f"({'; '.join(text for _, text in sorted(target, reverse=True))})"
        )
        if whole:
            found.append(
                f"{dialect} {label}: as whole processes (not a target): "
                + "; ".join(text for _, text in sorted(whole, reverse=True))
            )
    quiet = summarize(results[("ours", "c")]).engine_s
    if quiet is not None:
        found.append(
            f"{dialect} (c) nothing new, engine <= 0.5 s: {'met' if quiet <= 0.5 else 'MISSED'} ({quiet:.2f} s)"
        )
    rss = [summarize(results[("ours", k)]).rss_mb for k in ("a", "b", "c")]
    rss_1m = summarize(results[("ours", "a")]).rss_mb
    big = summarize(results[("ours", "big")]).rss_mb if args.big_rows else None
    peak = max([r for r in [*rss, big] if r is not None], default=None)
    if peak is not None and rss_1m:
        flat = f", {args.big_rows:,} rows {big / rss_1m:.2f}x the {args.rows:,}-row RSS" if big else ""
        met = peak < 300 and (big is None or big <= 1.1 * rss_1m)
        found.append(
            f"{dialect}: peak RSS < 300 MB{f' and within 10% from {args.rows:,} to {args.big_rows:,} rows' if big else ''}: "
            f"{'met' if met else 'MISSED'} (peak {peak:.0f} MB; (a) {rss_1m:.0f} MB{flat})"
        )
    return found


def bench_all(args, logs: Path) -> list[str]:
    """Prepare the peers, then run every source; returns the verdicts."""
    peers = {name: prepare_peer(name, args.reinstall, peer_env(logs)) for name in args.peers}
    for peer in peers.values():
        if peer.problem:
            print(f"{peer.name}: NOT RUN: {peer.problem}", flush=True)
        else:
            print(f"{peer.name}: {peer.versions}" + (f"; {peer.note}" if peer.note else ""), flush=True)
    if "dlt" in peers and peers["dlt"].command:
        print(f"dlt: backend {args.dlt_backend}, loader file format {args.dlt_format or 'dlt default'}")
    env = ex.child_env(str(logs))
    found = []
    for dialect in args.sources.split(","):
        try:
            found += bench_source(dialect, args, peers, env, logs)
        except Exception as exc:  # e.g. a server that is not up: say so, go on with the next source
            print(f"{dialect} -> postgres: NOT RUN: {type(exc).__name__}: {last_line(str(exc))}")
            found.append(f"{dialect}: not measured ({type(exc).__name__})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=3_000_000, help="0 skips the big-table case")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the interleaved runs (median)")
    parser.add_argument("--peers", default="dlt,ingestr,sling")
    parser.add_argument("--sources", default="postgres,mysql")
    parser.add_argument("--reinstall", action="store_true", help="rebuild the peers' virtualenvs")
    parser.add_argument(
        "--keep-venvs", action="store_true", help="reuse the peers' virtualenvs (the default)"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep every run's output (a temporary folder)"
    )
    parser.add_argument("--dlt-backend", default="connectorx", help="sql_table backend of dlt")
    parser.add_argument(
        "--dlt-format",
        default="csv",
        help="dlt's loader_file_format; csv loads with COPY ('' for dlt's default)",
    )
    args = parser.parse_args()
    args.peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in args.peers if p not in PEER_PACKAGES]
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEER_PACKAGES)}")
    load_start = os.getloadavg()
    print(
        f"peer benchmark: {args.rows:,} rows (then {args.big_rows:,}) of 11 mixed-type columns, "
        f"{args.rounds} round(s); nproc {len(os.sched_getaffinity(0))}, "
        f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}",
        flush=True,
    )
    logs = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    try:
        found = bench_all(args, logs)
    finally:
        if args.keep_logs:
            print(f"\nthe tools' output and the dlt pipelines: {logs}")
        else:
            shutil.rmtree(logs, ignore_errors=True)
    load_end = os.getloadavg()
    print("\nTargets:")
    for verdict in found:
        print(f"  {verdict}")
    print(
        f"  (load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f} "
        f"{load_end[1]:.2f} {load_end[2]:.2f}; nproc {len(os.sched_getaffinity(0))})"
    )


if __name__ == "__main__":
    main()
