"""Flow configuration validation and the window a run covers."""

from __future__ import annotations

import datetime as dt
import textwrap
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.windows import Window, latest_complete_interval, resolve_window
from bi_pipelines.sources.relational.spec import CONFIG_DIR, load_flow, load_flows, parse_duration

UTC = dt.UTC
VALID = """
dag:
  schedule: "15 * * * *"
  start_date: "2026-11-01T00:00:00"
  timezone: America/Vancouver
  catchup: false
source: {conn_id: obe_mysql, dialect: mysql}
target: {conn_id: redshift_dw, schema: raw_obe}
tables:
  bookings:
    primary_key: [booking_id]
    cursor_column: updated_at
"""


def flow_from(tmp_path, text: str, name: str = "extract_test.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_flow(path)


def test_shipped_flows_load():
    flows = {f.dag.dag_id: f for f in load_flows()}
    assert set(flows) == {"extract_obe_mysql", "extract_info_portal_postgres", "extract_redshift_dw"}
    obe = flows["extract_obe_mysql"]
    assert obe.table("bookings").lookback == dt.timedelta(hours=2)
    assert not obe.table("franchises").incremental
    assert obe.table("franchises").freshness_column == "updated_at"
    assert flows["extract_redshift_dw"].dag.start_date.tzinfo == ZoneInfo("America/Vancouver")
    assert all(p.name.startswith("extract_") for p in CONFIG_DIR.glob("extract_*.yaml"))


def test_valid_flow_defaults(tmp_path):
    flow = flow_from(tmp_path, VALID)
    table = flow.table("bookings")
    assert flow.dag.dag_id == "extract_test"  # from the file name
    assert flow.dag.start_date == dt.datetime(2026, 11, 1, tzinfo=ZoneInfo("America/Vancouver"))
    assert (flow.dag.retries, flow.dag.retry_delay, flow.dag.catchup) == (2, dt.timedelta(minutes=5), False)
    assert (table.source_table, table.target_table, table.source_timezone) == ("bookings", "bookings", "UTC")
    assert table.lookback == dt.timedelta(minutes=60)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("15 * * * *", "@hourly"), r"dag.schedule: '@hourly' is not a five-field cron"),
        (
            ("timezone: America/Vancouver", "timezone: Mars/Olympus"),
            r"dag.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            ('start_date: "2026-11-01T00:00:00"', "start_date: yesterday"),
            r"dag.start_date: 'yesterday' is not an ISO",
        ),
        (("dialect: mysql", "dialect: oracle"), r"source.dialect: must be one of postgres, mysql, redshift"),
        (
            ("cursor_column: updated_at", 'cursor_column: "updated_at; DROP TABLE x"'),
            r"cursor_column: 'updated_at; DROP TABLE x' is not a valid identifier",
        ),
        (("schema: raw_obe", 'schema: "raw obe"'), r"target.schema: 'raw obe' is not a valid identifier"),
        (
            ("    cursor_column: updated_at", "    cursor_column: updated_at\n    lookbak: 2h"),
            r"tables.bookings: unknown key\(s\) lookbak",
        ),
        (
            ("    primary_key: [booking_id]\n", ""),
            r"tables.bookings.primary_key: an incremental table needs a primary key",
        ),
        (
            ("    cursor_column: updated_at", "    mode: full_refresh\n    cursor_column: updated_at"),
            r"a full_refresh table has no cursor column",
        ),
        (
            ("    cursor_column: updated_at", "    cursor_column: updated_at\n    lookback: soon"),
            r"lookback: expected a duration",
        ),
        (("catchup: false", "catchup: false\n  retries: 1"), r"dag.retries: at least 2 retries are required"),
    ],
)
def test_invalid_flows_name_file_and_key(tmp_path, change, message):
    old, new = change
    assert old in VALID
    with pytest.raises(ConfigError, match=message) as excinfo:
        flow_from(tmp_path, VALID.replace(old, new))
    assert str(excinfo.value).startswith("extract_test.yaml")


def test_two_tables_into_one_target_is_rejected(tmp_path):
    text = (
        VALID
        + "  bookings_copy:\n    source_table: bookings\n    target_table: bookings\n    mode: full_refresh\n"
    )
    with pytest.raises(ConfigError, match="target table\\(s\\) used twice: bookings"):
        flow_from(tmp_path, text)


def test_yaml_syntax_error(tmp_path):
    with pytest.raises(ConfigError, match=r"extract_test\.yaml: not valid YAML"):
        flow_from(tmp_path, "dag: [unclosed\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (90, dt.timedelta(minutes=90)),
        ("2h", dt.timedelta(hours=2)),
        ("1d", dt.timedelta(days=1)),
        ("30s", dt.timedelta(seconds=30)),
    ],
)
def test_durations(value, expected):
    assert parse_duration(value, "x") == expected


def test_duration_rejects_booleans_and_words():
    for bad in (True, "two hours", "-5m"):
        with pytest.raises(ConfigError):
            parse_duration(bad, "x")


