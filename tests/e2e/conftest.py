"""One Airflow for the end-to-end tests: its real processes (api-server, scheduler, dag-processor,
triggerer) on free ports, against throw-away copies of the demo's sources.

The sources are the demo's (``devtools.seeding``): sample OBE/Info Portal/warehouse
databases with unique names, the sample report e-mails in a Dovecot mailbox, the Vonigo fake with
recent fixtures, and the five credentials files in the runbook's formats in a temporary folder,
served by the credentials secrets backend exactly as in production. Everything is stopped and
dropped after the last test of this folder, even when a test fails.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.airflow_api import AirflowClient, run_every_dag
from devtools.processes import Service, airflow_environment, descendants, free_port, measure_memory
from devtools.seeding import (
    DemoDatabase,
    DemoDatabases,
    ImapAccount,
    VonigoAccount,
    credentials_values,
    load_mailbox,
    sample_report_emails,
    seed_databases,
    vonigo_fixtures,
    vonigo_login,
    write_credentials,
)
from devtools.vonigo_fake import VonigoFake
from tests.support.databases import mysql_database, postgres_database
from tests.support.dovecot import dovecot  # noqa: F401 - the session-wide Dovecot fixture

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "e2e"
DAG_IDS = sorted(p.stem for p in (REPO / "dags").glob("*.py"))
START_TIMEOUT = 180
RUN_TIMEOUT = 300


@dataclass
class E2EStack:
    client: AirflowClient
    base_url: str
    databases: DemoDatabases
    home: Path
    # The credentials folder the components read, and what was written there: a test may swap a
    # file for the length of a run and must put it back.
    credentials: Path
    credentials_values: dict[str, dict]
    services: list[Service]
    started_at: float
    ready_after: float


def _as_demo(db, password: str = "") -> DemoDatabase:
    return DemoDatabase(db.kind, db.host, db.port, db.user, password, db.name)


# Package scope: Airflow stops when the last e2e test is done, not at the end of `make test`, so
# it does not compete for the CPU with the tests that follow.
@pytest.fixture(scope="package")
def e2e_stack(dovecot, tmp_path_factory) -> Iterator[E2EStack]:  # noqa: F811 - the imported fixture
    import time

    started = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    base = tmp_path_factory.mktemp("e2e")
    # A short AIRFLOW_HOME outside pytest's deep tmp tree: the dag-processor and the executor use
    # unix sockets under it on some platforms.
    home = Path(tempfile.mkdtemp(prefix="bi-e2e-airflow-"))
    credentials = base / "credentials"
    services: list[Service] = []
    with (
        postgres_database("bi_e2e") as portal,
        postgres_database("bi_e2e") as warehouse,
        mysql_database("bi_e2e") as obe,
        # Airflow's metadata database on PostgreSQL, as in the compose stack. With SQLite (`make
        # run`), which takes one writer at a time, one run in five got HTTP 500 "Database error"
        # from clearTaskInstances while the scheduler was busy: not something a test should risk.
        postgres_database("bi_e2e_airflow") as metadata,
        VonigoFake(vonigo_fixtures(now)) as fake,
    ):
        databases = DemoDatabases(obe=_as_demo(obe), portal=_as_demo(portal), warehouse=_as_demo(warehouse))
        seed_databases(databases, now, recreate=False)
        login, password = dovecot.new_user("bi_e2e")
        load_mailbox(
            lambda folder, message, received: dovecot.append(login, folder, message, received=received),
            sample_report_emails(now),
        )
        user, vonigo_password = vonigo_login()
        values = credentials_values(
            databases,
            ImapAccount(
                dovecot.host, dovecot.imaps_port, login, password, ssl=True, verify_certificate=False
            ),
            VonigoAccount(f"{fake.host}:{fake.port}", user, vonigo_password),
        )
        write_credentials(credentials, values)

        port = free_port()
        admin_password = secrets.token_urlsafe(12)
        passwords = home / "passwords.json"
        passwords.write_text(json.dumps({"admin": admin_password}))
        env = airflow_environment(
            home,
            credentials,
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=_as_demo(metadata).sqlalchemy_url(),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
            AIRFLOW__API__PORT=str(port),
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
            # Every component must share these two, or task tokens and UI sessions fail.
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
            AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
            # Another Airflow on this machine (make run, make demo) holds the default 8793.
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        )
        migrate = subprocess.run(
            ["airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert migrate.returncode == 0, (
            f"airflow db migrate failed:\n{migrate.stdout[-2000:]}{migrate.stderr[-2000:]}"
        )
        commands = {
            "api-server": ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
            "scheduler": ["airflow", "scheduler"],
            "dag-processor": ["airflow", "dag-processor"],
            # Not needed by these DAGs (nothing defers), but `make run` starts it and the UI's
            # health panel shows it: the same four components as a real deployment.
            "triggerer": ["airflow", "triggerer"],
        }
        try:
            for name, command in commands.items():
                services.append(Service(name, command, home / "logs" / f"{name}.out").start(env))
            client = AirflowClient(f"http://127.0.0.1:{port}", "admin", admin_password)
            try:
                client.wait_until_healthy(
                    START_TIMEOUT, ("metadatabase", "scheduler", "dag_processor", "triggerer")
                )
                client.login()
                client.wait_for_dags(DAG_IDS, START_TIMEOUT)
            except Exception:
                for service in services:
                    print(f"--- {service.name}\n{service.log_tail()}")
                raise
            yield E2EStack(
                client=client,
                base_url=client.base_url,
                databases=databases,
                home=home,
                credentials=credentials,
                credentials_values=values,
                services=services,
                started_at=started,
                ready_after=time.monotonic() - started,
            )
        finally:
            trees = [pid for service in services for pid in descendants(service.pid)]
            for service in services:
                service.stop(grace=20)
            leftovers = [pid for pid in trees if descendants(pid)]
            # The components' own logs outlive the run, for whoever has to read a failure.
            kept = ARTIFACTS / "airflow-logs"
            shutil.rmtree(kept, ignore_errors=True)
            kept.mkdir(parents=True, exist_ok=True)
            for service in services:
                if service.log_path.exists():
                    shutil.copy(service.log_path, kept / service.log_path.name)
            shutil.rmtree(home, ignore_errors=True)
            shutil.rmtree(credentials, ignore_errors=True)
            assert not leftovers, f"processes still running after the stop: {leftovers}"


@dataclass
class FirstRound:
    runs: list[dict]
    seconds: float
    memory: object


@pytest.fixture(scope="package")
def first_round(e2e_stack) -> FirstRound:
    """Every DAG triggered once as the UI does (extracts first, then the freshness monitor)."""
    import time

    t0 = time.monotonic()
    runs = run_every_dag(e2e_stack.client, DAG_IDS, RUN_TIMEOUT)
    seconds = time.monotonic() - t0
    memory = measure_memory([s.pid for s in e2e_stack.services])
    return FirstRound(runs=runs, seconds=seconds, memory=memory)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
