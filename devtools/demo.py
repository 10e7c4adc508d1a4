#!/usr/bin/env python3
"""The local demo: sample sources, credentials files pointing at them, and Airflow.

    make demo                          # seed, start everything, print the URL and the login
    make demo DEMO_ARGS=--run-all      # ... then trigger every DAG as the UI does and wait
    make demo-stop                     # stop everything the demo started

Commands (``devtools/demo.py <command> --help``):
    up             seed the sample databases, start Dovecot + the Vonigo fake + Airflow
    down           stop them (``--drop-databases`` also drops the sample databases)
    status         what is running, where, and the login
    run-all        trigger every DAG through the REST API (as the Trigger button does) and wait
    serve-sources  (internal) the background process holding Dovecot and the Vonigo fake
    compose-sources  (docker compose ``demo`` profile) seed the sample services, then serve the fake

State lives in ``.demo/`` (git-ignored): credentials/, airflow/ (AIRFLOW_HOME), logs/, state.json.
The sample databases are ``bi_demo_<tag>_obe`` (MariaDB), ``bi_demo_<tag>_portal`` and
``bi_demo_<tag>_warehouse`` (PostgreSQL), ``<tag>`` being 8 hex characters derived from the
checkout's path (two checkouts never share them; ``DEMO_OBE_DB``/``DEMO_PORTAL_DB``/
``DEMO_WAREHOUSE_DB`` override the names); every ``up`` drops and recreates them. Servers:
``DEMO_PG_HOST``/``_PORT``/``_USER``/``_PASSWORD`` (default 127.0.0.1:5432, postgres) and
``DEMO_MYSQL_*`` (127.0.0.1:3306, root).

Airflow's metadata database: PostgreSQL (``airflow_meta_<tag>_demo`` on the same server, recreated
by every ``up``) when that server answers, else SQLite in .demo/airflow/; ``BI_METADATA_DB=sqlite``
or ``postgres`` (``make demo METADATA_DB=...``) chooses. ``up`` waits for Airflow up to
``DEMO_START_TIMEOUT`` seconds (default 900, or ``--start-timeout``) and stops everything it
started when Airflow does not come up.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # devtools.* (seeding, sample mail, the Vonigo fake)
    sys.path.insert(0, str(REPO))

from devtools.airflow_api import AirflowClient, run_every_dag  # noqa: E402
from devtools.processes import (  # noqa: E402
    Service,
    airflow_environment,
    measure_memory,
    stop_group,
)
from devtools.seeding import (  # noqa: E402
    DEMO_NAMES,
    DemoDatabase,
    DemoDatabases,
    ImapAccount,
    VonigoAccount,
    credentials_values,
    imap_appender,
    load_mailbox,
    local_demo_names,
    metadata_database_name,
    postgres_server,
    sample_report_emails,
    seed_databases,
    server_answers,
    vonigo_fixtures,
    vonigo_login,
    write_credentials_file,
)

STATE_DIR = Path(os.environ.get("DEMO_STATE_DIR", REPO / ".demo"))
DAG_IDS = sorted(p.stem for p in (REPO / "dags").glob("*.py") if not p.name.startswith("_"))
# A bound, not an estimate: Airflow is usually up in one to two minutes, but a busy 2-core machine
# has needed more than four.
START_TIMEOUT = 900
PROGRESS_EVERY = 15
COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")
RUN_TIMEOUT = 900


def log(message: str) -> None:
    print(f"[demo {dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def servers() -> tuple[DemoDatabase, DemoDatabase]:
    env = os.environ.get
    postgres = postgres_server()
    mysql = DemoDatabase(
        "mysql",
        env("DEMO_MYSQL_HOST", "127.0.0.1"),
        int(env("DEMO_MYSQL_PORT", "3306")),
        env("DEMO_MYSQL_USER", "root"),
        env("DEMO_MYSQL_PASSWORD", ""),
        "",
    )
    return postgres, mysql


def read_state(state_dir: Path) -> dict:
    path = state_dir / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- up -------------------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    state_dir: Path = args.state_dir
    if any(alive(read_state(state_dir).get(k)) for k in ("airflow_pid", "sources_pid")):
        log("a previous demo is still running: stopping it first")
        cmd_down(argparse.Namespace(state_dir=state_dir, drop_databases=False))
    if port_in_use(args.port):
        log(f"port {args.port} is in use (`make run`?): stop it, or `make demo DEMO_ARGS='--port 8090'`")
        return 1
    if os.geteuid() != 0:
        log("the demo's IMAP server (Dovecot) must start as root; run `make demo` as root, or use the")
        log("docker compose demo (README, 'The demo with docker compose')")
        return 1
    for sub in ("airflow", "credentials", "logs"):
        shutil.rmtree(state_dir / sub, ignore_errors=True)
    credentials = state_dir / "credentials"
    credentials.mkdir(parents=True)
    credentials.chmod(0o700)
    now = dt.datetime.now(dt.UTC)

    postgres, mysql = servers()
    databases = DemoDatabases.on(postgres, mysql, local_demo_names())
    log(
        f"seeding {databases.obe.name} (MariaDB {mysql.host}:{mysql.port}), {databases.portal.name} and "
        f"{databases.warehouse.name} (PostgreSQL {postgres.host}:{postgres.port})"
    )
    for name, counts in seed_databases(databases, now).items():
        log(f"  {name}: " + ", ".join(f"{table} {n}" for table, n in counts.items()))

    log("starting Dovecot (IMAP) and the Vonigo fake")
    sources = Service(
        "sources",
        [sys.executable, str(Path(__file__).resolve()), "--state-dir", str(state_dir), "serve-sources"],
        state_dir / "logs" / "sources.log",
    ).start(
        dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    )
    ready = state_dir / "sources.json"
    ready.unlink(missing_ok=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if not sources.running() or time.monotonic() > deadline:
            log(f"the sources did not start:\n{sources.log_tail()}")
            sources.stop()
            return 1
        time.sleep(0.2)
    source_info = json.loads(ready.read_text())
    imap = ImapAccount(**source_info["imap"])
    vonigo = VonigoAccount(**source_info["vonigo"])
    for conn_id, values in credentials_values(databases, imap, vonigo).items():
        write_credentials_file(credentials, conn_id, values)
    log(
        f"  {source_info['mails']} sample e-mails in {imap.login}@{imap.host}:{imap.port}; Vonigo fake on {vonigo.host}"
    )
    log(f"  credentials files in {credentials}")

    home = state_dir / "airflow"
    overrides = {
        "AIRFLOW__API__PORT": str(args.port),
        "AIRFLOW__API__HOST": args.host,
        # Tasks report to the api-server here; Airflow's default assumes port 8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{args.port}/execution/",
    }
    metadata = choose_metadata(postgres)
    if metadata is not None:
        metadata.recreate()  # a fresh start, like the SQLite file in the wiped AIRFLOW_HOME
        overrides["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata.sqlalchemy_url()
    if port_in_use(8793):  # the workers' log server: another local Airflow may hold the default
        from devtools.processes import free_port

        overrides["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
    env = airflow_environment(home, credentials, **overrides)
    log(f"starting Airflow the way `make run` does (scripts/run_airflow.sh), AIRFLOW_HOME={home}")
    airflow = Service(
        "airflow", ["bash", str(REPO / "scripts" / "run_airflow.sh")], state_dir / "logs" / "airflow.log"
    )
    airflow.start(env)
    write_json(
        state_dir / "state.json",
        {
            "started_at": now.isoformat(),
            "port": args.port,
            "airflow_pid": airflow.pid,
            "sources_pid": sources.pid,
            "airflow_home": str(home),
            "credentials_dir": str(credentials),
            "databases": {k: v.name for k, v in vars(databases).items()},
            "metadata_database": metadata.name if metadata else "sqlite",
            "imap_dir": source_info["dovecot_dir"],
        },
    )
    try:
        client = wait_for_airflow(airflow, state_dir, args.port, args.start_timeout)
    except Exception as exc:
        log(f"Airflow did not come up: {exc}")
        print(component_tails(airflow.log_path), flush=True)
        log("stopping everything the demo started (Airflow, Dovecot, the Vonigo fake)")
        cmd_down(argparse.Namespace(state_dir=state_dir, drop_databases=False))
        log(f"logs kept in {state_dir / 'logs'}; a longer wait: DEMO_START_TIMEOUT=1800 make demo")
        return 1
    ready_after = time.monotonic() - started
    log(f"Airflow is ready after {ready_after:.0f}s: {len(DAG_IDS)} DAGs, no import errors")
    print(banner(args.port, client.password, home, databases, metadata))
    if args.run_all:
        return run_all(client, state_dir, started)
    return 0


def choose_metadata(postgres: DemoDatabase) -> DemoDatabase | None:
    """Airflow's metadata database for the demo: PostgreSQL (returned) or SQLite (None).

    ``BI_METADATA_DB`` decides when set; otherwise PostgreSQL when it answers on its port, because
    SQLite takes one writer at a time and the LocalExecutor's tasks then queue behind each other.
    """
    from dataclasses import replace

    choice = os.environ.get("BI_METADATA_DB", "")
    database = replace(postgres, name=metadata_database_name("demo"))
    if choice == "sqlite":
        log("Airflow's metadata database: SQLite (BI_METADATA_DB=sqlite)")
        return None
    if choice not in ("", "postgres"):
        raise SystemExit(f"BI_METADATA_DB (METADATA_DB=) must be sqlite or postgres, not {choice!r}")
    if server_answers(postgres):
        log(f"Airflow's metadata database: PostgreSQL {postgres.host}:{postgres.port}/{database.name}")
        return database
    if choice == "postgres":
        raise SystemExit(
            f"BI_METADATA_DB=postgres, but PostgreSQL does not answer on {postgres.host}:{postgres.port}"
        )
    log(
        f"note: PostgreSQL does not answer on {postgres.host}:{postgres.port}; Airflow's metadata goes "
        "to SQLite (tasks run one at a time)"
    )
    return None


def wait_for_airflow(airflow: Service, state_dir: Path, port: int, timeout: float) -> AirflowClient:
    """Wait until the api-server reports every component healthy and every DAG is parsed, saying
    every ``PROGRESS_EVERY`` seconds how far Airflow has got; raise when ``timeout`` passes or
    Airflow exits."""
    started = time.monotonic()
    deadline = started + timeout
    passwords = state_dir / "airflow" / "passwords.json"
    client: AirflowClient | None = None
    next_report = started + PROGRESS_EVERY
    while True:
        if not airflow.running():
            raise RuntimeError(f"scripts/run_airflow.sh exited with status {airflow.process.returncode}")
        if client is None and passwords.exists() and passwords.read_text().strip():
            client = AirflowClient(
                f"http://127.0.0.1:{port}", "admin", json.loads(passwords.read_text())["admin"]
            )
        health = client.health() if client else None
        healthy = [c for c in COMPONENTS if ((health or {}).get(c) or {}).get("status") == "healthy"]
        if health is None:
            progress = "api-server not answering yet (migrating the database, starting the components)"
        else:
            waiting = [c for c in COMPONENTS if c not in healthy]
            progress = f"healthy: {', '.join(healthy) or 'none yet'}" + (
                f"; not yet: {', '.join(waiting)}" if waiting else ""
            )
        if client and len(healthy) == len(COMPONENTS):
            try:
                parsed = set(client.dags())
                errors = client.import_errors()
            except Exception as exc:  # the api-server is up but busy: ask again
                parsed, errors = set(), []
                progress += f"; DAGs: {type(exc).__name__}"
            else:
                if errors:
                    text = "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}" for e in errors)
                    raise RuntimeError(f"DAG import errors: {text}")
                if set(DAG_IDS) <= parsed:
                    return client
                progress += f"; DAGs parsed: {len(set(DAG_IDS) & parsed)}/{len(DAG_IDS)}"
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"not ready after {timeout:.0f}s ({progress})")
        if now >= next_report:
            log(f"  waiting for Airflow, {now - started:.0f}s: {progress}")
            next_report = now + PROGRESS_EVERY
        time.sleep(1)


def component_tails(log_path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of each component in ``airflow standalone``'s combined log (it
    prefixes every line with ``<component> |``), and of the lines of no component."""
    if not log_path.exists():
        return f"(no log at {log_path})"
    by_component: dict[str, list[str]] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        name, sep, _rest = line.partition(" | ")
        key = name.strip() if sep and name.strip() and " " not in name.strip() else "run_airflow.sh"
        by_component.setdefault(key, []).append(line)
    parts = []
    for name in ("scheduler", "dag-processor", "api-server", "triggerer", "standalone", "run_airflow.sh"):
        if name in by_component:
            parts.append(f"--- {name} (last {lines} lines of {log_path})")
            parts.extend(by_component[name][-lines:])
    return "\n".join(parts)


