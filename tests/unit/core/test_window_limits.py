"""Window params far in the past are a configuration error, not an arithmetic overflow."""

from __future__ import annotations

import datetime as dt

import pytest

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.windows import EARLIEST_WINDOW_START, Window, resolve_window


def params(start: str, end: str) -> dict:
    return {"params": {"window_start": start, "window_end": end}}


@pytest.mark.parametrize(
    "start",
    ["0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+05:00", "1899-12-31T23:59:59+00:00"],
)
def test_a_window_start_before_1900_names_the_param_and_the_limit(start):
    with pytest.raises(ConfigError) as info:
        resolve_window(params(start, "2026-01-01T00:00:00+00:00"))
    message = str(info.value)
    assert "params.window_start" in message
    assert "1900-01-01" in message


def test_the_earliest_start_is_accepted_and_widening_it_past_year_1_is_a_config_error():
    window = resolve_window(params("1900-01-01T00:00:00+00:00", "1900-01-02T00:00:00+00:00"))
    assert window.start == EARLIEST_WINDOW_START
    near_year_one = Window(
        dt.datetime(1, 1, 1, 1, tzinfo=dt.UTC), dt.datetime(1, 1, 2, tzinfo=dt.UTC), "test"
    )
    with pytest.raises(ConfigError, match=r"lookback 2:00:00 .* before year 1"):
        near_year_one.widened(dt.timedelta(hours=2))
