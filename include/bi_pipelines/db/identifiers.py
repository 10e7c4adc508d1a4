"""Validation of SQL identifiers that come from configuration.

Identifiers are validated here *and* quoted by the driver's own quoting where SQL is built:
validation gives an early, readable error at load time; quoting makes the SQL safe anyway.
"""

from __future__ import annotations

import re

from bi_pipelines.core.errors import ConfigError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


def validate_identifier(value: object, where: str) -> str:
    """Return ``value`` if it is a plain SQL identifier, else raise ConfigError naming ``where``.

    Args:
        value: The identifier from configuration.
        where: Where it came from, e.g. ``"config/obe_mysql.yaml: tables.bookings.cursor_column"``.
    """
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise ConfigError(
            f"{where}: {value!r} is not a valid identifier (letters, digits, _ and $, "
            "starting with a letter or _, at most 63 characters)"
        )
    return value


def quote_mysql(identifier: str) -> str:
    """Quote a validated identifier for MySQL/MariaDB with backticks."""
    return "`" + identifier.replace("`", "``") + "`"


def quote_pg(identifier: str) -> str:
    """Quote a validated identifier for PostgreSQL/Redshift with double quotes.

    Used where no psycopg2 connection is at hand (Redshift via redshift_connector, S3 COPY text);
    elsewhere ``psycopg2.sql.Identifier`` does the same.
    """
    return '"' + identifier.replace('"', '""') + '"'
