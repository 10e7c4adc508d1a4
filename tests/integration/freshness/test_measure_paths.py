"""Every way a table can fail to be measured yields its own runtime_error row, and names that
need quoting (spaces, mixed case) are measured on the real PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest

from bi_pipelines.freshness.spec import PASS, RUNTIME_ERROR, load_config
from bi_pipelines.freshness.sweep import sweep_all
from tests.integration.freshness.test_sweep import FAST, at, make_check

pytestmark = pytest.mark.integration


def now() -> dt.datetime:
    """The clock when the test inserts its rows (not at import: a busy machine may take minutes)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def test_each_unmeasurable_table_is_one_runtime_error_row_never_a_failed_sweep(pg_db, airflow_conn):
    pg_db.execute("CREATE TABLE good (ts timestamptz)", "INSERT INTO good VALUES (now())")
    airflow_conn("src", pg_db)
    checks = [
        make_check("src", "missing"),  # missing table
        make_check("src", "good", expression="max(ts) +", suffix="#syntax"),  # bad expression
        make_check("src", "good", expression="max(1e300::float8)", suffix="#overflow"),  # conversion raises
        make_check("src", "good", expression="'not a time'::text", suffix="#text"),
        make_check("src", "good", expression="max(ts)", suffix="#fine"),
        make_check("src", "good"),
    ]

    results = sweep_all(checks, FAST, clock=at(now() + dt.timedelta(seconds=1)))
    statuses = {r.check.key: (r.status, r.message) for r in results}
    assert [s for s, _ in statuses.values()] == [RUNTIME_ERROR] * 4 + [PASS] * 2, statuses
    assert "query failed" in statuses["src:missing"][1]
    assert "out of range" in statuses["src:good#overflow"][1]
    assert "not a date-time" in statuses["src:good#text"][1]


def write_entries(tmp_path, tables: str):
    path = tmp_path / "freshness.yaml"
    path.write_text(
        'dag: {schedule: "*/15 * * * *", start_date: "2026-11-01T00:00:00"}\n'
        "flows: {include: false}\ndefaults: {warn_after: 1h, error_after: 3h}\ntables:\n"
        + textwrap.indent(textwrap.dedent(tables), "  "),
        encoding="utf-8",
    )
    return load_config(path)


def test_names_that_need_quoting_are_measured_on_postgres_and_mariadb(
    pg_db, mysql_db, airflow_conn, tmp_path
):
    pg_db.execute(
        'CREATE SCHEMA "Weird Name"',
        'CREATE TABLE "Weird Name"."Odd Table-2026" ("Last Update" timestamptz)',
        'INSERT INTO "Weird Name"."Odd Table-2026" VALUES (now())',
    )
    mysql_db.execute(
        "CREATE TABLE `Weird Name` (`Last Update` DATETIME, `Été.2026` DATETIME)",
        "INSERT INTO `Weird Name` VALUES (UTC_TIMESTAMP(), UTC_TIMESTAMP())",
    )
    airflow_conn("pg", pg_db)
    airflow_conn("my", mysql_db)
    config = write_entries(
        tmp_path,
        """\
        pg_weird: {conn_id: pg, schema: "Weird Name", table: "Odd Table-2026", column: "Last Update"}
        my_weird: {conn_id: my, table: "Weird Name", column: "Last Update"}
        my_tick: {conn_id: my, table: "Weird Name", column: "Été.2026", filter: "1 = 1"}
        """,
    )
    results = sweep_all(config.checks, FAST, clock=at(now() + dt.timedelta(minutes=1)))
    assert [(r.check.key, r.status, r.message) for r in results] == [
        ("pg:Weird Name.Odd Table-2026", PASS, None),
        ("my:Weird Name", PASS, None),
        ("my:Weird Name#my_tick", PASS, None),
    ]


@pytest.mark.parametrize("name", ["a\x00b", "tab\there", "x; DROP TABLE y", 'a"b', "a`b", "n" * 65])
def test_names_that_could_break_out_of_quoting_are_refused(tmp_path, name):
    from bi_pipelines.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"tables\.t\.table"):
        write_entries(tmp_path, f"t: {{conn_id: pg, table: {json.dumps(name)}, column: ts}}\n")


def test_long_names_follow_the_dialect_limit(tmp_path):
    from bi_pipelines.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"allows 63"):
        write_entries(tmp_path, f"t: {{conn_id: pg, dialect: postgres, table: {'n' * 64}, column: ts}}\n")
    assert write_entries(tmp_path, f"t: {{conn_id: my, dialect: mysql, table: {'n' * 64}, column: ts}}\n")
