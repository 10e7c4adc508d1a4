"""``local_to_utc`` gives what the local PostgreSQL gives for ``timestamp AT TIME ZONE``."""

from __future__ import annotations

import datetime as dt

import pytest

from bi_pipelines.core.timezones import local_to_utc

ZONES = ("America/Vancouver", "America/New_York", "Europe/Paris", "Australia/Lord_Howe")
LOCAL_TIMES = (
    dt.datetime(2026, 11, 1, 1, 30),  # Vancouver, New York: occurs twice
    dt.datetime(2026, 3, 8, 2, 30),  # Vancouver, New York: never occurs
    dt.datetime(2026, 10, 25, 2, 30),  # Paris: twice
    dt.datetime(2026, 3, 29, 2, 30),  # Paris: never
    dt.datetime(2026, 4, 5, 1, 45),  # Lord Howe: twice (a half-hour shift)
    dt.datetime(2026, 10, 4, 2, 15),  # Lord Howe: never
    dt.datetime(2026, 7, 1, 12),
)


@pytest.mark.parametrize("zone", ZONES)
def test_matches_postgresql_at_time_zone(pg_db, zone):
    server = pg_db.query(
        "SELECT t, (t AT TIME ZONE %s) FROM unnest(%s::timestamp[]) AS t ORDER BY t",
        (zone, list(LOCAL_TIMES)),
    )
    assert len(server) == len(LOCAL_TIMES)
    for local, instant in server:
        assert local_to_utc(local, zone) == instant, (zone, local)


def test_the_two_vancouver_edges_against_postgresql(pg_db):
    ((autumn, spring),) = pg_db.query(
        "SELECT '2026-11-01 01:30'::timestamp AT TIME ZONE 'America/Vancouver', "
        "'2026-03-08 02:30'::timestamp AT TIME ZONE 'America/Vancouver'"
    )
    assert autumn == dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.UTC)
    assert spring == dt.datetime(2026, 3, 8, 10, 30, tzinfo=dt.UTC)
    assert local_to_utc(dt.datetime(2026, 11, 1, 1, 30), "America/Vancouver") == autumn
    assert local_to_utc(dt.datetime(2026, 3, 8, 2, 30), "America/Vancouver") == spring