def demo_client(state_dir: Path, port: int) -> AirflowClient:
    passwords = state_dir / "airflow" / "passwords.json"
    if not passwords.exists() or not passwords.read_text().strip():
        raise SystemExit(f"no {passwords}: is the demo running? (`make demo`)")
    return AirflowClient(f"http://127.0.0.1:{port}", "admin", json.loads(passwords.read_text())["admin"])


def banner(
    port: int, password: str, home: Path, databases: DemoDatabases, metadata: DemoDatabase | None
) -> str:
    pg = databases.warehouse
    where = f"PostgreSQL {metadata.name}" if metadata else f"SQLite {home / 'airflow.db'}"
    return f"""
================================================================================
 The demo is running: http://localhost:{port}   log in as  admin / {password}
 Sample databases: {databases.obe.name} (MariaDB), {databases.portal.name} and
 {databases.warehouse.name} (PostgreSQL). Airflow's metadata: {where}.

 1. DAGs: six DAGs, all paused, no import errors.
 2. Trigger the five extract_* DAGs: open each, press Trigger, keep "Unpause on
    trigger" ticked, Trigger. Each takes well under a minute; the grid turns green.
    (Unpausing also starts the latest scheduled interval: expect a scheduled__ run too.)
 3. Then trigger monitor_source_freshness: it measures what the extracts loaded.
 4. Open a task, e.g. extract_obe_mysql > extract_bookings > Logs: rows read/written.
 5. The results: psql -h {pg.host} -p {pg.port} -U {pg.user} {pg.name}
      SELECT table_key, status, lag_seconds FROM monitoring.source_table_freshness_latest;

 Logs: .demo/logs/, task logs under {home}/logs.   Stop: make demo-stop
================================================================================
"""


