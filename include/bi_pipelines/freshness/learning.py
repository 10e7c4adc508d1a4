"""Thresholds learned from each table's own update history.

A table in ``mode: learned`` (``warn_after: auto`` / ``error_after: auto``) is judged against
the gaps between the successive distinct ``last_update`` values recorded for it in the results
table, instead of fixed durations:

* the gaps are grouped by the **hour of the week at which they started** (in
  ``learning.timezone``, else the table's own ``timezone``), so a table updated hourly during
  business hours and silent at night and over the weekend has short gaps on Tuesday at 10h and a
  long one on Friday at 18h; a bucket with fewer than ``learning.bucket_min_samples`` gaps falls
  back to the gaps of all hours;
* the plausible gap is the ``learning.quantile`` (p95) of the bucket's gaps; the table is late
  (``warn``) when its lag exceeds ``warn_margin`` (1.5) times that gap, ``error`` beyond
  ``error_margin`` (3) times;
* the gap still open at a check (the time since the last update: the lag) started at the last
  update, so it is compared with the gaps that started in the *same* hour of the week as that
  update: "lag now" is "the gap so far", and it is late once the gap so far is longer than what
  gaps starting then have plausibly lasted.

Until the history holds ``learning.min_updates`` gaps spanning ``learning.min_days``, the table's
configured durations (its defaults) apply and the row says ``threshold_mode = 'learning'``.

The distribution is learnt by ONE statement per run for every learned table
(:func:`learn`: window functions and ``percentile_cont`` grouped by table and bucket);
:func:`history_from_updates` computes the same from a list of instants, for tests and the replay
benchmark (``bench/freshness_learning.py``).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bi_pipelines.freshness.spec import FreshnessCheck, LearningSettings, MonitoringSettings

FIXED, LEARNED, LEARNING = "fixed", "learned", "learning"
_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


@dataclass(frozen=True)
class Expectation:
    """What a table's history makes plausible at one check.

    Attributes:
        mode: ``learned``, or ``learning`` while the history is too short (the configured
            thresholds apply).
        warn_after: ``warn_margin`` x the plausible gap (``learned`` only).
        error_after: ``error_margin`` x the plausible gap (``learned`` only).
        gap: The plausible gap: the quantile of the gaps that started in the last update's hour
            of the week (or of all gaps when that bucket is thin).
        quantile: The quantile used (0.95 for p95).
        samples: How many gaps the plausible gap was computed from (``learning``: gaps so far).
        expected_next_update: ``last_update + gap``.
        basis: The gap's origin in words, for messages (``p95 of 12 gaps starting Fri 18h``).
    """

    mode: str
    warn_after: dt.timedelta | None = None
    error_after: dt.timedelta | None = None
    gap: dt.timedelta | None = None
    quantile: float | None = None
    samples: int | None = None
    expected_next_update: dt.datetime | None = None
    basis: str | None = None


@dataclass(frozen=True)
class GapStats:
    """The gaps of one bucket (or of all hours): how many, and their quantile in seconds."""

    samples: int
    quantile_seconds: float
    median_seconds: float


@dataclass(frozen=True)
class TableHistory:
    """The learnt update rhythm of one table.

    Attributes:
        samples: Gaps between successive distinct updates in the history.
        span: From the first to the last update of the history.
        overall: The gaps of all hours.
        buckets: The gaps per hour of the week of their start (0 = Sunday 00h .. 167 = Saturday 23h).
    """

    samples: int
    span: dt.timedelta
    overall: GapStats | None
    buckets: dict[int, GapStats] = field(default_factory=dict)


@functools.lru_cache(maxsize=1 << 16)  # the replay benchmark re-learns the same instants often
def hour_of_week(instant: dt.datetime, zone: str) -> int:
    """0 = Sunday 00h ... 167 = Saturday 23h, in ``zone`` (PostgreSQL's ``DOW * 24 + HOUR``)."""
    local = instant.astimezone(ZoneInfo(zone))
    return (local.isoweekday() % 7) * 24 + local.hour


def bucket_name(bucket: int) -> str:
    """An hour-of-week bucket as a person reads it: ``Tue 08h``."""
    return f"{_DAYS[bucket // 24]} {bucket % 24:02d}h"


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile with linear interpolation, as SQL's ``percentile_cont``."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def history_from_updates(updates: Iterable[dt.datetime], zone: str, q: float) -> TableHistory:
    """The rhythm of a table from its update instants (what :func:`learn` computes in SQL)."""
    instants = sorted(set(updates))
    gaps: list[tuple[int, float]] = [
        (hour_of_week(a, zone), (b - a).total_seconds()) for a, b in itertools.pairwise(instants)
    ]
    by_bucket: dict[int, list[float]] = {}
    for bucket, seconds in gaps:
        by_bucket.setdefault(bucket, []).append(seconds)

    def stats(values: list[float]) -> GapStats:
        return GapStats(len(values), quantile(values, q), quantile(values, 0.5))

    return TableHistory(
        samples=len(gaps),
        span=(instants[-1] - instants[0]) if instants else dt.timedelta(),
        overall=stats([s for _, s in gaps]) if gaps else None,
        buckets={b: stats(v) for b, v in by_bucket.items()},
    )


def learn_sql(qualified_table: str, n_keys: int) -> str:
    """The one statement learning every table's gap distribution, per hour-of-week bucket and overall.

    Parameters, in order: the zone override (or NULL), ``n_keys`` table keys, ``since``,
    ``before``, then the quantile twice. ``bucket`` is NULL on a table's all-hours row.
    """
    keys = ", ".join(["%s"] * n_keys)
    # Distinct updates (many checks see the same last_update), then each one's gap to the next:
    # the open gap after the newest update is not a sample (LEAD is NULL there).
    return (
        "WITH updates AS ("
        " SELECT table_key, last_update, MIN(COALESCE(CAST(%s AS text), source_timezone)) AS zone"
        f" FROM {qualified_table}"
        f" WHERE table_key IN ({keys}) AND checked_at >= %s AND checked_at < %s AND last_update IS NOT NULL"
        " GROUP BY table_key, last_update"
        "), gaps AS ("
        " SELECT table_key, last_update, zone,"
        " LEAD(last_update) OVER (PARTITION BY table_key ORDER BY last_update) AS next_update,"
        " MIN(last_update) OVER (PARTITION BY table_key) AS first_update,"
        " MAX(last_update) OVER (PARTITION BY table_key) AS newest_update"
        " FROM updates"
        "), samples AS ("
        " SELECT table_key, first_update, newest_update,"
        " CAST(EXTRACT(EPOCH FROM next_update) - EXTRACT(EPOCH FROM last_update) AS double precision)"
        " AS gap_seconds,"
        " CAST(EXTRACT(DOW FROM last_update AT TIME ZONE zone) AS integer) * 24"
        " + CAST(EXTRACT(HOUR FROM last_update AT TIME ZONE zone) AS integer) AS bucket"
        " FROM gaps WHERE next_update IS NOT NULL"
        ") "
        "SELECT table_key, bucket, COUNT(*), percentile_cont(%s) WITHIN GROUP (ORDER BY gap_seconds),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY gap_seconds), MIN(first_update), MAX(newest_update)"
        " FROM samples GROUP BY table_key, bucket "
        "UNION ALL "
        "SELECT table_key, NULL, COUNT(*), percentile_cont(%s) WITHIN GROUP (ORDER BY gap_seconds),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY gap_seconds), MIN(first_update), MAX(newest_update)"
        " FROM samples GROUP BY table_key"
    )


def learn(
    wh,
    monitoring: MonitoringSettings,
    settings: LearningSettings,
    keys: Sequence[str],
    *,
    before: dt.datetime,
    since: dt.datetime,
) -> dict[str, TableHistory]:
    """Every learned table's rhythm from the rows checked in ``[since, before)``, in ONE query.

    A table with fewer than two distinct updates is absent from the answer (nothing learnt yet).
    """
    if not keys:
        return {}
    sql = learn_sql(wh.qualified(monitoring.schema, monitoring.table), len(keys))
    rows = wh.query(sql, (settings.timezone, *keys, since, before, settings.quantile, settings.quantile))
    buckets: dict[str, dict[int, GapStats]] = {}
    overall: dict[str, tuple[GapStats, dt.timedelta]] = {}
    for key, bucket, samples, value, median, first, newest in rows:
        stats = GapStats(int(samples), float(value), float(median))
        if bucket is None:
            overall[key] = (stats, newest - first)
        else:
            buckets.setdefault(key, {})[int(bucket)] = stats
    return {
        key: TableHistory(stats.samples, span, stats, buckets.get(key, {}))
        for key, (stats, span) in overall.items()
    }


def expect(
    check: FreshnessCheck,
    last_update: dt.datetime | None,
    history: TableHistory | None,
    settings: LearningSettings,
) -> Expectation:
    """What ``history`` makes plausible for ``check`` whose newest update is ``last_update``.

    ``learning`` (the configured thresholds apply) until the history holds ``min_updates`` gaps
    over ``min_days``; then ``learned``, from the bucket of ``last_update``'s hour of the week, or
    from all hours when that bucket has fewer than ``bucket_min_samples`` gaps (or there is no
    last update to place in a bucket).
    """
    samples = history.samples if history else 0
    if history is None or history.overall is None or samples < settings.min_updates:
        return Expectation(LEARNING, samples=samples)
    if history.span < settings.min_days:
        return Expectation(LEARNING, samples=samples)
    zone = settings.timezone or check.timezone
    overall = history.overall
    # A regular table (every hour, every day) is judged on all its gaps, which a past outage
    # barely moves; the hour-of-week buckets (a dozen gaps each in 90 days) only serve a table
    # whose gaps vary with the time of the week (nights, weekends: p95 >= rhythm_ratio x median).
    weekly = overall.quantile_seconds >= settings.rhythm_ratio * overall.median_seconds

    def stats_at(instant: dt.datetime | None) -> tuple[GapStats, str]:
        if weekly and instant is not None:
            bucket = hour_of_week(instant, zone)
            in_bucket = history.buckets.get(bucket)
            if in_bucket is not None and in_bucket.samples >= settings.bucket_min_samples:
                return in_bucket, f"starting {bucket_name(bucket)}"
        return overall, "all hours"

    stats, where = stats_at(last_update)
    gap = dt.timedelta(seconds=stats.quantile_seconds)
    # The slack past the expected update is (margin - 1) x the shorter of this gap and the one
    # that should follow it: after a night or a weekend the table is expected back at its daytime
    # cadence, so an outage starting at the evening's last update is not hidden behind 1.5 nights.
    following, _ = stats_at(last_update + gap if last_update is not None else None)
    slack = min(gap, dt.timedelta(seconds=following.quantile_seconds))
    return Expectation(
        LEARNED,
        warn_after=gap + slack * (settings.warn_margin - 1),
        error_after=gap + slack * (settings.error_margin - 1),
        gap=gap,
        quantile=settings.quantile,
        samples=stats.samples,
        expected_next_update=last_update + gap if last_update is not None else None,
        basis=f"p{settings.quantile * 100:g} of {stats.samples} gaps {where}",
    )
