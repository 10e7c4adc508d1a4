"""A flow's ``on_null_cursor`` policy: per table, from ``defaults:``, validated."""

from __future__ import annotations

import textwrap

import pytest

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.sources.relational.spec import load_flow

FLOW = """
dag:
  dag_id: extract_x
  schedule: "0 * * * *"
  start_date: "2026-11-01T00:00:00"
source: {{conn_id: src, dialect: mysql}}
target: {{conn_id: wh, schema: raw_x}}
defaults:
  {defaults}
tables:
  a: {{primary_key: id, cursor_column: updated_at}}
  b: {{primary_key: id, cursor_column: updated_at, on_null_cursor: fail}}
"""


def flow_with(tmp_path, defaults: str):
    path = tmp_path / "extract_x.yaml"
    path.write_text(textwrap.dedent(FLOW.format(defaults=defaults)))
    return load_flow(path)


def test_on_null_cursor_defaults_to_load_and_a_table_overrides_the_flow_default(tmp_path):
    flow = flow_with(tmp_path, "timezone: UTC")
    assert flow.table("a").on_null_cursor == "load"
    assert flow.table("b").on_null_cursor == "fail"
    flow = flow_with(tmp_path, "on_null_cursor: skip")
    assert flow.table("a").on_null_cursor == "skip"
    assert flow.table("b").on_null_cursor == "fail"


def test_an_unknown_on_null_cursor_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="on_null_cursor"):
        flow_with(tmp_path, "on_null_cursor: ignore")