def run_all(client: AirflowClient, state_dir: Path, started: float) -> int:
    """Trigger every DAG like the UI does, wait, and report states, timing and memory."""
    log(f"triggering every DAG as the UI does: {', '.join(DAG_IDS)}")
    t0 = time.monotonic()
    runs = run_every_dag(client, DAG_IDS, RUN_TIMEOUT)
    elapsed = time.monotonic() - t0
    failed = [r for r in runs if r["state"] != "success"]
    for run in runs:
        log(f"  {run['dag_id']:<30} {run['dag_run_id']:<58} {run['state']}")
    log(f"{len(runs)} runs, {len(failed)} not green; runs took {elapsed:.0f}s")
    if started:
        log(f"from `make demo` to all runs finished: {time.monotonic() - started:.0f}s")
    state = read_state(state_dir)
    memory = measure_memory([state["airflow_pid"]])
    log("resident memory of the Airflow processes (airflow standalone):")
    for line in memory.lines():
        print(line)
    return 1 if failed else 0


def cmd_run_all(args: argparse.Namespace) -> int:
    state = read_state(args.state_dir)
    if not alive(state.get("airflow_pid")):
        log("the demo is not running: `make demo` first")
        return 1
    return run_all(demo_client(args.state_dir, state["port"]), args.state_dir, 0)


