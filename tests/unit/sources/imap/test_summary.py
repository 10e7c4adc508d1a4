"""What a report task hands to XCom and what the closing ``summarize`` task makes of it."""

from __future__ import annotations

import datetime as dt
import json
import logging

from bi_pipelines.core.windows import Window
from bi_pipelines.sources.imap.mailbox import search_criteria
from bi_pipelines.sources.imap.pipeline import AttachmentOutcome, ReportSummary, log_run_summary

AT = dt.datetime(2026, 11, 20, 11, 5, tzinfo=dt.UTC)


def summary(fail_on_rejected: bool) -> ReportSummary:
    s = ReportSummary(
        "sales", "raw_reports.sales", "INBOX", "[a, b)", 3, 3, fail_on_rejected=fail_on_rejected
    )
    s.outcomes += [
        AttachmentOutcome("<1@x>", AT, "2", "Ventes_A.csv", "loaded", rows=40),
        AttachmentOutcome("<2@x>", AT, "2", "Ventes_A.csv", "duplicate", reason="same file"),
        AttachmentOutcome("<3@x>", AT, "2", "Ventes_B.csv", "rejected", reason="line 4 has 3 fields"),
        AttachmentOutcome("<4@x>", AT, "", None, "skipped", reason="already rejected"),
    ]
    return s


def test_summary_counts_and_is_json_for_xcom():
    data = json.loads(json.dumps(summary(True).as_dict()))
    assert {k: data[k] for k in ("loaded", "duplicate", "rejected", "skipped", "rows_loaded")} == {
        "loaded": 1,
        "duplicate": 1,
        "rejected": 1,
        "skipped": 1,
        "rows_loaded": 40,
    }
    assert data["rejections"] == [
        "REJECTED 'Ventes_B.csv' from <3@x> received 2026-11-20T11:05:00+00:00: line 4 has 3 fields"
    ]
    assert "loaded 1 attachment(s) (40 rows) into raw_reports.sales" in data["headline"]


def test_only_configured_reports_fail_on_rejections():
    assert summary(True).should_fail
    assert not summary(False).should_fail


def test_run_summary_fails_reports_without_a_summary_or_with_rejections_that_must_fail(caplog):
    caplog.set_level(logging.INFO, logger="bi_pipelines.sources.imap.pipeline")
    failed = log_run_summary(
        [summary(True).as_dict(), summary(False).as_dict(), None], ["sales", "lenient", "calls"]
    )
    assert failed == ["sales", "calls"]
    assert "calls: FAILED before finishing (see its task log)" in caplog.text
    assert caplog.text.count("line 4 has 3 fields") == 2


def test_search_criteria_cover_the_window_in_any_server_time_zone():
    window = Window(dt.datetime(2026, 11, 18, 12, 20, tzinfo=dt.UTC), AT, "test")
    assert search_criteria(window) == ["SINCE", dt.date(2026, 11, 17), "BEFORE", dt.date(2026, 11, 22)]
