"""Validation of SQL identifiers that come from configuration.

Identifiers are validated here *and* quoted by the driver's own quoting where SQL is built:
validation gives an early, readable error at load time; quoting makes the SQL safe anyway.
"""

from __future__ import annotations

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.types import to_identifier


def validate_identifier(value: object, where: str) -> str:
    r"""Return ``value`` if it is a plain SQL identifier, else raise ConfigError naming ``where``.

    The whole value must match: ``"abc\n"`` is refused.

    Args:
        value: The identifier from configuration.
        where: Where it came from, e.g. ``"config/obe_mysql.yaml: tables.bookings.cursor_column"``.
    """
    try:
        return to_identifier(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def quote_mysql(identifier: str) -> str:
    """Quote a validated identifier for MySQL/MariaDB with backticks."""
    return "`" + identifier.replace("`", "``") + "`"


def quote_pg(identifier: str) -> str:
    """Quote a validated identifier for PostgreSQL/Redshift with double quotes.

    Used where no psycopg2 connection is at hand (Redshift via redshift_connector, S3 COPY text);
    elsewhere ``psycopg2.sql.Identifier`` does the same.
    """
    return '"' + identifier.replace('"', '""') + '"'
