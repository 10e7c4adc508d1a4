"""The SQL the monitor runs on each source, per dialect, and how a result becomes a UTC instant.

One query per table, ``SELECT MAX(column) FROM schema.table [WHERE filter]``: with an index on
the column the server answers from the index, whereas converting every row's time zone in SQL
would force a full scan. The conversion of the single maximum happens here in Python instead.
Names are quoted by the driver's rules, with the quote character doubled inside, (psycopg's ``sql.Identifier`` on PostgreSQL, double
quotes on Redshift where the driver may be redshift_connector, backticks on MySQL/MariaDB).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
from dataclasses import dataclass
from typing import Any

from bi_pipelines.core.timezones import local_to_utc
from bi_pipelines.db.identifiers import quote_mysql, quote_pg
from bi_pipelines.db.pgcompat import is_postgres_driver, quote_ident
from bi_pipelines.freshness.spec import FreshnessCheck, check_name_length

POSTGRES, MYSQL, REDSHIFT = "postgres", "mysql", "redshift"

# MySQL protocol column types (the same codes in mysqlclient, PyMySQL and mysql-connector).
_MYSQL_TIMESTAMP = 7


def dialect_for(conn_type: str, configured: str | None) -> str:
    """The SQL dialect of a check: as configured, else from the Airflow connection type."""
    if configured:
        return configured
    if conn_type in ("mysql", "mariadb"):
        return MYSQL
    if conn_type == "redshift":
        return REDSHIFT
    return POSTGRES


@dataclass(frozen=True)
class ServerSession:
    """What the session setup learnt about the server."""

    flavour: str  # postgres, redshift, mysql or mariadb
    version: str


def prepare_session(conn, dialect: str, statement_timeout: dt.timedelta) -> ServerSession:
    """Put one source connection in the state every freshness query expects.

    Autocommit, so a failed query does not poison the next one on PostgreSQL and MySQL's
    REPEATABLE READ does not pin a snapshot older than the data being measured; UTC as the
    session time zone (timestamptz and MySQL TIMESTAMP then come back in UTC); and a statement
    timeout so one slow table cannot hold the whole server's sweep.
    """
    millis = max(int(statement_timeout.total_seconds() * 1000), 1)
    if dialect == MYSQL:
        set_autocommit = getattr(conn, "autocommit", None)
        if callable(set_autocommit):  # mysqlclient and PyMySQL: a method
            set_autocommit(True)
        else:  # mysql-connector: a property
            conn.autocommit = True
        cur = conn.cursor()
        try:
            cur.execute("SELECT VERSION()")
            version = str(cur.fetchone()[0])
            cur.execute("SET time_zone = '+00:00'")
            if "mariadb" in version.lower():
                # MariaDB counts max_statement_time in seconds (fractions allowed).
                cur.execute("SET SESSION max_statement_time = %s", (millis / 1000,))
                flavour = "mariadb"
            else:
                # MySQL 5.7.8+ counts max_execution_time in milliseconds; it applies to SELECT only.
                cur.execute("SET SESSION max_execution_time = %s", (millis,))
                flavour = "mysql"
        finally:
            cur.close()
        return ServerSession(flavour, version)
    conn.autocommit = True
    cur = conn.cursor()
    try:
        cur.execute("SELECT version()")
        version = str(cur.fetchone()[0])
        cur.execute(f"SET statement_timeout TO {millis}")
        cur.execute("SET timezone TO 'UTC'")
    finally:
        cur.close()
    flavour = REDSHIFT if "redshift" in version.lower() else POSTGRES
    return ServerSession(flavour, version)


def freshness_query(check: FreshnessCheck, dialect: str, conn=None) -> str:
    """The statement measuring ``check``, identifiers quoted by the driver of ``conn``.

    Backticks on MySQL/MariaDB; on PostgreSQL the driver's own quoting (psycopg 3 or psycopg2,
    whichever the provider handed out, as the load path does); double quotes otherwise
    (redshift_connector has no quoting function).
    """
    for name in (check.schema, check.table, check.column):
        if name is not None:
            check_name_length(name, dialect)
    if dialect == MYSQL:
        quote = quote_mysql
    elif conn is not None and is_postgres_driver(conn):
        quote = functools.partial(quote_ident, conn)
    else:
        quote = quote_pg
    relation = f"{quote(check.schema)}.{quote(check.table)}" if check.schema else quote(check.table)
    if check.expression:
        select = check.expression
    elif check.column:
        select = f"MAX({quote(check.column)})"
    else:
        raise ValueError(f"{check.origin}: the check has neither a column nor an expression")
    where = f" WHERE ({check.filter})" if check.filter else ""
    return f"SELECT {select} FROM {relation}{where}"


class UnusableValue(ValueError):
    """The column or expression returned something that is not a point in time."""


def to_utc(value: Any, timezone: str, *, dialect: str, type_code: Any = None) -> dt.datetime | None:
    """Turn the maximum a source returned into an aware UTC datetime (``None`` for no rows).

    Args:
        value: The single value of the freshness query.
        timezone: Zone of naive values (``timestamp`` on PostgreSQL/Redshift, ``DATETIME`` on MySQL).
        dialect: The source dialect.
        type_code: ``cursor.description[0][1]``; on MySQL it tells TIMESTAMP (UTC in this session)
            from DATETIME (local wall time), which come back as the same naive Python type.

    Raises:
        UnusableValue: for anything that is not a date-time, date, epoch number or ISO string.
    """
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UnusableValue(f"returned {value[:40]!r}, which is not a date-time") from None
    if isinstance(value, bool):
        raise UnusableValue(f"returned a boolean ({value}), not a date-time")
    if isinstance(value, int | float | decimal.Decimal):
        # An expression such as UNIX_TIMESTAMP(...) or EXTRACT(EPOCH FROM ...): seconds since 1970.
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC)
        if dialect == MYSQL and type_code == _MYSQL_TIMESTAMP:
            return value.replace(tzinfo=dt.UTC)
        return local_to_utc(value, timezone)
    if isinstance(value, dt.date):
        # A date column: the data of that day is complete at the earliest at its start.
        return local_to_utc(dt.datetime.combine(value, dt.time()), timezone)
    raise UnusableValue(f"returned a {type(value).__name__}, not a date-time")
