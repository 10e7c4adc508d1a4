"""The provider hooks, with a connect timeout and without this project's own connection extras.

Imports the MySQL and Postgres providers: only :func:`bi_pipelines.db.connections.open_dbapi`
imports this module, when a task connects, so parsing a DAG file never pays for them. The Redshift
hook lives in :mod:`bi_pipelines.db.redshift_hook`, imported only for a Redshift connection: the
Amazon provider brings boto3, about half a second that a MySQL or PostgreSQL task need not pay.
"""

from __future__ import annotations

import os

from airflow.providers.mysql.hooks.mysql import MySqlHook
from airflow.providers.postgres.hooks.postgres import PostgresHook

from bi_pipelines.db.connections import DEFAULT_CONNECT_TIMEOUT, PROJECT_EXTRA_KEYS


class TimeoutMySqlHook(MySqlHook):
    """``MySqlHook`` (mysqlclient) with ``connect_timeout`` from the extra, else the default."""

    def _get_conn_config_mysql_client(self, conn):
        config = super()._get_conn_config_mysql_client(conn)
        config["connect_timeout"] = int(conn.extra_dejson.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
        return config


class WarehousePostgresHook(PostgresHook):
    """``PostgresHook`` that does not hand the project's own extras to libpq."""

    ignored_extra_options = PostgresHook.ignored_extra_options | PROJECT_EXTRA_KEYS


def connect(conn_type: str, conn_id: str, airflow_conn=None):
    """One connect through the provider hook for ``conn_type``; the caller retries.

    Redshift and PostgreSQL connections come back in a transaction (autocommit off), PostgreSQL's
    with the session time zone UTC.

    Args:
        conn_type: The connection's type (``mysql``, ``postgres``, ``redshift``).
        conn_id: The Airflow connection id.
        airflow_conn: ``conn_id``'s Airflow connection, already looked up: the hook then does not
            look it up again. Default: the hook looks it up.
    """
    if conn_type == "mysql":
        return TimeoutMySqlHook(mysql_conn_id=conn_id, connection=airflow_conn).get_conn()
    if conn_type == "redshift":
        from bi_pipelines.db.redshift_hook import WarehouseRedshiftHook

        redshift = WarehouseRedshiftHook(redshift_conn_id=conn_id, connection=airflow_conn).get_conn()
        redshift.autocommit = False
        return redshift
    if conn_type not in ("postgres", "postgresql"):
        raise ValueError(f"no provider hook for connection type {conn_type!r}")
    # libpq's default when the connection's extra has no connect_timeout of its own.
    os.environ.setdefault("PGCONNECT_TIMEOUT", str(DEFAULT_CONNECT_TIMEOUT))
    conn = WarehousePostgresHook(postgres_conn_id=conn_id, connection=airflow_conn).get_conn()
    conn.autocommit = False  # type: ignore[attr-defined]  # psycopg 2 or 3, both have it
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
    conn.commit()
    return conn
