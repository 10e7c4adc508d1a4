"""The secrets backend inside a task: one question to the API server per lookup, not two."""

from __future__ import annotations

import textwrap

import pytest
from airflow.sdk.exceptions import ErrorType
from airflow.sdk.execution_time import supervisor, task_runner
from airflow.sdk.execution_time.comms import ConnectionResult, ErrorResponse, GetConnection
from airflow.sdk.execution_time.context import _get_connection
from airflow.sdk.execution_time.secrets.execution_api import ExecutionAPISecretsBackend

from credentials_secrets_backend import CredentialsFileSecretsBackend


class FakeSupervisor:
    """The task's channel to the supervisor: answers GetConnection as the API server would."""

    def __init__(self, known: dict[str, dict]):
        self.known = known
        self.asked: list[str] = []

    def send(self, msg):
        assert isinstance(msg, GetConnection), msg
        self.asked.append(msg.conn_id)
        if msg.conn_id in self.known:
            fields = {
                "host": None,
                "login": None,
                "password": None,
                "schema": None,
                "port": None,
                "extra": None,
            }
            return ConnectionResult(conn_id=msg.conn_id, **{**fields, **self.known[msg.conn_id]})
        return ErrorResponse(error=ErrorType.CONNECTION_NOT_FOUND, detail={"conn_id": msg.conn_id})


@pytest.fixture
def in_task(monkeypatch, tmp_path):
    """A task process whose secrets backends are this project's, then Airflow's worker defaults."""
    from airflow.sdk.definitions.connection import Connection
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend

    (tmp_path / "obe_mysql_creds.py").write_text(
        textwrap.dedent(
            """
            instance_ip = '10.0.0.5'
            database_name = 'obe_v8'
            user = 'bi'
            password = 'from-the-file'
            """
        )
    )
    monkeypatch.delenv("AIRFLOW_CONN_OBE_MYSQL", raising=False)
    backends = [
        CredentialsFileSecretsBackend(str(tmp_path)),
        EnvironmentVariablesBackend(),
        ExecutionAPISecretsBackend(),
    ]
    for backend in backends:
        backend._set_connection_class(Connection)
    monkeypatch.setattr(supervisor, "ensure_secrets_backend_loaded", lambda: backends)

    def with_api_server(known: dict[str, dict]) -> FakeSupervisor:
        comms = FakeSupervisor(known)
        monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
        return comms

    return with_api_server


def test_a_connection_the_api_server_knows_is_one_question(in_task):
    comms = in_task({"obe_mysql": {"conn_type": "mysql", "host": "ui-host", "login": "ui"}})

    conn = _get_connection("obe_mysql")

    assert (conn.host, conn.login) == ("ui-host", "ui")
    assert comms.asked == ["obe_mysql"]


def test_a_connection_only_the_file_has_is_one_question_then_the_file(in_task):
    comms = in_task({})

    conn = _get_connection("obe_mysql")

    assert (conn.host, conn.login, conn.schema) == ("10.0.0.5", "bi", "obe_v8")
    assert comms.asked == ["obe_mysql"]


def test_an_environment_variable_still_wins_without_asking(in_task, monkeypatch):
    comms = in_task({"obe_mysql": {"conn_type": "mysql", "host": "ui-host"}})
    monkeypatch.setenv("AIRFLOW_CONN_OBE_MYSQL", '{"conn_type": "mysql", "host": "env-host"}')

    assert _get_connection("obe_mysql").host == "env-host"
    assert comms.asked == []
