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
The sample databases are ``bi_demo_obe`` (MariaDB), ``bi_demo_portal`` and ``bi_demo_warehouse``
(PostgreSQL), dropped and recreated by every ``up``. Servers: ``DEMO_PG_HOST``/``_PORT``/``_USER``/
``_PASSWORD`` (default 127.0.0.1:5432, postgres) and ``DEMO_MYSQL_*`` (127.0.0.1:3306, root).
"""

from __future__ import annotations

import argparse
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
    DemoDatabase,
    DemoDatabases,
    ImapAccount,
    VonigoAccount,
    credentials_values,
    imap_appender,
    load_mailbox,
    sample_report_emails,
    seed_databases,
    vonigo_fixtures,
    vonigo_login,
    write_credentials_file,
)

STATE_DIR = Path(os.environ.get("DEMO_STATE_DIR", REPO / ".demo"))
DAG_IDS = sorted(p.stem for p in (REPO / "dags").glob("*.py") if not p.name.startswith("_"))
START_TIMEOUT = 240
RUN_TIMEOUT = 900


def log(message: str) -> None:
    print(f"[demo {dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def servers() -> tuple[DemoDatabase, DemoDatabase]:
    env = os.environ.get
    postgres = DemoDatabase(
        "postgres",
        env("DEMO_PG_HOST", "127.0.0.1"),
        int(env("DEMO_PG_PORT", "5432")),
        env("DEMO_PG_USER", "postgres"),
        env("DEMO_PG_PASSWORD", ""),
        "",
    )
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
    databases = DemoDatabases.on(postgres, mysql)
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
        # Tasks report to the api-server here; Airflow's default assumes port 8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{args.port}/execution/",
    }
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
            "imap_dir": source_info["dovecot_dir"],
        },
    )
    client = demo_client(state_dir, args.port, wait=True)
    try:
        client.wait_until_healthy(START_TIMEOUT, ("metadatabase", "scheduler", "dag_processor", "triggerer"))
        client.wait_for_dags(DAG_IDS, START_TIMEOUT)
    except Exception as exc:
        log(f"Airflow did not come up: {exc}\n{airflow.log_tail()}")
        return 1
    ready_after = time.monotonic() - started
    log(f"Airflow is ready after {ready_after:.0f}s: {len(DAG_IDS)} DAGs, no import errors")
    print(banner(args.port, client.password, home))
    if args.run_all:
        return run_all(client, state_dir, started)
    return 0


def demo_client(state_dir: Path, port: int, wait: bool = False) -> AirflowClient:
    passwords = state_dir / "airflow" / "passwords.json"
    deadline = time.monotonic() + (START_TIMEOUT if wait else 0)
    while not passwords.exists() or not passwords.read_text().strip():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {passwords}: is the demo running? (`make demo`)")
        time.sleep(0.5)
    return AirflowClient(f"http://127.0.0.1:{port}", "admin", json.loads(passwords.read_text())["admin"])


def banner(port: int, password: str, home: Path) -> str:
    return f"""
================================================================================
 The demo is running: http://localhost:{port}   log in as  admin / {password}

 1. DAGs: six DAGs, all paused, no import errors.
 2. Trigger the five extract_* DAGs: open each, press Trigger, keep "Unpause on
    trigger" ticked, Trigger. Each takes well under a minute; the grid turns green.
    (Unpausing also starts the latest scheduled interval: expect a scheduled__ run too.)
 3. Then trigger monitor_source_freshness: it measures what the extracts loaded.
 4. Open a task, e.g. extract_obe_mysql > extract_bookings > Logs: rows read/written.
 5. The results: psql -h 127.0.0.1 -U postgres bi_demo_warehouse
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
        for database in DemoDatabases.on(postgres, mysql).all():
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
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass


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
    databases = DemoDatabases.on(postgres, mysql)
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
    up.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8080")))
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
