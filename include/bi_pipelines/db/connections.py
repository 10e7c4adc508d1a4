"""Opening DB-API connections through Airflow's provider hooks, by connection id.

No connection string is ever built here: the hooks read the Airflow connection (from the
credentials files, an ``AIRFLOW_CONN_*`` variable or the UI).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bi_pipelines.core.errors import (
    AuthenticationError,
    ConfigError,
    ConnectionNotDefined,
    ExtractionError,
    PermanentError,
)
from bi_pipelines.core.retry import describe, retrying

log = logging.getLogger(__name__)

# Connection extras this project reads itself (Warehouse.connect). The provider hooks pass unknown
# extras to the driver as connect options, which the drivers reject, so they are filtered out.
PROJECT_EXTRA_KEYS = frozenset(
    {
        "warehouse_dialect",
        "s3_staging_bucket",
        "s3_staging_prefix",
        "iam_role_arn",
        "region",
        # Session limits in seconds, set by the source readers and the warehouse after connecting.
        "statement_timeout",
        "lock_timeout",
    }
)
SUPPORTED_TYPES = frozenset({"postgres", "postgresql", "redshift", "mysql"})
CONNECT_ATTEMPTS = 3
# Seconds to wait for a server to accept a connection; a connection's extra `connect_timeout`
# overrides it. Without it a dead host holds a task (or a freshness sweep) for minutes.
DEFAULT_CONNECT_TIMEOUT = 15
CONNECT_BACKOFF_SECONDS = 2.0


def get_connection(conn_id: str):
    """``BaseHook.get_connection`` with an error that says how to fix a missing connection.

    Airflow reports a connection whose credentials file is invalid as "not defined" (it swallows
    the secrets backend's error): re-read the file here to show what is wrong with it.

    Raises:
        ConfigError: the credentials file for ``conn_id`` exists but is invalid.
        ConnectionNotDefined: the connection is defined nowhere.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        from bi_pipelines.credentials import CREDENTIAL_FILES, credentials_dir, load_connection

        spec = CREDENTIAL_FILES.get(conn_id)
        if spec is not None:
            load_connection(conn_id)  # raises ConfigError naming the file and the key
            hint = (
                f"add {credentials_dir() / spec.filename} (template in credentials_templates/{spec.filename}), "
                f"or define it in Airflow"
            )
        else:
            hint = "define it in Airflow"
        raise ConnectionNotDefined(
            f"connection {conn_id!r} is not defined: {hint} (Admin -> Connections, or an "
            f"AIRFLOW_CONN_{conn_id.upper()} environment variable)"
        ) from None


# SQLSTATE class 28, invalid authorization: 28P01 wrong password, 28000 unknown role or no
# pg_hba.conf entry (PostgreSQL and Redshift alike).
AUTH_SQLSTATES = frozenset({"28000", "28P01"})
# MySQL/MariaDB: ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR (a socket-auth user).
MYSQL_AUTH_ERRNOS = frozenset({1045, 1698})
# libpq reports a refused login before a session exists, so psycopg's errors carry no SQLSTATE:
# only libpq's text says what happened.
_LIBPQ_AUTH_TEXT = re.compile(
    r"password authentication failed|role \"[^\"]*\" does not exist|no pg_hba\.conf entry"
    r"|pg_hba\.conf rejects connection"
)


def is_authentication_failure(exc: BaseException) -> bool:
    """Whether a driver's connect error says the server refused the login or the role.

    Knows psycopg 2 and 3 (``pgcode``/``sqlstate``, else libpq's text), mysqlclient and
    mysql-connector (error 1045/1698) and redshift_connector (the server's error fields, a dict).
    """
    for code in (getattr(exc, "pgcode", None), getattr(exc, "sqlstate", None)):
        if code in AUTH_SQLSTATES:
            return True
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], dict):  # redshift_connector: {'C': '28000', 'M': ...}
        return args[0].get("C") in AUTH_SQLSTATES
    errno = getattr(exc, "errno", None)  # mysql-connector; mysqlclient has it as args[0]
    if not isinstance(errno, int):
        errno = args[0] if args and isinstance(args[0], int) else None
    # The MySQL hook connects through mysqlclient (MySQLdb) or mysql-connector (mysql).
    if type(exc).__module__.split(".")[0] in ("MySQLdb", "mysql"):
        return errno in MYSQL_AUTH_ERRNOS
    return bool(_LIBPQ_AUTH_TEXT.search(str(exc)))


def _connect_once(conn_type: str, conn_id: str, where: str, airflow_conn):
    from bi_pipelines.db import hooks

    try:
        return hooks.connect(conn_type, conn_id, airflow_conn)
    except Exception as exc:
        if not is_authentication_failure(exc):
            raise
        raise AuthenticationError(
            f"{where} refused the login: {describe(exc, [airflow_conn.password])}. Fix the login or password of "
            f"connection {conn_id!r} (its credentials file or the Airflow connection); not retried, "
            "so the account is not locked"
        ) from None


def open_dbapi(
    conn_id: str, attempts: int | None = None, backoff: float | None = None, airflow_conn=None
) -> tuple[Any, str, dict[str, Any]]:
    """Open a DB-API connection for ``conn_id``, retrying refused or timed-out connects.

    The Airflow connection is looked up once and handed to the provider hook, which would
    otherwise look it up again (in a task, every lookup asks the credentials backend, and that
    asks the API server whether Airflow defines the connection itself).

    Args:
        conn_id: The Airflow connection id.
        attempts: Connect attempts (default :data:`CONNECT_ATTEMPTS`).
        backoff: Seconds before the first retry (default :data:`CONNECT_BACKOFF_SECONDS`).
        airflow_conn: ``conn_id``'s Airflow connection when the caller has looked it up already
            (:func:`get_connection`); default: looked up here.

    Returns:
        ``(connection, conn_type, extra)``.

    Raises:
        AuthenticationError: the server refused the login or the role, after one attempt.
        ConfigError: the connection's credentials file is invalid, or its type unsupported.
        ConnectionNotDefined: the connection is defined nowhere.
        ExtractionError: the server stayed unreachable after the last attempt. Every message
            names the connection id and its host, never its password.
    """
    attempts = attempts or CONNECT_ATTEMPTS
    backoff = CONNECT_BACKOFF_SECONDS if backoff is None else backoff
    if airflow_conn is None:
        airflow_conn = get_connection(conn_id)
    conn_type = airflow_conn.conn_type
    if conn_type not in SUPPORTED_TYPES:
        raise ConfigError(
            f"connection {conn_id!r} has type {conn_type!r}; expected postgres, redshift or mysql"
        )
    extra = airflow_conn.extra_dejson or {}
    where = f"{conn_id!r} ({conn_type} at {airflow_conn.host}:{airflow_conn.port})"
    policy = retrying(
        attempts=attempts,
        backoff_seconds=backoff,
        what=f"connecting to {where}",
        logger=log,
        secrets=[airflow_conn.password],
    )
    try:
        conn = policy(_connect_once, conn_type, conn_id, where, airflow_conn)
    except PermanentError:
        raise
    except Exception as exc:  # driver-specific OperationalError types, after the last attempt
        reason = describe(exc, [airflow_conn.password])
        raise ExtractionError(f"cannot connect to {where} after {attempts} attempts: {reason}") from None
    return conn, conn_type, extra
