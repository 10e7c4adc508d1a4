"""The closed sets of values shared by configuration and code: SQL dialects, freshness statuses.

``StrEnum`` members compare and serialise as their plain string values, so ``Dialect.MYSQL ==
"mysql"`` and a status written to a table is the bare word.
"""

from __future__ import annotations

from enum import StrEnum


class Dialect(StrEnum):
    """The SQL dialect of a source or target server."""

    POSTGRES = "postgres"
    MYSQL = "mysql"
    REDSHIFT = "redshift"


class FreshnessStatus(StrEnum):
    """The outcome of one freshness check."""

    PASS = "pass"
    WARN = "warn"
    ERROR = "error"
    RUNTIME_ERROR = "runtime_error"
    NO_DATA = "no_data"


DIALECTS: tuple[str, ...] = tuple(Dialect)
STATUSES: tuple[str, ...] = tuple(FreshnessStatus)
