"""Loading the freshness configuration: derived checks, YAML entries, validation, acknowledgements."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from bi_pipelines.core.enums import FreshnessStatus
from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.settings import CONFIG_DIR
from bi_pipelines.freshness.spec import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    ERROR,
    PASS,
    STATUSES,
    derived_checks,
    load_config,
    load_dag_settings,
)

FLOW = """\
dag:
  dag_id: extract_obe_mysql
  schedule: "15 * * * *"
  start_date: "2026-11-01T00:00:00"
source: {conn_id: obe_mysql, dialect: mysql}
target: {conn_id: redshift_dw, schema: raw_obe}
defaults:
  timezone: America/Vancouver
  freshness: {warn_after: 3h, error_after: 12h, check_interval: 15m}
tables:
  bookings: {primary_key: [booking_id], cursor_column: updated_at}
  payments:
    primary_key: [payment_id]
    cursor_column: paid_at
    freshness: {column: recorded_at, error_after: 1d, active: false}
  franchises: {mode: full_refresh, primary_key: [franchise_id]}
"""

HEAD = """\
dag:
  schedule: "*/15 * * * *"
  start_date: "2026-11-01T00:00:00"
"""


@pytest.fixture
def flows_dir(tmp_path):
    d = tmp_path / "flows"
    d.mkdir()
    (d / "extract_obe_mysql.yaml").write_text(FLOW, encoding="utf-8")
    return d


def write(tmp_path, body: str):
    path = tmp_path / "freshness.yaml"
    path.write_text(HEAD + textwrap.dedent(body), encoding="utf-8")
    return path


def test_the_committed_configuration_loads():
    config = load_config(DEFAULT_CONFIG_PATH)
    assert config.dag.dag_id == "monitor_source_freshness"
    assert config.dag.schedule == "*/15 * * * *"
    assert config.monitoring.conn_id == "redshift_dw"
    assert config.monitoring.retention == dt.timedelta(days=90)
    keys = {c.key for c in config.checks}
    assert "redshift_dw:raw_reports.imap_report_ledger#imap_franchise_daily_sales" in keys
    assert "redshift_dw:vonigo.raw_records#vonigo_workorders" in keys
    assert len(keys) == len(config.checks)


def test_checks_are_derived_from_the_flows(tmp_path, flows_dir):
    config = load_config(write(tmp_path, "tables: {}\n"), flows_dir=flows_dir)
    checks = {c.key: c for c in config.checks}
    assert set(checks) == {"obe_mysql:bookings", "obe_mysql:payments", "obe_mysql:franchises"}
    bookings = checks["obe_mysql:bookings"]
    assert (bookings.column, bookings.timezone, bookings.dialect) == (
        "updated_at",
        "America/Vancouver",
        "mysql",
    )
    assert bookings.thresholds.warn_after == dt.timedelta(hours=3)
    assert bookings.origin == "extract_obe_mysql.yaml: tables.bookings"
    payments = checks["obe_mysql:payments"]
    assert payments.column == "recorded_at"
    assert payments.thresholds.error_after == dt.timedelta(days=1)
    assert [c.key for c in config.active_checks] == ["obe_mysql:bookings", "obe_mysql:franchises"]
    # A full-refresh table without a timestamp column is still listed, with the reason and the fix.
    assert "freshness.column" in checks["obe_mysql:franchises"].problem


def test_yaml_entries_and_overrides(tmp_path, flows_dir):
    path = write(
        tmp_path,
        """\
        defaults: {warn_after: 26h, error_after: 50h, check_interval: 1h}
        tables:
          imap_daily:
            conn_id: redshift_dw
            schema: raw_reports
            table: imap_ledger
            expression: max(received_at)
            filter: report = 'daily'
          franchises:
            conn_id: obe_mysql
            expression: max(GREATEST(created_at, updated_at))
            warn_after: 7d
            error_after: 30d
        """,
    )
    config = load_config(path, flows_dir=flows_dir)
    checks = {c.key: c for c in config.checks}
    imap = checks["redshift_dw:raw_reports.imap_ledger#imap_daily"]
    assert (imap.expression, imap.filter, imap.column, imap.dialect) == (
        "max(received_at)",
        "report = 'daily'",
        None,
        None,
    )
    assert imap.thresholds.warn_after == dt.timedelta(hours=26)
    assert imap.thresholds.check_interval == dt.timedelta(hours=1)
    replaced = checks["obe_mysql:franchises"]
    assert replaced.problem is None
    assert replaced.expression == "max(GREATEST(created_at, updated_at))"
    assert replaced.origin == "freshness.yaml.tables.franchises"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{conn_id: dw, table: 'users; DROP TABLE users', column: ts}", "not a valid identifier"),
        ("{conn_id: dw, schema: 'a\"b', column: ts}", "not a valid identifier"),
        ("{conn_id: dw, column: 'ts) FROM x --'}", "not a valid identifier"),
        ("{conn_id: 'dw prod', column: ts}", "not a valid identifier"),
        ("{conn_id: dw, expression: 'max(ts); DELETE FROM t'}", "contains ';'"),
        ('{conn_id: dw, column: ts, filter: "a = 1 -- and the rest"}', "a comment"),
        ("{conn_id: dw, column: ts, filter: 'a = 1 /* x */'}", "a comment"),
        ("{conn_id: dw}", "exactly one of `column`"),
        ("{conn_id: dw, column: ts, expression: max(ts)}", "exactly one of `column`"),
        ("{conn_id: dw, column: ts, dialect: oracle}", "must be one of"),
        ("{conn_id: dw, column: ts, timezone: Mars/Olympus}", "unknown time zone"),
        ("{conn_id: dw, column: ts, warn_after: 2d, error_after: 1d}", "warn_after must not be longer"),
        ("{conn_id: dw, column: ts, colour: red}", "unknown key(s) colour"),
    ],
)
def test_hostile_or_broken_entries_are_rejected(tmp_path, entry, message):
    path = write(tmp_path, f"flows: {{include: false}}\ntables:\n  t: {entry}\n")
    with pytest.raises(ConfigError, match=None) as err:
        load_config(path)
    assert message in str(err.value)
    assert "freshness.yaml" in str(err.value)


def test_hostile_names_in_the_flows_are_rejected_too(tmp_path, flows_dir):
    (flows_dir / "extract_obe_mysql.yaml").write_text(
        FLOW.replace("cursor_column: updated_at", "cursor_column: 'updated_at`; DROP'"), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"extract_obe_mysql.yaml.*not a valid identifier"):
        load_config(write(tmp_path, "tables: {}\n"), flows_dir=flows_dir)


def test_the_same_table_twice_is_an_error(tmp_path):
    path = write(
        tmp_path,
        """\
        flows: {include: false}
        tables:
          a: {conn_id: dw, schema: s, table: t, column: ts}
          b: {conn_id: dw, schema: s, table: t, column: other}
        """,
    )
    with pytest.raises(ConfigError, match=r"same table as freshness.yaml.tables.a"):
        load_config(path)


def test_acknowledgements(tmp_path):
    path = write(
        tmp_path,
        """\
        flows: {include: false}
        tables:
          t: {conn_id: dw, schema: s, column: ts}
        acknowledgements:
          - {table: "dw:s.t", until: 2026-12-31, reason: "frozen during the migration"}
        """,
    )
    config = load_config(path)
    [ack] = config.acknowledgements
    assert ack.until == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)  # the whole of the 31st
    assert config.acknowledgement("dw:s.t", dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC)) is ack
    assert config.acknowledgement("dw:s.t", dt.datetime(2027, 1, 1, tzinfo=dt.UTC)) is None

    path.write_text(path.read_text().replace('"dw:s.t"', '"dw:s.typo"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'dw:s.typo' is not a monitored table key"):
        load_config(path)
    path.write_text(
        path.read_text().replace('"dw:s.typo"', '"dw:s.t"').replace("frozen during the migration", "")
    )
    with pytest.raises(ConfigError, match="reason"):
        load_config(path)


def test_settings_and_their_errors(tmp_path, monkeypatch):
    path = write(
        tmp_path,
        """\
        monitoring: {conn_id: mon, schema: ops, retention: 30d}
        sweep: {statement_timeout: 10s, max_parallel_connections: 3}
        alerts: {email_to: bi@example.com, fail_on: [error, runtime_error]}
        flows: {include: false}
        """,
    )
    monkeypatch.setenv("BI_FRESHNESS_CONFIG", str(path))
    config = load_config()
    assert (config.monitoring.conn_id, config.monitoring.schema, config.monitoring.view) == (
        "mon",
        "ops",
        "source_table_freshness_latest",
    )
    assert config.sweep.statement_timeout == dt.timedelta(seconds=10)
    assert config.sweep.max_parallel_connections == 3
    assert config.alerts.email_to == ("bi@example.com",)
    assert config.alerts.fail_on == ("error", "runtime_error")
    assert load_dag_settings().dag_id == "monitor_source_freshness"

    path.write_text(HEAD + "alerts: {fail_on: [pass]}\n")
    with pytest.raises(ConfigError, match="fail_on"):
        load_config(path)
    path.write_text(HEAD + "monitoring: {schema: 'bad schema'}\n")
    with pytest.raises(ConfigError, match=r"monitoring.schema"):
        load_config(path)
    path.write_text(HEAD + "sweep: {max_parallel_connections: 0}\n")
    with pytest.raises(ConfigError, match="at least 1"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def _entries_on(config, conn_id: str, schema: str, table: str) -> dict[str, object]:
    return {
        c.filter: c
        for c in config.checks
        if (c.conn_id, c.schema, c.table) == (conn_id, schema, table) and c.filter is not None
    }


def test_imap_checks_are_derived_from_the_imap_configuration():
    """Each active report's check says what imap_reports.yaml says: ledger table and thresholds."""
    imap = pytest.importorskip("bi_pipelines.sources.imap.spec")
    specs = imap.report_freshness_specs()
    config = load_config(DEFAULT_CONFIG_PATH)
    for spec in specs:
        entries = _entries_on(config, spec.conn_id, spec.schema, spec.table)
        assert spec.filter in entries, f"no check for IMAP report {spec.name}"
        entry = entries[spec.filter]
        assert entry.expression == f"max({spec.column})"
        assert entry.thresholds == spec.thresholds, spec.name
        assert entry.origin == f"imap_reports.yaml: reports.{spec.report}"


