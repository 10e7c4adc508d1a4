"""Telling a refused login from an unreachable server, and what the Redshift hook hands its driver."""

from __future__ import annotations

import json

import pytest

from bi_pipelines.db.connections import is_authentication_failure


class PgError(Exception):
    """Stands in for psycopg's OperationalError: libpq's text, no SQLSTATE before a session."""

    pgcode = None
    sqlstate = None


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (
            PgError(
                'connection to server at "h", port 5432 failed: FATAL:  password authentication failed for user "u"'
            ),
            True,
        ),
        (PgError('connection to server at "h", port 5432 failed: FATAL:  role "u" does not exist'), True),
        (
            PgError(
                'FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "u", database "d", no encryption'
            ),
            True,
        ),
        (PgError('connection to server at "h", port 5432 failed: Connection refused'), False),
        (PgError('connection to server at "h", port 5432 failed: timeout expired'), False),
        (OSError(111, "Connection refused"), False),
    ],
)
def test_postgres_texts(error, refused):
    assert is_authentication_failure(error) is refused


def test_sqlstate_attributes_and_redshift_error_fields():
    error = PgError("anything")
    error.sqlstate = "28P01"
    assert is_authentication_failure(error)
    assert is_authentication_failure(Exception({"S": "FATAL", "C": "28000", "M": 'role "u" does not exist'}))
    assert not is_authentication_failure(
        Exception({"S": "FATAL", "C": "57P03", "M": "the database is starting up"})
    )


def test_mysql_error_numbers():
    import MySQLdb

    assert is_authentication_failure(MySQLdb.OperationalError(1045, "Access denied for user 'u'@'h'"))
    assert not is_authentication_failure(MySQLdb.OperationalError(2003, "Can't connect to MySQL server"))
    from mysql.connector import errors

    assert is_authentication_failure(errors.ProgrammingError(msg="Access denied", errno=1045))
    assert not is_authentication_failure(errors.InterfaceError(msg="Can't connect", errno=2003))


def test_the_redshift_hook_keeps_the_providers_connect_and_drops_project_extras(monkeypatch):
    import airflow.providers.amazon.aws.hooks.redshift_sql as provider

    from bi_pipelines.db.redshift_hook import WarehouseRedshiftHook

    seen = {}
    monkeypatch.setattr(
        provider.redshift_connector, "connect", lambda **kwargs: seen.update(kwargs) or "conn"
    )
    extra = {
        "s3_staging_bucket": "b",
        "iam_role_arn": "arn",
        "region": "r",
        "connect_timeout": 7,
        "ssl": False,
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_DW",
        json.dumps(
            {
                "conn_type": "redshift",
                "host": "h",
                "port": 5439,
                "login": "u",
                "password": "pw",
                "schema": "dev",
                "extra": extra,
            }
        ),
    )
    assert WarehouseRedshiftHook(redshift_conn_id="dw").get_conn() == "conn"
    assert seen == {
        "user": "u",
        "password": "pw",
        "port": 5439,
        "host": "h",
        "database": "dev",
        "ssl": False,
        "timeout": 7,
    }