# -- down / status ----------------------------------------------------------------------------------
def cmd_down(args: argparse.Namespace) -> int:
    state = read_state(args.state_dir)
    for key, name in (("airflow_pid", "Airflow"), ("sources_pid", "Dovecot and the Vonigo fake")):
        pid = state.get(key)
        if alive(pid):
            log(f"stopping {name} (process group {pid})")
            stop_group(pid, grace=20)
    if args.drop_databases:
        postgres, mysql = servers()
        for database in DemoDatabases.on(postgres, mysql, state.get("databases") or local_demo_names()).all():
            database.drop()
            log(f"dropped {database.name}")
    (args.state_dir / "sources.json").unlink(missing_ok=True)
    (args.state_dir / "imap").unlink(missing_ok=True)  # Dovecot removed its folder on the way out
    log("stopped" if state else "nothing to stop")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = read_state(args.state_dir)
    if not state:
        print("no demo state in", args.state_dir)
        return 1
    for key in ("airflow_pid", "sources_pid"):
        print(f"{key}: {state.get(key)} ({'running' if alive(state.get(key)) else 'stopped'})")
    print(f"UI: http://localhost:{state['port']}")
    if alive(state.get("airflow_pid")):
        client = demo_client(args.state_dir, state["port"])
        print(f"login: admin / {client.password}")
        for dag_id in DAG_IDS:
            runs = client.runs(dag_id)
            print(f"  {dag_id:<30} " + ", ".join(f"{r['run_type']}:{r['state']}" for r in runs))
        print("memory:\n" + "\n".join(measure_memory([state["airflow_pid"]]).lines()))
    return 0


