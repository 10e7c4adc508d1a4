"""Failure callbacks every task has: the reason in one line, where a person looks first."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bi_pipelines.core.errors import root_cause

log = logging.getLogger(__name__)


def failure_line(exc: BaseException | None) -> str:
    """``<ErrorType>: <first line of the message>``, or a placeholder without an exception."""
    exc = root_cause(exc)
    if exc is None:
        return "no exception recorded (killed, timed out or marked failed by hand)"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def log_task_failure(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` of every task: log which task failed and why, in one line."""
    ti = context.get("ti") or context.get("task_instance")
    where = f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}"
    try_number = getattr(ti, "try_number", None)
    log.error("FAILED %s (try %s): %s", where, try_number or "?", failure_line(context.get("exception")))
