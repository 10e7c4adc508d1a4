"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from tests.support.databases import Database, mysql_database, postgres_database

# Each test session gets its own Airflow home (metadata DB, logs), never the developer's.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="bi-airflow-test-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# Tests never read real credentials: point the credentials folder at an empty place.
os.environ["CREDENTIALS_DIR"] = "/nonexistent-credentials-for-tests"


def pytest_configure(config):
    # Importing Airflow configures its logging once, now, while stdout is pytest's session-wide
    # capture; configured later inside a test using capsys, its handler would keep that test's
    # closed stream. It must come after AIRFLOW_HOME is set above.
    import airflow  # noqa: F401


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """An initialised Airflow metadata DB (SQLite in the session's Airflow home), for ``dag.test()``."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (
        f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture
def pg_db() -> Database:
    """A fresh PostgreSQL database, dropped after the test."""
    with postgres_database() as db:
        yield db


@pytest.fixture
def pg_db2() -> Database:
    """A second fresh PostgreSQL database (a source beside a target)."""
    with postgres_database() as db:
        yield db


@pytest.fixture
def mysql_db() -> Database:
    """A fresh MariaDB database, dropped after the test."""
    with mysql_database() as db:
        yield db


@pytest.fixture
def airflow_conn(monkeypatch):
    """Register an Airflow connection for the test as an ``AIRFLOW_CONN_<ID>`` variable.

    Usage: ``airflow_conn("obe_mysql", mysql_db)`` or ``airflow_conn("x", json_string)``.
    """

    def register(conn_id: str, target: Database | str, conn_type: str | None = None, **extra) -> None:
        value = target if isinstance(target, str) else target.airflow_conn_json(conn_type, **extra)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)

    return register


@pytest.fixture
def log_text(caplog, capsys):
    """Everything logged so far in the test: Airflow's structlog setup may print log records
    to stdout instead of handing them to caplog, so read both."""
    seen: list[str] = []

    def read() -> str:
        captured = capsys.readouterr()
        seen.append(captured.out + captured.err)
        return caplog.text + "".join(seen)

    return read
