"""Learned thresholds: configuration, the expectation, and the replay on generated history."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import pytest

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.settings import FreshnessThresholds
from bi_pipelines.freshness import alerts
from bi_pipelines.freshness.learning import (
    LEARNED,
    LEARNING,
    expect,
    history_from_updates,
    hour_of_week,
    quantile,
)
from bi_pipelines.freshness.spec import ERROR, PASS, WARN, FreshnessCheck, LearningSettings, load_config
from bi_pipelines.freshness.sweep import FreshnessResult, evaluate, judge_learned
from bi_pipelines.freshness.writer import COLUMN_NAMES, result_row

UTC = dt.UTC
MONDAY = dt.datetime(2026, 3, 2, tzinfo=UTC)
BENCH = Path(__file__).resolve().parents[3] / "bench" / "freshness_learning.py"


def check(mode="learned", timezone="UTC") -> FreshnessCheck:
    return FreshnessCheck(
        key="dw:s.t",
        conn_id="dw",
        schema="s",
        table="t",
        column="updated_at",
        timezone=timezone,
        thresholds=FreshnessThresholds(dt.timedelta(hours=2), dt.timedelta(hours=4), mode=mode),
        origin="test",
    )


def business_hours(weeks: int) -> list[dt.datetime]:
    """Hourly updates Monday-Friday 08h-18h UTC, five minutes past the hour."""
    out = []
    for day in range(weeks * 7):
        date = MONDAY + dt.timedelta(days=day)
        if date.weekday() < 5:
            out += [date + dt.timedelta(hours=h, minutes=5) for h in range(8, 19)]
    return out


# -- configuration -------------------------------------------------------------------------------
def test_auto_means_learned_and_durations_stay_the_fallback():
    t = FreshnessThresholds.model_validate({"warn_after": "auto", "error_after": "6h"})
    assert t.mode == "learned"
    assert t.warn_after is None
    assert t.error_after == dt.timedelta(hours=6)
    assert FreshnessThresholds.model_validate({"mode": "learned"}).mode == "learned"
    assert FreshnessThresholds().mode == "fixed"
    with pytest.raises(ValueError, match="contradicts mode: fixed"):
        FreshnessThresholds.model_validate({"warn_after": "auto", "mode": "fixed"})


def test_freshness_yaml_opts_in_per_entry_and_in_defaults(tmp_path):
    path = tmp_path / "freshness.yaml"
    path.write_text(
        "dag: {dag_id: monitor_source_freshness, schedule: '*/15 * * * *', start_date: '2026-11-01'}\n"
        "flows: {include: false}\n"
        "learning: {quantile: 0.9, warn_margin: 2, error_margin: 4, min_updates: 12, min_days: 10d}\n"
        "defaults: {warn_after: 26h, error_after: 50h, mode: learned}\n"
        "tables:\n"
        "  a: {conn_id: dw, column: c}\n"
        "  b: {conn_id: dw, column: c, mode: fixed}\n"
        "  c: {conn_id: dw, column: c, warn_after: auto, error_after: auto}\n",
        encoding="utf-8",
    )
    config = load_config(path)
    modes = {c.table: (c.thresholds.mode, c.thresholds.warn_after) for c in config.checks}
    assert modes == {
        "a": ("learned", dt.timedelta(hours=26)),
        "b": ("fixed", dt.timedelta(hours=26)),
        "c": ("learned", dt.timedelta(hours=26)),  # the defaults apply while learning
    }
    assert config.learning.quantile == 0.9
    assert config.learning.min_days == dt.timedelta(days=10)
    assert [c.table for c in config.learned_checks] == ["a", "c"]
    path.write_text(path.read_text().replace("warn_margin: 2", "warn_margin: 5"), encoding="utf-8")
    with pytest.raises(ConfigError, match="warn_margin"):
        load_config(path)


def test_the_committed_config_has_the_documented_learning_defaults():
    learning = load_config().learning
    assert (learning.quantile, learning.warn_margin, learning.error_margin) == (0.95, 1.5, 3.0)
    assert (learning.min_updates, learning.min_days) == (8, dt.timedelta(days=14))


# -- the expectation -----------------------------------------------------------------------------
def test_quantile_matches_percentile_cont_and_hours_of_week():
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([5], 0.95) == 5
    assert quantile(list(range(1, 21)), 0.95) == pytest.approx(19.05)
    assert hour_of_week(MONDAY, "UTC") == 24  # Sunday 00h is 0, as PostgreSQL's DOW
    assert hour_of_week(dt.datetime(2026, 3, 7, 23, tzinfo=UTC), "UTC") == 167
    # Local wall time across the switch to PDT (2026-03-08): 01h UTC is 17h PST, then 18h PDT.
    assert hour_of_week(dt.datetime(2026, 3, 8, 1, tzinfo=UTC), "America/Vancouver") == 6 * 24 + 17
    assert hour_of_week(dt.datetime(2026, 3, 9, 1, tzinfo=UTC), "America/Vancouver") == 18


def test_learning_until_enough_history_then_the_configured_thresholds_apply():
    settings = LearningSettings()
    short = history_from_updates(business_hours(1), "UTC", 0.95)  # 54 gaps in 5 days
    exp = expect(check(), MONDAY, short, settings)
    assert exp.mode == LEARNING
    assert exp.samples == short.samples
    assert exp.warn_after is None
    assert expect(check(), MONDAY, None, settings) == type(exp)(LEARNING, samples=0)
    # judged on the configured 2h / 4h, and the row says so
    last = MONDAY + dt.timedelta(hours=8)
    status, _, message = evaluate(check(), last, last + dt.timedelta(hours=3), exp)
    assert status == WARN
    assert "more than warn_after 2h 0m" in message


def test_the_open_gap_is_judged_against_gaps_starting_in_the_same_hour_of_the_week():
    settings = LearningSettings()
    history = history_from_updates(business_hours(8), "UTC", 0.95)
    friday_evening = MONDAY + dt.timedelta(days=4, hours=18, minutes=5)
    weekend = expect(check(), friday_evening, history, settings)
    assert weekend.mode == LEARNED
    assert "starting Fri 18h" in weekend.basis
    assert weekend.gap == dt.timedelta(hours=62)
    assert weekend.expected_next_update == friday_evening + dt.timedelta(hours=62)
    # Monday 07h is silent, not late: the weekend gap is plausible...
    monday_morning = friday_evening + dt.timedelta(hours=61)
    assert evaluate(check(), friday_evening, monday_morning, weekend)[0] == PASS
    # ... but by 09h the Monday 08h update is overdue: the slack after the expected update is the
    # daytime cadence, not half a weekend.
    status, _, message = evaluate(check(), friday_evening, monday_morning + dt.timedelta(hours=2), weekend)
    assert status == WARN
    assert "the learned warn_after" in message
    assert "Fri 18h" in message
    # On a Tuesday at 10h the gap is an hour: 1.5 h late is a warning, 3 h an error.
    tuesday = MONDAY + dt.timedelta(days=1, hours=10, minutes=5)
    day = expect(check(), tuesday, history, settings)
    assert day.gap == dt.timedelta(hours=1)
    assert day.warn_after == dt.timedelta(hours=1.5)
    assert evaluate(check(), tuesday, tuesday + dt.timedelta(hours=1, minutes=20), day)[0] == PASS
    assert evaluate(check(), tuesday, tuesday + dt.timedelta(hours=2), day)[0] == WARN
    assert evaluate(check(), tuesday, tuesday + dt.timedelta(hours=3, minutes=5), day)[0] == ERROR


def test_a_regular_table_uses_all_its_gaps_and_a_thin_bucket_falls_back():
    hourly = [MONDAY + dt.timedelta(hours=h) for h in range(24 * 30)]
    del hourly[100:106]  # one past outage, in one bucket
    history = history_from_updates(hourly, "UTC", 0.95)
    exp = expect(check(), hourly[99], history, LearningSettings())
    assert "all hours" in exp.basis
    assert exp.gap == dt.timedelta(hours=1)
    weekly = [MONDAY + dt.timedelta(weeks=w, minutes=w) for w in range(10)]
    exp = expect(check(), weekly[-1], history_from_updates(weekly, "UTC", 0.95), LearningSettings())
    assert exp.mode == LEARNED
    assert "all hours" in exp.basis
    assert exp.gap.days == 7
    assert exp.warn_after == exp.gap * 1.5


def test_a_learned_row_and_the_log_table_show_the_expectation():
    history = history_from_updates(business_hours(8), "UTC", 0.95)
    last = MONDAY + dt.timedelta(days=1, hours=10, minutes=5)
    exp = expect(check(), last, history, LearningSettings())
    measured = FreshnessResult(
        check(), PASS, last, last + dt.timedelta(hours=2), 7200.0, None, "h", "postgres"
    )
    judged = judge_learned(measured, exp)
    assert judged.status == WARN
    assert judged.expectation is exp
    row = dict(
        zip(
            COLUMN_NAMES,
            result_row(judged, run_id="r", checked_at=last, previous=None, acknowledgement=None),
            strict=True,
        )
    )
    assert row["threshold_mode"] == "learned"
    assert row["learned_quantile"] == 0.95
    assert row["expected_next_update"] == last + dt.timedelta(hours=1)
    assert row["learned_gap_seconds"] == 3600
    assert row["warn_after_seconds"] == 5400
    assert row["learned_samples"] == exp.samples
    assert row["error_after_seconds"] == 3 * 3600
    line = alerts.format_table([judged]).splitlines()[1]
    assert "learned p95 of" in line
    assert "next by" in line
    assert "warn 1.5 h / error 3.0 h" in line
    learning = judge_learned(measured, expect(check(), last, None, LearningSettings()))
    row = dict(
        zip(
            COLUMN_NAMES,
            result_row(learning, run_id="r", checked_at=last, previous=None, acknowledgement=None),
            strict=True,
        )
    )
    assert (row["threshold_mode"], row["expected_next_update"], row["warn_after_seconds"]) == (
        "learning",
        None,
        7200,
    )
    assert "learning (0 gaps); warn" in alerts.format_table([learning]).splitlines()[1]


# -- proven on data ------------------------------------------------------------------------------
def _bench():
    spec = importlib.util.spec_from_file_location("freshness_learning_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_learned_thresholds_beat_fixed_ones_on_generated_history():
    """The replay of ``make bench-freshness-learning`` (the figures in the freshness README)."""
    bench = _bench()
    scores = bench.run()["scores"]
    for rhythm in ("business", "weekly"):
        fixed, learned = scores[rhythm]["fixed"], scores[rhythm]["learned"]
        assert learned.precision >= fixed.precision, rhythm
        assert learned.recall >= fixed.recall, rhythm
    # Fixed thresholds of 2x the period cry wolf every night and weekend on business-hours tables.
    assert scores["business"]["fixed"].precision < 0.5
    overall = scores["all"]["learned"]
    assert overall.precision >= 0.9
    assert overall.recall >= 0.9