# -- the sources process ----------------------------------------------------------------------------
def wait_for_sigterm() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()


def cmd_serve_sources(args: argparse.Namespace) -> int:
    """Hold Dovecot (the IMAP tests' server helper) and the Vonigo fake until SIGTERM."""
    import pytest

    from devtools.dovecot import dovecot_server
    from devtools.vonigo_fake import VonigoFake

    now = dt.datetime.now(dt.UTC)
    try:
        server_context = dovecot_server()
        server = server_context.__enter__()
    except pytest.skip.Exception as exc:  # the helper skips when it cannot run Dovecot
        log(f"cannot start Dovecot: {exc}")
        return 1
    fake = VonigoFake(vonigo_fixtures(now)).start()
    try:
        login, password = server.new_user("bi_demo")
        mails = sample_report_emails(now)
        load_mailbox(
            lambda folder, message, received: server.append(login, folder, message, received=received), mails
        )
        link = args.state_dir / "imap"
        link.unlink(missing_ok=True)
        link.symlink_to(server.base)  # Dovecot keeps its sockets under /tmp (a 108-byte path limit)
        user, vonigo_password = vonigo_login()
        write_json(
            args.state_dir / "sources.json",
            {
                "pid": os.getpid(),
                "mails": len(mails),
                "dovecot_dir": str(server.base),
                "imap": {
                    "host": server.host,
                    "port": server.imaps_port,
                    "login": login,
                    "password": password,
                    "ssl": True,
                    # Dovecot's certificate is self-signed for this demo.
                    "verify_certificate": False,
                },
                "vonigo": {
                    "host": f"{fake.host}:{fake.port}",
                    "username": user,
                    "password": vonigo_password,
                    "scheme": "http",
                },
            },
        )
        (args.state_dir / "sources.json").chmod(0o600)
        log(f"Dovecot on {server.host}:{server.imaps_port} (IMAPS), Vonigo fake on {fake.base_url}")
        wait_for_sigterm()
    finally:
        fake.stop()
        server_context.__exit__(None, None, None)
    return 0


# -- docker compose -----------------------------------------------------------------------------------
def retry(what: str, action, attempts: int = 60, delay: float = 2.0):
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts:
                raise
            log(f"{what} not ready ({type(exc).__name__}); retrying")
            time.sleep(delay)
    return None


