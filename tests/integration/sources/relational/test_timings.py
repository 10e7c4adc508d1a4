"""The timing lines of one table's extraction, as a task log shows them."""

from __future__ import annotations

import re
import time

import pytest

from bi_pipelines.sources.relational.pipeline import extract_table
from tests.integration.sources.relational.conftest import hour_window, write_flow
from tests.integration.sources.relational.test_mysql_to_warehouse import BOOKINGS, seed_bookings

pytestmark = pytest.mark.integration

FIRST_QUERY = re.compile(
    r"extract_obe\.bookings \(connection 'test_obe'\): source connected in (?P<connect>[\d.]+) s "
    r"\(connection looked up in [\d.]+ s\); first source query (?P<first>[\d.]+) s after the task started"
)
TIMINGS = re.compile(
    r"extract_obe\.bookings \(connection 'test_obe'\): timings: began (?P<began>[\d.]+) s after the "
    r"task started; .* first row (?P<row>[\d.]+) s, done (?P<done>[\d.]+) s after the task started"
)


def test_first_source_query_and_step_timings_are_logged(
    mysql_db, airflow_conn, warehouse_db, tmp_path, log_text
):
    airflow_conn("test_obe", mysql_db)
    seed_bookings(mysql_db)
    flow = write_flow(tmp_path, "obe", {"conn_id": "test_obe", "dialect": "mysql"}, BOOKINGS)

    task_started = time.monotonic() - 1.5  # as if the task had begun 1.5 s ago
    summary = extract_table(
        flow, flow.table("bookings"), hour_window(20, 18, hours=2), task_started=task_started
    )

    assert summary.rows_staged == 5
    text = log_text()
    first, timings = FIRST_QUERY.search(text), TIMINGS.search(text)
    assert first, text[-3000:]
    assert timings, text[-3000:]
    began, first_query = float(timings["began"]), float(first["first"])
    assert 1.5 <= began <= first_query <= float(timings["row"]) <= float(timings["done"])
    assert float(first["connect"]) <= first_query - began + 0.001
