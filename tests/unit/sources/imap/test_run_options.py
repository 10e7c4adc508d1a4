"""The run params of ``extract_bi_imap``: which reports run, over which window, reprocessing what."""

from __future__ import annotations

import datetime as dt

import pytest

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.orchestration.imap import report_run_options
from bi_pipelines.sources.imap.ledger import LOADED, REJECTED, LedgerEntry
from bi_pipelines.sources.imap.pipeline import ReprocessSelection, not_selected_summary
from bi_pipelines.sources.imap.spec import load_imap_reports

UTC = dt.UTC
START, END = dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 11, 8, tzinfo=UTC)
SHA = "ab" * 32


@pytest.fixture(scope="module")
def config():
    return load_imap_reports()


def context(**params):
    return {
        "params": params,
        "data_interval_start": dt.datetime(2026, 11, 20, 11, 20, tzinfo=UTC),
        "data_interval_end": dt.datetime(2026, 11, 20, 12, 20, tzinfo=UTC),
    }


def entry(status: str, sha256: str | None = SHA, message_id="<m@x>", part="2") -> LedgerEntry:
    return LedgerEntry(
        "r", "k", part, sha256 or "uid:INBOX:1:1", message_id, "INBOX", 1, 1, None, None, None, None,
        None, None, sha256, 0, status, None, None, "t", dt.datetime(2026, 11, 20, tzinfo=UTC),
    )  # fmt: skip


def test_a_scheduled_run_reads_its_interval_and_the_overlap_and_reprocesses_nothing(config):
    window, selection = report_run_options(config, "franchise_daily_sales", context())
    assert window.start == dt.datetime(2026, 11, 18, 11, 20, tzinfo=UTC)  # 2 days of overlap
    assert not selection.anything
    assert not selection.selects(entry(REJECTED))


def test_reprocess_true_is_rejected_files_only_over_the_exact_window(config):
    ctx = context(window_start=START.isoformat(), window_end=END.isoformat(), reprocess=True)
    window, selection = report_run_options(config, "franchise_daily_sales", ctx)
    assert (window.start, window.end) == (START, END)  # no overlap added
    assert selection.selects(entry(REJECTED))
    assert not selection.selects(entry(LOADED))
    every = report_run_options(
        config, "franchise_daily_sales", {**ctx, "params": {**ctx["params"], "reprocess": "all"}}
    )
    assert every[1].selects(entry(LOADED))


def test_exact_window_without_reprocessing(config):
    ctx = context(window_start=START.isoformat(), window_end=END.isoformat(), exact_window=True)
    assert report_run_options(config, "franchise_daily_sales", ctx)[0].start == START
    ctx = context(window_start=START.isoformat(), window_end=END.isoformat())
    assert report_run_options(config, "franchise_daily_sales", ctx)[0].start == START - dt.timedelta(days=2)


def test_one_file_or_one_message_part(config):
    _window, by_sha = report_run_options(
        config, "franchise_daily_sales", context(reprocess_sha256=SHA.upper())
    )
    assert by_sha.selects(entry(LOADED))
    assert not by_sha.selects(entry(REJECTED, sha256="cd" * 32))
    _window, by_part = report_run_options(
        config, "franchise_daily_sales", context(reprocess_message_id="<m@x>", reprocess_part="2")
    )
    assert by_part.selects(entry(LOADED))
    assert not by_part.selects(entry(LOADED, part="3"))
    assert not by_part.selects(entry(LOADED, message_id="<other@x>"))


def test_only_the_reports_asked_for_run(config):
    ctx = context(reports=["call_centre_weekly"])
    assert report_run_options(config, "franchise_daily_sales", ctx) is None
    assert report_run_options(config, "call_centre_weekly", ctx) is not None
    with pytest.raises(ConfigError, match=r"unknown report\(s\) \['nope'\]"):
        report_run_options(config, "call_centre_weekly", context(reports=["nope"]))
    summary = not_selected_summary(config, "franchise_daily_sales").as_dict()
    assert summary["headline"] == "franchise_daily_sales: not in the run's `reports`, nothing done"
    assert (summary["selected"], summary["rejected"]) == (False, 0)


@pytest.mark.parametrize(
    ("value", "message"),
    [("sometimes", "reprocess must be one of none, rejected, all"), ("abc", "reprocess must be one of")],
)
def test_malformed_reprocess_values_are_configuration_errors(value, message):
    with pytest.raises(ConfigError, match=message):
        ReprocessSelection.of(value)
    with pytest.raises(ConfigError, match="64 lower-case hex digits"):
        ReprocessSelection(sha256="xyz")