# -- windows -------------------------------------------------------------------------------------
def dag_with(expression: str, timezone: str = "UTC"):
    return SimpleNamespace(timetable=SimpleNamespace(expression=expression, timezone=timezone))


def test_scheduled_run_uses_its_data_interval():
    context = {
        "data_interval_start": dt.datetime(2026, 11, 20, 10, tzinfo=UTC),
        "data_interval_end": dt.datetime(2026, 11, 20, 11, tzinfo=UTC),
        "params": {"window_start": None, "window_end": None},
    }
    assert resolve_window(context) == Window(
        context["data_interval_start"], context["data_interval_end"], "data_interval"
    )


def test_manual_run_without_logical_date_takes_latest_complete_interval():
    """What the UI's Trigger button gives in Airflow 3.3: no data_interval_* keys at all."""
    context = {
        "dag": dag_with("15 * * * *"),
        "dag_run": SimpleNamespace(run_after=dt.datetime(2026, 11, 20, 11, 40, tzinfo=UTC)),
        "params": {},
    }
    window = resolve_window(context)
    assert (window.start, window.end, window.origin) == (
        dt.datetime(2026, 11, 20, 10, 15, tzinfo=UTC),
        dt.datetime(2026, 11, 20, 11, 15, tzinfo=UTC),
        "latest_complete_interval",
    )


def test_latest_interval_on_the_boundary_and_across_dst():
    # Exactly at a fire time: the interval that just ended.
    w = latest_complete_interval("0 * * * *", "UTC", dt.datetime(2026, 11, 20, 11, 0, tzinfo=UTC))
    assert (w.start.hour, w.end.hour) == (10, 11)
    # 03:00 Vancouver daily: the interval over the autumn change (1 Nov, 02:00) is 25 hours long.
    w = latest_complete_interval("0 3 * * *", "America/Vancouver", dt.datetime(2026, 11, 1, 12, tzinfo=UTC))
    assert (w.start, w.end) == (
        dt.datetime(2026, 10, 31, 10, tzinfo=UTC),
        dt.datetime(2026, 11, 1, 11, tzinfo=UTC),
    )


def test_latest_interval_within_the_minute_of_a_fire_time_is_the_whole_interval():
    """A run 58 s after a :15 fire time covers the hour that just ended, not those 58 seconds."""
    for run_after in (
        dt.datetime(2026, 12, 2, 0, 15, 58, tzinfo=UTC),
        dt.datetime(2026, 12, 2, 0, 15, 0, 1, tzinfo=UTC),
        dt.datetime(2026, 12, 2, 0, 16, 0, tzinfo=UTC),
    ):
        w = latest_complete_interval("15 * * * *", "UTC", run_after)
        assert (w.start, w.end) == (
            dt.datetime(2026, 12, 1, 23, 15, tzinfo=UTC),
            dt.datetime(2026, 12, 2, 0, 15, tzinfo=UTC),
        ), run_after


def test_params_override_and_are_validated():
    base = {
        "data_interval_start": dt.datetime(2026, 1, 1, tzinfo=UTC),
        "data_interval_end": dt.datetime(2026, 1, 2, tzinfo=UTC),
    }
    w = resolve_window(
        {
            **base,
            "params": {"window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-08T00:00:00-08:00"},
        }
    )
    assert (w.start, w.end, w.origin) == (
        dt.datetime(2026, 11, 1, tzinfo=UTC),
        dt.datetime(2026, 11, 8, 8, tzinfo=UTC),
        "params",
    )
    with pytest.raises(ConfigError, match="give both window_start and window_end"):
        resolve_window({**base, "params": {"window_start": "2026-11-01T00:00:00Z"}})
    with pytest.raises(ConfigError, match="has no time zone"):
        resolve_window(
            {**base, "params": {"window_start": "2026-11-01T00:00:00", "window_end": "2026-11-02T00:00:00"}}
        )
    with pytest.raises(ConfigError, match="must be after window_start"):
        resolve_window(
            {**base, "params": {"window_start": "2026-11-02T00:00:00Z", "window_end": "2026-11-01T00:00:00Z"}}
        )
    with pytest.raises(ConfigError, match="not an ISO 8601"):
        resolve_window(
            {**base, "params": {"window_start": "last week", "window_end": "2026-11-01T00:00:00Z"}}
        )


def test_pendulum_bounds_survive_arithmetic():
    """Airflow hands pendulum datetimes; minus a lookback they must stay aware."""
    import pendulum

    context = {
        "data_interval_start": pendulum.datetime(2026, 11, 20, 10, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 11, 20, 11, tz="UTC"),
    }
    widened = resolve_window(context).widened(dt.timedelta(hours=2))
    assert widened.start == dt.datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert widened.start.tzinfo is not None


def test_window_rejects_naive_and_empty():
    with pytest.raises(ValueError, match="window bounds must be timezone-aware"):
        Window(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2), "x")
    with pytest.raises(ValueError, match="is not after its start"):
        Window(dt.datetime(2026, 1, 2, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC), "x")
