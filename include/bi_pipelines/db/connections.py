"""Opening DB-API connections through Airflow's provider hooks, by connection id.

No connection string is ever built here: the hooks read the Airflow connection (from the
credentials files, an ``AIRFLOW_CONN_*`` variable or the UI).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from bi_pipelines.core.errors import ExtractionError

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
        "lock_timeout",
        "statement_timeout",
    }
)
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
        ExtractionError: the connection is defined nowhere.
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
        raise ExtractionError(
            f"connection {conn_id!r} is not defined: {hint} (Admin -> Connections, or an "
            f"AIRFLOW_CONN_{conn_id.upper()} environment variable)"
        ) from None


def _hook_connect(conn_type: str, conn_id: str):
    if conn_type == "mysql":
        from airflow.providers.mysql.hooks.mysql import MySqlHook

        class TimeoutMySqlHook(MySqlHook):
            def _get_conn_config_mysql_client(self, conn):
                config = super()._get_conn_config_mysql_client(conn)
                config["connect_timeout"] = int(
                    conn.extra_dejson.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
                )
                return config

        return TimeoutMySqlHook(mysql_conn_id=conn_id).get_conn()
    if conn_type == "redshift":
        from airflow.providers.amazon.aws.hooks.redshift_sql import RedshiftSQLHook

        class WarehouseRedshiftHook(RedshiftSQLHook):
            def get_conn(self):
                import redshift_connector

                extra = {k: v for k, v in self.conn.extra_dejson.items() if k not in PROJECT_EXTRA_KEYS}
                timeout = int(extra.pop("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
                return redshift_connector.connect(**{"timeout": timeout, **self._get_conn_params(), **extra})

        conn = WarehouseRedshiftHook(redshift_conn_id=conn_id).get_conn()
        conn.autocommit = False
        return conn
    if conn_type in ("postgres", "postgresql"):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        class WarehousePostgresHook(PostgresHook):
            ignored_extra_options = PostgresHook.ignored_extra_options | PROJECT_EXTRA_KEYS

        # libpq's default when the connection's extra has no connect_timeout of its own.
        os.environ.setdefault("PGCONNECT_TIMEOUT", str(DEFAULT_CONNECT_TIMEOUT))
        conn = WarehousePostgresHook(postgres_conn_id=conn_id).get_conn()
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
        conn.commit()
        return conn
    raise ExtractionError(
        f"connection {conn_id!r} has type {conn_type!r}; expected postgres, redshift or mysql"
    )


def open_dbapi(
    conn_id: str, attempts: int | None = None, backoff: float | None = None
) -> tuple[Any, str, dict[str, Any]]:
    """Open a DB-API connection for ``conn_id``, retrying refused or timed-out connects.

    Returns:
        ``(connection, conn_type, extra)``.

    Raises:
        ExtractionError: after the last attempt, naming the connection id and its host, never
            its password.
    """
    attempts = attempts or CONNECT_ATTEMPTS
    backoff = CONNECT_BACKOFF_SECONDS if backoff is None else backoff
    airflow_conn = get_connection(conn_id)
    conn_type = airflow_conn.conn_type
    extra = airflow_conn.extra_dejson or {}
    where = f"{conn_id!r} ({conn_type} at {airflow_conn.host}:{airflow_conn.port})"
    last: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            return _hook_connect(conn_type, conn_id), conn_type, extra
        except ExtractionError:
            raise
        except Exception as exc:  # driver-specific OperationalError types
            last = exc
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if airflow_conn.password:
                reason = reason.replace(airflow_conn.password, "***")
            log.warning("connecting to %s failed (attempt %d of %d): %s", where, attempt, attempts, reason)
            if attempt < attempts:
                time.sleep(backoff * 2 ** (attempt - 1))
    reason = str(last).strip().splitlines()[0] if last and str(last).strip() else type(last).__name__
    if airflow_conn.password:
        reason = reason.replace(airflow_conn.password, "***")
    raise ExtractionError(f"cannot connect to {where} after {attempts} attempts: {reason}") from None
