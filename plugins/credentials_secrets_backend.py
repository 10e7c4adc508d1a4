"""Secrets backend that turns the team's credentials files into Airflow connections.

Enable it with::

    [secrets]
    backend = credentials_secrets_backend.CredentialsFileSecretsBackend
    backend_kwargs = {"credentials_dir": "/opt/airflow/credentials"}

Airflow asks a configured backend *before* environment variables and the metadata database.
To keep the usual Airflow precedence, this backend steps aside whenever the connection id is
also defined as an ``AIRFLOW_CONN_<ID>`` variable or in the metadata database (the UI): those
win, the credentials file is the fallback. In a task, the API server answers that question, and
its answer (the connection itself) is used as it is: one round trip per lookup.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from airflow.secrets import BaseSecretsBackend

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.credentials import CREDENTIAL_FILES, ConnectionFields, credentials_dir, load_connection

log = logging.getLogger(__name__)


def _in_task() -> bool:
    """Whether this process is a task's (its lookups go to the API server through the supervisor)."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return False
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def _in_environment(conn_id: str) -> bool:
    return bool(os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"))


def _from_execution_api(conn_id: str):
    """The API server's connection ``conn_id`` (what a task's lookup gets from Airflow), or None."""
    try:
        from airflow.sdk.execution_time.secrets.execution_api import ExecutionAPISecretsBackend

        return ExecutionAPISecretsBackend().get_connection(conn_id)
    except Exception:  # the API server cannot say: the file is all there is
        return None


def _defined_in_airflow(conn_id: str) -> bool:
    """True when Airflow's own stores (env var, metadata DB via the API or directly) have conn_id."""
    if _in_environment(conn_id):
        return True
    if _in_task():
        return _from_execution_api(conn_id) is not None
    try:
        from airflow.secrets.metastore import MetastoreBackend

        return MetastoreBackend().get_connection(conn_id) is not None
    except Exception:  # no metadata DB here (tests, a bare CLI): the file is all there is
        return False


class CredentialsFileSecretsBackend(BaseSecretsBackend):
    """Serves ``info_portal_postgres``, ``redshift_dw``, ``bi_imap``, ``obe_mysql`` and ``vonigo_api``."""

    def __init__(self, credentials_dir: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.credentials_dir = Path(credentials_dir) if credentials_dir else None

    def get_connection(self, conn_id: str, team_name: str | None = None):
        """``conn_id``'s connection: Airflow's own when it defines one, else the credentials file's.

        In a task, asking the API server whether Airflow defines ``conn_id`` returns the connection
        itself, resolved there with the same precedence (the metadata DB, then this backend where
        it is configured too). That answer is returned as it is: stepping aside would have the
        execution-API backend after this one ask the API server again, a second round trip per
        lookup.
        """
        if conn_id in CREDENTIAL_FILES and _in_task() and not _in_environment(conn_id):
            connection = _from_execution_api(conn_id)
            if connection is not None:
                return connection
            value = self._file_value(conn_id)
            return self.deserialize_connection(conn_id, value) if value else None
        return super().get_connection(conn_id, team_name=team_name)

    def _fields(self, conn_id: str) -> ConnectionFields | None:
        if conn_id not in CREDENTIAL_FILES or _defined_in_airflow(conn_id):
            return None
        return self._file_fields(conn_id)

    def _file_fields(self, conn_id: str) -> ConnectionFields | None:
        try:
            return load_connection(conn_id, self.credentials_dir or credentials_dir())
        except ConfigError as exc:
            # Airflow logs a backend's exception at debug level only and reports the connection
            # as undefined: say loudly what is wrong with the file (the message holds no secret).
            log.error("connection %r: invalid credentials file: %s", conn_id, exc)
            raise
        except Exception as exc:
            # Anything else reading the file is still a bad file, reported as one: by its name and
            # the kind of error, never the message (it might quote a value).
            error = ConfigError(
                f"{CREDENTIAL_FILES[conn_id].filename}: could not be read as a credentials file "
                f"({type(exc).__name__})"
            )
            log.error("connection %r: invalid credentials file: %s", conn_id, error)
            raise error from None

    def get_conn_value(self, conn_id: str, team_name: str | None = None) -> str | None:
        """The connection as Airflow's JSON form; the base class turns it into a Connection."""
        return _as_json(self._fields(conn_id))

    def _file_value(self, conn_id: str) -> str | None:
        return _as_json(self._file_fields(conn_id))

    def get_variable(self, key: str, team_name: str | None = None) -> str | None:
        """Always None: the credentials files hold connections only, no variables."""
        return None


def _as_json(fields: ConnectionFields | None) -> str | None:
    """Airflow's JSON form of a connection (``None`` for no connection)."""
    if fields is None:
        return None
    return json.dumps(
        {
            "conn_type": fields.conn_type,
            "host": fields.host,
            "port": fields.port,
            "login": fields.login,
            "password": fields.password,
            "schema": fields.schema,
            "extra": fields.extra,
        }
    )
