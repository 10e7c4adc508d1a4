"""Throw-away databases on the local PostgreSQL and MariaDB servers.

Each test session creates databases with unique names and drops them afterwards, so nothing
depends on what an earlier run left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import MySQLdb
import psycopg2

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("TEST_MYSQL_USER", "root")


def unique_name(prefix: str = "bi_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Database:
    """A database on a local server, and how to reach it."""

    kind: str  # "postgres" or "mysql"
    host: str
    port: int
    user: str
    name: str

    def connect(self, **kwargs):
        if self.kind == "postgres":
            conn = psycopg2.connect(
                host=self.host, port=self.port, user=self.user, dbname=self.name, **kwargs
            )
            with conn.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
            conn.commit()
            return conn
        return MySQLdb.connect(
            host=self.host, port=self.port, user=self.user, database=self.name, charset="utf8mb4", **kwargs
        )

    def execute(self, *statements: str, params=None) -> None:
        conn = self.connect()
        try:
            with contextlib.closing(conn.cursor()) as cur:
                for statement in statements:
                    cur.execute(statement, params)
            conn.commit()
        finally:
            conn.close()

    def query(self, sql: str, params=None) -> list[tuple]:
        conn = self.connect()
        try:
            with contextlib.closing(conn.cursor()) as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def airflow_conn_json(self, conn_type: str | None = None, **extra) -> str:
        """The connection as the JSON an ``AIRFLOW_CONN_<ID>`` variable holds."""
        return json.dumps(
            {
                "conn_type": conn_type or self.kind,
                "host": self.host,
                "port": self.port,
                "login": self.user,
                "password": "",
                "schema": self.name,
                "extra": extra,
            }
        )


@contextlib.contextmanager
def postgres_database(prefix: str = "bi_test") -> Iterator[Database]:
    name = unique_name(prefix)
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield Database("postgres", PG_HOST, PG_PORT, PG_USER, name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextlib.contextmanager
def mysql_database(prefix: str = "bi_test") -> Iterator[Database]:
    name = unique_name(prefix)
    admin = MySQLdb.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, charset="utf8mb4")
    try:
        with contextlib.closing(admin.cursor()) as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        yield Database("mysql", MYSQL_HOST, MYSQL_PORT, MYSQL_USER, name)
    finally:
        with contextlib.closing(admin.cursor()) as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