def cmd_compose_sources(args: argparse.Namespace) -> int:
    """The compose ``demo-sources`` service: seed the sample services, write the credentials files,
    then serve the Vonigo fake in the foreground (the service is healthy once it answers)."""
    from devtools.vonigo_fake import VonigoFake

    now = dt.datetime.now(dt.UTC)
    postgres, mysql = servers()
    databases = DemoDatabases.on(postgres, mysql, DEMO_NAMES)
    counts = retry("the sample databases", lambda: seed_databases(databases, now))
    for name, tables in counts.items():
        log(f"{name}: " + ", ".join(f"{table} {n}" for table, n in tables.items()))
    imap = ImapAccount(
        host=os.environ.get("DEMO_IMAP_HOST", "demo-imap"),
        port=int(os.environ.get("DEMO_IMAP_PORT", "143")),
        login=os.environ.get("DEMO_IMAP_LOGIN", "bi-reports"),
        # The demo Dovecot accepts any password (it is reachable on the compose network only).
        password=os.environ.get("DEMO_IMAP_ANY_PASSWORD", "demo"),
        ssl=False,
    )
    mails = sample_report_emails(now)
    retry("the IMAP server", lambda: reset_mailbox(imap, {m.folder for m in mails}))
    load_mailbox(imap_appender(imap), mails)
    log(f"{len(mails)} sample e-mails in {imap.login}@{imap.host}:{imap.port}")
    user, password = vonigo_login()
    vonigo = VonigoAccount(host=args.vonigo_host, username=user, password=password)
    for conn_id, values in credentials_values(databases, imap, vonigo).items():
        # Group-readable: the Airflow containers run as AIRFLOW_UID with group 0.
        write_credentials_file(args.credentials_dir, conn_id, values).chmod(0o640)
    args.credentials_dir.chmod(0o750)
    log(f"credentials files in {args.credentials_dir}")
    fake = VonigoFake(vonigo_fixtures(now), host="0.0.0.0", port=args.vonigo_port).start()
    log(f"Vonigo fake on {fake.base_url}")
    try:
        wait_for_sigterm()
    finally:
        fake.stop()
    return 0


def reset_mailbox(account: ImapAccount, folders: set[str]) -> None:
    """Empty the demo folders, so a restarted demo holds each sample e-mail once."""
    from imapclient import IMAPClient

    client = IMAPClient(account.host, port=account.port, ssl=account.ssl, timeout=10)
    try:
        client.login(account.login, account.password)
        for folder in folders:
            if client.folder_exists(folder):
                client.select_folder(folder)
                messages = client.search("ALL")
                if messages:
                    client.delete_messages(messages)
                    client.expunge()
                client.close_folder()
    finally:
        client.logout()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="default: .demo/")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="seed and start the demo")
    up.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("DEMO_PORT") or os.environ.get("AIRFLOW__API__PORT") or 8080),
    )
    up.add_argument(
        "--host",
        default=os.environ.get("AIRFLOW__API__HOST", "127.0.0.1"),
        help="where the UI listens: 127.0.0.1 (default) or 0.0.0.0 (make demo HOST=0.0.0.0)",
    )
    up.add_argument(
        "--start-timeout",
        type=float,
        default=float(os.environ.get("DEMO_START_TIMEOUT", START_TIMEOUT)),
        help=f"seconds to wait for Airflow (DEMO_START_TIMEOUT, default {START_TIMEOUT})",
    )
    up.add_argument("--run-all", action="store_true", help="then trigger every DAG and wait for green")
    up.set_defaults(func=cmd_up)
    down = commands.add_parser("down", help="stop the demo")
    down.add_argument("--drop-databases", action="store_true")
    down.set_defaults(func=cmd_down)
    commands.add_parser("status", help="what is running").set_defaults(func=cmd_status)
    commands.add_parser("run-all", help="trigger every DAG and wait").set_defaults(func=cmd_run_all)
    commands.add_parser("serve-sources", help="(internal)").set_defaults(func=cmd_serve_sources)
    compose = commands.add_parser("compose-sources", help="the compose demo-sources service")
    compose.add_argument("--credentials-dir", type=Path, default=Path("/opt/airflow/demo-credentials"))
    compose.add_argument(
        "--vonigo-host", default="demo-sources:8765", help="as the Airflow containers reach it"
    )
    compose.add_argument("--vonigo-port", type=int, default=8765)
    compose.set_defaults(func=cmd_compose_sources)
    args = parser.parse_args(argv)
    args.state_dir = args.state_dir.resolve()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
