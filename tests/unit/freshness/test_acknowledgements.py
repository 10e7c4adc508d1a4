"""The page's acknowledgements as the monitor sees them: active ones only, merged with the YAML's."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from bi_pipelines.freshness.acknowledgements import COLUMNS, active_acknowledgements, with_acknowledgements
from bi_pipelines.freshness.dashboard import HISTORY_COLUMNS, LIST_COLUMNS, status_changes
from bi_pipelines.freshness.spec import Acknowledgement, FreshnessConfig, MonitoringSettings
from bi_pipelines.freshness.writer import COLUMN_NAMES

REPO = Path(__file__).resolve().parents[3]
AT = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


class FakeWarehouse:
    """Answers the acknowledgements query with fixed rows, filtered as the SQL filters them."""

    def __init__(self, rows: list[tuple] | None):
        self.rows = rows
        self.queries: list[tuple[str, object]] = []

    def existing_columns(self, schema: str, table: str) -> list[str]:
        return list(COLUMNS) if self.rows is not None else []

    def qualified(self, schema: str, table: str) -> str:
        return f'"{schema}"."{table}"'

    def query(self, sql: str, params=None) -> list[tuple]:
        self.queries.append((sql, params))
        (at,) = params
        kept = [r for r in self.rows if r[7] is None and r[3] > at]
        return sorted(kept, key=lambda r: r[5], reverse=True)


def row(ack_id, key, until, by="uma", at=AT - DAY, revoked=None, reason="known problem"):
    return (ack_id, key, reason, until, by, at, "ada" if revoked else None, revoked)


def test_only_active_unrevoked_acknowledgements_count_and_the_newest_wins():
    wh = FakeWarehouse(
        [
            row("1", "a:x", AT + DAY),
            row("2", "a:x", AT + 2 * DAY, at=AT - DAY / 2, reason="newer"),
            row("3", "b:y", AT - dt.timedelta(seconds=1)),  # over
            row("4", "c:z", AT + DAY, revoked=AT - DAY / 4),  # withdrawn
            row("5", "d:w", AT, by="vera"),  # `until` is the first instant no longer acknowledged
        ]
    )
    found = active_acknowledgements(wh, MonitoringSettings(), AT)
    assert found == {"a:x": Acknowledgement("a:x", AT + 2 * DAY, "newer (acknowledged by uma)")}
    sql, params = wh.queries[0]
    assert params == (AT,)
    assert "%s" in sql
    assert '"monitoring"."freshness_acknowledgements"' in sql


def test_no_table_yet_means_no_acknowledgement():
    wh = FakeWarehouse(None)
    assert active_acknowledgements(wh, MonitoringSettings(), AT) == {}
    assert wh.queries == []


def _config(acks=()):
    return FreshnessConfig.model_validate(
        {
            "dag": {
                "dag_id": "monitor_source_freshness",
                "schedule": "*/15 * * * *",
                "start_date": "2026-11-01T00:00:00",
            },
            "checks": [],
            "acknowledgements": list(acks),
        }
    )


def test_page_acknowledgements_come_before_the_yaml_ones_which_keep_working():
    yaml_ack = Acknowledgement("a:x", AT + 3 * DAY, "from yaml")
    other = Acknowledgement("b:y", AT + DAY, "also yaml")
    config = _config([yaml_ack, other])
    page = Acknowledgement("a:x", AT + DAY, "from the page")
    merged = with_acknowledgements(config, {"a:x": page})
    assert merged.acknowledgement("a:x", AT) == page
    assert merged.acknowledgement("b:y", AT) == other
    # once the page's has ended, the YAML one still holds
    assert merged.acknowledgement("a:x", AT + 2 * DAY) == yaml_ack
    assert with_acknowledgements(config, {}) is config
    assert config.acknowledgements == (yaml_ack, other)  # the loaded configuration is untouched


def test_the_page_reads_only_columns_of_the_results_table():
    assert set(LIST_COLUMNS) <= set(COLUMN_NAMES)
    assert set(HISTORY_COLUMNS) <= set(COLUMN_NAMES)


def test_status_changes_are_the_rows_that_differ_from_the_row_before():
    rows = [
        {"checked_at": str(i), "status": s}
        for i, s in enumerate(["pass", "pass", "warn", "error", "error", "pass"])
    ]
    assert status_changes(rows) == [
        {"checked_at": "2", "from": "pass", "to": "warn"},
        {"checked_at": "3", "from": "warn", "to": "error"},
        {"checked_at": "5", "from": "error", "to": "pass"},
    ]
    assert status_changes([]) == []


def test_the_plugin_imports_with_only_the_image_folders_on_the_path(tmp_path):
    probe = (
        "import freshness_ui as p; v = p.FreshnessUIPlugin; "
        "print(v.fastapi_apps[0]['url_prefix'], v.external_views[0]['href'], v.external_views[0]['url_route'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")])
    env["AIRFLOW_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-3:] == ["/freshness", "/freshness/", "freshness"]
