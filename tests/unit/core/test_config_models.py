"""The shared configuration machinery: the error format, null handling, environment overrides."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from pydantic import ValidationError

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.settings import ConfigModel, FreshnessThresholds, config_error, config_path, env_var
from bi_pipelines.core.types import Duration, Identifier
from bi_pipelines.sources.relational.spec import CONFIG_DIR, load_flow, load_flows


class Item(ConfigModel):
    name: Identifier
    every: Duration = dt.timedelta(minutes=5)


class Root(ConfigModel):
    items: tuple[Item, ...] = ()
    by_name: dict[str, Item] = {}


def error_of(data) -> str:
    with pytest.raises(ValidationError) as info:
        Root.model_validate(data)
    return str(config_error(info.value, "file.yaml"))


def test_errors_name_the_file_and_the_path():
    assert error_of({"items": [{"name": "a"}, {"name": "b c"}]}).startswith(
        "file.yaml.items[1].name: 'b c' is not a valid identifier"
    )
    assert error_of({"by_name": {"x": {"name": "x", "every": "soon"}}}) == (
        "file.yaml.by_name.x.every: expected a duration like '90m', '2h' or '1d', got 'soon'"
    )
    assert error_of({"items": [{}]}) == "file.yaml.items[0].name: required key is missing"
    assert error_of([]) == "file.yaml: expected a mapping, got list"


def test_every_problem_is_reported_and_unknown_keys_share_a_line():
    message = error_of({"items": [{"name": "a", "colour": 1, "size": 2}], "by_name": {"x": {"name": "1"}}})
    assert message.splitlines() == [
        "file.yaml.items[0]: unknown key(s) colour, size",
        "file.yaml.by_name.x.name: '1' is not a valid identifier (letters, digits, _ and $, "
        "starting with a letter or _, at most 63 characters)",
    ]


def test_null_means_the_default():
    assert Item.model_validate({"name": "a", "every": None}).every == dt.timedelta(minutes=5)


def test_models_are_frozen_and_thresholds_take_positional_arguments():
    thresholds = FreshnessThresholds(dt.timedelta(hours=1), dt.timedelta(hours=2))
    assert thresholds.error_after == dt.timedelta(hours=2)
    with pytest.raises(ValidationError):
        thresholds.active = False  # type: ignore[misc]
    with pytest.raises(ValidationError, match="warn_after must not be longer than error_after"):
        FreshnessThresholds(dt.timedelta(hours=3), dt.timedelta(hours=2))


def test_environment_variable_names():
    assert env_var("freshness") == "BI_FRESHNESS_CONFIG"
    assert env_var("extract_obe_mysql") == "BI_EXTRACT_OBE_MYSQL_CONFIG"
    assert config_path("vonigo") == CONFIG_DIR / "vonigo.yaml"


def test_a_flow_file_can_be_replaced_through_the_environment(tmp_path, monkeypatch):
    text = (CONFIG_DIR / "extract_obe_mysql.yaml").read_text(encoding="utf-8")
    other = tmp_path / "obe.yaml"
    other.write_text(text.replace("schema: raw_obe", "schema: raw_obe_test"), encoding="utf-8")
    monkeypatch.setenv("BI_EXTRACT_OBE_MYSQL_CONFIG", str(other))
    flow = load_flow(CONFIG_DIR / "extract_obe_mysql.yaml")
    assert (flow.target_schema, flow.path, flow.dag.dag_id) == ("raw_obe_test", other, "extract_obe_mysql")
    assert {f.target_schema for f in load_flows()} == {"raw_obe_test", "raw_info_portal", "portal"}


def test_a_table_freshness_over_the_flow_defaults_is_checked_as_a_whole(tmp_path):
    path = tmp_path / "extract_x.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            dag: {schedule: "15 * * * *", start_date: "2026-11-01T00:00:00"}
            source: {conn_id: src, dialect: postgres}
            target: {conn_id: dw, schema: raw}
            defaults: {freshness: {error_after: 1h}}
            tables:
              t: {primary_key: id, cursor_column: ts, freshness: {warn_after: 2h}}
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigError, match=r"^extract_x.yaml.tables.t.freshness: warn_after must not be longer"
    ):
        load_flow(path)
