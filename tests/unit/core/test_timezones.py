"""The one naive-local-to-UTC rule: standard time at both DST edges, as PostgreSQL reads them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bi_pipelines.core.timezones import local_to_utc

UTC = dt.UTC
VANCOUVER = ZoneInfo("America/Vancouver")


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (dt.datetime(2026, 7, 1, 12), dt.datetime(2026, 7, 1, 19, tzinfo=UTC)),  # summer, PDT
        (dt.datetime(2026, 1, 1, 12), dt.datetime(2026, 1, 1, 20, tzinfo=UTC)),  # winter, PST
        (dt.datetime(2026, 11, 1, 1, 30), dt.datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),  # twice
        (dt.datetime(2026, 3, 8, 2, 30), dt.datetime(2026, 3, 8, 10, 30, tzinfo=UTC)),  # never
    ],
)
def test_dst_edges_are_read_as_standard_time(local, expected):
    assert local_to_utc(local, VANCOUVER) == expected
    assert local_to_utc(local, "America/Vancouver") == expected


def test_the_fold_attribute_of_the_input_does_not_matter():
    for fold in (0, 1):
        assert local_to_utc(dt.datetime(2026, 11, 1, 1, 30, fold=fold), VANCOUVER) == dt.datetime(
            2026, 11, 1, 9, 30, tzinfo=UTC
        )


def test_aware_values_are_only_converted():
    aware = dt.datetime(2026, 11, 1, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    assert local_to_utc(aware, VANCOUVER) == dt.datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


def test_fixed_offset_zones():
    assert local_to_utc(dt.datetime(2026, 11, 1, 1, 30), dt.UTC) == dt.datetime(
        2026, 11, 1, 1, 30, tzinfo=UTC
    )
