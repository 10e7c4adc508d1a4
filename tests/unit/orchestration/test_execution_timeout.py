"""``dag.execution_timeout``: every task's bound, configurable per DAG, 1 hour by default."""

from __future__ import annotations

import datetime as dt

import pytest

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.settings import Dag
from bi_pipelines.freshness.spec import load_config
from bi_pipelines.orchestration.policy import DEFAULT_EXECUTION_TIMEOUT, dag_kwargs, task_timeout

BASE = {"dag_id": "x", "schedule": "0 * * * *", "start_date": "2026-11-01T00:00:00"}


def test_the_default_is_one_hour_and_the_setting_is_honoured():
    assert dt.timedelta(hours=1) == DEFAULT_EXECUTION_TIMEOUT
    assert (
        dag_kwargs(Dag.model_validate(BASE), "doc")["default_args"]["execution_timeout"]
        == DEFAULT_EXECUTION_TIMEOUT
    )
    settings = Dag.model_validate({**BASE, "execution_timeout": "3h"})
    assert dag_kwargs(settings, "doc")["default_args"]["execution_timeout"] == dt.timedelta(hours=3)


def test_a_tighter_task_budget_stays_unless_the_setting_is_smaller():
    assert task_timeout(Dag.model_validate(BASE), dt.timedelta(minutes=12)) == dt.timedelta(minutes=12)
    small = Dag.model_validate({**BASE, "execution_timeout": "5m"})
    assert task_timeout(small, dt.timedelta(minutes=12)) == dt.timedelta(minutes=5)


@pytest.mark.parametrize("value", ["0m", "7h", "soon"])
def test_an_unusable_timeout_is_a_config_error(tmp_path, value):
    from bi_pipelines.core.settings import load_model

    path = tmp_path / "x.yaml"
    path.write_text(
        f"dag_id: x\nschedule: '0 * * * *'\nstart_date: '2026-11-01T00:00:00'\nexecution_timeout: {value}\n"
    )
    with pytest.raises(ConfigError, match="execution_timeout"):
        load_model(Dag, path, "test")


def test_the_freshness_monitor_keeps_its_tighter_timeouts_unless_configured_smaller():
    from bi_pipelines.orchestration.freshness import build_freshness_dag

    config = load_config()
    dag = build_freshness_dag("doc", config)
    assert dag.get_task("check_tables").execution_timeout == dt.timedelta(minutes=12)
    smaller = config.model_copy(
        update={"dag": config.dag.model_copy(update={"execution_timeout": dt.timedelta(minutes=3)})}
    )
    dag = build_freshness_dag("doc", smaller)
    assert {t.task_id: t.execution_timeout for t in dag.tasks} == {
        "check_tables": dt.timedelta(minutes=3),
        "alert_on_changes": dt.timedelta(minutes=3),
    }