def test_vonigo_checks_are_derived_from_the_vonigo_configuration():
    vonigo = pytest.importorskip("bi_pipelines.sources.vonigo.spec")
    vc = vonigo.load_vonigo_config()
    config = load_config(DEFAULT_CONFIG_PATH)
    entries = _entries_on(config, vc.target.conn_id, vc.target.schema, vc.target.records)
    for spec in vc.objects:
        entry = entries.get(f"object_type = '{spec.name}'")
        if not spec.freshness.active:
            assert entry is None, spec.name
            continue
        assert entry is not None, f"no check for Vonigo object {spec.name}"
        assert entry.expression == "max(date_last_edited)"
        assert entry.thresholds == spec.freshness, spec.name
        assert entry.origin == f"vonigo.yaml: objects.{spec.name}"


def test_the_committed_file_lists_no_derived_table():
    """freshness.yaml keeps only true extras: nothing a source configuration already describes."""
    derived = {c.key for c in derived_checks()}
    config = load_config(DEFAULT_CONFIG_PATH)
    declared = [c for c in config.checks if c.origin.startswith("freshness.yaml")]
    assert not [c.key for c in declared if c.key in derived]


def test_a_change_in_a_source_configuration_reaches_the_monitor(tmp_path, monkeypatch):
    text = (CONFIG_DIR / "imap_reports.yaml").read_text(encoding="utf-8")
    changed = tmp_path / "reports.yaml"
    changed.write_text(text.replace("warn_after: 8d", "warn_after: 9d"), encoding="utf-8")
    monkeypatch.setenv("BI_IMAP_REPORTS_CONFIG", str(changed))
    checks = {c.key: c for c in load_config(DEFAULT_CONFIG_PATH).checks}
    weekly = checks["redshift_dw:raw_reports.imap_report_ledger#imap_call_centre_weekly"]
    assert weekly.thresholds.warn_after == dt.timedelta(days=9)
    assert weekly.origin == "reports.yaml: reports.call_centre_weekly"


