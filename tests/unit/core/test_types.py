"""The annotated configuration types, the shared enums and identifier validation."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import TypeAdapter, ValidationError

from bi_pipelines.core.enums import DIALECTS, Dialect, FreshnessStatus
from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.types import Cron, Duration, Identifier, TimeZoneName
from bi_pipelines.db.identifiers import validate_identifier


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (90, dt.timedelta(minutes=90)),
        ("90m", dt.timedelta(minutes=90)),
        ("2h", dt.timedelta(hours=2)),
        ("1d", dt.timedelta(days=1)),
        ("30s", dt.timedelta(seconds=30)),
        (dt.timedelta(hours=1), dt.timedelta(hours=1)),
    ],
)
def test_duration(value, expected):
    assert TypeAdapter(Duration).validate_python(value) == expected


@pytest.mark.parametrize("value", [True, False, "two hours", "-5m", "5m\n5m", "1w"])
def test_duration_refuses(value):
    with pytest.raises(ValidationError, match="expected a duration"):
        TypeAdapter(Duration).validate_python(value)


def test_cron_takes_five_fields_and_refuses_presets():
    assert TypeAdapter(Cron).validate_python("15  *  * * *") == "15 * * * *"
    for bad in ("@daily", "* * * *", "* * * * * *"):
        with pytest.raises(ValidationError, match="is not a five-field cron expression"):
            TypeAdapter(Cron).validate_python(bad)


def test_time_zone_names():
    assert TypeAdapter(TimeZoneName).validate_python("America/Vancouver") == "America/Vancouver"
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        TypeAdapter(TimeZoneName).validate_python("Mars/Olympus")


@pytest.mark.parametrize("value", ["bookings", "_x", "a$b", "a" * 63])
def test_identifiers(value):
    assert TypeAdapter(Identifier).validate_python(value) == value
    assert validate_identifier(value, "x") == value


@pytest.mark.parametrize("value", ["abc\n", "\nabc", "1abc", "a b", "a;b", "a" * 64, "", 7, None])
def test_identifiers_refused(value):
    with pytest.raises(ValidationError, match="is not a valid identifier"):
        TypeAdapter(Identifier).validate_python(value)
    with pytest.raises(ConfigError, match=r"^where: .* is not a valid identifier"):
        validate_identifier(value, "where")


def test_a_trailing_newline_is_not_an_identifier():
    """``$`` in a regular expression also matches before a final newline; a full match does not."""
    with pytest.raises(ConfigError, match=r"'abc\\n' is not a valid identifier"):
        validate_identifier("abc\n", "tables.bookings.cursor_column")


def test_enums_are_their_strings():
    assert DIALECTS == ("postgres", "mysql", "redshift")
    assert Dialect("mysql") is Dialect.MYSQL
    assert Dialect.MYSQL == "mysql"
    assert [s.value for s in FreshnessStatus] == ["pass", "warn", "error", "runtime_error", "no_data"]
