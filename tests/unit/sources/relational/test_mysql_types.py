"""MySQL column types -> warehouse types, and what a type with no mapping does."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bi_pipelines.core.errors import ConfigError, PermanentError, SchemaError
from bi_pipelines.sources.relational.mysql import MySqlSource, map_mysql_type
from bi_pipelines.sources.relational.reader import session_timeouts


@pytest.mark.parametrize(
    ("data_type", "column_type", "precision", "expected"),
    [
        ("float", "float", 12, ("real", "float")),
        ("bit", "bit(1)", 1, ("bigint", "bit")),
        ("bit", "bit(63)", 63, ("bigint", "bit")),
        ("bit", "bit(64)", 64, ("numeric(20,0)", "bit")),
        ("point", "point", None, ("text", "geometry")),
        ("geometry", "geometry", None, ("text", "geometry")),
        ("multipolygon", "multipolygon", None, ("text", "geometry")),
        ("uuid", "uuid", None, ("text", "text")),
        ("date", "date", None, ("date", "date")),
    ],
)
def test_mapped_types(data_type, column_type, precision, expected):
    assert map_mysql_type(data_type, column_type, precision, None) == expected


def test_unmapped_type_is_a_permanent_schema_error():
    with pytest.raises(SchemaError, match="MySQL type 'vector\\(3\\)' has no warehouse type") as excinfo:
        map_mysql_type("vector", "vector(3)", None, None)
    assert isinstance(excinfo.value, PermanentError)


class FakeCursor:
    def __init__(self, results):
        self.results = list(results)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params=None):
        pass

    def fetchall(self):
        return self.results.pop(0)


def test_describe_names_table_and_column_of_an_unmapped_type():
    source = MySqlSource.__new__(MySqlSource)
    source.conn_id, source.database, source.mariadb = "obe_mysql", "obe", True
    source._keys = {}
    columns = [("id", "int", "int(11)", 10, 0, "PRI"), ("embedding", "vector", "vector(3)", None, None, "")]
    source.conn = SimpleNamespace(cursor=lambda: FakeCursor([columns]))
    table = SimpleNamespace(source_schema=None, source_table="bookings")
    with pytest.raises(SchemaError) as excinfo:
        source.describe(table)
    message = str(excinfo.value)
    assert "obe_mysql" in message
    assert "`obe`.`bookings`" in message
    assert "'embedding'" in message


def test_session_timeouts_default_and_override():
    assert session_timeouts(None) == (300.0, 3600.0)
    assert session_timeouts({"lock_timeout": "2", "statement_timeout": 90}) == (2.0, 90.0)
    with pytest.raises(ConfigError, match="'lock_timeout' must be a positive number of seconds"):
        session_timeouts({"lock_timeout": "soon"})


class RecordingCursor(FakeCursor):
    def __init__(self, results, statements):
        super().__init__(results)
        self.statements = statements

    def execute(self, sql, params=None):
        self.statements.append(sql)


ID = ("id", "bigint", "bigint(20)", 19, 0, "PRI")


@pytest.mark.parametrize(
    ("mariadb", "columns", "results", "queries", "kinds"),
    [
        # MariaDB: a LONGTEXT column may be JSON (a json_valid() check constraint says so).
        (
            True,
            [ID, ("metadata", "longtext", "longtext", None, None, "")],
            [["json_valid(`metadata`)"]],
            2,
            ["other", "json"],
        ),
        (True, [ID, ("note", "longtext", "longtext", None, None, "")], [[]], 2, ["other", "text"]),
        # No LONGTEXT column, or MySQL (its JSON is a type of its own): the columns alone.
        (True, [ID, ("note", "text", "text", None, None, "")], [], 1, ["other", "text"]),
        (False, [ID, ("metadata", "json", "json", None, None, "")], [], 1, ["other", "json"]),
        (False, [ID, ("note", "longtext", "longtext", None, None, "")], [], 1, ["other", "text"]),
    ],
)
def test_describe_asks_for_check_constraints_only_where_a_column_may_be_mariadb_json(
    mariadb, columns, results, queries, kinds
):
    source = MySqlSource.__new__(MySqlSource)
    source.conn_id, source.database, source.mariadb = "obe_mysql", "obe", mariadb
    source._keys = {}
    statements: list[str] = []
    answers = [columns, *([(clause,) for clause in r] for r in results)]
    source.conn = SimpleNamespace(cursor=lambda: RecordingCursor(answers, statements))

    described = source.describe(SimpleNamespace(source_schema=None, source_table="bookings"))

    assert len(statements) == queries
    assert all("CHECK_CONSTRAINTS" not in s for s in statements[:1])
    assert [c.kind for c in described] == kinds
