"""The task wrapper: permanent errors are not retried, the rest are."""

from __future__ import annotations

import logging

import pytest
from airflow.sdk.exceptions import AirflowFailException

from bi_pipelines.core.errors import (
    AuthenticationError,
    ConfigError,
    ConnectionNotDefined,
    ExtractionError,
    root_cause,
)
from bi_pipelines.orchestration.callbacks import failure_line, log_task_failure
from bi_pipelines.orchestration.tasks import fail_fast


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("extract_obe_mysql.yaml.tables.bookings.cursor_column: required key is missing"),
        ConnectionNotDefined("connection 'obe_mysql' is not defined"),
        AuthenticationError("'obe_mysql' (mysql at db:3306): login refused"),
    ],
    ids=type,
)
def test_a_permanent_error_fails_the_task_without_retries(error, caplog):
    @fail_fast
    def step():
        raise error

    with caplog.at_level(logging.ERROR), pytest.raises(AirflowFailException) as raised:
        step()
    assert raised.value.__cause__ is error
    assert root_cause(raised.value) is error
    assert str(error) in str(raised.value)
    assert f"{type(error).__name__}: {error}" in caplog.text
    assert "not retried" in caplog.text


def test_a_transient_error_is_left_to_airflow_retries():
    @fail_fast
    def step():
        raise ExtractionError("cannot connect to 'obe_mysql' after 3 attempts: refused")

    with pytest.raises(ExtractionError):
        step()


def test_the_wrapper_keeps_the_callable_signature_and_result():
    @fail_fast
    def step(table_name: str = "bookings") -> dict:
        """Doc."""
        return {"table": table_name}

    assert step() == {"table": "bookings"}
    assert step.__name__ == "step"
    assert step.__doc__ == "Doc."


def test_the_failure_callback_logs_one_line_with_the_reason(caplog):
    class TI:
        dag_id, task_id, try_number = "extract_obe_mysql", "extract_bookings", 1

    error = ConfigError("params: window_end 2026 must be after window_start 2027\nsecond line")
    wrapped = AirflowFailException(str(error))
    wrapped.__cause__ = error
    with caplog.at_level(logging.ERROR):
        log_task_failure({"ti": TI(), "exception": wrapped})
    assert (
        "FAILED extract_obe_mysql.extract_bookings (try 1): ConfigError: params: window_end 2026 must be "
        "after window_start 2027" in caplog.text
    )
    assert "second line" not in caplog.text
    assert failure_line(None).startswith("no exception recorded")