def test_source_configurations_in_a_flows_directory_are_derived_too(tmp_path, flows_dir):
    (flows_dir / "vonigo.yaml").write_text((CONFIG_DIR / "vonigo.yaml").read_text(encoding="utf-8"))
    config = load_config(write(tmp_path, "tables: {}\n"), flows_dir=flows_dir)
    keys = {c.key for c in config.checks}
    assert "obe_mysql:bookings" in keys
    assert "redshift_dw:vonigo.raw_records#vonigo_clients" in keys
    assert not any("imap" in k for k in keys)  # no imap_reports.yaml in that directory


def test_an_override_keeps_the_derived_thresholds_it_does_not_set(tmp_path, flows_dir):
    """Only what the entry sets replaces the derived table's settings, not ``defaults:``."""
    path = write(
        tmp_path,
        """\
        defaults: {timezone: UTC, warn_after: 26h, error_after: 50h, check_interval: 1h}
        tables:
          franchises:
            conn_id: obe_mysql
            expression: max(GREATEST(created_at, updated_at))
          bookings:
            conn_id: obe_mysql
            column: created_at
            error_after: 1d
        """,
    )
    checks = {c.key: c for c in load_config(path, flows_dir=flows_dir).checks}
    franchises = checks["obe_mysql:franchises"]
    assert (
        franchises.thresholds.warn_after,
        franchises.thresholds.error_after,
        franchises.thresholds.check_interval,
    ) == (dt.timedelta(hours=3), dt.timedelta(hours=12), dt.timedelta(minutes=15))
    assert (franchises.timezone, franchises.dialect) == ("America/Vancouver", "mysql")
    bookings = checks["obe_mysql:bookings"]
    assert (bookings.column, bookings.thresholds.warn_after, bookings.thresholds.error_after) == (
        "created_at",
        dt.timedelta(hours=3),
        dt.timedelta(days=1),
    )


