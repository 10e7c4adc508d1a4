"""The time window a DAG run covers.

In Airflow 3 a run has a data interval only when it was scheduled (or triggered with a logical
date). A run triggered from the UI or the REST API without a logical date -- the default -- has
no ``data_interval_start`` in its context at all. Such a run takes the window from its params
(``window_start``/``window_end``) or else the latest complete interval of the DAG's timetable
before the run's ``run_after``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from bi_pipelines.core.errors import ConfigError

# Windows given as params start no earlier than this: a table's lookback (hours or days) is
# subtracted from the start, which must stay a valid date, and no source holds older data.
EARLIEST_WINDOW_START = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval ``[start, end)``."""

    start: dt.datetime
    end: dt.datetime
    origin: str  # "data_interval", "params" or "latest_complete_interval"

    def __post_init__(self):
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(
                f"window end {self.end.isoformat()} is not after its start {self.start.isoformat()}"
            )

    def widened(self, lookback: dt.timedelta) -> Window:
        """The window with its start moved back by ``lookback`` (the overlap with the previous run).

        Raises:
            ConfigError: when the moved start would fall before year 1.
        """
        try:
            start = self.start - lookback
        except OverflowError:
            raise ConfigError(
                f"window start {self.start.isoformat()} moved back by the lookback {lookback} falls "
                f"before year 1; windows must start on or after {EARLIEST_WINDOW_START.date()}"
            ) from None
        return Window(start, self.end, self.origin)

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()}) ({self.origin})"


def _as_utc(value: Any, where: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, dt.datetime):
        raise ConfigError(f"{where}: expected a date-time, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ConfigError(f"{where}: {value.isoformat()} has no time zone; add one, e.g. +00:00")
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
        raise ConfigError(
            f"{where}: {value.isoformat()} is before year 1 in UTC; windows must start on or after "
            f"{EARLIEST_WINDOW_START.isoformat()}"
        ) from None
    # A plain datetime, not Airflow's pendulum subclass: pendulum's DateTime minus a timedelta
    # loses a stdlib tzinfo and comes back naive.
    return dt.datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, dt.UTC
    )


def resolve_window(context: Mapping[str, Any]) -> Window:
    """Work out the window of the current run from an Airflow task context.

    Precedence: explicit params (a manual backfill of any window), then the run's data interval,
    then the latest complete interval of the DAG's timetable before ``run_after``.

    Raises:
        ConfigError: when the params are malformed, give an empty window, or start before
            1900-01-01 (UTC).
    """
    params = context.get("params") or {}
    start, end = params.get("window_start"), params.get("window_end")
    if start or end:
        if not (start and end):
            raise ConfigError("params: give both window_start and window_end, or neither")
        s, e = _as_utc(start, "params.window_start"), _as_utc(end, "params.window_end")
        if s < EARLIEST_WINDOW_START:
            raise ConfigError(
                f"params.window_start: {s.isoformat()} is too early; windows must start on or after "
                f"{EARLIEST_WINDOW_START.isoformat()} (the table's lookback is subtracted from it)"
            )
        if e <= s:
            raise ConfigError(
                f"params: window_end {e.isoformat()} must be after window_start {s.isoformat()}"
            )
        return Window(s, e, "params")
    di_start, di_end = context.get("data_interval_start"), context.get("data_interval_end")
    if di_start is not None and di_end is not None and di_end > di_start:
        return Window(
            _as_utc(di_start, "data_interval_start"), _as_utc(di_end, "data_interval_end"), "data_interval"
        )
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None) or context.get("logical_date") or dt.datetime.now(dt.UTC)
    timetable = getattr(context.get("dag"), "timetable", None)
    expression = getattr(timetable, "expression", None)
    if not expression:
        raise ConfigError("the run has no data interval and its DAG has no cron timetable to infer one from")
    return latest_complete_interval(expression, str(getattr(timetable, "timezone", "UTC")), run_after)


def latest_complete_interval(expression: str, timezone: str, run_after: dt.datetime) -> Window:
    """The last whole cron interval ending at or before ``run_after``, following the zone's DST."""
    zone = ZoneInfo(timezone)
    local = _as_utc(run_after, "run_after").astimezone(zone)
    # Cron has minute resolution and croniter.match() ignores seconds: a run at 00:15:58 of a
    # ":15" schedule matches, and must end its window at 00:15:00, not at 00:15:58 (which would
    # make the window 58 seconds long).
    minute = local.replace(second=0, microsecond=0)
    end = minute if croniter.match(expression, minute) else croniter(expression, local).get_prev(dt.datetime)
    start = croniter(expression, end).get_prev(dt.datetime)
    return Window(start.astimezone(dt.UTC), end.astimezone(dt.UTC), "latest_complete_interval")


WINDOW_PARAMS_DOC = (
    "Optional. Give both `window_start` and `window_end` (ISO 8601 with a time zone) to extract "
    "exactly that window, e.g. to re-run a day by hand; leave both empty for the run's own interval."
)
