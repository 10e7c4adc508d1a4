"""The provider hooks, with a connect timeout and without this project's own connection extras.

Imports the MySQL, Amazon and Postgres providers: only :func:`bi_pipelines.db.connections.open_dbapi`
imports this module, when a task connects, so parsing a DAG file never pays for them.
"""

from __future__ import annotations

import copy
import json
import os
from functools import cached_property

from airflow.providers.amazon.aws.hooks.redshift_sql import RedshiftSQLHook
from airflow.providers.mysql.hooks.mysql import MySqlHook
from airflow.providers.postgres.hooks.postgres import PostgresHook

from bi_pipelines.db.connections import DEFAULT_CONNECT_TIMEOUT, PROJECT_EXTRA_KEYS


class TimeoutMySqlHook(MySqlHook):
    """``MySqlHook`` (mysqlclient) with ``connect_timeout`` from the extra, else the default."""

    def _get_conn_config_mysql_client(self, conn):
        config = super()._get_conn_config_mysql_client(conn)
        config["connect_timeout"] = int(conn.extra_dejson.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
        return config


class WarehouseRedshiftHook(RedshiftSQLHook):
    """``RedshiftSQLHook`` whose connection carries only the extras ``redshift_connector`` takes.

    The provider's ``get_conn`` (IAM tokens, serverless work groups, ``_get_conn_params``) is kept
    as is: only the connection it reads is adjusted. The provider passes every extra to
    ``redshift_connector.connect``, which rejects the project's own keys; ``connect_timeout``
    becomes the driver's ``timeout`` (an explicit ``timeout`` extra wins).
    """

    @cached_property
    def conn(self):
        """The Airflow connection, copied, with only the extras ``redshift_connector`` accepts."""
        connection = copy.copy(self.get_connection(self.get_conn_id()))
        extra = {k: v for k, v in connection.extra_dejson.items() if k not in PROJECT_EXTRA_KEYS}
        extra.setdefault("timeout", int(extra.pop("connect_timeout", DEFAULT_CONNECT_TIMEOUT)))
        connection.extra = json.dumps(extra)
        return connection


class WarehousePostgresHook(PostgresHook):
    """``PostgresHook`` that does not hand the project's own extras to libpq."""

    ignored_extra_options = PostgresHook.ignored_extra_options | PROJECT_EXTRA_KEYS


def connect(conn_type: str, conn_id: str):
    """One connect through the provider hook for ``conn_type``; the caller retries.

    Redshift and PostgreSQL connections come back in a transaction (autocommit off), PostgreSQL's
    with the session time zone UTC.
    """
    if conn_type == "mysql":
        return TimeoutMySqlHook(mysql_conn_id=conn_id).get_conn()
    if conn_type == "redshift":
        redshift = WarehouseRedshiftHook(redshift_conn_id=conn_id).get_conn()
        redshift.autocommit = False
        return redshift
    if conn_type not in ("postgres", "postgresql"):
        raise ValueError(f"no provider hook for connection type {conn_type!r}")
    # libpq's default when the connection's extra has no connect_timeout of its own.
    os.environ.setdefault("PGCONNECT_TIMEOUT", str(DEFAULT_CONNECT_TIMEOUT))
    conn = WarehousePostgresHook(postgres_conn_id=conn_id).get_conn()
    conn.autocommit = False  # type: ignore[attr-defined]  # psycopg 2 or 3, both have it
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
    conn.commit()
    return conn