def test_an_override_is_checked_against_the_derived_thresholds(tmp_path, flows_dir):
    path = write(tmp_path, "tables:\n  bookings: {conn_id: obe_mysql, column: updated_at, warn_after: 1d}\n")
    with pytest.raises(ConfigError, match=r"freshness.yaml.tables.bookings: warn_after must not be longer"):
        load_config(path, flows_dir=flows_dir)


def test_the_config_file_comes_from_bi_freshness_config(tmp_path, monkeypatch):
    path = write(tmp_path, "flows: {include: false}\n")
    monkeypatch.setenv("BI_FRESHNESS_CONFIG", str(path))
    assert CONFIG_ENV == "BI_FRESHNESS_CONFIG"
    assert load_config().path == path
    monkeypatch.delenv("BI_FRESHNESS_CONFIG")
    monkeypatch.setenv("FRESHNESS_CONFIG", str(path))  # the old name is not read any more
    assert load_config().path == DEFAULT_CONFIG_PATH


def test_statuses_are_one_enum():
    assert (PASS, ERROR) == (FreshnessStatus.PASS, FreshnessStatus.ERROR)
    assert STATUSES == ("pass", "warn", "error", "runtime_error", "no_data")
    assert PASS == "pass"
    assert isinstance(PASS, str)


@pytest.mark.parametrize(
    ("fragment", "rejected"),
    [
        ("a = 1 # and the rest", True),  # a MySQL comment
        ("max(ts)#", True),
        ("report = 'a' # x", True),
        ("report = 'a#b'", False),  # inside a string literal it is data
        ("report = 'it''s #1'", False),
        ("report = 'a' AND note = 'b#c'", False),
        ("report = 'unterminated #", True),
    ],
)
def test_a_hash_comment_is_refused_outside_string_literals(fragment, rejected):
    from bi_pipelines.freshness.spec import check_sql_fragment

    if rejected:
        with pytest.raises(ConfigError, match="a comment"):
            check_sql_fragment(fragment, "freshness.yaml.tables.t.filter")
    else:
        assert check_sql_fragment(fragment, "freshness.yaml.tables.t.filter") == fragment
